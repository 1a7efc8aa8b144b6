// The waits of the Redis store's LockAndRead on a fake Env (FakeEnv of
// kAll) against a real redis-server: each sleep goes through Env::WaitFor,
// which moves the fake clocks and lets the BLPOP wait only its shortest
// (1 ms, ended on the server's timer tick), so the pacing of the loop
// (lock_wait.h with this store's kPacing) is checked exactly without
// waiting it out.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/redis.h"
#include "stores/lock_wait.h"
#include "support/fake_env.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::lock_wait_test {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using test::FakeEnv;
using testing::OtherHost;
using testing::SharedRedisServerTest;
using testing::TestId;
using testing::UrlFor;

class RedisLockWaitTest : public SharedRedisServerTest<RedisLockWaitTest> {
 protected:
  friend SharedRedisServerTest<RedisLockWaitTest>;

  // A store with a key prefix of its own, on fake_.
  std::unique_ptr<Store> OpenFake() {
    static int n = 0;
    Result<StoreUrl> url = ParseStoreUrl(
        UrlFor(server_->port(), "prefix=lw" + std::to_string(++n) + ":"));
    EXPECT_TRUE(url.ok()) << url.status().ToString();
    Result<RedisOptions> options = RedisOptions::FromUrl(*url);
    EXPECT_TRUE(options.ok()) << options.status().ToString();
    options->env = &fake_;
    Result<std::unique_ptr<Store>> store = OpenRedisStore(*options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // A holder process `pid` of the fake's host.
  static LockRequest Local(pid_t pid) {
    LockRequest r = OtherHost("", Duration(0));
    r.owner.token =
        std::string(FakeEnv::kHost) + "|" + std::to_string(pid) + "|0a";
    return r;
  }

  FakeEnv fake_;
};

TEST_F(RedisLockWaitTest, WaiterLooksAgainAtLeastEverySecond) {
  auto store = OpenFake();
  ASSERT_NE(store, nullptr);
  SK_ASSERT_OK(store->LockAndRead(TestId(1), OtherHost("a", Duration(0))));
  auto got = store->LockAndRead(TestId(1), OtherHost("w", Duration(2500)));
  SK_ASSERT_OK(got);
  EXPECT_EQ(got->outcome, LockOutcome::kTimedOut);
  const std::vector<nanoseconds> expected = {
      milliseconds(1000), milliseconds(1000), milliseconds(500)};
  EXPECT_EQ(fake_.Sleeps(), expected);
}

// Redis polls every holder of this host, the waiter's own process too.
TEST_F(RedisLockWaitTest, HolderOfThisHostIsLookedAtEveryPoll) {
  auto store = OpenFake();
  ASSERT_NE(store, nullptr);
  LockRequest own = Local(FakeEnv::kPid);
  own.owner = LockOwner::Generate(&fake_);
  SK_ASSERT_OK(store->LockAndRead(TestId(1), own));
  auto got = store->LockAndRead(TestId(1), OtherHost("w", Duration(600)));
  SK_ASSERT_OK(got);
  EXPECT_EQ(got->outcome, LockOutcome::kTimedOut);
  const std::vector<nanoseconds> expected = {kLocalHolderPoll, kLocalHolderPoll,
                                             milliseconds(100)};
  EXPECT_EQ(fake_.Sleeps(), expected);
}

TEST_F(RedisLockWaitTest, DeadHolderProcessOfThisHostIsTakenOverAtOnce) {
  auto store = OpenFake();
  ASSERT_NE(store, nullptr);
  const LockRequest dead = Local(78);  // not alive in fake_
  SK_ASSERT_OK(store->LockAndRead(TestId(1), dead));
  auto got = store->LockAndRead(TestId(1), OtherHost("w", Duration(5000)));
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->broken_owner, dead.owner.token);
  EXPECT_TRUE(fake_.Sleeps().empty());
}

TEST_F(RedisLockWaitTest, WaiterSleepsNoLongerThanTheLeasePlusTheSlack) {
  auto store = OpenFake();
  ASSERT_NE(store, nullptr);
  const LockRequest a = OtherHost("a", Duration(0), Duration(300));
  SK_ASSERT_OK(store->LockAndRead(TestId(1), a));
  auto got = store->LockAndRead(TestId(1), OtherHost("w", Duration(60000)));
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->broken_owner, a.owner.token);
  // The lease left comes from the server's clock, which runs on while the
  // fake one jumps: only its bound is exact.
  ASSERT_FALSE(fake_.Sleeps().empty());
  for (nanoseconds sleep : fake_.Sleeps()) {
    EXPECT_GT(sleep, nanoseconds(0));
    EXPECT_LE(sleep, milliseconds(305));
  }
}

}  // namespace
}  // namespace sessionkit::redis::lock_wait_test
