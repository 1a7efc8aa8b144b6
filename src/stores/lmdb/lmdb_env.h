// One process's handle on an LMDB store directory (Env). LmdbStore opens it
// on first use (lmdb_env.cc, which also keeps the process-wide registry of
// open environments and the fork handlers).
//
// Processes: each process opens its own MDB_env lazily, on first use, and
// records the pid and fork generation it was opened in. A forked child never
// touches its parent's handle (mdb_env_close there would clear the parent's
// reader slots): it abandons it and opens its own. Within a process, stores
// on the same directory share one MDB_env, because LMDB must not be opened
// twice in one process (closing the second copy would drop the first one's
// file locks); the first store to open a directory sets its map_size,
// max_readers, sync mode and writemap for the whole process.
//
// Forks are detected with a pthread_atfork child handler (a generation
// counter), which keeps getpid() off the hot path; a child made without
// fork() (raw clone) must not use a store it inherited.
//
// Pid namespaces: LMDB names its readers by pid, so processes of two pid
// namespaces (containers) must not share a directory. Each process holds
// <dir>/pid-namespace (pid_namespace_guard.h) while its environment is open;
// an opener of another namespace is refused (Unavailable) while it is held.
//
// Compaction (`sessionkit compact`, lmdb_compact.h) replaces data.mdb while
// processes have the old one mapped: every transaction checks the counter
// in <dir>/data-generation after it began, and on a change the process
// closes its environment and opens it again (LmdbStore::Reopen).
//
// Crashes of the OS under sync=off (MDB_NOSYNC) may corrupt the file: the
// first process to open the directory after each boot checks it first
// (lmdb_check.h: <dir>/boot-id, a forked walk of the whole environment)
// and moves a corrupt one aside, so that the store starts empty instead of
// serving garbage or crashing (LastRecovery() says so).
#ifndef SESSIONKIT_STORES_LMDB_LMDB_ENV_H_
#define SESSIONKIT_STORES_LMDB_LMDB_ENV_H_

#include <lmdb.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "stores/lmdb/lmdb_compact.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lock_table.h"
#include "stores/lmdb/pid_namespace_guard.h"
#include "stores/lock_wake.h"

namespace sessionkit::lmdb_internal {

// Reset read transactions an Env keeps for reuse, at most.
inline constexpr size_t kPoolCap = 16;
// Re-maps a transaction (or the opening) tries after another process grew
// the map.
inline constexpr int kMaxRemaps = 3;
// Reopenings a transaction tries after data.mdb was replaced.
inline constexpr int kMaxReopens = 3;
// Times one transaction may grow the map (doubling it each time) before it
// gives up: more than the doublings from 1 MiB to the largest map.
inline constexpr int kMaxGrowths = 40;
// How much a gc grows a map that is full to its last page, also past
// map_limit (LMDB copies every page it changes: such a map cannot even
// delete). Once per gc that needs it (GcInternal).
inline constexpr uint64_t kGcSlackBytes = 1ull << 20;
// The share of map_limit past which the store warns, in percent.
inline constexpr uint64_t kFillWarnPercent = 90;
// While the last page in use is past that share of the limit and no warning
// was given, one write commit in this many counts the pages in use.
inline constexpr uint64_t kFillCountEvery = 256;

// One process's handle on an environment directory.
//
// Thread safety: wake, table, data_generation, pid, generation, dir, map_limit
// and fill_warn_pages are set before the handle is published and never change;
// env, db and opened_generation change only under remap_mu held
// exclusively (a re-map, a reopen), and env is null after a reopen that
// failed; pool is guarded by pool_mu; sweep_from only changes inside a
// write transaction (LMDB's write lock orders them); every transaction
// holds remap_mu shared.
struct Env {
  MDB_env* env = nullptr;
  MDB_dbi db = 0;   // the main database: sessions, their index, locks
  LockWake wake;    // <dir>/lock-wake, mapped
  LockTable table;  // <dir>/lock-table, mapped: the session locks
  PidNamespaceGuard pid_namespace;  // <dir>/pid-namespace, held shared
  // The process and fork generation that opened `env`; any other process
  // must not touch it.
  pid_t pid = 0;
  uint64_t generation = 0;
  std::string dir;  // canonical path
  // <dir>/data-generation, mapped, and its value read before `env` was
  // opened: another value means data.mdb was replaced (lmdb_compact.h).
  DataGeneration data_generation;
  uint64_t opened_generation = 0;
  // The most the map may grow to, in bytes: map_max, or what the disk
  // could hold when this process opened the environment (lmdb.h).
  uint64_t map_limit = 0;
  // kFillWarnPercent of map_limit, in pages: while the last page in use is
  // below it, no count of the pages in use is needed for the warning.
  uint64_t fill_warn_pages = 0;
  // Whether this process warned that the store passed kFillWarnPercent of
  // its limit, and the commits that found the last page past it (one in
  // kFillCountEvery counts the pages in use).
  std::atomic<bool> fill_warned{false};
  std::atomic<uint64_t> fill_commits{0};

  // Where the next sweep of expired sessions of this process's writes
  // starts (SweepExpired, lmdb_records.h).
  IndexPos sweep_from;

  // Every transaction holds this shared; a re-map (mdb_env_set_mapsize)
  // holds it exclusively, since it moves the memory map under any
  // transaction of this process.
  std::shared_mutex remap_mu;

  // Reset read transactions kept for reuse: mdb_txn_renew is far cheaper
  // than claiming a reader slot with mdb_txn_begin. Each holds one slot.
  std::mutex pool_mu;
  std::vector<MDB_txn*> pool;

  ~Env();
};

// True when data.mdb was replaced since `e`'s environment was opened (or
// its reopening failed). Under remap_mu; in a transaction, after it began.
inline bool DataFileReplaced(const Env* e) {
  return e->env == nullptr || e->data_generation.Load() != e->opened_generation;
}

// Frees the reader slots of processes that died mid-read.
inline void ClearStaleReaders(Env* e) {
  std::shared_lock<std::shared_mutex> lock(e->remap_mu);
  int dead = 0;
  if (e->env != nullptr) mdb_reader_check(e->env, &dead);
}

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_ENV_H_
