// The waiting side of the Redis store's lock hand-off (see redis_store.h):
// a queued waiter blocks on its own wake list, and the release that hands
// it the lock pushes there, so the BLPOP's return is the grant and the GET
// pipelined behind it reads the data the release just wrote.
#include <chrono>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/store.h"
#include "stores/lock_wait.h"
#include "stores/redis/redis_lock.h"
#include "stores/redis/redis_store.h"

namespace sessionkit::redis {
namespace {

// BLPOP's timeout in seconds, with millisecond precision.
std::string Seconds(Duration d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld.%03lld",
           static_cast<long long>(d.count() / 1000),
           static_cast<long long>(d.count() % 1000));
  return buf;
}

}  // namespace

Result<LockedRead> RedisStore::LockTaken(const std::string& what, Reply& data,
                                         const Reply* pttl,
                                         std::string broken_owner) const {
  if (data.type != Reply::Type::kString && !data.is_nil()) {
    return Unexpected(what, "GET", data);
  }
  if (pttl != nullptr && pttl->type != Reply::Type::kInteger) {
    return Unexpected(what, "PTTL", *pttl);
  }
  LockedRead locked;
  locked.outcome = LockOutcome::kAcquired;
  if (data.type == Reply::Type::kString &&
      (pttl == nullptr || pttl->integer != -2)) {
    locked.found = true;
    locked.record.data = std::move(data.str);
    if (pttl != nullptr) {
      locked.record.expires_at = ExpiryFromPttl(env_->WallNow(), pttl->integer);
    }
  }
  locked.broken_owner = std::move(broken_owner);
  return locked;
}

Result<std::optional<LockedRead>> RedisStore::WaitForGrant(
    std::span<const std::string> keys, const std::string& token,
    const LockWait& wait, std::chrono::nanoseconds sleep, bool want_expiry,
    const std::string& what) {
  const std::string wake_key = keys[3] + ":" + token;
  Status waited;
  std::vector<Reply> replies;
  bool granted = false;
  wait.Sleep(sleep, [&](std::chrono::nanoseconds d) {
    if (granted || !waited.ok()) return;
    // At least 1 ms: BLPOP 0 would block forever.
    waited = Blpop(wake_key, keys[0],
                   std::max(std::chrono::floor<Duration>(d), Duration(1)),
                   want_expiry, what, &replies);
    granted = waited.ok() && !replies.empty() &&
              replies[0].type == Reply::Type::kArray;
  });
  SK_RETURN_IF_ERROR(waited);
  if (!granted) return std::optional<LockedRead>();
  if (replies.size() != (want_expiry ? 3u : 2u)) {
    return Unexpected(what, "BLPOP", replies[0]);
  }
  Result<LockedRead> got = LockTaken(
      what, replies[1], want_expiry ? &replies[2] : nullptr, /*broken=*/"");
  if (!got.ok()) return got.status();
  return std::optional<LockedRead>(std::move(*got));
}

Status RedisStore::Blpop(const std::string& wake_key,
                         const std::string& data_key, Duration slice,
                         bool want_expiry, const std::string& what,
                         std::vector<Reply>* replies) {
  const std::string timeout = Seconds(slice);
  // The server runs the GET (and PTTL) once BLPOP returns: after a grant,
  // they read what the release wrote, under the lock just granted.
  const Command commands[] = {{{"BLPOP", wake_key, timeout}},
                              {{"GET", data_key}},
                              {{"PTTL", data_key}}};
  // UNBLOCKED: the server stopped being a master (a failover) and ended
  // the wait; the script finds the new master.
  Status waited =
      Run({.key = data_key,
           .commands = std::span<const Command>(commands, want_expiry ? 3 : 2),
           .what = what,
           .blocking = slice + kServerTimerSlack,
           .keep_error = "UNBLOCKED"},
          replies);
  if (!waited.ok() &&
      waited.message().find("timeout is not an integer") != std::string::npos) {
    // A server older than Redis 6 that the fast path did not see (its
    // INFO check runs only there).
    return Status::NotSupported(
        name() + ": " + what +
        ": the server does not take BLPOP timeouts in fractions of a "
        "second (Redis older than 6?): session locking needs Redis 6 or "
        "later; upgrade it, or turn session locking off (setting locking = 0)");
  }
  return waited;
}

}  // namespace sessionkit::redis
