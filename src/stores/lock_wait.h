// The wait of a LockAndRead that found the lock held, shared by the stores.
//
// Every store's waiter does the same: it starts a deadline from
// LockRequest::wait, and while another owner holds the lock it tries again
// after sleeping in its store's wake-up primitive (LMDB: a futex word of
// lock-wake; Memcached: one of its wake file, lock_wake.h; Redis: BLPOP on
// the wake list) for
//   min(the rest of the wait,
//       the holder's lease left + lease_slack (to take the lock over),
//       max_sleep (and max_sleep_elsewhere when the holder is not of this
//       host),
//       kLocalHolderPoll when the holder is a process of this host (to see
//       whether it died: LockHolderIsGone)),
// and gives up at the deadline. LockWait computes those; the store keeps
// its tries, its waiter cap and its primitive. Clocks and the sleep go
// through the Env, so the loop runs on a fake clock in tests.
#ifndef SESSIONKIT_STORES_LOCK_WAIT_H_
#define SESSIONKIT_STORES_LOCK_WAIT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/store.h"

namespace sessionkit {

// A waiter whose lock holder is a process of this host wakes at least this
// often to see whether the holder died (killed without releasing).
inline constexpr Duration kLocalHolderPoll{250};

// The longest wait LockWait measures (about 73 years): a deadline that far
// ahead cannot overflow the steady clock.
inline constexpr Duration kLongestLockWait =
    std::chrono::duration_cast<Duration>(SteadyTime::duration::max() / 4);

// How a store paces its waiters, where stores differ.
struct LockWaitPacing {
  // Longer waits are cut to this.
  Duration max_wait = kLongestLockWait;
  // Added to the holder's lease left, so that the lease has surely run out
  // when the waiter looks again.
  Duration lease_slack{1};
  // The longest single sleep (for a primitive whose wake-ups can be lost).
  Duration max_sleep = kLongestLockWait;
  // The longest single sleep while the holder is not of this host (for a
  // primitive only this host's releases wake: holders elsewhere are polled).
  Duration max_sleep_elsewhere = kLongestLockWait;
  // Which holders of this host the waiter looks at every kLocalHolderPoll:
  // only other processes (a holder in the waiter's own process cannot die
  // unseen), or also its own process.
  bool poll_own_process = false;
};

// Thread safety: one per waiting call.
class LockWait {
 public:
  // Starts the wait of `request` now, on `env`'s clock.
  LockWait(Env* env, const LockRequest& request, const LockWaitPacing& pacing);

  // True once the wait has run out: the next try is the last.
  bool Expired() const { return Left().count() <= 0; }
  // What is left of the wait (0 once it ran out).
  std::chrono::nanoseconds Left() const;

  // How long to sleep before the next try, the lock being held by `holder`
  // (its token) with `lease_left_ms` of its lease left (negative: unknown;
  // the lease then does not bound the sleep). Not more than Left().
  std::chrono::nanoseconds NextSleep(std::string_view holder,
                                     int64_t lease_left_ms) const;

  // Sleeps for at most `d` in the store's wake-up primitive `wake`, which
  // returns early when woken (Env::WaitFor).
  void Sleep(std::chrono::nanoseconds d,
             const std::function<void(std::chrono::nanoseconds)>& wake) const;

 private:
  Env* const env_;
  const LockWaitPacing pacing_;
  const SteadyTime deadline_;
};

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_LOCK_WAIT_H_
