// The lock steps of the PostgreSQL store: LockAndRead (<table>_lock, with
// the wait between tries spent blocked in pg_advisory_lock on the server,
// which wakes it at the holder's release), and the releases
// (<table>_release on the pinned connection).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/session_id.h"
#include "stores/lock_wait.h"
#include "stores/postgres/pg_schema.h"
#include "stores/postgres/postgres_store.h"

namespace sessionkit::postgres {
namespace {

// How long <table>_lock may wait for the server session it ends in a
// takeover to be gone (pg_terminate_backend's timeout).
constexpr Duration kTerminateWait{1000};

int32_t CeilMillis(std::chrono::nanoseconds d) {
  const int64_t ms = (d.count() + 999999) / 1000000;
  return static_cast<int32_t>(std::clamp<int64_t>(ms, 1, INT32_MAX / 2));
}

}  // namespace

Result<LockedRead> PostgresStore::LockAndRead(std::string_view id,
                                              const LockRequest& request) {
  SK_RETURN_IF_ERROR(CheckId(id, "lock"));
  const std::string what = "lock of session " + SessionIdPrefix(id);
  const int64_t key = Key(id);
  // Taking a lock the owner holds renews it on its pinned connection
  // (advisory locks stack: it must not be taken twice there).
  std::unique_ptr<Connection> conn = TakePinned(id, request.owner.token);
  bool held = conn != nullptr;
  if (!held) {
    Result<std::unique_ptr<Connection>> fresh = Acquire(what);
    if (!fresh.ok()) return fresh.status();
    conn = std::move(*fresh);
  }
  LockWait wait(env_, request, LockWaitPacing{});
  int32_t max_waiters =
      request.wait.count() > 0 ? static_cast<int32_t>(request.max_waiters) : 0;
  int32_t wait_ms = 0;
  std::string takeover;  // the holder whose process this host saw gone
  std::string tried;     // the holder of the last takeover asked for
  bool retried = false;  // tried again on a new connection
  for (;;) {
    const int64_t now = NowMs();
    const std::vector<Param> params = {
        Param::Text(id),
        Param::Int8(key),
        Param::Text(request.owner.token),
        Param::Int8(now),
        Param::Int8(request.lease.count()),
        Param::Bool(held),
        takeover.empty() ? Param::Null() : Param::Text(takeover),
        Param::Int4(max_waiters),
        Param::Int4(wait_ms)};
    // The wait is spent on the server: the exchange has it on top of the
    // read timeout (and the end of a holder's session in a takeover).
    Result<Rows> rows =
        conn->Exec(kLock, params,
                   ExchangeDeadline(Duration(wait_ms) + kTerminateWait), what);
    if (!rows.ok()) {
      // A pinned connection that is gone (a takeover or Destroy ended it,
      // or the server restarted): lock anew. The same once for a pooled
      // one the server had closed.
      if (!held && !RetryOnNewConnection(*conn, &retried)) {
        return rows.status();
      }
      retried = true;
      held = false;
      Result<std::unique_ptr<Connection>> fresh = Acquire(what);
      if (!fresh.ok()) return fresh.status();
      conn = std::move(*fresh);
      continue;
    }
    const int outcome = static_cast<int>(rows->Int(0, 0));
    if (outcome == kLockAcquired) {
      LockedRead out;
      out.outcome = LockOutcome::kAcquired;
      out.found = rows->Int(0, 1) != 0;
      if (out.found) {
        out.record.data = std::string(rows->Bytes(0, 2));
        out.record.expires_at = FromUnixMillis(rows->Int(0, 3));
      }
      if (!rows->IsNull(0, 4))
        out.broken_owner = std::string(rows->Bytes(0, 4));
      Pin(id, request.owner.token, std::move(conn));
      return out;
    }
    if (outcome == kLockTooManyWaiters) {
      Return(std::move(conn));
      LockedRead out;
      out.outcome = LockOutcome::kTooManyWaiters;
      return out;
    }
    const std::string holder(rows->IsNull(0, 5) ? "" : rows->Bytes(0, 5));
    const int64_t lease_left =
        rows->IsNull(0, 6) ? -1 : std::max<int64_t>(rows->Int(0, 6) - now, 0);
    max_waiters = 0;  // counted on the first try only
    takeover.clear();
    if (!holder.empty() && LockHolderIsGone(holder, env_)) {
      takeover = holder;
      if (tried != holder) {
        // Ask again at once: the holder's session is ended and the lock
        // taken over.
        tried = holder;
        wait_ms = 0;
        continue;
      }
    }
    if (wait.Expired()) {
      Return(std::move(conn));
      return LockedRead{};  // kTimedOut
    }
    // Waiters queue on the server in arrival order, and a holder whose
    // process dies loses its connection, so the server releases its lock
    // and wakes the next waiter itself: the wait is not cut short to look at
    // a holder of this host (a waiter that left the queue every 250 ms would
    // join it again at its end, and starve behind a long queue).
    wait_ms = CeilMillis(wait.NextSleep(/*holder=*/"", lease_left));
  }
}

Status PostgresStore::Release(std::string_view id, const LockOwner& owner,
                              int mode, std::string_view data, Duration ttl,
                              const char* op) {
  SK_RETURN_IF_ERROR(CheckId(id, op));
  const std::string what =
      std::string(op) + " of session " + SessionIdPrefix(id);
  std::unique_ptr<Connection> conn = TakePinned(id, owner.token);
  bool held = conn != nullptr;
  bool retried = false;
  for (;;) {
    if (conn == nullptr) {
      Result<std::unique_ptr<Connection>> fresh = Acquire(what);
      if (!fresh.ok()) return fresh.status();
      conn = std::move(*fresh);
    }
    const int64_t now = NowMs();
    const std::vector<Param> params = {Param::Text(id),
                                       Param::Int8(Key(id)),
                                       Param::Text(owner.token),
                                       Param::Int4(mode),
                                       Param::Text(data),
                                       Param::Int8(now),
                                       Param::Int8(now + ttl.count()),
                                       Param::Bool(held)};
    Result<Rows> rows = conn->Exec(kRelease, params, ExchangeDeadline(), what);
    if (!rows.ok()) {
      // The pinned connection is gone, and the server lock with it: the
      // lock record decides, on another connection. The same once for a
      // pooled one the server had closed.
      if (!held && !RetryOnNewConnection(*conn, &retried)) {
        return rows.status();
      }
      retried = true;
      held = false;
      conn.reset();
      continue;
    }
    const int64_t result = rows->Int(0, 0);
    Return(std::move(conn));
    if (result == kReleaseLost) {
      return Status::LockLost(name() + ": " + what +
                              ": the lock is no longer this request's (taken "
                              "over, released or destroyed)");
    }
    if (result == kReleaseNotFound) {
      return Status::NotFound(name() + ": " + what +
                              ": no such session (or it expired)");
    }
    return Status::OK();
  }
}

Status PostgresStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                     Duration ttl, const LockOwner& owner) {
  return Release(id, owner, kModeWrite, data, ttl, "write");
}

Status PostgresStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                     const LockOwner& owner) {
  return Release(id, owner, kModeTouch, "", ttl, "touch");
}

Status PostgresStore::Unlock(std::string_view id, const LockOwner& owner) {
  return Release(id, owner, kModeUnlock, "", Duration(0), "unlock");
}

}  // namespace sessionkit::postgres
