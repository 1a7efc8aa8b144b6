// Releases of session locks that failed while the lock may still be held:
// a Redis master died or failed over mid-release, a Cluster answered
// CLUSTERDOWN while it elected a replica, a memcached server stopped
// answering (or was marked down) with the lock item on it. The holder's process
// is alive, so no waiter may take such a lock over before its lease ends (a
// lease of max_execution_time under php-fpm), unless the holder frees it. The
// store remembers these releases and re-issues them, owner-checked (so they can
// never free another owner's lock), at its next LockAndRead in this process
// (a PHP worker's next request) and when the store is closed (docs/redis.md,
// "Session locks across a failover"; docs/memcached.md). Shared by the
// stores whose server cannot expire such a lock before its lease ends.
#ifndef SESSIONKIT_STORES_PENDING_RELEASES_H_
#define SESSIONKIT_STORES_PENDING_RELEASES_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/lock.h"
#include "sessionkit/status.h"

namespace sessionkit {

// Thread safety: safe for concurrent use; Retry runs on one thread at a
// time (the others pass at once).
class PendingReleases {
 public:
  // At most this many are kept (the oldest go first), each for at most
  // kKeep: no lease the engine hands out is longer, so by then the lock
  // record is free to take anyway.
  static constexpr size_t kMax = 64;
  static constexpr Duration kKeep{300000};

  // True when `failure`, the result of releasing a lock, leaves the lock
  // possibly held: the server could not be reached or refused for a while
  // (Unavailable). OK, LockLost, NotFound and bad settings do not.
  static bool MayStillHold(const Status& failure);

  // Remembers the release of `id`'s lock by `owner` if `failure` says it
  // may still be held (MayStillHold); once per id and owner.
  void Note(std::string_view id, const LockOwner& owner, const Status& failure,
            SteadyTime now);

  // Re-issues the remembered releases with `unlock`, oldest first; keeps
  // those that still may hold and stops at the first of them (the server
  // is still out of reach: one failed attempt per call, no more). Drops
  // those older than kKeep unasked. Returns at once when there are none.
  // Returns the session id of the release that failed, if one did, so that
  // the caller need not wait on the same server a second time.
  std::optional<std::string> Retry(
      const std::function<Status(std::string_view id, const LockOwner& owner)>&
          unlock,
      SteadyTime now);

  size_t size();

 private:
  struct Release {
    std::string id;
    LockOwner owner;
    SteadyTime since;
  };
  std::atomic<bool> any_{false};
  std::mutex retry_mu_;  // held by the one thread that retries
  std::mutex mu_;
  std::vector<Release> releases_;  // guarded by mu_; oldest first
};

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_PENDING_RELEASES_H_
