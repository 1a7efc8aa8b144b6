// Metrics: what the engine counts (operations by outcome, latencies, lock
// waits, bytes, sessions) and where it goes. The engine calls a MetricsSink
// (EngineOptions::metrics; nullptr counts nothing and costs nothing). The
// shipped sink, OpenMetricsFile, adds into a file every process of the host
// maps, so that `sessionkit metrics` sums every PHP worker (docs/metrics.md).
#ifndef SESSIONKIT_METRICS_H_
#define SESSIONKIT_METRICS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sessionkit/status.h"

namespace sessionkit {

// The engine calls a sink counts; each enum's values are slots of the metrics
// file (src/metrics/metrics_layout.h): never renumbered, only appended.

// A SessionEngine call (Read and ReadForUpdate are both kRead).
enum class MetricOp : uint8_t {
  kRead,
  kWrite,
  kTouch,
  kDestroy,
  kGc,
  kExists,
};
inline constexpr int kMetricOps = 6;

// How a call ended: kMiss is a read, touch or exists that found no session.
enum class MetricOutcome : uint8_t { kOk, kMiss, kError };
inline constexpr int kMetricOutcomes = 3;

// Plain counters.
enum class MetricCounter : uint8_t {
  kLocksAcquired,
  kLockTakeovers,
  kLockTimeouts,
  kLockWaitersRefused,
  kLocksLost,
  kWritesSkipped,
  kBytesRead,          // session data read (before compression, after decoding)
  kBytesWritten,       // session data written (before compression)
  kSessionsCreated,    // first write of a session (nothing read before it)
  kSessionsDestroyed,  // Destroy calls that succeeded
  kGcRemoved,          // sessions Gc removed
  kSizeRefused,        // writes refused by a size limit
  kSizeWarned,         // writes over the warning size
  kRoundTrips,         // store round trips, where a store reports them
};
inline constexpr int kMetricCounters = 14;

// The names of the above, as the Prometheus output spells them.
std::string_view MetricOpName(MetricOp op);
std::string_view MetricOutcomeName(MetricOutcome outcome);

// Where the engine's counts go.
//
// Thread safety: every method may be called concurrently from any thread;
// none may throw, block or fail visibly (a sink that cannot count drops the
// count).
class MetricsSink {
 public:
  virtual ~MetricsSink();

  // One engine call `op` that ended with `outcome` after `latency`.
  virtual void Operation(MetricOp op, MetricOutcome outcome,
                         std::chrono::nanoseconds latency) noexcept = 0;

  // One lock acquisition attempt (ReadForUpdate with locking on) that took
  // `waited`, whether it got the lock or not.
  virtual void LockWait(std::chrono::nanoseconds waited) noexcept = 0;

  // Adds `n` to `counter`.
  virtual void Add(MetricCounter counter, uint64_t n) noexcept = 0;
};

// A sink adding into the metrics file at `path`, under the store label
// `store` ("lmdb", "redis", "memcached", "mysql", "postgres", "tiered";
// anything else counts as "other"). The file is created (mode 0644) with
// its header when missing or empty, and checked when it exists: a file
// that is not a sessionkit metrics file of this layout, is damaged, or is
// a symbolic link, is refused with InvalidArgument naming it and what is
// wrong (and left as it is); Unavailable
// when it cannot be opened or mapped. Each process claims a slot of its
// own (MetricsSlotOf in src/metrics); a slot a dead process held is
// reused as it is, so the sums never go down. Sinks of one path in one
// process share the mapping and the slot. After fork() a child claims a
// slot of its own on its first count.
Result<std::shared_ptr<MetricsSink>> OpenMetricsFile(const std::string& path,
                                                     std::string_view store);

// The store label of a store spec as OpenMetricsFile takes it: the scheme
// family of its one URL ("redis" for redis, rediss, redis+sentinel and
// redis+cluster), "tiered" for a spec of several tiers.
std::string MetricsStoreLabel(std::string_view spec);

}  // namespace sessionkit

#endif  // SESSIONKIT_METRICS_H_
