// The LMDB store behind OpenLmdbStore (include/sessionkit/stores/lmdb.h).
//
// Layout of the environment: one B-tree, LMDB's main database, holding
//   sessions:  key = session id,
//              value = 8-byte big-endian expiry (Unix ms) + stored bytes;
//   the expiry index:
//              key = a zero byte (which begins no session id, so the index
//              sorts before every session) + 8-byte big-endian start of the
//              expiry's bucket (Unix ms, kIndexBucketMs wide) + session id,
//              value = empty;
//   lock records of earlier versions (locks now live in <dir>/lock-table,
//   see "Session locks" below; gc removes these as they age out):
//              key = a zero byte + 0x7f ff ff ff ff ff ff ff (the bucket
//              INT64_MAX, which no expiry reaches) + session id,
//              value = the lease end (on CLOCK_BOOTTIME, with the boot id,
//              and on the wall clock for earlier versions) and the owner's
//              token: see lmdb_lock_record.h.
// The index lets Gc visit only the sessions of buckets that have begun: the
// expired ones and at most one bucket of live ones. A write that keeps the
// session's expiry in its bucket (a session rewritten within the minute)
// leaves the index alone; any other write transaction moves the entry with
// the session. One tree rather than a named database per kind: a commit
// then rewrites no database record, and the index pages of a moved entry
// share their parents with the session's pages. Lock records sort after the
// index and before the sessions: Scan starts past them, the index walk of
// Gc stops before them (also in earlier versions sharing the directory),
// and a session id cannot begin with a zero byte.
//
// Processes, forks, pid namespaces and the check after a crash of the OS:
// lmdb_env.h, where the environment is opened. The files of the store:
// lmdb_store.cc (sessions), lmdb_locks.cc (session locks), lmdb_env.cc (the
// environment), lmdb_records.h (records in a transaction), lmdb_txn.h
// (transactions), lmdb_layout.h (keys and values), lmdb_lock_record.h,
// waiter_place.h, pid_namespace_guard.h, lmdb_check.h, lock_table.h (the
// lock table); the wake file is stores/lock_wake.h.
#ifndef SESSIONKIT_STORES_LMDB_LMDB_STORE_H_
#define SESSIONKIT_STORES_LMDB_LMDB_STORE_H_

#include <lmdb.h>
#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_lock_record.h"
#include "stores/lmdb/lock_table.h"

