// The waits of the LMDB store's LockAndRead on a fake Env (FakeEnv of
// kAll): each sleep goes through Env::WaitFor, which returns at once and
// moves the fake clocks, so the pacing of the loop (lock_wait.h with this
// store's kPacing) is checked exactly and without real waiting.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "sessionkit/lock.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "stores/lock_wait.h"
#include "support/fake_env.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::lock_wait_test {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using test::FakeEnv;

std::string Id(int n) {
  char buf[64];
  snprintf(buf, sizeof buf, "wait%022d", n);
  return buf;
}

LockRequest Request(std::string token, Duration lease, Duration wait) {
  LockRequest r;
  r.owner.token = std::move(token);
  r.lease = lease;
  r.wait = wait;
  r.max_waiters = 0;
  return r;
}

class LmdbLockWaitTest : public LmdbFixture {
 protected:
  LmdbStore* OpenFake() {
    LmdbOptions options = Options();
    options.env = &fake_;
    return OpenReal(std::move(options));
  }

  // A holder of another host, which only the end of its lease lets go.
  static std::string Remote(const std::string& name) {
    return "elsewhere.invalid~0000000000000001|1|" + name;
  }
  // A holder process `pid` of the fake's host.
  static std::string Local(pid_t pid) {
    return std::string(FakeEnv::kHost) + "|" + std::to_string(pid) + "|0a";
  }

  FakeEnv fake_;
};

TEST_F(LmdbLockWaitTest, WaiterSleepsUntilTheLeaseEndsAndTakesOver) {
  LmdbStore* store = OpenFake();
  const LockRequest a = Request(Remote("a"), milliseconds(1000), Duration(0));
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  auto got = store->LockAndRead(
      Id(1), Request(Remote("w"), milliseconds(60000), milliseconds(5000)));
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->broken_owner, a.owner.token);
  // One sleep: the lease left and the store's 1 ms of slack.
  EXPECT_EQ(fake_.Sleeps(), std::vector<nanoseconds>{milliseconds(1001)});
}

TEST_F(LmdbLockWaitTest, WaiterGivesUpAtItsDeadline) {
  LmdbStore* store = OpenFake();
  SK_ASSERT_OK(store->LockAndRead(
      Id(1), Request(Remote("a"), milliseconds(60000), Duration(0))));
  auto got = store->LockAndRead(
      Id(1), Request(Remote("w"), milliseconds(60000), milliseconds(700)));
  SK_ASSERT_OK(got);
  EXPECT_EQ(got->outcome, LockOutcome::kTimedOut);
  EXPECT_EQ(fake_.Sleeps(), std::vector<nanoseconds>{milliseconds(700)});
}

TEST_F(LmdbLockWaitTest, LiveHolderProcessOfThisHostIsLookedAtEveryPoll) {
  LmdbStore* store = OpenFake();
  fake_.SetAlive(77, true);
  SK_ASSERT_OK(store->LockAndRead(
      Id(1), Request(Local(77), milliseconds(60000), Duration(0))));
  auto got = store->LockAndRead(
      Id(1), Request(Remote("w"), milliseconds(60000), milliseconds(1000)));
  SK_ASSERT_OK(got);
  EXPECT_EQ(got->outcome, LockOutcome::kTimedOut);
  EXPECT_EQ(fake_.Sleeps(), std::vector<nanoseconds>(4, kLocalHolderPoll));
}

TEST_F(LmdbLockWaitTest, DeadHolderProcessOfThisHostIsTakenOverAtOnce) {
  LmdbStore* store = OpenFake();
  const LockRequest dead =
      Request(Local(78), milliseconds(60000), Duration(0));  // not alive
  SK_ASSERT_OK(store->LockAndRead(Id(1), dead));
  auto got = store->LockAndRead(
      Id(1), Request(Remote("w"), milliseconds(60000), milliseconds(5000)));
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->broken_owner, dead.owner.token);
  EXPECT_TRUE(fake_.Sleeps().empty());
}

TEST_F(LmdbLockWaitTest, HolderInTheWaitersOwnProcessIsNotPolled) {
  LmdbStore* store = OpenFake();
  const LockRequest own = Request(LockOwner::Generate(&fake_).token,
                                  milliseconds(60000), Duration(0));
  SK_ASSERT_OK(store->LockAndRead(Id(1), own));
  auto got = store->LockAndRead(
      Id(1), Request(Remote("w"), milliseconds(60000), milliseconds(1000)));
  SK_ASSERT_OK(got);
  EXPECT_EQ(got->outcome, LockOutcome::kTimedOut);
  EXPECT_EQ(fake_.Sleeps(), std::vector<nanoseconds>{milliseconds(1000)});
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::lock_wait_test
