// Compacting an LMDB session directory while processes use it
// (`sessionkit compact`), and the counter that tells them it happened.
//
// LMDB never gives pages back to the file system: a store whose sessions
// were mostly deleted keeps its size. mdb_env_copyfd2(MDB_CP_COMPACT)
// writes a copy holding only the pages in use; CompactLmdb puts it in place
// of data.mdb while other processes keep using the store:
//
//  1. It opens the environment as one more user and runs a write
//     transaction W for the whole copy and swap: no other process commits
//     meanwhile (LMDB has one writer at a time; they wait on its write
//     mutex). Readers go on.
//  2. The copy is written to <dir>/data.mdb.compact-<pid> from a read
//     transaction, which sees the last commit: everything any writer was
//     told was saved. LMDB's compact copy puts that state in meta page 1;
//     lock.mdb, which stays, names the last transaction id, and readers
//     pick the meta page by its parity. So the last committed id must be
//     odd: when it is even, a commit that changes nothing makes it odd
//     first.
//  3. The copy is flushed, given data.mdb's owner and mode, checked (its
//     entry count against W's), and renamed over data.mdb.
//  4. <dir>/data-generation (DataGeneration, mapped by every store) is
//     bumped, then W ends without a commit: nothing was written to the old
//     file after the copy.
//
// Each store process still has the old file mapped. Every transaction of
// the store compares the counter with the value it read before it opened
// its environment, after the transaction began: a write transaction holds
// the write mutex then, so it sees a bump made before W ended and gives up
// before writing anything to the old file; a read transaction that began
// before the bump read a state that was current then. On a mismatch the
// transaction is abandoned, the process closes its environment and opens
// the new file (LmdbStore::Reopen), and the transaction runs again. The old
// file's blocks return to the disk when the last process that mapped it
// has reopened (at its next store call) or exited.
//
// Writers wait for the copy: about the time to write the live data once
// (docs/lmdb.md has measurements). Processes of earlier versions, which do
// not read the counter, must not use the store during a compaction.
#ifndef SESSIONKIT_STORES_LMDB_LMDB_COMPACT_H_
#define SESSIONKIT_STORES_LMDB_LMDB_COMPACT_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "sessionkit/status.h"
#include "sessionkit/stores/lmdb.h"

namespace sessionkit::lmdb_internal {

inline constexpr char kDataGenerationFile[] = "data-generation";

// One process's mapping of <dir>/data-generation: a 64-bit counter bumped
// each time CompactLmdb replaces data.mdb.
//
// Thread safety: Load and Bump may be called concurrently from any thread
// (and process); Map and Unmap only while no other call runs.
class DataGeneration {
 public:
  // Opens <dir>/data-generation, creating it with `mode` (less the umask)
  // when missing, and maps the counter. 0, or the errno of what failed.
  int Map(const std::string& dir, unsigned mode);
  void Unmap();
  bool mapped() const { return word_ != nullptr; }

  // The counter (acquire); 0 when not mapped.
  uint64_t Load() const;
  // Adds one (release).
  void Bump() const;

 private:
  uint64_t* word_ = nullptr;
};

// What a compaction did.
struct LmdbCompactStats {
  uint64_t bytes_before = 0;  // size of data.mdb before
  uint64_t bytes_after = 0;   // size of the new data.mdb
  uint64_t entries = 0;       // records copied (sessions, index, locks)
  // How long writers waited: from the start of W to its end.
  std::chrono::milliseconds writers_paused{0};
};

// Compacts the environment in options.path (see above). Corrupt when
// CheckLmdb finds the environment damaged (nothing is copied); NotFound
// when there is no data.mdb; Unavailable when the copy or the swap fails
// (data.mdb is then left as it was, the copy removed). The caller must not have
// the environment open in this process (LMDB allows one opening per process).
Result<LmdbCompactStats> CompactLmdb(const LmdbOptions& options);

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_COMPACT_H_
