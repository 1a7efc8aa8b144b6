// Checking an LMDB session directory, and recovering from a corrupted one.
//
// With sync=off (MDB_NOSYNC, the default) the kernel writes a commit's pages
// back in any order. A process crash loses nothing (the page cache keeps the
// writes), but after an OS crash or power loss the file may hold a meta page
// that points at pages which never reached the disk: the tree is then
// corrupt, and LMDB may return garbage or crash the process that reads it.
//
// CheckLmdb walks the whole environment as the store reads it (every key of
// the main database through a cursor, each session value's expiry header,
// each index entry against its session, each lock record, the free list's
// page lists, the file's size against the pages in use) in a forked child,
// so that a corrupt file crashes the child and not the caller. A child killed
// by a signal counts as corrupt; one not done within the timeout is killed
// and the check fails (kError, timed_out): the walk stops at the first key
// out of order, so a loop in the tree cannot make it run long, a slow disk
// can.
//
// At open, the first process of each boot runs the check once
// (CheckAfterBoot): <dir>/boot-id records the boot (the boot_id UUID) of the
// last check; the file is held under an exclusive flock while it is read,
// the check runs and the corrupt files are moved aside, so concurrent openers
// of the same boot wait for it and then find the boot recorded. A corrupt
// environment is moved aside (data.mdb -> data.mdb.corrupt-<unix time>, and
// lock.mdb likewise) and the store starts empty: every session is lost, as
// with any loss of the store, but no process serves garbage or crashes.
#ifndef SESSIONKIT_STORES_LMDB_LMDB_CHECK_H_
#define SESSIONKIT_STORES_LMDB_LMDB_CHECK_H_

#include <lmdb.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "stores/lmdb/lmdb_lock_record.h"

namespace sessionkit::lmdb_internal {

inline constexpr char kBootIdFile[] = "boot-id";
inline constexpr std::chrono::milliseconds kCheckTimeout{60'000};

// What a check found.
struct LmdbCheckResult {
  enum class Outcome {
    kOk,       // every page and record read as the store writes them
    kCorrupt,  // see `problem`
    kError,    // the check could not run (permissions, fork, ...): `problem`
  };
  Outcome outcome = Outcome::kError;
  std::string dir;
  bool has_data = false;  // data.mdb exists and is not empty
  uint64_t sessions = 0;
  uint64_t index_entries = 0;
  uint64_t lock_records = 0;
  uint64_t pages_in_use = 0;  // last page number + 1
  uint64_t free_pages = 0;    // listed in the free list
  uint64_t page_size = 0;
  uint64_t file_bytes = 0;  // size of data.mdb
  bool timed_out = false;   // kError: the walk took the whole timeout
  std::string problem;

  bool ok() const { return outcome == Outcome::kOk; }
  // One line: "OK: ... counts" or "CORRUPT: <problem>", naming the directory.
  std::string Summary() const;
};

// Checks the environment in `dir` in a forked child (see above). A directory
// without data.mdb (or with an empty one) is OK with no data. `max_readers`
// sizes LMDB's reader table when the check is its first user.
LmdbCheckResult CheckLmdb(const std::string& dir, unsigned max_readers = 512,
                          std::chrono::milliseconds timeout = kCheckTimeout);

// The walk itself, in the calling process (what the child runs). A corrupt
// file may crash the caller: use CheckLmdb.
LmdbCheckResult CheckLmdbInProcess(const std::string& dir,
                                   unsigned max_readers);

// Adds up, in *free_pages, the pages the free list of the environment of
// `txn` names (between the meta pages and `last_pgno`). Empty, or the
// problem found in the list.
std::string CountFreePages(MDB_txn* txn, uint64_t last_pgno,
                           uint64_t* free_pages);

// Moves data.mdb and lock.mdb of `dir` to <name>.corrupt-<unix time> (a
// suffix -2, -3, ... when that exists). 0 and, in *moved, what went where;
// or the errno of the rename that failed. Only while no process has the
// environment open, or on the way to opening a fresh one.
int MoveLmdbAside(const std::string& dir, std::string* moved);

// Frees the reader slots that processes which died mid-read left in the
// environment in `dir` (mdb_reader_check): they pin old pages, so the file
// grows. Only on an environment CheckLmdb found intact. 0 and, in *cleared,
// how many were freed; or an LMDB code.
int ClearDeadReaderSlots(const std::string& dir, unsigned max_readers,
                         int* cleared);

// True when some process has the environment in `dir` open (it holds the
// users' lock of <dir>/pid-namespace; see pid_namespace_guard.h). False also
// when that cannot be known.
bool LmdbInUse(const std::string& dir);

// Runs once per boot, before an opener's mdb_env_open (never while holding
// the store's open mutex: it forks). When <dir>/boot-id does not name this
// boot: checks the environment and, when it is corrupt, moves it aside;
// then records this boot. `*message` (empty when nothing happened) says
// what was found and done. Non-zero (an errno) only when a corrupt
// environment could not be moved aside: the caller must not open it. When
// the check cannot run, nothing is recorded (the next opening tries again),
// unless it took the whole timeout.
int CheckAfterBoot(const std::string& dir, unsigned mode, unsigned max_readers,
                   std::string* message);

// The boot CheckAfterBoot compares with: `id` instead of this host's (null
// restores it). For tests only.
void SetCheckBootIdForTesting(const BootId* id);

// How many checks CheckAfterBoot ran in this process.
uint64_t BootChecksForTesting();

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_CHECK_H_
