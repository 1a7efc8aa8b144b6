// The Store interface: the primitives every backend implements. A store keeps
// opaque bytes (already framed, compressed and encrypted by the engine) under
// a validated session id, with an absolute expiry. It knows nothing about PHP,
// lifetimes or codecs.
#ifndef SESSIONKIT_STORE_H_
#define SESSIONKIT_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/lock.h"
#include "sessionkit/status.h"

namespace sessionkit {

// One stored session as read back.
struct SessionRecord {
  std::string data;      // the stored bytes, exactly as written
  TimePoint expires_at;  // absolute expiry
};

// One session as listed by Scan (no payload).
struct SessionInfo {
  std::string id;
  uint64_t bytes = 0;  // size of the stored bytes
  TimePoint expires_at;
};

struct ScanOptions {
  // Empty to start; then the next_cursor of the previous page.
  std::string cursor;
  // Most sessions in one page (a store may return fewer).
  size_t limit = 1000;
  // Also list sessions whose expiry has passed but that gc has not removed.
  bool include_expired = false;
};

struct ScanPage {
  std::vector<SessionInfo> sessions;
  // Where the next page starts; empty when the scan is complete.
  std::string next_cursor;
};

struct GcResult {
  uint64_t removed = 0;        // sessions deleted
  uint64_t bytes_removed = 0;  // their stored bytes
};

// How much a store holds against the most it may hold (Store::Usage).
struct StoreUsage {
  uint64_t used_bytes = 0;   // in use now: sessions, their index, locks
  uint64_t limit_bytes = 0;  // the most the store may come to use
  uint64_t file_bytes = 0;   // its files on disk now (0: no local files)
  // What sets limit_bytes, for people: "map_max=4GiB", "the disk: free
  // space when opened plus the data file".
  std::string limit_from;
};

// How long a lock record is kept after its lease ran out while no other
// request takes the lock over. Until then the holder may still write,
// touch or release (a request that outlives its lease loses nothing when
// nobody else wanted the session), and a record that is gone means another
// owner came and went, or the session was destroyed: the late holder's
// write is refused. Only records of holders that never released (crashed
// on another host) live this long.
inline constexpr Duration kLockRecordRetention{3600 * 1000};

// Parameters of LockAndRead: the limits (LockLimits, lock.h: how long to
// wait for a held lock, the lease, the cap of waiters; LockOutcome::
// kTooManyWaiters when max_waiters already wait) and the owner.
struct LockRequest : LockLimits {
  LockOwner owner;
  // False: the caller does not use LockedRead::record.expires_at, which is
  // then left unset, so a store may skip reading it (Redis: no PTTL).
  bool want_expiry = true;
};

enum class LockOutcome {
  kAcquired,        // the caller holds the lock; the session was read
  kTimedOut,        // another request held the lock for the whole wait
  kTooManyWaiters,  // max_waiters requests were already waiting
};

// Outcome of LockAndRead.
struct LockedRead {
  LockOutcome outcome = LockOutcome::kTimedOut;
  bool acquired() const { return outcome == LockOutcome::kAcquired; }
  // When acquired: a live session exists and `record` holds it.
  bool found = false;
  SessionRecord record;
  // When acquired and not found: the session version of the session's
  // destroy where the store still keeps its mark (a store of tiers keeps a
  // tombstone while a tier may hold an older copy, frame.h); the next write
  // must carry a higher one. 0 otherwise.
  uint64_t tombstone_version = 0;
  // When acquired by taking over the lock of a holder process of this host
  // that is gone, or of a holder whose lease ran out (where the store still
  // knows it: a store that expires locks by itself, like Redis, does not):
  // the previous holder's token. Empty otherwise.
  std::string broken_owner;
};

// One write of Store::WriteUnlessNewer. The views must outlive the call.
struct VersionedWrite {
  std::string_view id;
  // A frame (frame.h): its session version orders it.
  std::string_view data;
  Duration ttl{0};
};

// A session store backend.
//
// Ids passed to a Store have been validated by ValidateSessionId (charset
// a-z A-Z 0-9 , - and length 1..256): a backend may use them in keys, paths
// and statements without escaping.
//
// Thread safety: implementations document their own; every store shipped
// with sessionkit is safe for concurrent use from several threads, and from
// several processes on the same backing data.
class Store {
 public:
  virtual ~Store() = default;

  // A description for messages, e.g. "lmdb:///var/lib/sessionkit"; never
  // contains a password.
  virtual const std::string& name() const = 0;

  // Reads a session without locking it. NotFound if the session does not
  // exist or has expired; an expired session is never returned.
  virtual Result<SessionRecord> Read(std::string_view id) = 0;

  // As Read, except that a destroyed session's mark that the store keeps
  // and Read hides (a tombstone frame, frame.h: tiers keep one while a tier
  // may still hold an older copy) is returned instead of NotFound, so that
  // the caller tells "destroyed" from "never here". The default: Read (a
  // store that hides no marks returns one written to it as any value).
  virtual Result<SessionRecord> ReadOrMark(std::string_view id);

  // Creates or replaces a session; it expires `ttl` from now.
  virtual Status Write(std::string_view id, std::string_view data,
                       Duration ttl) = 0;

  // Moves the expiry of an existing live session to `ttl` from now without
  // rewriting its data. NotFound if the session does not exist or expired.
  virtual Status Touch(std::string_view id, Duration ttl) = 0;

