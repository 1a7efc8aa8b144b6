// One process's LMDB environment of a journal directory (journal.h), the
// process-wide registry that shares it between the journals of the
// process, and the transactions every journal operation runs in.
#ifndef SESSIONKIT_TIERED_JOURNAL_ENV_H_
#define SESSIONKIT_TIERED_JOURNAL_ENV_H_

#include <lmdb.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/pid_namespace_guard.h"
#include "tiered/journal.h"

namespace sessionkit::tiered {

// What a transaction body returns besides LMDB codes (-30800 to -30780)
// and errno values (positive): nothing to commit, abort and succeed.
inline constexpr int kRcNoChange = -2;

// Thread safety: env, db, pid, generation, dir and the settings are set
// before the handle is published and never change; every transaction holds
// remap_mu shared, a re-map (after another process grew the map) holds it
// exclusively.
struct JournalEnv {
  MDB_env* env = nullptr;
  MDB_dbi db = 0;
  // The process and fork generation that opened `env`: no other process
  // may use or close it.
  pid_t pid = 0;
  uint64_t generation = 0;
  std::string dir;  // canonical
  uint64_t map_size = 0;
  // What every Put leaves free for the drainers (CheckReserve, journal.cc).
  size_t reserve_bytes = 0;
  uint64_t page_size = 4096;  // LMDB's
  // Opened with MDB_WRITEMAP (OpenHandle): each write transaction first
  // has the pages it may touch allocated on disk (EnsureRoom).
  bool writemap = false;
  // The bytes at the start of data.mdb this process allocated (another
  // process's allocation is found by asking again). Under LMDB's write
  // lock, or before the handle is published.
  uint64_t allocated = 0;
  // JournalOptions::disk_room_for_testing.
  uint64_t disk_room_for_testing = 0;
  std::shared_mutex remap_mu;
  // Keeps the directory to this pid namespace while `env` is open: LMDB's
  // reader slots, named by pid, collide across containers.
  lmdb_internal::PidNamespaceGuard pid_namespace;

  ~JournalEnv();
  // True when this process (after no fork) opened it.
  bool Mine() const;
};

// Creates `dir` (mode 0700, and its missing parents) and returns its
// canonical path. InvalidArgument when it is not a directory.
Result<std::string> MakeJournalDir(const std::string& dir);

// Makes *env this process's environment of the canonical directory `dir`
// unless it is already: the one another journal of the process opened
// there, or a new one opened with `options` (map_size, sync), whose format
// record it checks or writes. One opened by another process (before a
// fork) is moved to *abandoned: kept, never used or closed. Under the
// registry's mutex, which fork() never leaves locked in the child.
Status RefreshJournalEnv(const std::string& dir, const JournalOptions& options,
                         std::shared_ptr<JournalEnv>* env,
                         std::vector<std::shared_ptr<JournalEnv>>* abandoned);

// Drops a journal's environments, under the registry's mutex: the last
// reference closes one of this process, and no journal of the process may
// open the directory again while it closes (LMDB must not be open twice in
// one process: the second closing would drop the other one's file locks).
void ReleaseJournalEnv(std::shared_ptr<JournalEnv>* env,
                       std::vector<std::shared_ptr<JournalEnv>>* abandoned);

// Runs `fn` in a write transaction and commits when it returns 0; aborts
// and returns OK when it returns kRcNoChange; re-maps and runs it again
// when another process grew the map. `data_bytes`: the data `fn` writes,
// for the room allocated on disk beforehand. The error names the journal
// and what was done (`what`): ResourceExhausted on a full map or disk.
Status WithWriteTxn(JournalEnv* e, std::string_view what,
                    const std::function<int(MDB_txn*)>& fn,
                    size_t data_bytes = 0);
// The same in a read transaction (`fn` returns 0 or an LMDB code).
Status WithReadTxn(JournalEnv* e, std::string_view what,
                   const std::function<int(MDB_txn*)>& fn);

// MDB_val of a string and back, as the LMDB store has them.
using lmdb_internal::Val;
using lmdb_internal::View;

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_JOURNAL_ENV_H_
