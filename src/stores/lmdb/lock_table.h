// The LMDB store's session lock table: <dir>/lock-table, a file mapped
// shared (MapSharedFile, stores/lock_wake.h) by every process using the
// directory. Locks live here, not in the database, so that taking one costs
// no write transaction.
//
// Layout: a header {magic, format version, geometry, boot id}, then
// `buckets` buckets. A session's bucket is picked by a 128-bit digest of its
// id (SipHash-2-4 with a key drawn for each table, libsodium's
// crypto_shorthash_siphashx24). Each bucket holds a
// process-shared ROBUST pthread mutex, `entries` lock entries (the session
// digest, the holder: token digest, the token's text for messages, its pid
// when it is a process of this host, the lease end on the boot clock, the
// boot id, a "committing" flag; and an arrival counter) and a pool of
// `waiters` waiter records (entry, token, pid, lease wanted, deadline,
// arrival number, a futex word of its own).
//
// Waiters are served in arrival order: a release hands the lock to the
// earliest live waiter of the entry (the holder becomes that waiter, its
// lease starts, its futex word is bumped and woken); nobody barges in while
// a waiter is queued. A waiter that finds no free record in its bucket
// waits on lock-wake instead and may take the lock only once no waiter is
// queued (LockTable::Try reports kNoRoom).
//
// The header is checked under an exclusive OFD lock of byte 0 of the file;
// every process holds a shared OFD lock of byte 1 while it maps the table.
// A file of zeros (new) or of another boot is (re)initialised only when
// nobody holds byte 1 (the kernel drops the locks of dead processes, so
// after a reboot nobody does); another magic, and another format version or
// geometry, is an error naming the file.
//
// Robustness: a process killed while it holds a bucket mutex leaves
// EOWNERDEAD to the next locker, which repairs the bucket (Repair: drops the
// waiter records of dead processes and of entries no longer used, ends the
// holder of the entry that was being rewritten, hands free entries to their
// earliest waiter) and marks the mutex consistent.
#ifndef SESSIONKIT_STORES_LMDB_LOCK_TABLE_H_
#define SESSIONKIT_STORES_LMDB_LOCK_TABLE_H_

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sessionkit/env.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_lock_record.h"

namespace sessionkit::lmdb_internal {

inline constexpr char kLockTableFile[] = "lock-table";
// Bytes of a holder's token text kept for messages (longer ones are kept
// as a digest only: a take-over then names no old holder).
inline constexpr size_t kTableTokenBytes = 120;

using Digest = std::array<unsigned char, 16>;

// Who asks for a lock: its token, as the table keeps it.
struct Claimant {
  Digest token{};
  std::string_view text;  // the token
  pid_t pid = 0;          // the token's process when of this host, else 0
  int64_t lease_ms = 0;
  pid_t self_pid = 0;  // the calling process (Env::Pid): a waiter's own
};

// The pid of `token`'s process when it is of this host, else 0.
pid_t LocalPidOf(std::string_view token, sessionkit::Env* os);

// A waiter's place in a bucket's pool.
struct Ticket {
  int32_t slot = -1;  // -1: none
  uint32_t arrival = 0;
  uint32_t seq = 0;  // the record's futex word when last looked at
};

enum class Step {
  kTaken,   // the caller holds the lock (`broken`: whom it took it from)
  kHeld,    // another owner holds it (`holder`, `lease_left_ms`)
  kQueued,  // held, and the caller waits in the queue (`ticket`)
  kNoRoom,  // held (or others queue) and the pool is full: wait on lock-wake
  kFull,    // no free entry in the bucket: wait and try again
  kError,   // the bucket mutex cannot be recovered
};

struct StepResult {
  Step step = Step::kError;
  std::string holder;  // token text when known
  int64_t lease_left_ms = -1;
  std::string broken;  // kTaken: a broken holder's token ("" if none)
  Ticket ticket;
};

// Why an owner's release is refused.
enum class OwnerState { kOwner, kNotLocked, kOtherOwner, kGone };

// One process's mapping of the lock table.
//
// Thread safety: every method but Map and Unmap may be called concurrently
// from any thread and process; Map and Unmap only while no other call runs.
// Fork: a child inherits the mapping and the descriptor holding byte 1.
class LockTable {
 public:
  // Maps `path` (MapSharedFile with `mode`, SharedFileOwner::kAnyone) with
  // `geometry` (zeros: the defaults) for the boot `boot`. 0, or an errno
  // with *error saying what is wrong (a foreign header, another geometry).
  int Map(const std::string& path, unsigned mode,
          const LmdbLockTableGeometry& geometry, const BootId& boot,
          std::string* error);
  // Unmaps the table and drops this process's hold of the file (nothing
  // when not mapped).
  void Unmap();
  bool mapped() const { return base_ != nullptr; }
  const std::string& path() const { return path_; }
  // Bytes of the mapping (for messages).
  size_t bytes() const { return bytes_; }

