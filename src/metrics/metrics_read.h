// Reading the metrics file (metrics_layout.h) back: its bytes checked as
// untrusted input, then every slot summed.
#ifndef SESSIONKIT_METRICS_METRICS_READ_H_
#define SESSIONKIT_METRICS_METRICS_READ_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "metrics/metrics_layout.h"
#include "sessionkit/status.h"

namespace sessionkit::metrics_internal {

// The sums over every slot of a metrics file.
struct MetricsSnapshot {
  StoreCells stores[kStores] = {};
  // Slots some process ever claimed.
  uint32_t slots_claimed = 0;
  // Slots a live process holds now (ReadMetricsFile only; 0 from
  // ParseMetrics, which sees bytes, not processes).
  uint32_t slots_live = 0;
};

// OK when `header` is this build's layout and `file_bytes` its size;
// otherwise InvalidArgument saying what differs, naming the file `name`.
Status CheckMetricsHeader(const FileHeader& header, uint64_t file_bytes,
                          std::string_view name);

// As CheckMetricsHeader for a file of `file_bytes` whose first bytes are
// `head` (any length: too short for a header is damaged).
Status CheckFile(std::string_view head, uint64_t file_bytes,
                 std::string_view name);

// The sums of the metrics file whose whole content is `bytes` (`name` for
// messages). Any bytes are safe to pass: a file of another layout, a
// truncated or foreign one is InvalidArgument naming `name`; counters
// wrap modulo 2^64 as the writers' adds do.
Result<MetricsSnapshot> ParseMetrics(std::string_view bytes,
                                     std::string_view name);

// Reads and parses the file at `path`, and counts the slots live processes
// hold. NotFound when it does not exist (no process has counted yet),
// Unavailable when it cannot be read, InvalidArgument as ParseMetrics.
Result<MetricsSnapshot> ReadMetricsFile(const std::string& path);

// The sum of `s`'s operations of `op` in every outcome, for every store.
uint64_t TotalOperations(const MetricsSnapshot& s, MetricOp op);

}  // namespace sessionkit::metrics_internal

#endif  // SESSIONKIT_METRICS_METRICS_READ_H_
