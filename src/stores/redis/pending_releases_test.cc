// Releases that failed while the lock may still be held, re-issued later
// (pending_releases.h): the bookkeeping with a fake unlock, and the store
// freeing a lock whose release ran into a paused server at its next
// LockAndRead.
#include "stores/redis/pending_releases.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/store.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::pending_releases_test {
namespace {

using testing::OtherHost;
using testing::TestId;

LockOwner Owner(const std::string& token) {
  LockOwner owner;
  owner.token = token;
  return owner;
}

const Status kDown = Status::Unavailable("down");

TEST(PendingReleasesTest, OnlyReleasesThatMayStillHoldAreKept) {
  PendingReleases pending;
  const SteadyTime now{};
  pending.Note("a", Owner("t1"), Status::OK(), now);
  pending.Note("a", Owner("t1"), Status::LockLost("taken over"), now);
  pending.Note("a", Owner("t1"), Status::NotFound("gone"), now);
  pending.Note("a", Owner("t1"), Status::InvalidArgument("bad id"), now);
  EXPECT_EQ(pending.size(), 0u);
  pending.Note("a", Owner("t1"), kDown, now);
  pending.Note("a", Owner("t1"), kDown, now);  // once per id and owner
  pending.Note("a", Owner("t2"), kDown, now);
  EXPECT_EQ(pending.size(), 2u);
  for (size_t i = 0; i < PendingReleases::kMax + 5; ++i) {
    pending.Note("b" + std::to_string(i), Owner("t"), kDown, now);
  }
  EXPECT_EQ(pending.size(), PendingReleases::kMax);
}

TEST(PendingReleasesTest, RetryStopsAtTheFirstThatStillFailsAndDropsOld) {
  PendingReleases pending;
  const SteadyTime start{};
  pending.Note("old", Owner("t"), kDown, start);
  const SteadyTime later = start + std::chrono::seconds(200);
  pending.Note("a", Owner("t"), kDown, later);
  pending.Note("b", Owner("t"), kDown, later);
  std::vector<std::string> asked;
  Status answer = kDown;
  auto unlock = [&](std::string_view id, const LockOwner&) {
    asked.emplace_back(id);
    return answer;
  };
  const SteadyTime now = start + PendingReleases::kKeep + Duration(1);
  pending.Retry(unlock, now);
  // "old" is past kKeep: dropped unasked; "a" still fails: "b" waits.
  EXPECT_EQ(asked, std::vector<std::string>{"a"});
  EXPECT_EQ(pending.size(), 2u);
  asked.clear();
  answer = Status::OK();
  pending.Retry(unlock, now);
  EXPECT_EQ(asked, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(pending.size(), 0u);
  asked.clear();
  pending.Retry(unlock, now);
  EXPECT_TRUE(asked.empty());
}

// A request's save is refused by a busy server (as by a cluster electing a
// replica, CLUSTERDOWN, or a master failing over): its lock stays while the
// holder lives on. The same process's next LockAndRead frees it first, so the
// next request on that session (another process) gets it at once instead of
// after the lease.
TEST(PendingReleasesTest, FailedReleaseIsReissuedAtTheNextLockAndRead) {
  test::RedisServerOptions options;
  options.name = "redis-pending-release";
  auto server = test::StartRedis(options);
  SK_ASSERT_OK(server);
  const std::string url =
      testing::UrlFor((*server)->port(), "prefix=pr:&read_timeout=200ms");
  auto worker = testing::Open(url);
  auto other = testing::Open(url);
  ASSERT_NE(worker, nullptr);
  ASSERT_NE(other, nullptr);
  const std::string id = TestId(1);
  LockRequest holder =
      OtherHost("pending-holder", Duration(0), Duration(3600000));
  Result<LockedRead> held = worker->LockAndRead(id, holder);
  ASSERT_TRUE(held.ok() && held->acquired()) << held.status().ToString();
  // A script that keeps the server busy for 1.5 s: after 100 ms every other
  // command is refused with BUSY, so the release fails and never runs.
  SK_ASSERT_OK((*server)->Cli({"CONFIG", "SET", "lua-time-limit", "100"}));
  std::thread busy([&] {
    (void)(*server)->Cli(
        {"EVAL",
         "local function ms() local t = redis.call('TIME') "
         "return t[1] * 1000 + t[2] / 1000 end "
         "local start = ms() while ms() - start < 1500 do end return 1",
         "0"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Status saved =
      worker->WriteAndUnlock(id, "v", Duration(600000), holder.owner);
  busy.join();
  ASSERT_TRUE(saved.IsUnavailable()) << saved.ToString();
  EXPECT_THAT(saved.message(), ::testing::HasSubstr("BUSY"));
  // Still held: nobody else may take it.
  Result<LockedRead> refused =
      other->LockAndRead(id, OtherHost("pending-next", Duration(0)));
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_FALSE(refused->acquired());
  // The worker's next request, on another session, frees it first.
  LockRequest next_request = OtherHost("pending-worker-next", Duration(0));
  Result<LockedRead> own = worker->LockAndRead(TestId(2), next_request);
  ASSERT_TRUE(own.ok() && own->acquired()) << own.status().ToString();
  SK_EXPECT_OK(worker->Unlock(TestId(2), next_request.owner));
  Result<LockedRead> got =
      other->LockAndRead(id, OtherHost("pending-next", Duration(0)));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->acquired()) << "the failed release was not re-issued";
  EXPECT_EQ(got->broken_owner, "");
}

}  // namespace
}  // namespace sessionkit::redis::pending_releases_test
