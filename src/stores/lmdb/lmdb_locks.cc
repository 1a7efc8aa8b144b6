// The session locks of the LMDB store (see "Session locks" in
// lmdb_store.h), on the lock table (lock_table.h): LockAndRead, the owner's
// release with WriteAndUnlock, TouchAndUnlock and Unlock, and the gc of the
// table and of earlier versions' lock records.
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

// Why an owner's write, touch or release is refused (the table's verdict).
// No token goes into the reason: a token lets its bearer write the session.
std::string RefusedBecause(OwnerState state) {
  switch (state) {
    case OwnerState::kOwner:
      return "";
    case OwnerState::kNotLocked:
      return "the session is not locked by this owner (it never took the "
             "lock or released it, the session was destroyed, or another "
             "owner took the lock over and released it)";
    case OwnerState::kOtherOwner:
      return "another owner holds the lock (this owner's lease ran out and "
             "the lock was taken over, or this owner never held it)";
    case OwnerState::kGone:
      break;
  }
  return "this owner's lock expired (its lease ended more than " +
         std::to_string(kLockRecordRetention.count() / 60000) +
         " minutes ago, or before the host restarted)";
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

// Reads the session `id` at `now` (Unix ms) in the read transaction `txn`
// into *out, after its lock was taken.
int ReadLocked(MDB_txn* txn, const Env* e, std::string_view id, int64_t now,
               LockedRead* out) {
  out->found = false;
  MDB_val k = Val(id), v;
  int rc = mdb_get(txn, e->db, &k, &v);
  if (rc == MDB_NOTFOUND) return 0;
  if (rc != 0) return rc;
  // Like Read: a value without header is an error (and the lock is given
  // back).
  if (v.mv_size < kHeaderBytes) return kRcCorrupt;
  const int64_t expiry = GetBigEndian64(v.mv_data);
  if (expiry <= now) return 0;
  out->found = true;
  out->record.data.assign(static_cast<const char*>(v.mv_data) + kHeaderBytes,
                          v.mv_size - kHeaderBytes);
  out->record.expires_at = ExpiryTime(expiry);
  return 0;
}

// How often a caller that finds its bucket of the lock table full tries
// again.
constexpr std::chrono::milliseconds kFullTableRetry{2};

}  // namespace

LockNow LmdbStore::LockNowAt(int64_t wall_ms) const {
  LockNow now;
  now.wall_ms = wall_ms;
  now.boot_ms = os_->BootClockMs();
  // Parsed once per thread and text: an Env's view stays valid, and a new
  // boot id (a fake Env's) is new text. Unknown: all zeros.
  thread_local const char* parsed_text = nullptr;
  thread_local size_t parsed_size = 0;
  thread_local BootId parsed{};
  const std::string_view text = os_->BootId();
  if (text.data() != parsed_text || text.size() != parsed_size) {
    if (!ParseBootId(text, &parsed)) parsed = BootId{};
    parsed_text = text.data();
    parsed_size = text.size();
  }
  now.boot = parsed;
  return now;
}

// --- Locks ------------------------------------------------------------------

