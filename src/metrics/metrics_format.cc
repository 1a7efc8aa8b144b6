#include "metrics/metrics_format.h"

#include <cinttypes>
#include <cstdio>
#include <string>
#include <string_view>

namespace sessionkit::metrics_internal {
namespace {

// A counter's family name without "sessionkit_" and "_total" (the JSON
// key), and its help text; in MetricCounter order.
struct CounterName {
  const char* key;
  const char* help;
};
constexpr CounterName kCounterNames[kMetricCounters] = {
    {"locks_acquired", "Session locks taken."},
    {"lock_takeovers",
     "Locks taken over from a dead holder or after the lease ran out."},
    {"lock_timeouts", "Lock waits that ran out (sessionkit.lock_wait_ms)."},
    {"lock_waiters_refused",
     "Reads refused because sessionkit.lock_max_waiters requests waited."},
    {"locks_lost",
     "Writes and touches refused because the lock was no longer held."},
    {"writes_skipped", "Writes of read-only requests, not saved."},
    {"read_bytes", "Bytes of session data read (decoded)."},
    {"written_bytes", "Bytes of session data written (before compression)."},
    {"sessions_created", "Sessions written for the first time."},
    {"sessions_destroyed", "Sessions destroyed (session_destroy, rm)."},
    {"gc_removed", "Expired sessions removed by gc."},
    {"size_refused", "Writes refused by sessionkit.max_size."},
    {"size_warned", "Writes over sessionkit.warn_size."},
    {"round_trips", "Round trips to the store, where the store counts them."},
};

// `ns` nanoseconds as decimal seconds, exactly, without trailing zeros.
std::string Seconds(uint64_t ns) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRIu64 ".%09" PRIu64, ns / 1000000000,
                ns % 1000000000);
  std::string s(buf);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string U(uint64_t v) { return std::to_string(v); }

bool Used(const StoreCells& c) {
  const auto* words = reinterpret_cast<const uint64_t*>(&c);
  for (size_t i = 0; i < sizeof c / sizeof(uint64_t); ++i) {
    if (words[i] != 0) return true;
  }
  return false;
}

uint64_t Count(const HistogramCells& h) {
  uint64_t n = 0;
  for (uint64_t b : h.buckets) n += b;
  return n;
}

void Family(std::string* out, std::string_view name, std::string_view type,
            std::string_view help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

// The samples of one histogram `name` with `labels` ("store=\"lmdb\"").
void Histogram(std::string* out, std::string_view name,
               const std::string& labels, const HistogramCells& h) {
  uint64_t cumulative = 0;
  for (int b = 0; b < kBuckets; ++b) {
    cumulative += h.buckets[b];
    const std::string le =
        b + 1 < kBuckets ? Seconds(kBucketBoundsNs[b]) : "+Inf";
    out->append(name).append("_bucket{").append(labels);
    out->append(",le=\"").append(le).append("\"} ").append(U(cumulative));
    out->append("\n");
  }
  out->append(name).append("_sum{").append(labels).append("} ");
  out->append(Seconds(h.sum_ns)).append("\n");
  out->append(name).append("_count{").append(labels).append("} ");
  out->append(U(cumulative)).append("\n");
}

std::string StoreLabel(int store) {
  return std::string("store=\"") + kStoreLabels[store] + "\"";
}

std::string OpLabels(int store, int op) {
  return StoreLabel(store) + ",op=\"" +
         std::string(MetricOpName(static_cast<MetricOp>(op))) + "\"";
}

std::string JsonHistogram(const HistogramCells& h) {
  std::string out = "{\"count\":" + U(Count(h)) +
                    ",\"sum_seconds\":" + Seconds(h.sum_ns) + ",\"buckets\":{";
  uint64_t cumulative = 0;
  for (int b = 0; b < kBuckets; ++b) {
    cumulative += h.buckets[b];
    if (b > 0) out += ",";
    out += "\"";
    out += b + 1 < kBuckets ? Seconds(kBucketBoundsNs[b]) : "+Inf";
    out += "\":" + U(cumulative);
  }
  return out + "}}";
}

}  // namespace

std::string FormatPrometheus(const MetricsSnapshot& s) {
  std::string out;
  Family(&out, "sessionkit_metrics_processes", "gauge",
         "Slots of the metrics file: claimed by some process ever, held by a "
         "live process now.");
  out += "sessionkit_metrics_processes{state=\"claimed\"} " +
         U(s.slots_claimed) + "\n";
  out +=
      "sessionkit_metrics_processes{state=\"live\"} " + U(s.slots_live) + "\n";
  Family(&out, "sessionkit_operations_total", "counter",
         "Session engine calls by store, operation and outcome.");
  for (int st = 0; st < kStores; ++st) {
    if (!Used(s.stores[st])) continue;
    for (int op = 0; op < kMetricOps; ++op) {
      for (int o = 0; o < kMetricOutcomes; ++o) {
        out += "sessionkit_operations_total{" + OpLabels(st, op) +
               ",outcome=\"" +
               std::string(MetricOutcomeName(static_cast<MetricOutcome>(o))) +
               "\"} " + U(s.stores[st].operations[op][o]) + "\n";
      }
    }
  }
  Family(&out, "sessionkit_operation_duration_seconds", "histogram",
         "Duration of session engine calls, lock waits included.");
  for (int st = 0; st < kStores; ++st) {
    if (!Used(s.stores[st])) continue;
    for (int op = 0; op < kMetricOps; ++op) {
      Histogram(&out, "sessionkit_operation_duration_seconds", OpLabels(st, op),
                s.stores[st].latency[op]);
    }
  }
  Family(&out, "sessionkit_lock_wait_seconds", "histogram",
         "Time to take a session lock (or to give up), per attempt.");
  for (int st = 0; st < kStores; ++st) {
    if (!Used(s.stores[st])) continue;
    Histogram(&out, "sessionkit_lock_wait_seconds", StoreLabel(st),
              s.stores[st].lock_wait);
  }
  for (int c = 0; c < kMetricCounters; ++c) {
    const std::string name =
        std::string("sessionkit_") + kCounterNames[c].key + "_total";
    Family(&out, name, "counter", kCounterNames[c].help);
    for (int st = 0; st < kStores; ++st) {
      if (!Used(s.stores[st])) continue;
      out += name + "{" + StoreLabel(st) + "} " + U(s.stores[st].counters[c]) +
             "\n";
    }
  }
  return out;
}

std::string FormatMetricsJson(const MetricsSnapshot& s) {
  std::string out = "{\"processes\":{\"claimed\":" + U(s.slots_claimed) +
                    ",\"live\":" + U(s.slots_live) + "},\"stores\":{";
  bool first_store = true;
  for (int st = 0; st < kStores; ++st) {
    const StoreCells& c = s.stores[st];
    if (!Used(c)) continue;
    if (!first_store) out += ",";
    first_store = false;
    out += std::string("\"") + kStoreLabels[st] + "\":{\"operations\":{";
    for (int op = 0; op < kMetricOps; ++op) {
      if (op > 0) out += ",";
      out +=
          "\"" + std::string(MetricOpName(static_cast<MetricOp>(op))) + "\":{";
      for (int o = 0; o < kMetricOutcomes; ++o) {
        if (o > 0) out += ",";
        out += "\"" +
               std::string(MetricOutcomeName(static_cast<MetricOutcome>(o))) +
               "\":" + U(c.operations[op][o]);
      }
      out += "}";
    }
    out += "},\"duration_seconds\":{";
    for (int op = 0; op < kMetricOps; ++op) {
      if (op > 0) out += ",";
      out += "\"" + std::string(MetricOpName(static_cast<MetricOp>(op))) +
             "\":" + JsonHistogram(c.latency[op]);
    }
    out += "},\"lock_wait_seconds\":" + JsonHistogram(c.lock_wait) +
           ",\"counters\":{";
    for (int k = 0; k < kMetricCounters; ++k) {
      if (k > 0) out += ",";
      out +=
          std::string("\"") + kCounterNames[k].key + "\":" + U(c.counters[k]);
    }
    out += "}}";
  }
  return out + "}}\n";
}

std::string FormatRates(const MetricsSnapshot& before,
                        const MetricsSnapshot& after, double seconds) {
  if (seconds <= 0) seconds = 1;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-10s %-8s %10s %8s %10s\n", "store", "op",
                "ops/s", "errors", "mean ms");
  out += line;
  for (int st = 0; st < kStores; ++st) {
    const StoreCells& a = before.stores[st];
    const StoreCells& b = after.stores[st];
    if (!Used(b)) continue;
    for (int op = 0; op < kMetricOps; ++op) {
      uint64_t n = 0;
      for (int o = 0; o < kMetricOutcomes; ++o) {
        n += b.operations[op][o] - a.operations[op][o];
      }
      const uint64_t errors =
          b.operations[op][static_cast<int>(MetricOutcome::kError)] -
          a.operations[op][static_cast<int>(MetricOutcome::kError)];
      const uint64_t timed = Count(b.latency[op]) - Count(a.latency[op]);
      const uint64_t ns = b.latency[op].sum_ns - a.latency[op].sum_ns;
      std::snprintf(
          line, sizeof line, "%-10s %-8s %10.1f %8" PRIu64 " %10.3f\n",
          kStoreLabels[st],
          std::string(MetricOpName(static_cast<MetricOp>(op))).c_str(),
          static_cast<double>(n) / seconds, errors,
          timed == 0 ? 0.0 : static_cast<double>(ns) / timed / 1e6);
      out += line;
    }
    const auto& ca = a.counters;
    const auto& cb = b.counters;
    const auto rate = [&](MetricCounter c) {
      const int i = static_cast<int>(c);
      return static_cast<double>(cb[i] - ca[i]) / seconds;
    };
    const uint64_t waits = Count(b.lock_wait) - Count(a.lock_wait);
    const uint64_t wait_ns = b.lock_wait.sum_ns - a.lock_wait.sum_ns;
    std::snprintf(line, sizeof line,
                  "%-10s locks %.1f/s, mean wait %.3f ms, timeouts %.1f/s, "
                  "takeovers %.1f/s\n",
                  kStoreLabels[st], rate(MetricCounter::kLocksAcquired),
                  waits == 0 ? 0.0 : static_cast<double>(wait_ns) / waits / 1e6,
                  rate(MetricCounter::kLockTimeouts),
                  rate(MetricCounter::kLockTakeovers));
    out += line;
  }
  std::snprintf(line, sizeof line, "processes: %u live, %u ever\n",
                after.slots_live, after.slots_claimed);
  out += line;
  return out;
}

}  // namespace sessionkit::metrics_internal
