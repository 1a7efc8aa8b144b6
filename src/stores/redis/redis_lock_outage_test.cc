// The Redis store's locks when the server goes away: paused (SIGSTOP) or
// stopped while a request waits, or a blackhole that never answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/open.h"
#include "sessionkit/session_id.h"
#include "sessionkit/store.h"
#include "stores/redis/redis_store.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::lock_outage_test {
namespace {

using ::testing::HasSubstr;
using testing::kHour;
using testing::kMarginMs;
using testing::kServerTimerMs;
using testing::MillisOf;
using testing::Open;
using testing::OtherHost;
using testing::TestId;
using testing::UrlFor;

// --- A server that goes away while a request waits ------------------------

// A server of the test's own, stopped or paused while a request waits for
// a lock of another host's request.
class RedisLockOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::RedisServerOptions options;
    options.name = "redis-lock-outage";
    auto server = test::StartRedis(options);
    SK_ASSERT_OK(server);
    server_ = std::move(*server);
  }

  // Starts a waiter on a session held by another host, then runs
  // `outage` once it waits; returns what the waiter got and how long its
  // LockAndRead took.
  Result<LockedRead> WaitThrough(const std::string& query, Duration wait,
                                 const std::function<void()>& outage,
                                 int64_t* ms) {
    auto store =
        Open(UrlFor(server_->port(), "prefix=out:&" + std::string(query)));
    if (store == nullptr) return Status::Internal("no store");
    const std::string id = TestId(9);
    Result<LockedRead> held =
        store->LockAndRead(id, OtherHost("holder", Duration(0)));
    if (!held.ok()) return held.status();
    Result<LockedRead> got = Status::Internal("not run");
    std::thread waiter([&] {
      *ms = MillisOf(
          [&] { got = store->LockAndRead(id, OtherHost("waiter", wait)); });
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    outage();
    waiter.join();
    return got;
  }

  std::unique_ptr<test::RedisServer> server_;
};

TEST_F(RedisLockOutageTest, PausedServerIsUnavailableWithinWaitPlusTimeout) {
  int64_t ms = 0;
  Result<LockedRead> got = WaitThrough(
      "read_timeout=200ms", Duration(1000),
      [&] { SK_EXPECT_OK(server_->process().Pause()); }, &ms);
  SK_EXPECT_OK(server_->process().Resume());
  ASSERT_FALSE(got.ok()) << "outcome " << static_cast<int>(got->outcome);
  EXPECT_TRUE(got.status().IsUnavailable()) << got.status().ToString();
  EXPECT_THAT(got.status().message(), HasSubstr("timed out"));
  EXPECT_LE(ms, 1000 + 200 + kServerTimerMs + kMarginMs);
}

TEST_F(RedisLockOutageTest, StoppedServerIsUnavailableAtOnce) {
  int64_t ms = 0;
  Result<LockedRead> got = WaitThrough(
      "read_timeout=200ms", Duration(3000),
      [&] { SK_EXPECT_OK(server_->process().Kill()); }, &ms);
  ASSERT_FALSE(got.ok()) << "outcome " << static_cast<int>(got->outcome);
  EXPECT_TRUE(got.status().IsUnavailable()) << got.status().ToString();
  EXPECT_LT(ms, 200 + 200 + kMarginMs) << "waited on a dead server";
}

TEST(RedisLockTimeoutTest, BlackholeIsUnavailableAfterReadTimeout) {
  auto hole = test::BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  auto store =
      Open(UrlFor((*hole)->port(), "connect_timeout=100ms&read_timeout=200ms"));
  ASSERT_NE(store, nullptr);
  Result<LockedRead> got = Status::Internal("not run");
  const int64_t ms = MillisOf([&] {
    got = store->LockAndRead(TestId(10), OtherHost("a", Duration(5000)));
  });
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().IsUnavailable()) << got.status().ToString();
  // The SET NX went out unanswered: it may have taken the lock, so one
  // more call (on a new connection, as bounded) tries to release it.
  EXPECT_LE(ms, 2 * 200 + kMarginMs);
  Status st = store->WriteAndUnlock(TestId(10), "x", kHour,
                                    OtherHost("a", Duration(0)).owner);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
}

// A server that accepts connections and never answers (SIGSTOP) costs a
// LockAndRead one read timeout, not one per command: the release of the
// lock its first call may have taken is not sent at once (it would wait as
// long again) but by the next call, which then does not wait on the same
// server a second time. Once the server answers again, that release frees
// the lock: another process gets it at once, not after the lease.
TEST(RedisLockTimeoutTest, APausedServerCostsEachLockOneTimeout) {
  test::RedisServerOptions options;
  options.name = "redis-lock-pause";
  auto server = test::StartRedis(options);
  SK_ASSERT_OK(server);
  auto store = Open(UrlFor((*server)->port(), "read_timeout=200ms"));
  auto other = Open(UrlFor((*server)->port(), "read_timeout=200ms"));
  ASSERT_NE(store, nullptr);
  ASSERT_NE(other, nullptr);
  SK_ASSERT_OK(store->Write(TestId(20), "kept", kHour));

  SK_ASSERT_OK((*server)->process().Pause());
  Result<LockedRead> first = Status::Internal("not run");
  const int64_t first_ms = MillisOf([&] {
    first = store->LockAndRead(TestId(20),
                               OtherHost("a", Duration(1000), Duration(30000)));
  });
  Result<LockedRead> second = Status::Internal("not run");
  const int64_t second_ms = MillisOf([&] {
    second = store->LockAndRead(
        TestId(21), OtherHost("b", Duration(1000), Duration(30000)));
  });
  SK_ASSERT_OK((*server)->process().Resume());
  ASSERT_FALSE(first.ok());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(first.status().IsUnavailable()) << first.status().ToString();
  EXPECT_TRUE(second.status().IsUnavailable()) << second.status().ToString();
  EXPECT_LE(first_ms, 200 + kMarginMs);
  EXPECT_LE(second_ms, 200 + kMarginMs);
  EXPECT_THAT(second.status().message(), HasSubstr("not tried"));

  // Answering again: the first lock's release goes out with this call.
  Result<LockedRead> third =
      store->LockAndRead(TestId(22), OtherHost("c", Duration(1000)));
  SK_ASSERT_OK(third);
  EXPECT_TRUE(third->acquired());
  // The commands sent while the server was stopped ran when it went on:
  // the first SET NX may have taken session 20's lock for "a". Released,
  // it does not hold up another process for the 30 s lease.
  Result<LockedRead> taken =
      other->LockAndRead(TestId(20), OtherHost("d", Duration(500)));
  SK_ASSERT_OK(taken);
  EXPECT_TRUE(taken->acquired()) << "still held by the first call's owner";
  EXPECT_TRUE(taken->found);
  EXPECT_EQ(taken->record.data, "kept");
}

}  // namespace
}  // namespace sessionkit::redis::lock_outage_test