Result<LockedRead> LmdbStore::LockAndRead(std::string_view id,
                                          const LockRequest& request) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "lock", id, request.owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  LockTable& table = e->table;
  const LockWait wait(os_, request, kPacing);
  const uint64_t hash = LockHash(id);
  const Digest key = e->table.DigestOf(id);
  // self_pid is asked for only when the caller queues (a system call).
  Claimant me{.token = e->table.DigestOf(request.owner.token),
              .text = request.owner.token,
              .pid = LocalPidOf(request.owner.token, os_),
              .lease_ms = request.lease.count()};
  WaiterPlace place;  // taken on the first wait, given back on return
  bool waiting = false;
  bool overflow = false;  // counted among the bucket's lock-wake sleepers
  Ticket ticket;          // while queued
  LockedRead out;
  const auto leave_overflow = [&] {
    if (overflow) table.CountOverflow(key, -1, LockNowAt(NowMs()), os_);
    overflow = false;
  };
  for (;;) {
    // Read before the try: a release after the try has changed the word by
    // the time this caller sleeps on it, so the sleep ends at once. Only a
    // caller counted among the bucket's lock-wake sleepers sleeps there.
    const uint32_t seq = overflow ? e->wake.Seq(hash) : 0;
    const LockNow now = LockNowAt(NowMs());
    const int64_t deadline = AddClamped(
        now.boot_ms, std::chrono::ceil<Duration>(wait.Left()) + Duration(1));
    StepResult r = ticket.slot >= 0
                       ? table.Poll(key, me, ticket, now, os_)
                       : table.Try(key, me, now, waiting, deadline, os_);
    if (r.step == Step::kError) {
      leave_overflow();
      return Status::Unavailable(name_ + ": lock of session " + IdPrefix(id) +
                                 ": the lock table " + table.path() +
                                 " cannot be locked (a damaged mutex)");
    }
    if (r.step == Step::kTaken) {
      leave_overflow();
      out.broken_owner = std::move(r.broken);
      break;
    }
    ticket = r.step == Step::kQueued ? r.ticket : Ticket();
    if (wait.Expired()) {
      leave_overflow();
      if (ticket.slot >= 0 && table.Leave(key, me, ticket, &out.broken_owner,
                                          LockNowAt(NowMs()), os_)) {
        break;  // granted meanwhile: the lock is the caller's
      }
      if (r.step == Step::kFull) {
        return Status::Unavailable(
            name_ + ": lock of session " + IdPrefix(id) + ": the lock table " +
            table.path() + " (" + FormatSize(table.bytes()) +
            ") has no free entry for this session for the whole wait: too "
            "many sessions locked at once");
      }
      out.outcome = LockOutcome::kTimedOut;
      return out;
    }
    if (!waiting) {
      waiting = true;
      me.self_pid = os_->Pid();
      if (request.max_waiters > 0) {
        const int rc = place.Take(e->wake.path(), hash, request.max_waiters);
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
      if (r.step == Step::kHeld) continue;  // now queue
    }
    if ((r.step == Step::kNoRoom || r.step == Step::kFull) && !overflow) {
      // Counted before the next try, so that a release after it wakes.
      overflow = true;
      table.CountOverflow(key, 1, now, os_);
      continue;
    }
    // Sleep until a grant (queued) or a release on the slot, or what
    // LockWait allows (the end of the wait or of the holder's lease, the
    // next look at a holder process of this host).
    std::chrono::nanoseconds d = wait.NextSleep(r.holder, r.lease_left_ms);
    if (r.step == Step::kFull) {
      d = std::min<std::chrono::nanoseconds>(d, kFullTableRetry);
    }
    if (ticket.slot >= 0) {
      wait.Sleep(d, [&](std::chrono::nanoseconds t) {
        table.WaitWord(ticket, key, t);
      });
    } else {  // counted (overflow): the try above read `seq`
      wait.Sleep(
          d, [&](std::chrono::nanoseconds t) { e->wake.Wait(hash, seq, t); });
    }
  }
  // The lock is taken: the previous holder's commit is visible to this read.
  const int64_t now = NowMs();
  const int rc = WithReadTxn(
      e, [&](MDB_txn* txn) { return ReadLocked(txn, e, id, now, &out); });
  if (rc != 0) {
    bool wake = false;
    table.Release(key, me.token, LockNowAt(NowMs()), os_, &wake);
    if (wake) e->wake.Wake(hash);
    return Error(e, "lock", id, rc);
  }
  out.outcome = LockOutcome::kAcquired;
  return out;
}

Status LmdbStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                 Duration ttl, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "write", id, owner));
  SK_RETURN_IF_ERROR(CheckValueSize(name_, id, data));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const Digest key = e->table.DigestOf(id),
               token = e->table.DigestOf(owner.token);
  SK_RETURN_IF_ERROR(BeginCommit(e, "write", id, key, token));
  const int64_t expiry = ExpiryFromNow(NowMs(), ttl);
  bool index_changed = false;
  GcResult swept;
  Status lost;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    // Checked again under LMDB's write lock: a Destroy that waited too long
    // for this commit may have taken the lock over, and its delete must
    // stand. (A touch needs no such check: it cannot create a session.)
    lost = BeginCommit(e, "write", id, key, token);
    if (!lost.ok()) return kRcLockLost;
    return PutAndSweep(txn, e, id, data, expiry, &index_changed, &swept);
  });
  EndCommit(e, id, key, token, rc == 0);
  if (rc == kRcLockLost) return lost;
  if (rc != 0) return Error(e, "write", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  swept_.fetch_add(swept.removed, std::memory_order_relaxed);
  return Status::OK();
}

