// A lock left behind by a memcached server that stopped answering (a
// SIGSTOP, a blackhole) is freed by the same process's next LockAndRead
// once the server is back (stores/pending_releases.h), owner-checked: a
// release that failed, and a lock step that went out unanswered and that
// the server ran when it resumed. Without this the next request on that
// session, in another process, waits out the whole lease.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "sessionkit/lock.h"
#include "sessionkit/open.h"
#include "sessionkit/stores/memcached.h"
#include "stores/memcached/memcached_store.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::memcached::pending_release_test {
namespace {

constexpr Duration kLong{600 * 1000};
// The servers' down mark lasts this long: the tests wait it out.
constexpr auto kDownTime = std::chrono::milliseconds(300);

class MemcachedPendingReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::MemcachedOptions options;
    options.name = "memcached-pending-release";
    auto server = test::StartMemcached(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  // A store object: one process's view. failover=0, as a store of tiers
  // opens its Memcached tier (and one server here).
  std::unique_ptr<Store> Open() {
    Result<std::unique_ptr<Store>> store =
        OpenStore("memcached://127.0.0.1:" + std::to_string(server_->port(0)) +
                  "?wake_file=off&read_timeout=100ms&down_time=" +
                  std::to_string(kDownTime.count()) + "ms&failover=0");
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // A request of a process of another host (whose death cannot be seen):
  // only the end of its lease lets another owner take its lock over.
  static LockRequest Request(const std::string& name,
                             Duration lease = Duration(30000)) {
    LockRequest request;
    request.owner.token = "other-host.invalid|1|" + name;
    request.lease = lease;
    request.wait = Duration(0);  // refused at once while held
    return request;
  }

  // Waits until the server's down mark has run out in every store object.
  static void WaitDownTime() {
    std::this_thread::sleep_for(kDownTime + std::chrono::milliseconds(100));
  }

  std::unique_ptr<test::TestServer> server_;
};

// The server stops answering while a request holds a lock: the first call to
// time out marks it down, so the holder's WriteAndUnlock fails at once,
// without reaching it. Once it is back, the lock is still there for the
// whole lease; the holder's process frees it at its next LockAndRead (of
// another session), and another process then gets it at once.
TEST_F(MemcachedPendingReleaseTest, FailedReleaseIsReissuedAtTheNextLock) {
  auto worker = Open();
  auto other = Open();
  ASSERT_NE(worker, nullptr);
  ASSERT_NE(other, nullptr);
  SK_ASSERT_OK(worker->Write("pend1x", "v0", kLong));
  LockRequest holder = Request("holder");
  Result<LockedRead> held = worker->LockAndRead("pend1x", holder);
  ASSERT_TRUE(held.ok() && held->acquired()) << held.status().ToString();
  SK_ASSERT_OK(server_->Pause());
  // Another request of the worker's process times out: the server is
  // marked down (its read, run when the server resumes, is harmless).
  EXPECT_TRUE(worker->Read("pend9x").status().IsUnavailable());
  Status saved = worker->WriteAndUnlock("pend1x", "v1", kLong, holder.owner);
  EXPECT_TRUE(saved.IsUnavailable()) << saved.ToString();
  SK_ASSERT_OK(server_->Resume());
  WaitDownTime();
  // Still held: nobody else may take it before its lease ends.
  Result<LockedRead> refused = other->LockAndRead("pend1x", Request("next"));
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_FALSE(refused->acquired());
  // The worker's next request, on another session, frees it first.
  LockRequest next_request = Request("worker-next");
  Result<LockedRead> own = worker->LockAndRead("pend2x", next_request);
  ASSERT_TRUE(own.ok() && own->acquired()) << own.status().ToString();
  SK_EXPECT_OK(worker->Unlock("pend2x", next_request.owner));
  Result<LockedRead> got = other->LockAndRead("pend1x", Request("next"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->acquired()) << "the failed release was not re-issued";
  EXPECT_EQ(got->broken_owner, "");  // released, not taken over
  // The failed write was not made: the session is as it was.
  ASSERT_TRUE(got->found);
  EXPECT_EQ(got->record.data, "v0");
  SK_EXPECT_OK(
      other->WriteAndUnlock("pend1x", "v2", kLong, Request("next").owner));
  Result<SessionRecord> read = other->Read("pend1x");
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "v2");
}

// A LockAndRead sent to a server that stopped answering fails (timeout), but
// the server runs it when it resumes: the lock is then held for an owner who
// was told it failed. The same process's next LockAndRead frees it.
TEST_F(MemcachedPendingReleaseTest, UnansweredLockStepIsUndoneAtTheNextLock) {
  auto worker = Open();
  auto other = Open();
  ASSERT_NE(worker, nullptr);
  ASSERT_NE(other, nullptr);
  SK_ASSERT_OK(server_->Pause());
  LockRequest lost = Request("unanswered");
  EXPECT_TRUE(worker->LockAndRead("pend3x", lost).status().IsUnavailable());
  SK_ASSERT_OK(server_->Resume());
  WaitDownTime();
  // The server ran the step: the lock is the worker's, which does not know.
  Result<LockedRead> refused = other->LockAndRead("pend3x", Request("next"));
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_FALSE(refused->acquired());
  LockRequest next_request = Request("worker-next");
  Result<LockedRead> own = worker->LockAndRead("pend4x", next_request);
  ASSERT_TRUE(own.ok() && own->acquired()) << own.status().ToString();
  SK_EXPECT_OK(worker->Unlock("pend4x", next_request.owner));
  Result<LockedRead> got = other->LockAndRead("pend3x", Request("next"));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->acquired()) << "the unanswered lock step was not undone";
  EXPECT_EQ(got->broken_owner, "");
  SK_EXPECT_OK(other->Unlock("pend3x", Request("next").owner));
}

// The re-issued release is owner-checked: when the lock was taken over
// meanwhile (its lease ran out), the new owner keeps it.
TEST_F(MemcachedPendingReleaseTest, ReissuedReleaseNeverFreesAnotherOwner) {
  auto worker = Open();
  auto other = Open();
  auto third = Open();
  ASSERT_NE(worker, nullptr);
  ASSERT_NE(other, nullptr);
  ASSERT_NE(third, nullptr);
  SK_ASSERT_OK(server_->Pause());
  const Duration short_lease(500);
  EXPECT_TRUE(worker->LockAndRead("pend5x", Request("gone", short_lease))
                  .status()
                  .IsUnavailable());
  LockRequest holder = Request("holder5");
  SK_ASSERT_OK(server_->Resume());
  WaitDownTime();
  // Its lease over, the lock the server ran for the worker is taken over.
  std::this_thread::sleep_for(short_lease);
  Result<LockedRead> taken = other->LockAndRead("pend5x", holder);
  ASSERT_TRUE(taken.ok() && taken->acquired()) << taken.status().ToString();
  EXPECT_EQ(taken->broken_owner, "other-host.invalid|1|gone");
  // The worker's next LockAndRead re-issues its release: not the holder's.
  LockRequest next_request = Request("worker-next");
  Result<LockedRead> own = worker->LockAndRead("pend6x", next_request);
  ASSERT_TRUE(own.ok() && own->acquired()) << own.status().ToString();
  SK_EXPECT_OK(worker->Unlock("pend6x", next_request.owner));
  Result<LockedRead> refused = third->LockAndRead("pend5x", Request("third"));
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_FALSE(refused->acquired()) << "another owner's lock was freed";
  SK_EXPECT_OK(other->WriteAndUnlock("pend5x", "mine", kLong, holder.owner));
}

}  // namespace
}  // namespace sessionkit::memcached::pending_release_test
