// The Prometheus and JSON output of a snapshot (promtool checks the whole
// text in tools/cli_metrics_test.sh).
#include "metrics/metrics_format.h"

#include <gtest/gtest.h>

#include <string>

namespace sessionkit::metrics_internal {
namespace {

MetricsSnapshot Sample() {
  MetricsSnapshot s;
  s.slots_claimed = 3;
  s.slots_live = 2;
  StoreCells& lmdb = s.stores[0];
  lmdb.operations[static_cast<int>(MetricOp::kWrite)]
                 [static_cast<int>(MetricOutcome::kError)] = 7;
  HistogramCells& h = lmdb.latency[static_cast<int>(MetricOp::kWrite)];
  h.buckets[0] = 2;             // le 0.00001
  h.buckets[3] = 5;             // le 0.0001
  h.buckets[kBuckets - 1] = 1;  // +Inf
  h.sum_ns = 12'500'000'001;
  lmdb.counters[static_cast<int>(MetricCounter::kLockTimeouts)] = 4;
  return s;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(MetricsFormatTest, PrometheusTextHasCumulativeBucketsAndExactSums) {
  const std::string t = FormatPrometheus(Sample());
  EXPECT_TRUE(Has(t,
                  "sessionkit_operations_total{store=\"lmdb\",op=\"write\","
                  "outcome=\"error\"} 7"))
      << t;
  const std::string labels = "{store=\"lmdb\",op=\"write\"";
  const std::string name = "sessionkit_operation_duration_seconds";
  EXPECT_TRUE(Has(t, name + "_bucket" + labels + ",le=\"0.00001\"} 2"));
  EXPECT_TRUE(Has(t, name + "_bucket" + labels + ",le=\"0.000025\"} 2"));
  EXPECT_TRUE(Has(t, name + "_bucket" + labels + ",le=\"0.0001\"} 7"));
  EXPECT_TRUE(Has(t, name + "_bucket" + labels + ",le=\"10\"} 7"));
  EXPECT_TRUE(Has(t, name + "_bucket" + labels + ",le=\"+Inf\"} 8"));
  EXPECT_TRUE(Has(t, name + "_count" + labels + "} 8"));
  EXPECT_TRUE(Has(t, name + "_sum" + labels + "} 12.500000001"));
  EXPECT_TRUE(Has(t, "sessionkit_lock_timeouts_total{store=\"lmdb\"} 4"));
  EXPECT_TRUE(Has(t, "sessionkit_metrics_processes{state=\"live\"} 2"));
  // Stores that counted nothing have no samples.
  EXPECT_EQ(t.find("store=\"redis\""), std::string::npos);
  EXPECT_TRUE(Has(t, "# TYPE sessionkit_lock_wait_seconds histogram"));
}

TEST(MetricsFormatTest, JsonCarriesTheSameNumbers) {
  const std::string j = FormatMetricsJson(Sample());
  EXPECT_NE(j.find("\"processes\":{\"claimed\":3,\"live\":2}"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"write\":{\"ok\":0,\"miss\":0,\"error\":7}"),
            std::string::npos);
  EXPECT_NE(j.find("\"lock_timeouts\":4"), std::string::npos);
  EXPECT_NE(j.find("\"count\":8,\"sum_seconds\":12.500000001"),
            std::string::npos);
  EXPECT_EQ(j.find("\"redis\""), std::string::npos);
}

TEST(MetricsFormatTest, RatesAreDifferencesOverTime) {
  MetricsSnapshot before = Sample();
  MetricsSnapshot after = Sample();
  after.stores[0].operations[static_cast<int>(MetricOp::kRead)]
                            [static_cast<int>(MetricOutcome::kOk)] += 50;
  const std::string t = FormatRates(before, after, 2.0);
  EXPECT_NE(t.find("lmdb       read           25.0"), std::string::npos) << t;
}

}  // namespace
}  // namespace sessionkit::metrics_internal