namespace sessionkit::lmdb_internal {

struct Env;  // one process's open environment (lmdb_env.h)

// Width of an expiry index bucket (see the layout above). A minute: a
// session rewritten a few seconds after its last write mostly keeps its
// expiry in the same bucket (no index change), and each gc re-checks at most
// a minute's worth of expiring sessions that are still live.
inline constexpr int64_t kIndexBucketMs = 60'000;

// Thread safety: every method may be called concurrently from several
// threads, and several processes may use the same directory at once. The
// *ForTesting hooks are for tests only and are not meant for production use.
//
// Session locks live in <dir>/lock-table (lock_table.h), a file every
// process of the host maps shared, not in the database:
//  - LockAndRead: ONE lock-table operation (a bucket's robust process-shared
//    mutex, a few stores to memory) that takes the lock when it is free (or
//    the caller's own, past its lease and not committing, of another boot,
//    or held by a process of this host that is gone), then ONE read
//    transaction for the session, begun after the lock was taken, so that
//    it sees the previous holder's commit. A read that fails (a corrupt
//    value) gives the lock back and returns the error.
//  - Lock held: the caller queues in the table (a waiter record with its
//    own futex word) and sleeps on that word. Waiters are served in arrival
//    order: a release hands the lock to the earliest live waiter (its lease
//    starts then) and wakes that one only; a newcomer never barges in while
//    someone queues. A waiter looks again at least every 250 ms while the
//    holder is another process of this host (kLocalHolderPoll), so a holder
//    or grantee killed with SIGKILL is taken over within about that once it
//    has been reaped, and at the end of the holder's lease. A waiter that
//    gives up removes its record (granted meanwhile: it has the lock);
//    records of dead processes and waiters past their deadline are skipped.
//  - A bucket whose waiter pool is full: the waiter sleeps on its slot of
//    <dir>/lock-wake (4096 futex words, stores/lock_wake.h) instead, and
//    takes the lock only once nobody queues. A bucket without a free entry
//    (a full table): the caller waits as if the lock were held, trying again
//    every 2 ms, and its wait ends in Unavailable naming the table.
//  - WriteAndUnlock: the owner check in the table, which marks the lock
//    "committing" (its lease can no longer be broken; only a dead holder is
//    taken over), ONE write transaction (which checks the owner again
//    under LMDB's write lock), then the release in the table.
//    The check passes while the table holds the owner's token, also after
//    its lease ran out (store.h), until the lock counts as gone
//    (kLockRecordRetention after the lease, or another boot). A failed
//    commit leaves the lock with its owner. TouchAndUnlock likewise with
//    Touch; Unlock: the table only.
//  - The waiter cap: a waiter holds, for as long as it waits, an OFD lock
//    on one of max_waiters bytes of its session's range in lock-wake,
//    through its own file descriptor; the kernel drops it when the waiter
//    returns, or dies. No free byte: kTooManyWaiters at once. Only a caller
//    that finds the lock held pays for this (an open and a few fcntl).
//  - Destroy makes itself the lock's holder (a write in flight commits
//    first, for 5 s at most: a holder killed in its commit may have left
//    its pid to another process), deletes the session in its one write
//    transaction and then releases, so that the old holder's later write
//    is refused and the next waiter gets the lock of an empty session. In
//    a full bucket nobody holds the lock: it deletes, and deletes again
//    (taking the lock if it can) while an entry was made in the bucket
//    meanwhile, which may be a lock of the session taken before the delete.
//  - Leases run on CLOCK_BOOTTIME (no wall-clock step moves them), locks
//    carry the boot id; a lock of another boot counts as gone. That clock
//    and id, the wall clock and the waits all come from options.env
//    (Env::BootClockMs, BootId, WallNow, SteadyNow, WaitFor).
//  - Gc ends the table's locks that count as gone (handing them to their
//    waiters), and removes lock records that earlier versions wrote in the
//    database (see the layout above) once they count as gone: those lock
//    nothing any more. Every process of a directory must run a version
//    with the lock table (stop the old workers on an upgrade).
class LmdbStore final : public Store {
 public:
  // `options` must have passed ValidateLmdbOptions.
  explicit LmdbStore(LmdbOptions options);
  ~LmdbStore() override;

  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  // "lmdb://" + options.path.
  const std::string& name() const override { return name_; }