  // The 128-bit digest of a session id or of a token in this table
  // (SipHash-2-4 with the table's key).
  Digest DigestOf(std::string_view text) const;

  // One try of `c` for the lock of the session `id` at `now` (the boot
  // clock and id): takes it when free (and nobody queues) or when its holder
  // is gone (lease ended and not committing, another boot, or its process
  // died). Otherwise, with `enqueue`, queues the caller until `deadline_ms`
  // (boot clock).
  StepResult Try(const Digest& id, const Claimant& c, const LockNow& now,
                 bool enqueue, int64_t deadline_ms, sessionkit::Env* os);
  // A queued waiter looks again: granted (the entry names it the holder:
  // kTaken, record removed), still queued (kQueued; holder filled; also
  // when its grant was taken over while it slept past the lease), or its
  // record was lost (kNoRoom: try again). Takes the lock over from a gone
  // holder for the earliest waiter.
  StepResult Poll(const Digest& id, const Claimant& c, const Ticket& t,
                  const LockNow& now, sessionkit::Env* os);
  // A queued waiter gives up: its record is removed. True (with *broken)
  // when the entry names it the holder (granted meanwhile): it holds it.
  bool Leave(const Digest& id, const Claimant& c, const Ticket& t,
             std::string* broken, const LockNow& now, sessionkit::Env* os);
  // Sleeps on the ticket's own futex word while it is still t.seq (a grant
  // bumps it), at most `timeout`.
  void WaitWord(const Ticket& t, const Digest& id,
                std::chrono::nanoseconds timeout) const;

  // The owner check of a release: kOwner marks the entry committing (its
  // lease can no longer be broken, only a dead holder taken over).
  // *error: the bucket mutex cannot be recovered.
  OwnerState BeginCommit(const Digest& id, const Digest& token,
                         const LockNow& now, sessionkit::Env* os, bool* error);
  // After the commit: `committed` releases the lock (handing it to the
  // earliest live waiter), else the owner keeps it. True when a waiter on
  // lock-wake should be woken.
  bool EndCommit(const Digest& id, const Digest& token, bool committed,
                 const LockNow& now, sessionkit::Env* os);
  // Releases the lock when `token` holds it (also after its lease). True
  // when it did; *wake as EndCommit's result.
  bool Release(const Digest& id, const Digest& token, const LockNow& now,
               sessionkit::Env* os, bool* wake);
  // Destroy: makes `c` (a token of the destroying call) the committing
  // holder of `id`, whoever held it. False while another holder commits
  // (try again in a moment) unless `force` (a commit waited on for too
  // long: its holder may have died and its pid been reused; the owner
  // check in its write transaction then refuses it) or it is gone; false
  // too when the bucket is full (*full; *allocs: the bucket's count of
  // entries made; the same count at a later full look means nobody locked
  // `id` in between).
  bool BeginDestroy(const Digest& id, const Claimant& c, const LockNow& now,
                    sessionkit::Env* os, bool force, bool* full,
                    uint32_t* allocs);
  // True when an owner holds the lock of `id` that nobody may take over
  // yet (its lease runs or it commits; its process lives; this boot).
  // *error: the bucket mutex cannot be recovered.
  bool Held(const Digest& id, const LockNow& now, sessionkit::Env* os,
            bool* error);
  // Waiters of a bucket on lock-wake (kNoRoom, kFull) while they wait.
  void CountOverflow(const Digest& id, int delta, const LockNow& now,
                     sessionkit::Env* os);

  // Ends the holders that count as gone (kLockRecordRetention after their
  // lease, another boot) or whose process died, handing each lock on.
  void Sweep(const LockNow& now, sessionkit::Env* os);

  // Entries with a holder, and queued waiter records, in the whole table.
  void CountForTesting(const LockNow& now, sessionkit::Env* os, size_t* held,
                       size_t* queued);

  // One bucket's head in the mapping (its entries and waiters follow).
  struct Bucket;

 private:
  Bucket* BucketAt(uint64_t n) const;  // the n-th bucket (n < buckets_)
  Bucket* BucketOf(const Digest& id) const;
  // Locks a bucket, repairing it after a holder of the mutex died. False
  // when the mutex is not recoverable.
  bool Lock(Bucket* b, sessionkit::Env* os, const LockNow* now);
  void Unlock(Bucket* b);

  void* base_ = nullptr;
  size_t bytes_ = 0;
  int fd_ = -1;  // holds a shared lock of byte 1 while mapped (Map)
  unsigned char key_[16] = {};  // the header's digest key
  std::string path_;
  uint32_t buckets_ = 0, entries_ = 0, waiters_ = 0;
  size_t bucket_bytes_ = 0;
};

// Test hook: called with a bucket mutex held in the middle of rewriting an
// entry's holder (Repair must then end that holder); null outside tests.
extern void (*g_lock_table_mid_update_for_testing)();

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LOCK_TABLE_H_
