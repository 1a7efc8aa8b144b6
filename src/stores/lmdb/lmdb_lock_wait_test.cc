// The waits of the LMDB store's LockAndRead (and Destroy's) on a fake Env
// (FakeEnv of kAll): each sleep goes through Env::WaitFor (or SleepFor),
// which returns at once and moves the fake clocks, so the pacing of the
// loop (lock_wait.h with this store's kPacing) is checked exactly and
// without real waiting.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/lock.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "stores/lmdb/lock_table.h"
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

// A holder killed in its commit whose pid another process took: its entry
// stays committing with a live pid. Destroy waits for that commit 5 s of
// the boot clock at most, then takes the lock over.
TEST_F(LmdbLockWaitTest, DestroyEndsACommitWhosePidWasReused) {
  LmdbStore* store = OpenFake();
  SK_ASSERT_OK(store->Write(Id(1), "logged-in", milliseconds(600000)));
  fake_.SetAlive(79, true);  // the pid, now another process's
  const LockRequest dead =
      Request(Local(79), milliseconds(600000), Duration(0));
  SK_ASSERT_OK(store->LockAndRead(Id(1), dead));
  // Its commit began (the table as the dead process mapped it).
  LockTable table;
  LockNow now{.wall_ms = ToUnixMillis(fake_.WallNow()),
              .boot_ms = fake_.BootClockMs()};
  ASSERT_TRUE(ParseBootId(fake_.BootId(), &now.boot));
  std::string why;
  ASSERT_EQ(table.Map(path_ + "/" + kLockTableFile, 0600, {}, now.boot, &why),
            0)
      << why;
  bool error = false;
  ASSERT_EQ(
      table.BeginCommit(table.DigestOf(Id(1)), table.DigestOf(dead.owner.token),
                        now, &fake_, &error),
      OwnerState::kOwner);
  // On a thread: without a bound it would wait for ever.
  std::packaged_task<Status()> task([&] { return store->Destroy(Id(1)); });
  std::future<Status> destroyed = task.get_future();
  std::thread destroying(std::move(task));
  const bool ended =
      destroyed.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!ended) fake_.SetAlive(79, false);  // lets it end
  destroying.join();
  table.Unmap();
  ASSERT_TRUE(ended) << "Destroy waits for ever for a commit whose pid lives";
  SK_EXPECT_OK(destroyed.get());
  EXPECT_LE(fake_.BootClockMs() - now.boot_ms, 6000) << "waited too long";
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
  EXPECT_TRUE(
      store->WriteAndUnlock(Id(1), "back", milliseconds(600000), dead.owner)
          .IsLockLost());
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::lock_wait_test
