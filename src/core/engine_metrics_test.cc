// What the engine reports to EngineOptions::metrics: each call once, with
// the outcome it had, and the lock events, bytes and sessions around it.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "core/fake_store.h"
#include "sessionkit/engine.h"
#include "sessionkit/metrics.h"
#include "support/fake_env.h"

namespace sessionkit {
namespace {

using test::FakeStore;

// Records what the engine reports.
//
// Thread safety: one test thread.
class RecordingSink : public MetricsSink {
 public:
  void Operation(MetricOp op, MetricOutcome outcome,
                 std::chrono::nanoseconds latency) noexcept override {
    ++ops[{op, outcome}];
    last_latency = latency;
  }
  void LockWait(std::chrono::nanoseconds) noexcept override { ++lock_waits; }
  void Add(MetricCounter counter, uint64_t n) noexcept override {
    counters[counter] += n;
  }

  int Ops(MetricOp op, MetricOutcome outcome) { return ops[{op, outcome}]; }

  std::map<std::pair<MetricOp, MetricOutcome>, int> ops;
  std::map<MetricCounter, uint64_t> counters;
  int lock_waits = 0;
  std::chrono::nanoseconds last_latency{0};
};

class EngineMetricsTest : public ::testing::Test {
 protected:
  EngineMetricsTest() {
    auto owned = std::make_unique<FakeStore>();
    store_ = owned.get();
    EngineOptions options;
    options.env = &env_;
    options.metrics = sink_;
    engine_ = std::make_unique<SessionEngine>(std::move(owned), options);
  }

  test::FakeEnv env_;
  std::shared_ptr<RecordingSink> sink_ = std::make_shared<RecordingSink>();
  FakeStore* store_;
  std::unique_ptr<SessionEngine> engine_;
  const std::string id_ = "abcdefghijklmnopqrstuvwxyz012345";
  const LockOptions lock_;
};

TEST_F(EngineMetricsTest, ASessionsLifeIsCountedCallByCall) {
  auto first = engine_->ReadForUpdate(id_, lock_);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kRead, MetricOutcome::kMiss), 1);
  EXPECT_EQ(sink_->lock_waits, 1);
  EXPECT_EQ(sink_->counters[MetricCounter::kLocksAcquired], 1u);
  ASSERT_TRUE(
      engine_->Write(id_, "cart|i:1;", Duration(60000), first->lock).ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kWrite, MetricOutcome::kOk), 1);
  EXPECT_EQ(sink_->counters[MetricCounter::kSessionsCreated], 1u);
  EXPECT_EQ(sink_->counters[MetricCounter::kBytesWritten], 9u);

  auto second = engine_->ReadForUpdate(id_, lock_);
  ASSERT_TRUE(second.ok() && second->found);
  EXPECT_EQ(sink_->Ops(MetricOp::kRead, MetricOutcome::kOk), 1);
  EXPECT_EQ(sink_->counters[MetricCounter::kBytesRead], 9u);
  ASSERT_TRUE(engine_->Touch(id_, Duration(60000), second->lock).ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kTouch, MetricOutcome::kOk), 1);
  // An update of a session read is no new session.
  auto third = engine_->ReadForUpdate(id_, lock_);
  ASSERT_TRUE(third.ok());
  ASSERT_TRUE(
      engine_->Write(id_, "cart|i:2;", Duration(60000), third->lock).ok());
  EXPECT_EQ(sink_->counters[MetricCounter::kSessionsCreated], 1u);

  ASSERT_TRUE(engine_->Exists(id_).ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kExists, MetricOutcome::kOk), 1);
  ASSERT_TRUE(engine_->Destroy(id_).ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kDestroy, MetricOutcome::kOk), 1);
  EXPECT_EQ(sink_->counters[MetricCounter::kSessionsDestroyed], 1u);
  ASSERT_TRUE(engine_->Exists(id_).ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kExists, MetricOutcome::kMiss), 1);
  EXPECT_EQ(engine_->Touch(id_, Duration(60000)).code(), StatusCode::kNotFound);
  EXPECT_EQ(sink_->Ops(MetricOp::kTouch, MetricOutcome::kMiss), 1);

  ASSERT_TRUE(engine_->Gc().ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kGc, MetricOutcome::kOk), 1);
  EXPECT_EQ(sink_->counters[MetricCounter::kGcRemoved], 3u);  // FakeStore's
  // Each call once: 3 reads, 2 writes, 2 touches, 2 exists, 1 destroy, 1 gc.
  int total = 0;
  for (const auto& [key, n] : sink_->ops) total += n;
  EXPECT_EQ(total, 11);
}

