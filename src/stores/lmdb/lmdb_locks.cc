// The session locks of the LMDB store (see "Session locks" in
// lmdb_store.h): LockAndRead, the owner's release with WriteAndUnlock,
// TouchAndUnlock and Unlock, and the gc of lock records.
#include <errno.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "stores/lmdb/lmdb_env.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lmdb_lock_record.h"
#include "stores/lmdb/lmdb_records.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_txn.h"
#include "stores/lmdb/waiter_place.h"
#include "stores/lock_wait.h"
#include "stores/lock_wake.h"

namespace sessionkit {
namespace lmdb_internal {
namespace {

// A lock value: see lmdb_lock_record.h.
constexpr size_t kMaxTokenBytes = 1024;
// How a waiter paces itself (lock_wait.h): a futex wake-up is never lost,
// so only the wait, the lease (+1 ms) and a holder process of this host
// (kLocalHolderPoll) bound a sleep; waits are cut to a day.
constexpr LockWaitPacing kPacing{.max_wait = Duration(24 * 3600 * 1000),
                                 .lease_slack = Duration(1),
                                 .max_sleep = kLongestLockWait,
                                 .poll_own_process = false};

// Why an owner's write, touch or release is refused, or empty when the lock
// record of `id` is still its own (also after its lease ran out: nobody took
// the lock over since). No token goes into the reason: a token lets its
// bearer write the session.
std::string OwnerCheck(MDB_txn* txn, const Env* e, std::string_view id,
                       std::string_view token, const LockNow& now, int* rc) {
  LockRecord lock;
  *rc = GetLock(txn, e, id, &lock);
  if (*rc == MDB_NOTFOUND) {
    *rc = kRcLockLost;
    return "the session is not locked by this owner (it never took the "
           "lock or released it, the session was destroyed, or another "
           "owner took the lock over and released it)";
  }
  if (*rc != 0) return "";
  if (lock.token != token) {
    *rc = kRcLockLost;
    return "another owner holds the lock (this owner's lease ran out and "
           "the lock was taken over, or this owner never held it)";
  }
  if (StateOf(lock, now) == LockState::kGone) {
    *rc = kRcLockLost;
    return "this owner's lock record expired (its lease ended more than " +
           std::to_string(kLockRecordRetention.count() / 60000) +
           " minutes ago, or before the host restarted)";
  }
  return "";
}

// A token has no zero byte: that tells a lock record's token from the
// fields after it (lmdb_lock_record.h).
Status CheckToken(const std::string& name, std::string_view op,
                  std::string_view id, const LockOwner& owner) {
  if (!owner.token.empty() && owner.token.size() <= kMaxTokenBytes &&
      owner.token.find('\0') == std::string::npos) {
    return Status::OK();
  }
  return Status::InvalidArgument(
      name + ": " + std::string(op) + " of session " + IdPrefix(id) +
      ": a lock owner token of " + std::to_string(owner.token.size()) +
      " bytes cannot be stored (1 to " + std::to_string(kMaxTokenBytes) +
      " bytes without a zero byte; use LockOwner::Generate)");
}

Status LockLost(const std::string& name, std::string_view op,
                std::string_view id, const std::string& reason) {
  return Status::LockLost(name + ": " + std::string(op) + " of session " +
                          IdPrefix(id) + " refused: " + reason +
                          "; nothing was changed");
}

// The holder of a session lock, as a try of LockAndRead found it held.
struct LockHolder {
  std::string token;
  int64_t lease_left_ms = 0;
};

// One try of LockAndRead in the write transaction `txn` at `now` (Unix ms;
// `lock_now`: the clocks of leases; `os`: the store's Env): takes the lock of
// `id` for request.owner unless another owner holds it, and reads the session
// into *out. When the lock is held: kRcNoChange, *held and *holder.
int TryLockAndRead(MDB_txn* txn, const Env* e, sessionkit::Env* os,
                   std::string_view id, const LockRequest& request, int64_t now,
                   const LockNow& lock_now, LockedRead* out, bool* held,
                   LockHolder* holder) {
  const std::string_view token = request.owner.token;
  *out = LockedRead();
  *held = false;
  LockRecord lock;
  int rc = GetLock(txn, e, id, &lock);
  if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  if (rc == 0 && lock.token != token) {
    if (StateOf(lock, lock_now) == LockState::kHeld &&
        !LockHolderIsGone(lock.token, os)) {
      *held = true;
      holder->token.assign(lock.token);
      holder->lease_left_ms = LeaseLeftMs(lock, lock_now);
      return kRcNoChange;
    }
    out->broken_owner.assign(lock.token);
  }
  rc = PutLock(txn, e, id, lock_now, request.lease, token);
  if (rc != 0) return rc;
  MDB_val k = Val(id), v;
  rc = mdb_get(txn, e->db, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc != 0) return rc;
  // Like Read: a value without header is an error, and the lock is
  // not taken (the transaction aborts).
  if (v.mv_size < kHeaderBytes) return kRcCorrupt;
  const int64_t expiry = GetBigEndian64(v.mv_data);
  if (expiry <= now) return 0;
  out->found = true;
  out->record.data.assign(static_cast<const char*>(v.mv_data) + kHeaderBytes,
                          v.mv_size - kHeaderBytes);
  out->record.expires_at = ExpiryTime(expiry);
  return 0;
}

}  // namespace

LockNow LmdbStore::LockNowAt(int64_t wall_ms) const {
  LockNow now;
  now.wall_ms = wall_ms;
  now.boot_ms = os_->BootClockMs();
  // Unknown (all zeros): records of an earlier boot are judged by the clock
  // alone.
  if (!ParseBootId(os_->BootId(), &now.boot)) now.boot = BootId{};
  return now;
}

// --- Locks ------------------------------------------------------------------

Result<LockedRead> LmdbStore::LockAndRead(std::string_view id,
                                          const LockRequest& request) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "lock", id, request.owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const LockWait wait(os_, request, kPacing);
  const uint64_t hash = LockHash(id);
  WaiterPlace place;  // taken on the first wait, given back on return
  bool waiting = false;
  LockedRead out;
  LockHolder holder;  // while the lock is held
  for (;;) {
    // Read before the try: a release after the try has changed the word by
    // the time this caller sleeps on it, so the sleep ends at once.
    const uint32_t seq = e->wake.Seq(hash);
    bool held = false;
    int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
      const int64_t now = NowMs();
      return TryLockAndRead(txn, e, os_, id, request, now, LockNowAt(now), &out,
                            &held, &holder);
    });
    if (rc != 0) return Error(e, "lock", id, rc);
    if (!held) {
      out.outcome = LockOutcome::kAcquired;
      return out;
    }
    if (wait.Expired()) {
      out.outcome = LockOutcome::kTimedOut;
      return out;
    }
    if (!waiting) {
      waiting = true;
      if (request.max_waiters > 0) {
        rc = place.Take(e->wake.path(), hash, request.max_waiters);
        if (rc == EAGAIN) {
          out.outcome = LockOutcome::kTooManyWaiters;
          return out;
        }
        if (rc != 0) {
          return Status::Unavailable(name_ + ": lock of session " +
                                     IdPrefix(id) +
                                     ": cannot count the waiters in " +
                                     e->wake.path() + ": " + strerror(rc));
        }
      }
    }
    // Sleep until a release on the slot, or what LockWait allows (the end
    // of the wait or of the holder's lease, the next look at a holder
    // process of this host).
    wait.Sleep(wait.NextSleep(holder.token, holder.lease_left_ms),
               [&](std::chrono::nanoseconds d) { e->wake.Wait(hash, seq, d); });
  }
}

