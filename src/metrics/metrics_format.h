// What `sessionkit metrics` and `sessionkit top` print of a metrics
// snapshot: the Prometheus text format (docs/metrics.md lists the names),
// JSON, and the rates between two snapshots.
#ifndef SESSIONKIT_METRICS_METRICS_FORMAT_H_
#define SESSIONKIT_METRICS_METRICS_FORMAT_H_

#include <string>

#include "metrics/metrics_read.h"

namespace sessionkit::metrics_internal {

// The Prometheus text exposition format (version 0.0.4) of `s`: every
// family with HELP and TYPE lines, samples for the stores that counted
// anything.
std::string FormatPrometheus(const MetricsSnapshot& s);

// The same numbers as one JSON object (docs/metrics.md#json).
std::string FormatMetricsJson(const MetricsSnapshot& s);

// A table of rates per second between `before` and `after`, taken
// `seconds` apart: per store, operations by kind with their error share
// and mean latency, lock waits and timeouts.
std::string FormatRates(const MetricsSnapshot& before,
                        const MetricsSnapshot& after, double seconds);

}  // namespace sessionkit::metrics_internal

#endif  // SESSIONKIT_METRICS_METRICS_FORMAT_H_
