// LockWait on a fake Env: the deadline, and each sleep bounded by the rest
// of the wait, the holder's lease, the store's longest sleep and, for a
// holder process of this host, kLocalHolderPoll.
#include "stores/lock_wait.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "sessionkit/lock.h"
#include "support/fake_env.h"

namespace sessionkit {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using test::FakeEnv;

constexpr char kOtherHost[] = "elsewhere~0000000000000001|77|00000000000000ab";

// The pacing of the LMDB store (lmdb_locks.cc) and of the Redis store
// (redis_lock.cc), as far as the tests below need them.
constexpr LockWaitPacing kFutex{.max_wait = hours(24),
                                .lease_slack = milliseconds(1)};
constexpr LockWaitPacing kBlpop{.lease_slack = milliseconds(5),
                                .max_sleep = milliseconds(1000),
                                .poll_own_process = true};

LockRequest Waiting(Duration wait) {
  LockRequest request;
  request.wait = wait;
  return request;
}

TEST(LockWaitTest, ExpiresAtTheEndOfTheWait) {
  FakeEnv env;
  const LockWait wait(&env, Waiting(milliseconds(300)), kFutex);
  EXPECT_FALSE(wait.Expired());
  EXPECT_EQ(wait.Left(), milliseconds(300));
  env.Advance(milliseconds(299));
  EXPECT_FALSE(wait.Expired());
  EXPECT_EQ(wait.Left(), milliseconds(1));
  env.Advance(milliseconds(1));
  EXPECT_TRUE(wait.Expired());
  env.Advance(milliseconds(50));
  EXPECT_EQ(wait.Left(), nanoseconds(0)) << "never negative";
}

TEST(LockWaitTest, ZeroOrNegativeWaitIsOneTry) {
  FakeEnv env;
  EXPECT_TRUE(LockWait(&env, Waiting(milliseconds(0)), kFutex).Expired());
  EXPECT_TRUE(LockWait(&env, Waiting(milliseconds(-5)), kFutex).Expired());
}

TEST(LockWaitTest, LongWaitsAreCutToTheStoresMaximum) {
  FakeEnv env;
  EXPECT_EQ(LockWait(&env, Waiting(hours(48)), kFutex).Left(), hours(24));
  EXPECT_EQ(LockWait(&env, Waiting(hours(48)), kBlpop).Left(), hours(48));
  const LockWait longest(&env, Waiting(Duration::max()), kBlpop);
  EXPECT_EQ(longest.Left(), kLongestLockWait) << "the deadline overflowed";
}

TEST(LockWaitTest, SleepEndsWithTheLeasePlusTheSlack) {
  FakeEnv env;
  const LockWait futex(&env, Waiting(milliseconds(5000)), kFutex);
  EXPECT_EQ(futex.NextSleep(kOtherHost, 400), milliseconds(401));
  EXPECT_EQ(futex.NextSleep(kOtherHost, 0), milliseconds(1));
  const LockWait blpop(&env, Waiting(milliseconds(5000)), kBlpop);
  EXPECT_EQ(blpop.NextSleep(kOtherHost, 400), milliseconds(405));
  // A lease that is unknown (a record without expiry) bounds nothing.
  EXPECT_EQ(futex.NextSleep(kOtherHost, -1), milliseconds(5000));
  EXPECT_EQ(blpop.NextSleep(kOtherHost, -1), milliseconds(1000));
  // A lease far past the wait neither overflows nor extends it.
  EXPECT_EQ(futex.NextSleep(kOtherHost, int64_t{1} << 62), milliseconds(5000));
}

TEST(LockWaitTest, SleepNeverPassesTheDeadlineNorTheLongestSleep) {
  FakeEnv env;
  const LockWait futex(&env, Waiting(milliseconds(3000)), kFutex);
  const LockWait blpop(&env, Waiting(milliseconds(3000)), kBlpop);
  EXPECT_EQ(futex.NextSleep(kOtherHost, 60000), milliseconds(3000));
  EXPECT_EQ(blpop.NextSleep(kOtherHost, 60000), milliseconds(1000));
  env.Advance(milliseconds(2900));
  EXPECT_EQ(futex.NextSleep(kOtherHost, 60000), milliseconds(100));
  EXPECT_EQ(blpop.NextSleep(kOtherHost, 60000), milliseconds(100));
}

TEST(LockWaitTest, HolderProcessOfThisHostIsLookedAtEveryPoll) {
  FakeEnv env;
  env.SetAlive(77, true);
  const std::string local = std::string(FakeEnv::kHost) + "|77|0a";
  const std::string own = LockOwner::Generate(&env).token;
  const LockWait futex(&env, Waiting(milliseconds(5000)), kFutex);
  const LockWait blpop(&env, Waiting(milliseconds(5000)), kBlpop);
  EXPECT_EQ(futex.NextSleep(local, 60000), kLocalHolderPoll);
  EXPECT_EQ(blpop.NextSleep(local, 60000), kLocalHolderPoll);
  // A holder in the waiter's own process cannot die unseen: only a store
  // that polls its own process too looks at it that often.
  EXPECT_EQ(futex.NextSleep(own, 60000), milliseconds(5000));
  EXPECT_EQ(blpop.NextSleep(own, 60000), kLocalHolderPoll);
  // The lease may still end first.
  EXPECT_EQ(futex.NextSleep(local, 100), milliseconds(101));
}

// A store whose primitive only this host's releases trigger (Memcached's
// wake file) polls holders elsewhere; holders of this host keep their
// bounds.
TEST(LockWaitTest, HolderElsewhereIsPolledAtTheStoresInterval) {
  FakeEnv env;
  env.SetAlive(77, true);
  const std::string local = std::string(FakeEnv::kHost) + "|77|0a";
  LockWaitPacing pacing = kBlpop;
  pacing.max_sleep = milliseconds(60000);
  pacing.max_sleep_elsewhere = milliseconds(50);
  const LockWait wait(&env, Waiting(milliseconds(5000)), pacing);
  EXPECT_EQ(wait.NextSleep(kOtherHost, 60000), milliseconds(50));
  EXPECT_EQ(wait.NextSleep(kOtherHost, -1), milliseconds(50));
  EXPECT_EQ(wait.NextSleep(local, 60000), kLocalHolderPoll);
  // A lease that ends sooner still comes first.
  EXPECT_EQ(wait.NextSleep(kOtherHost, 10), milliseconds(15));
}

TEST(LockWaitTest, SleepGoesThroughTheEnvsTimedWait) {
  FakeEnv env;
  const LockWait wait(&env, Waiting(milliseconds(1000)), kFutex);
  std::vector<nanoseconds> polled;
  while (!wait.Expired()) {
    wait.Sleep(wait.NextSleep(kOtherHost, 300),
               [&](nanoseconds d) { polled.push_back(d); });
  }
  // 301, 301, 301, then the 97 ms left: on the fake clock, at once.
  const std::vector<nanoseconds> expected = {
      milliseconds(301), milliseconds(301), milliseconds(301),
      milliseconds(97)};
  EXPECT_EQ(env.Sleeps(), expected);
  EXPECT_EQ(polled, std::vector<nanoseconds>(4, nanoseconds(0)));
}

}  // namespace
}  // namespace sessionkit
