// Time types shared by the public API.
#ifndef SESSIONKIT_CLOCK_H_
#define SESSIONKIT_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace sessionkit {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

// Converts between TimePoint and milliseconds since the Unix epoch, the unit
// stores persist.
inline int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             t.time_since_epoch())
      .count();
}
// Milliseconds past what a TimePoint holds (about the year 2262: an expiry
// in a row written by hand, a damaged record) saturate instead of
// overflowing.
inline TimePoint FromUnixMillis(int64_t ms) {
  constexpr int64_t kMost =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          Clock::duration::max())
          .count();
  if (ms > kMost) return TimePoint(Clock::duration::max());
  if (ms < -kMost) return TimePoint(-Clock::duration::max());
  return TimePoint(std::chrono::duration_cast<Clock::duration>(
      std::chrono::milliseconds(ms)));
}

}  // namespace sessionkit

#endif  // SESSIONKIT_CLOCK_H_
