// The callback store's lock, built on `add` alone.
//
// The lock of a session is the item "<id>.lock" holding "<lease_until ms>
// <owner token>" (stores/lock_value.h, as Memcached's), kept until
// kLockRecordRetention after its lease.
//
//   LockAndRead, lock free: add <id>.lock, then get <id>.
//   Held by this owner: set <id>.lock renews the lease.
//   Held, lease over or holder gone: one taker per expired record: the one
//     whose add of "<id>.lock.t<hash of the record>" succeeds sets
//     <id>.lock to its own; the others look again.
//   Held by another: wait (polling every kPoll: a store of callbacks wakes
//     nobody), taking one of max_waiters slots "<id>.lock.w<N>" with add.
//   WriteAndUnlock: get <id>.lock; when it is the owner's, set <id>, then
//     delete <id>.lock; otherwise LockLost, nothing written.
//
// Exact when `add` is atomic across every process that uses the store and
// holders release within their lease: then no two owners ever hold the lock.
// Without a compare-and-set, a holder that outlives its lease and writes
// while another takes the lock over can race it between its get and its
// set (docs/php-stores.md); the lease (sessionkit.lock_lease_ms) bounds a
// request's run.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/lock.h"
#include "stores/callback/callback_store.h"
#include "stores/lock_value.h"
#include "stores/lock_wait.h"

namespace sessionkit::callback {
namespace {

// Waiters look again at most this far apart.
constexpr Duration kPoll{2};
// A waiter slot lives this long past its waiter's wait (a waiter that died
// holds it no longer).
constexpr Duration kSlotSlack{60 * 1000};
// A takeover's claim lives this long: more than the set that follows it.
constexpr Duration kClaimLife{60 * 1000};

std::string LockLostText(const std::string& store, const std::string& what) {
  return store + ": " + what +
         ": the lock is no longer this request's (taken over, released or "
         "destroyed)";
}

}  // namespace

std::string LockKey(std::string_view id) { return std::string(id) + ".lock"; }

std::string TakeoverKey(std::string_view id, std::string_view record) {
  // A short name for the record: 16 hex digits of its hash.
  const uint64_t h = std::hash<std::string_view>{}(record);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = LockKey(id) + ".t";
  for (int shift = 60; shift >= 0; shift -= 4)
    out.push_back(kHex[(h >> shift) & 0xf]);
  return out;
}

Result<bool> CallbackStore::ExistsOrLocked(std::string_view id) {
  Result<bool> exists = Exists(id);
  if (!exists.ok() || *exists) return exists;
  const std::string what = What("exists", id);
  Result<std::optional<std::string>> held = Get(LockKey(id), what);
  if (!held.ok()) return held.status();
  if (!held->has_value()) return false;
  Result<LockValue> holder = DecodeLock(**held, name_ + ": " + what);
  if (!holder.ok()) return holder.status();
  return holder->lease_until_ms > NowMs();
}

Result<LockedRead> CallbackStore::LockAndRead(std::string_view id,
                                              const LockRequest& request) {
  SK_RETURN_IF_ERROR(CheckId(id, "lock"));
  const std::string what = What("lock", id);
  const std::string lock_key = LockKey(id);
  const std::string& token = request.owner.token;
  LockWaitPacing pacing;
  pacing.poll_own_process = true;
  pacing.max_sleep = kPoll;
  LockWait wait(env_, request, pacing);
  // The waiter slot taken, deleted when this call returns.
  std::string slot;
  struct SlotRelease {
    CallbackStore* store;
    std::string* key;
    const std::string* what;
    ~SlotRelease() {
      if (!key->empty()) (void)store->Delete(*key, *what);
    }
  } release_slot{this, &slot, &what};
  for (;;) {
    const int64_t now = NowMs();
    const int64_t lease_until = now + request.lease.count();
    const std::string mine = EncodeLock(lease_until, token);
    const int64_t lock_ttl =
        ItemTtl(lease_until + kLockRecordRetention.count(), now);
    Result<bool> added = Add(lock_key, mine, lock_ttl, what);
    if (!added.ok()) return added.status();
    std::string broken;
    if (!*added) {
      Result<std::optional<std::string>> held = Get(lock_key, what);
      if (!held.ok()) return held.status();
      if (!held->has_value()) continue;  // released in between
      Result<LockValue> holder = DecodeLock(**held, name_ + ": " + what);
      if (!holder.ok()) return holder.status();
      const std::string holder_token(holder->token);
      if (holder_token != token) {
        const bool takeover = holder->lease_until_ms <= now ||
                              LockHolderIsGone(holder_token, env_);
        if (!takeover) {
          if (slot.empty() && request.wait.count() > 0 &&
              request.max_waiters > 0) {
            for (uint32_t n = 0; n < request.max_waiters && slot.empty(); ++n) {
              const std::string key = lock_key + ".w" + std::to_string(n);
              Result<bool> taken =
                  Add(key, token,
                      ItemTtl(now + (request.wait + kSlotSlack).count(), now),
                      what);
              if (!taken.ok()) return taken.status();
              if (*taken) slot = key;
            }
            if (slot.empty()) {
              LockedRead out;
              out.outcome = LockOutcome::kTooManyWaiters;
              return out;
            }
          }
          if (wait.Expired()) return LockedRead{};  // kTimedOut
          env_->SleepFor(
              wait.NextSleep(holder_token, holder->lease_until_ms - now));
          continue;
        }
        Result<bool> claimed =
            Add(TakeoverKey(id, **held), token,
                ItemTtl(now + kClaimLife.count(), now), what);
        if (!claimed.ok()) return claimed.status();
        if (!*claimed) {  // another request takes it over: look again
          if (wait.Expired()) return LockedRead{};
          env_->SleepFor(std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::min<std::chrono::nanoseconds>(kPoll, wait.Left())));
          continue;
        }
        broken = holder_token;
      }
      SK_RETURN_IF_ERROR(Set(lock_key, mine, lock_ttl, what));
    }
    Result<std::optional<SessionRecord>> live = ReadLive(id, what, now);
    if (!live.ok()) {
      // Not left held for its lease: the request fails, the next one
      // should not wait.
      (void)Delete(lock_key, what);
      return live.status();
    }
    LockedRead out;
    out.outcome = LockOutcome::kAcquired;
    out.found = live->has_value();
    if (out.found) out.record = std::move(**live);
    out.broken_owner = std::move(broken);
    return out;
  }
}