  // Deletes a session. OK when the session did not exist. In a store that
  // locks, Destroy also ends the session's lock, whoever holds it: the lock
  // record is deleted in the same step, waiters are woken, and the holder's
  // later WriteAndUnlock / TouchAndUnlock are refused with LockLost (its
  // Unlock is OK), so a logout is never undone by a slower request.
  virtual Status Destroy(std::string_view id) = 0;

  // True when a live (unexpired) session with this id exists.
  virtual Result<bool> Exists(std::string_view id) = 0;

  // True when a live session with this id exists or its lock is held (its
  // lease runs): a session a request is creating, not yet written. PHP's
  // strict mode asks this: the files handler creates a session's file when
  // a request opens it, so a parallel request with the new id keeps it
  // rather than being handed another. The default: Exists, for a store
  // that does not lock.
  virtual Result<bool> ExistsOrLocked(std::string_view id);

  // Lists sessions in a stable order, a page at a time.
  virtual Result<ScanPage> Scan(const ScanOptions& options) = 0;

  // Removes sessions whose expiry is at or before `now`, without visiting
  // live sessions where the backend allows it.
  virtual Result<GcResult> Gc(TimePoint now) = 0;

  // Receives Gc's running totals (GcWithProgress); must not throw.
  using GcProgress = std::function<void(const GcResult& so_far)>;

  // As Gc, calling `progress` with the running totals as the work goes on,
  // for a progress display (the CLI's gc). The default: Gc, then one call
  // with its result. A store whose gc is long work (LMDB walks its expiry
  // index in batches) calls it after each batch.
  virtual Result<GcResult> GcWithProgress(TimePoint now,
                                          const GcProgress& progress);

  // OK when the store answers; otherwise why not.
  virtual Status Health() = 0;

  // How full the store is, for stores that have a limit of their own (the
  // embedded LMDB store). The default: NotSupported (a server's memory or
  // disk is the server's to report).
  virtual Result<StoreUsage> Usage();

  // Round trips to the store's servers since the last call (of this store
  // or of any store sharing its connections), each reported once: what
  // the engine's metrics count (metrics.h). The default: 0, for a store
  // that does not count them.
  virtual uint64_t TakeRoundTrips();

  // Writes each of `writes` (distinct ids) as Write would, except a session
  // for which the store holds an unexpired value of a higher session
  // version: that value is kept. A value's session version is its frame
  // header's (bytes 8-15, big-endian) when it begins as a format 2 frame
  // does (magic, format 2, 16 bytes or more), else 0. Each session's check
  // and write are one atomic step that neither takes nor honours locks, so
  // writers that race (two hosts draining one session) never replace a
  // newer version with an older one. OK when every write was made or kept;
  // on an error some may have been made. The default: NotSupported, for a
  // store that cannot check and write in one step (the caller then checks
  // and writes under the session's lock). Used by tiers written behind
  // (docs/tiers.md), a batch of a drain in one round trip.
  virtual Status WriteUnlessNewer(const std::vector<VersionedWrite>& writes);

  // --- Locking primitives. Stores without native locking keep the defaults,
  // which return NotSupported.

  //
  // The lock of a session is separate from its data: a session that does not
  // exist can be locked (a new session), Read/Write/Touch/Destroy/Exists
  // ignore locks, and a lock outlives neither its lease nor, on this host,
  // its holder's process.

  // Takes the session lock for `request.owner` and reads the session, in one
  // round trip when the lock is free (where the backend allows it). While
  // another owner holds the lock, waits up to request.wait in wall-clock time
  // and is woken as soon as the holder releases (no polling delay where the
  // backend has a wake-up primitive). A lock whose lease ran out, or whose
  // holder is a process of this host that is gone (LockHolderIsGone), is
  // taken over; LockedRead::broken_owner then names the old holder. Taking a
  // lock `request.owner` already holds succeeds and renews its lease. The
  // lock record is kept for kLockRecordRetention after the lease (see
  // there) unless released, taken over or destroyed.
  // Outcomes other than kAcquired are not errors: the Status is for a store
  // that cannot answer.
  virtual Result<LockedRead> LockAndRead(std::string_view id,
                                         const LockRequest& request);

  // Writes the session and releases the lock, checked atomically: written
  // when the lock record is still `owner`'s, also after its lease ran out
  // (nobody else took the lock since); refused with LockLost (and nothing
  // written) when another owner holds the lock now, or the record is gone
  // (`owner` never took it, released it, another owner took it over and
  // released it, Destroy ended it, or kLockRecordRetention passed after the
  // lease). Wakes the session's waiters (at least one of them).
  virtual Status WriteAndUnlock(std::string_view id, std::string_view data,
                                Duration ttl, const LockOwner& owner);

  // Touches the session and releases the lock; LockLost as WriteAndUnlock
  // (nothing touched, lock left as it is). NotFound when the session does
  // not exist (the lock is released all the same).
  virtual Status TouchAndUnlock(std::string_view id, Duration ttl,
                                const LockOwner& owner);

  // Releases the lock if `owner` holds it, waking the session's waiters;
  // does nothing (and returns OK) otherwise.
  virtual Status Unlock(std::string_view id, const LockOwner& owner);
};

// Opening a store from a URL: OpenStore in open.h.

}  // namespace sessionkit

#endif  // SESSIONKIT_STORE_H_