Status LmdbStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                 Duration ttl, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "write", id, owner));
  SK_RETURN_IF_ERROR(CheckValueSize(name_, id, data));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t expiry = ExpiryFromNow(NowMs(), ttl);
  bool index_changed = false;
  GcResult swept;
  std::string refused;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    int rc;
    refused = OwnerCheck(txn, e, id, owner.token, LockNowAt(NowMs()), &rc);
    if (rc != 0) return rc;
    rc = PutAndSweep(txn, e, id, data, expiry, &index_changed, &swept);
    return rc != 0 ? rc : DelLock(txn, e, id);
  });
  if (rc == kRcLockLost) return LockLost(name_, "write", id, refused);
  if (rc != 0) return Error(e, "write", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  swept_.fetch_add(swept.removed, std::memory_order_relaxed);
  e->wake.Wake(LockHash(id));
  return Status::OK();
}

Status LmdbStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                 const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "touch", id, owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  std::string value;
  bool index_changed = false;
  std::string refused;
  int touched = 0;  // TouchSession's outcome
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    const int64_t now = NowMs();
    int rc;
    refused = OwnerCheck(txn, e, id, owner.token, LockNowAt(now), &rc);
    if (rc != 0) return rc;
    if ((rc = DelLock(txn, e, id)) != 0) return rc;
    index_changed = false;
    touched = TouchSession(txn, e, id, now, ExpiryFromNow(now, ttl), &value,
                           &index_changed);
    // A session that is gone (or unreadable) still has its lock released.
    const bool released_anyway = touched == MDB_NOTFOUND ||
                                 touched == kRcCorrupt ||
                                 touched == kRcNoChange;
    return released_anyway ? 0 : touched;
  });
  if (rc == kRcLockLost) return LockLost(name_, "touch", id, refused);
  if (rc != 0) return Error(e, "touch", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  e->wake.Wake(LockHash(id));
  if (touched == MDB_NOTFOUND || touched == kRcCorrupt) {
    return Error(e, "touch", id, touched);
  }
  return Status::OK();
}