Status LmdbStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                 const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "touch", id, owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const Digest key = e->table.DigestOf(id),
               token = e->table.DigestOf(owner.token);
  SK_RETURN_IF_ERROR(BeginCommit(e, "touch", id, key, token));
  std::string value;
  bool index_changed = false;
  int touched = 0;  // TouchSession's outcome
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    const int64_t now = NowMs();
    index_changed = false;
    touched = TouchSession(txn, e, id, now, ExpiryFromNow(now, ttl), &value,
                           &index_changed);
    // A session that is gone (or unreadable) still has its lock released.
    const bool released_anyway = touched == MDB_NOTFOUND ||
                                 touched == kRcCorrupt ||
                                 touched == kRcNoChange;
    return released_anyway ? kRcNoChange : touched;
  });
  if (rc == kRcNoChange) rc = 0;
  EndCommit(e, id, key, token, rc == 0);
  if (rc != 0) return Error(e, "touch", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  if (touched == MDB_NOTFOUND || touched == kRcCorrupt) {
    return Error(e, "touch", id, touched);
  }
  return Status::OK();
}

Status LmdbStore::BeginCommit(Env* e, std::string_view op, std::string_view id,
                              const Digest& key, const Digest& token) {
  bool broken_mutex = false;
  const OwnerState state =
      e->table.BeginCommit(key, token, LockNowAt(NowMs()), os_, &broken_mutex);
  if (broken_mutex) {
    return Status::Unavailable(name_ + ": " + std::string(op) + " of session " +
                               IdPrefix(id) + ": the lock table " +
                               e->table.path() +
                               " cannot be locked (a damaged mutex)");
  }
  if (state != OwnerState::kOwner) {
    return LockLost(name_, op, id, RefusedBecause(state));
  }
  return Status::OK();
}

void LmdbStore::EndCommit(Env* e, std::string_view id, const Digest& key,
                          const Digest& token, bool committed) {
  if (e->table.EndCommit(key, token, committed, LockNowAt(NowMs()), os_)) {
    e->wake.Wake(LockHash(id));  // a waiter that found no waiter record
  }
}

Status LmdbStore::Unlock(std::string_view id, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "unlock", id, owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  bool wake = false;
  // An owner whose lease ran out still releases its own lock.
  e->table.Release(e->table.DigestOf(id), e->table.DigestOf(owner.token),
                   LockNowAt(NowMs()), os_, &wake);
  if (wake) e->wake.Wake(LockHash(id));
  return Status::OK();
}

Result<bool> LmdbStore::ExistsOrLocked(std::string_view id) {
  Result<bool> exists = Exists(id);
  if (!exists.ok() || *exists) return exists;
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  bool error = false;
  const bool held =
      e->table.Held(e->table.DigestOf(id), LockNowAt(NowMs()), os_, &error);
  if (error) {
    return Status::Unavailable(name_ + ": exists check of session " +
                               IdPrefix(id) + ": the lock table " +
                               e->table.path() +
                               " cannot be locked (a damaged mutex)");
  }
  return held;
}

int LmdbStore::GcLocks(Env* e, int64_t now_ms) {
  // The table: holders that count as gone (kLockRecordRetention after their
  // lease, or of another boot) are ended, and their locks handed on.
  e->table.Sweep(LockNowAt(now_ms), os_);
  // Lock records of earlier versions in the database: they lock nothing
  // now and are removed as they age out. They are few (the locks held now, and
  // those of holders that died or outlived their lease): all are visited, in
  // batches like the index. Only records that count as gone
  // (kLockRecordRetention after their lease, or of another boot) are removed.
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

Result<size_t> LmdbStore::HeldLocksForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  size_t held = 0, queued = 0;
  e->table.CountForTesting(LockNowAt(NowMs()), os_, &held, &queued);
  return held;
}

Result<size_t> LmdbStore::QueuedWaitersForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  size_t held = 0, queued = 0;
  e->table.CountForTesting(LockNowAt(NowMs()), os_, &held, &queued);
  return queued;
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