Status CallbackStore::Release(std::string_view id, const LockOwner& owner,
                              const std::string_view* data, Duration ttl,
                              const char* op) {
  SK_RETURN_IF_ERROR(CheckId(id, op));
  const std::string what = What(op, id);
  const std::string lock_key = LockKey(id);
  const bool unlock = std::string_view(op) == "unlock";
  Result<std::optional<std::string>> held = Get(lock_key, what);
  if (!held.ok()) return held.status();
  bool mine = false;
  if (held->has_value()) {
    Result<LockValue> holder = DecodeLock(**held, name_ + ": " + what);
    if (!holder.ok()) return holder.status();
    mine = holder->token == owner.token;
  }
  if (!mine) {
    // An Unlock of a lock not held does nothing.
    if (unlock) return Status::OK();
    return Status::LockLost(LockLostText(name_, what));
  }
  const int64_t now = NowMs();
  const int64_t expires = now + ttl.count();
  bool gone = false;
  if (data != nullptr) {
    SK_RETURN_IF_ERROR(
        Set(id, EncodeSession(*data, expires), ItemTtl(expires, now), what));
  } else if (!unlock) {
    Result<std::optional<SessionRecord>> live = ReadLive(id, what, now);
    if (!live.ok()) return live.status();
    gone = !live->has_value();
    if (!gone) {
      SK_RETURN_IF_ERROR(Set(id, EncodeSession((*live)->data, expires),
                             ItemTtl(expires, now), what));
    }
  }
  SK_RETURN_IF_ERROR(Delete(lock_key, what));
  if (gone) {
    return Status::NotFound(name_ + ": " + what +
                            ": no such session (or it expired)");
  }
  return Status::OK();
}

Status CallbackStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                     Duration ttl, const LockOwner& owner) {
  return Release(id, owner, &data, ttl, "write");
}

Status CallbackStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                     const LockOwner& owner) {
  return Release(id, owner, nullptr, ttl, "touch");
}

Status CallbackStore::Unlock(std::string_view id, const LockOwner& owner) {
  return Release(id, owner, nullptr, Duration(0), "unlock");
}

}  // namespace sessionkit::callback
