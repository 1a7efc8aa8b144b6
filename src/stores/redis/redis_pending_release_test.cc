// The Redis store re-issues a release that failed while the lock may still
// be held (stores/pending_releases.h) at its next LockAndRead: a lock whose
// release ran into a busy server is freed then.
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

namespace sessionkit::redis::pending_release_test {
namespace {

using testing::OtherHost;
using testing::TestId;

// A request's save is refused by a busy server (as by a cluster electing a
// replica, CLUSTERDOWN, or a master failing over): its lock stays while the
// holder lives on. The same process's next LockAndRead frees it first, so the
// next request on that session (another process) gets it at once instead of
// after the lease.
TEST(RedisPendingReleaseTest, FailedReleaseIsReissuedAtTheNextLockAndRead) {
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
}  // namespace sessionkit::redis::pending_release_test
