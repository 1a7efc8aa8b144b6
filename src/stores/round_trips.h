// Handing a store's round-trip counter to metrics (Store::TakeRoundTrips):
// each round trip reported once, also when several stores share one
// connection pool and several threads ask at once.
#ifndef SESSIONKIT_STORES_ROUND_TRIPS_H_
#define SESSIONKIT_STORES_ROUND_TRIPS_H_

#include <atomic>
#include <cstdint>

namespace sessionkit {

// How much `total` grew since `taken` last caught up with it, and catches
// `taken` up. `taken` only grows, so two callers never report the same
// round trip.
inline uint64_t TakeNewCount(const std::atomic<uint64_t>& total,
                             std::atomic<uint64_t>& taken) {
  uint64_t prev = taken.load(std::memory_order_relaxed);
  uint64_t now;
  do {
    now = total.load(std::memory_order_relaxed);
    if (now <= prev) return 0;
  } while (!taken.compare_exchange_weak(prev, now, std::memory_order_relaxed));
  return now - prev;
}

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_ROUND_TRIPS_H_