TEST_F(EngineMetricsTest, ErrorsTimeoutsAndTakeoversAreCounted) {
  store_->fail = Status::Unavailable("down");
  EXPECT_FALSE(engine_->Read(id_).ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kRead, MetricOutcome::kError), 1);
  EXPECT_FALSE(engine_->Write(id_, "x", Duration(1000)).ok());
  EXPECT_EQ(sink_->Ops(MetricOp::kWrite, MetricOutcome::kError), 1);
  EXPECT_EQ(sink_->counters[MetricCounter::kBytesWritten], 0u);
  store_->fail = Status::OK();

  store_->holder[id_] = "someone|1|x";
  auto timed_out = engine_->ReadForUpdate(id_, lock_);
  ASSERT_TRUE(timed_out.ok());
  EXPECT_EQ(sink_->counters[MetricCounter::kLockTimeouts], 1u);
  // The read-only request's write is skipped, not a write.
  ASSERT_TRUE(engine_->Write(id_, "x", Duration(1000), timed_out->lock).ok());
  EXPECT_EQ(sink_->counters[MetricCounter::kWritesSkipped], 1u);
  EXPECT_EQ(sink_->counters[MetricCounter::kBytesWritten], 0u);

  store_->holder.clear();
  store_->broken_owner = "gone|2|y";
  ASSERT_TRUE(engine_->ReadForUpdate(id_, lock_).ok());
  EXPECT_EQ(sink_->counters[MetricCounter::kLockTakeovers], 1u);
  EXPECT_EQ(sink_->lock_waits, 2);
}

TEST_F(EngineMetricsTest, LatencyIsTheCallsDurationOnTheEnvsClock) {
  ASSERT_TRUE(engine_->Exists(id_).ok());
  EXPECT_EQ(sink_->last_latency.count(), 0);  // the fake clock stood still
}

// A store that made two round trips for every call.
class TwoTripStore : public FakeStore {
 public:
  uint64_t TakeRoundTrips() override { return 2; }
};

TEST(EngineRoundTripsTest, TheStoresRoundTripsAreCountedAfterEachCall) {
  auto sink = std::make_shared<RecordingSink>();
  EngineOptions options;
  options.metrics = sink;
  SessionEngine engine(std::make_unique<TwoTripStore>(), options);
  ASSERT_TRUE(engine.Exists("abcdefghijklmnopqrstuvwxyz012345").ok());
  ASSERT_TRUE(engine.Gc().ok());
  EXPECT_EQ(sink->counters[MetricCounter::kRoundTrips], 4u);
}

TEST_F(EngineMetricsTest, SizeLimitHitsAreCounted) {
  EngineOptions options;
  options.env = &env_;
  options.metrics = sink_;
  options.size_limits.max_size = 16;
  options.size_limits.warn_size = 8;
  SessionEngine engine(std::make_unique<FakeStore>(), options);
  ASSERT_TRUE(engine.Write(id_, "small", Duration(60000)).ok());
  EXPECT_EQ(sink_->counters[MetricCounter::kSizeWarned], 0u);
  ASSERT_TRUE(engine.Write(id_, "cart|i:12345;", Duration(60000)).ok());
  EXPECT_EQ(sink_->counters[MetricCounter::kSizeWarned], 1u);
  EXPECT_TRUE(engine.Write(id_, std::string(17, 'x'), Duration(60000))
                  .IsInvalidArgument());
  EXPECT_EQ(sink_->counters[MetricCounter::kSizeRefused], 1u);
  EXPECT_EQ(sink_->counters[MetricCounter::kSizeWarned], 1u);
  EXPECT_EQ(sink_->Ops(MetricOp::kWrite, MetricOutcome::kError), 1);
}

}  // namespace
}  // namespace sessionkit
