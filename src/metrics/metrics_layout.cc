// The names and the header of the metrics file, shared by its writer and
// its reader.
#include "metrics/metrics_layout.h"

#include <cstring>
#include <string>

#include "sessionkit/metrics.h"
#include "sessionkit/store_url.h"

namespace sessionkit {

MetricsSink::~MetricsSink() = default;

std::string_view MetricOpName(MetricOp op) {
  switch (op) {
    case MetricOp::kRead:
      return "read";
    case MetricOp::kWrite:
      return "write";
    case MetricOp::kTouch:
      return "touch";
    case MetricOp::kDestroy:
      return "destroy";
    case MetricOp::kGc:
      return "gc";
    case MetricOp::kExists:
      return "exists";
  }
  return "unknown";
}

std::string_view MetricOutcomeName(MetricOutcome outcome) {
  switch (outcome) {
    case MetricOutcome::kOk:
      return "ok";
    case MetricOutcome::kMiss:
      return "miss";
    case MetricOutcome::kError:
      return "error";
  }
  return "unknown";
}

std::string MetricsStoreLabel(std::string_view spec) {
  auto urls = ParseStoreSpec(spec);
  if (!urls.ok() || urls->empty()) return "other";
  if (urls->size() > 1) return "tiered";
  const std::string& scheme = urls->front().scheme;
  if (scheme.rfind("redis", 0) == 0) return "redis";
  if (scheme == "mariadb") return "mysql";
  if (scheme == "postgresql") return "postgres";
  for (const char* label : metrics_internal::kStoreLabels) {
    if (scheme == label) return scheme;
  }
  return "other";
}

namespace metrics_internal {

FileHeader ExpectedHeader() {
  FileHeader h;
  std::memset(&h, 0, sizeof h);
  std::memcpy(h.magic, kMagic, sizeof h.magic);
  h.version = kVersion;
  h.header_bytes = kPage;
  h.slot_bytes = kSlotBytes;
  h.slots = kMetricsSlots;
  h.stores = kStores;
  h.ops = kMetricOps;
  h.outcomes = kMetricOutcomes;
  h.buckets = kBuckets;
  h.counters = kMetricCounters;
  return h;
}

}  // namespace metrics_internal
}  // namespace sessionkit