  Result<SessionRecord> Read(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  Status Destroy(std::string_view id) override;
  Result<bool> Exists(std::string_view id) override;
  // Exists, else a look at the lock table.
  Result<bool> ExistsOrLocked(std::string_view id) override;
  // Pages in id order; `cursor` is the last id of the previous page. A limit
  // of 0 means the default page size (1000).
  Result<ScanPage> Scan(const ScanOptions& options) override;
  // Also frees the reader slots of processes that died mid-read.
  Result<GcResult> Gc(TimePoint now) override;
  // Calls `progress` after each batch of the walk (kGcBatch entries).
  Result<GcResult> GcWithProgress(TimePoint now,
                                  const GcProgress& progress) override;
  // Opens the environment if needed and starts a read transaction.
  Status Health() override;
  // The pages in use (those of the file but the free list's), against the
  // limit of the map's growth (map_max, or the disk: see LmdbOptions), and
  // the size of data.mdb.
  Result<StoreUsage> Usage() override;

  // Session locks: see the class comment for their cost and wake-ups. An
  // owner token must be 1 to 1024 bytes (InvalidArgument otherwise).
  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override;
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override;
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override;
  Status Unlock(std::string_view id, const LockOwner& owner) override;

  // The warning this process logged (to syslog, LOG_WARNING, once per
  // process and directory) when the store passed 90% of its limit (see
  // Usage); empty when it did not.
  std::string FillWarning() const;

  // What the once-per-boot check of this store's opening found and did
  // when it moved a corrupt environment aside (lmdb_check.h), or why it
  // could not; empty when it found nothing wrong or did not run. Also sent
  // to syslog (LOG_WARNING).
  std::string LastRecovery() const;

  // The flags of this process's environment (mdb_env_get_flags).
  Result<unsigned> EnvFlagsForTesting();

  // Checks that the expiry index matches the sessions exactly: every session
  // has one index entry, in the bucket of its expiry, and every index entry
  // names a session whose expiry lies in the entry's bucket. Internal error
  // describing the first mismatch.
  Status CheckIndexForTesting();

  // How many lock records of earlier versions the database holds (they
  // lock nothing; gc removes them as they age out).
  Result<size_t> LockRecordsForTesting();

  // How many locks the lock table holds: those held now, and those whose
  // lease ran out that nobody took over and no gc ended.
  Result<size_t> HeldLocksForTesting();
  // How many waiter records the lock table holds (queued waiters, and
  // granted ones that have not woken yet).
  Result<size_t> QueuedWaitersForTesting();

  // How many committed writes of this store object (in this process) added,
  // moved or removed an expiry index entry.
  uint64_t IndexWritesForTesting() const;

  // How many times this store object grew the map (in this process).
  uint64_t MapGrowthsForTesting() const;

  // How many expired sessions the sweeps of this store object's writes
  // removed (in this process).
  uint64_t SweptForTesting() const;

  // The pids that hold an LMDB reader slot of this environment (including
  // slots of processes that died), from mdb_reader_list.
  Result<std::vector<pid_t>> ReaderPidsForTesting();

  // The pid that opened the environment this process is using, or 0 when it
  // is not open in this process.
  pid_t EnvPidForTesting() const;

 private:
  // Returns this process's environment, opening it if needed.
  Status Acquire(Env** out);
  Status OpenSlow(Env** out);
  // CheckAfterBoot (lmdb_check.h) on this store's directory.
  Status CheckOncePerBoot();

  // Runs `fn(txn)` in a read transaction. `fn` returns an LMDB code or one
  // of the internal codes in lmdb_txn.h (which defines these templates).
  template <typename Fn>
  int WithReadTxn(Env* env, Fn&& fn);
  // Runs `fn(txn)` in a write transaction and commits when it returns 0.
  // A full map: with `rescue` (a user's write), one RescueFullMap and a
  // retry, then Grow and a retry as long as the map may grow; without (a
  // transaction of gc), MDB_MAP_FULL for the gc to handle. A commit that
  // leaves the last page in use past kFillWarnPercent of the limit calls
  // NoteFill.
  template <typename Fn>
  int WithWriteTxn(Env* env, bool rescue, Fn&& fn);
  // Makes room in a full map: a Gc of expired sessions, then a commit that
  // lets the next transaction reuse the pages freed so far.
  void RescueFullMap(Env* env);
  // Commits a change that leaves nothing behind: see RescueFullMap.
  int CommitScratch(Env* env);

  // Re-maps after another process grew the map.
  int Remap(Env* env);
  // Closes and opens the environment again after a compaction replaced
  // data.mdb (lmdb_compact.h); a no-op when another thread already did.
  int Reopen(Env* env);
  // Grows the map of a full environment: to the size another process grew
  // it to, else to twice its size up to env->map_limit (MDB_MAP_FULL when
  // it is at the limit); with `gc_step`, by kGcSlackBytes, also past the
  // limit (for a gc: see GcInternal). An LMDB or errno code when it cannot
  // be mapped.
  int Grow(Env* env, bool gc_step);
  // Counts the pages in use now and then (kFillCountEvery) and logs the
  // warning of FillWarning once they pass kFillWarnPercent of the limit.
  void NoteFill(Env* env);
  // Usage of this process's environment.
  Result<StoreUsage> UsageOf(Env* env);
  // The Write of `id` with the sweep of expired sessions (SweepExpired).
  // *swept counts what the sweep removed.
  int PutAndSweep(MDB_txn* txn, Env* env, std::string_view id,
                  std::string_view data, int64_t expiry, bool* index_changed,
                  GcResult* swept);
  // `progress` (may be null) gets the running totals after each batch.
  Result<GcResult> GcInternal(Env* env, int64_t now_ms,
                              const GcProgress* progress = nullptr);
  // Ends the table's locks that count as gone and removes the database's
  // lock records of earlier versions that count as gone.
  int GcLocks(Env* env, int64_t now_ms);
  // The owner check of a write or touch (`op`) of `id` (digest `key`) in the
  // lock table: marks the lock committing, or says why not (LockLost).
  Status BeginCommit(Env* env, std::string_view op, std::string_view id,
                     const Digest& key, const Digest& token);
  // After the commit (`committed`) releases the lock and wakes whom it
  // must; after a failed one the owner keeps it.
  void EndCommit(Env* env, std::string_view id, const Digest& key,
                 const Digest& token, bool committed);

  // Builds the Status for an LMDB (or errno) code `rc` during `op`.
  Status Error(Env* env, std::string_view op, std::string_view id,
               int rc) const;

  int64_t NowMs() const;
  // Both clocks of a lock decision, with `wall_ms` as the wall clock.
  LockNow LockNowAt(int64_t wall_ms) const;

  const LmdbOptions options_;
  const std::string name_;
  // options_.env or Env::Default(): the clocks of expiries, leases and
  // waits, and the host and processes of lock holders.
  sessionkit::Env* const os_;
  std::atomic<uint64_t> index_writes_{0};  // see IndexWritesForTesting
  std::atomic<uint64_t> growths_{0};       // see MapGrowthsForTesting
  std::atomic<uint64_t> swept_{0};         // see SweptForTesting
  mutable std::mutex recovery_mu_;
  std::string last_recovery_;  // guarded by recovery_mu_
  std::string fill_warning_;   // guarded by recovery_mu_

  // The environment in use; checked without a lock on every call. Owned by
  // env_ below.
  std::atomic<Env*> current_{nullptr};
  // Guarded by the process-wide open mutex (lmdb_env.cc).
  std::shared_ptr<Env> env_;
  // Handles inherited across fork(): kept (never closed) so that a thread
  // that loaded one a moment ago still reads valid memory.
  std::vector<std::shared_ptr<Env>> abandoned_;
};

// The largest map_size and map_max (64 TiB), and the cap of the limit
// taken from the disk.
inline constexpr uint64_t kMaxMapBytes = 1ull << 46;

// The ranges of the LMDB settings (and the path's rules), for options read
// by LmdbOptions::FromUrl and for options built in C++: each way into
// OpenLmdbStore runs it once. InvalidArgument naming the setting.
Status ValidateLmdbOptions(const LmdbOptions& options);

// For an environment opened with MDB_WRITEMAP: allocates on disk the first
// `bytes` of its map (no more than the map; by default all of it). LMDB
// sizes data.mdb to the map as a sparse file, and a store into a hole that
// a full disk cannot fill is a SIGBUS, not an error. 0 (also for an
// environment without MDB_WRITEMAP) or an errno code (EOPNOTSUPP: the
// filesystem cannot allocate; ENOSPC: the disk cannot hold them).
int AllocateWriteMap(MDB_env* env, uint64_t bytes = UINT64_MAX);

// The size of the data file data.mdb in `dir` (0 when there is none yet).
uint64_t DataFileBytes(const std::string& dir);

// mdb_env_set_mapsize of an open environment (`bytes` 0: the size recorded
// in the file, or another process's grown map), never below the size of
// data.mdb with MDB_WRITEMAP: LMDB then cuts the file to the map at each
// mapping, and a cut under another process's larger map zeroes what that
// process wrote past it and makes its next store there a SIGBUS. Before
// mdb_env_open, raise the size to DataFileBytes the same way. 0 or an
// LMDB or errno code.
int SetMapSize(MDB_env* env, uint64_t bytes);

// Before mdb_env_open of the environment in `dir`: allocates on disk the
// reader table of `max_readers` slots in its lock.mdb (created with `mode`
// when missing; its size is left for LMDB to set). LMDB sizes lock.mdb as
// a sparse file and every reader writes its slot through a shared map: a
// process whose slot falls in a hole that a full disk cannot fill dies of
// SIGBUS. 0 (also where the filesystem cannot allocate, and when lock.mdb
// cannot be opened: mdb_env_open then reports it) or an errno code
// (ENOSPC: the disk cannot hold it).
int AllocateLockFile(const std::string& dir, unsigned max_readers, mode_t mode);

// "1GiB", "10MiB", "4096B": the largest binary unit that divides `bytes`.
std::string FormatSize(uint64_t bytes);

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_STORE_H_
