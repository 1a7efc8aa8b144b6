#include "stores/lock_wait.h"

#include <algorithm>

#include "sessionkit/lock.h"

namespace sessionkit {

using std::chrono::nanoseconds;

LockWait::LockWait(Env* env, const LockRequest& request,
                   const LockWaitPacing& pacing)
    : env_(Env::OrDefault(env)),
      pacing_(pacing),
      deadline_(env_->SteadyNow() +
                std::clamp(request.wait, Duration(0),
                           std::min(pacing.max_wait, kLongestLockWait))) {}

nanoseconds LockWait::Left() const {
  return std::max(nanoseconds(deadline_ - env_->SteadyNow()), nanoseconds(0));
}

nanoseconds LockWait::NextSleep(std::string_view holder,
                                int64_t lease_left_ms) const {
  nanoseconds sleep = Left();
  if (lease_left_ms >= 0) {
    const Duration lease_left(
        std::min(lease_left_ms, kLongestLockWait.count()));
    sleep = std::min<nanoseconds>(sleep, lease_left + pacing_.lease_slack);
  }
  sleep = std::min<nanoseconds>(sleep, pacing_.max_sleep);
  if (!LockHolderIsOnThisHost(holder, env_)) {
    return std::min<nanoseconds>(sleep, pacing_.max_sleep_elsewhere);
  }
  // Looked at every kLocalHolderPoll to see whether it died (a holder in
  // the waiter's own process cannot die unseen, unless the store asks).
  if (pacing_.poll_own_process ||
      LockHolderIsOtherProcessOfThisHost(holder, env_)) {
    sleep = std::min<nanoseconds>(sleep, kLocalHolderPoll);
  }
  return sleep;
}

void LockWait::Sleep(nanoseconds d,
                     const std::function<void(nanoseconds)>& wake) const {
  env_->WaitFor(d, wake);
}

}  // namespace sessionkit