Status LmdbStore::Unlock(std::string_view id, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "unlock", id, owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  bool released = false;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    released = false;
    LockRecord lock;
    int rc = GetLock(txn, e, id, &lock);
    if (rc == MDB_NOTFOUND) return kRcNoChange;
    if (rc != 0) return rc;
    // An owner whose lease ran out still removes its own record.
    if (lock.token != owner.token) return kRcNoChange;
    released = true;
    return DelLock(txn, e, id);  // also a record that counts as gone
  });
  if (rc != 0) return Error(e, "unlock", id, rc);
  if (released) e->wake.Wake(LockHash(id));
  return Status::OK();
}

int LmdbStore::GcLocks(Env* e, int64_t now_ms) {
  // Lock records are few (the locks held now, and those of holders that
  // died or outlived their lease): all are visited, in batches like the
  // index. Only records that count as gone (kLockRecordRetention after
  // their lease, or of another boot) are removed.
  const LockNow now = LockNowAt(now_ms);
  char resume[kMaxKeyBytes];
  std::memcpy(resume, kLockPrefix, kLockPrefixBytes);
  size_t resume_size = kLockPrefixBytes;
  char next_resume[sizeof resume];
  size_t next_resume_size = 0;
  for (;;) {
    bool more = false;
    int rc = WithWriteTxn(e, /*rescue=*/false, [&](MDB_txn* txn) {
      more = false;
      bool removed = false;
      MDB_cursor* cursor;
      int rc = mdb_cursor_open(txn, e->db, &cursor);
      if (rc != 0) return rc;
      CursorGuard guard{cursor};
      char pos[sizeof resume];
      size_t pos_size = resume_size;
      std::memcpy(pos, resume, resume_size);
      MDB_val k{pos_size, pos}, v;
      rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
      for (uint64_t visited = 0; rc == 0 && IsLockKey(View(k)); ++visited) {
        if (visited == kGcBatch) {
          more = true;
          next_resume_size = std::min(k.mv_size, sizeof next_resume);
          std::memcpy(next_resume, k.mv_data, next_resume_size);
          break;
        }
        if (StateOf(ParseLockRecord(View(v)), now) != LockState::kGone) {
          rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
          continue;
        }
        // Copy the key: deleting may move the page that holds it.
        pos_size = std::min(k.mv_size, sizeof pos);
        std::memcpy(pos, k.mv_data, pos_size);
        if ((rc = mdb_cursor_del(cursor, 0)) != 0) return rc;
        removed = true;
        k = MDB_val{pos_size, pos};
        rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
      }
      if (rc != 0 && rc != MDB_NOTFOUND) return rc;
      return removed ? 0 : kRcNoChange;
    });
    if (rc != 0 || !more) return rc;
    std::memcpy(resume, next_resume, next_resume_size);
    resume_size = next_resume_size;
  }
}

Result<size_t> LmdbStore::LockRecordsForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  size_t count = 0;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    count = 0;
    MDB_cursor* cursor;
    int rc = mdb_cursor_open(txn, e->db, &cursor);
    if (rc != 0) return rc;
    MDB_val k{kLockPrefixBytes, const_cast<char*>(kLockPrefix)}, v;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
         rc == 0 && IsLockKey(View(k));
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      ++count;
    }
    mdb_cursor_close(cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
  });
  if (rc != 0) return Error(e, "lock count", {}, rc);
  return count;
}

}  // namespace lmdb_internal
}  // namespace sessionkit
