// The callback store over a std::map of callbacks (support/map_callbacks.h)
// on a fake clock: what it keeps under which key, expiry by the value's
// own time, errors of the callbacks, registrations, and the lock's add,
// takeover and waiter slots. The conformance suite runs on the same store
// (tests/conformance/callback_conformance_test.cc).
#include "stores/callback/callback_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "sessionkit/stores/callback.h"
#include "support/fake_env.h"
#include "support/map_callbacks.h"
#include "support/test_status.h"

namespace sessionkit::callback {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kId[] = "abcdefghijklmnopqrstuvwxyz012345";

LockRequest Request(std::string name, Duration wait = Duration(0)) {
  LockRequest request;
  request.owner.token = "other-host.invalid|1|" + std::move(name);
  request.lease = Duration(1000);
  request.wait = wait;
  return request;
}

class CallbackStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SK_ASSERT_OK(
        RegisterCallbackStore("t", test::MapCallbacks::Table(), &map_));
    CallbackOptions options;
    options.name = "t";
    options.env = &env_;
    Result<std::unique_ptr<Store>> store = OpenCallbackStore(options);
    SK_ASSERT_OK(store);
    store_ = std::move(*store);
  }
  void TearDown() override { UnregisterCallbackStores(); }

  test::FakeEnv env_{test::FakeEnv::Scope::kRecordClocks};
  test::MapCallbacks map_{&env_};
  std::unique_ptr<Store> store_;
};

TEST_F(CallbackStoreTest, KeepsTheFrameWithItsExpiryUnderTheId) {
  const int64_t now = ToUnixMillis(env_.WallNow());
  SK_ASSERT_OK(store_->Write(kId, std::string("a\0b", 3), Duration(1500)));
  std::string stored;
  ASSERT_TRUE(map_.Peek(kId, &stored));
  Result<StoredSession> decoded = DecodeSession(stored, "test");
  SK_ASSERT_OK(decoded);
  EXPECT_EQ(decoded->expires_ms, now + 1500);
  EXPECT_EQ(decoded->frame, std::string_view("a\0b", 3));
  EXPECT_EQ(map_.LastTtl(kId), 3);  // 1.5 s rounded up, plus one
  Result<SessionRecord> read = store_->Read(kId);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, std::string("a\0b", 3));
  EXPECT_EQ(ToUnixMillis(read->expires_at), now + 1500);
}

TEST_F(CallbackStoreTest, ExpiryIsTheValuesNotTheStoresTtl) {
  SK_ASSERT_OK(store_->Write(kId, "x", Duration(100)));
  std::string stored;
  ASSERT_TRUE(map_.Peek(kId, &stored));
  map_.Put(kId, stored);  // a store that keeps the key for ever
  env_.Advance(std::chrono::milliseconds(99));
  SK_EXPECT_OK(store_->Read(kId));
  env_.Advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(store_->Read(kId).status().IsNotFound());
  EXPECT_TRUE(store_->Touch(kId, Duration(5000)).IsNotFound());
}

TEST_F(CallbackStoreTest, AValueNotOfSessionkitIsCorrupt) {
  map_.Put(kId, "written by something else");
  Status st = store_->Read(kId).status();
  EXPECT_TRUE(st.IsCorrupt()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("php://t"));
}

TEST_F(CallbackStoreTest, AFailedCallbackNamesTheStoreAndTheMethod) {
  map_.FailWith("get", SK_STORE_ERROR, "Cart::get() threw: boom");
  Status st = store_->Read(kId).status();
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("php://t: read of session"));
  EXPECT_THAT(st.message(), HasSubstr("get failed: Cart::get() threw: boom"));
  EXPECT_THAT(st.message(), Not(HasSubstr(kId)));

  map_.FailWith("set", SK_STORE_ERROR, "");
  st = store_->Write(kId, "x", Duration(1000));
  EXPECT_THAT(st.message(), HasSubstr("set failed: no reason given"));

  map_.FailWith("add", 7, "");
  st = store_->LockAndRead(kId, Request("a")).status();
  EXPECT_EQ(st.code(), StatusCode::kInternal) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("add answered 7"));

  map_.FailWith("", SK_STORE_ERROR, "");  // the store recovers
  SK_EXPECT_OK(store_->Write(kId, "x", Duration(1000)));
}

TEST_F(CallbackStoreTest, UnregisteredNameIsAClearError) {
  CallbackOptions options;
  options.name = "cart";
  Result<std::unique_ptr<Store>> other = OpenCallbackStore(options);
  SK_ASSERT_OK(other);
  Status st = (*other)->Read(kId).status();
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(st.message(),
            "php://cart: no store registered under this name; call "
            "sessionkit_register_store() before session_start()");

  // Withdrawn at the end of a request: the open store fails from then on.
  UnregisterCallbackStores();
  EXPECT_THAT(store_->Read(kId).status().message(),
              HasSubstr("no store registered"));
  EXPECT_TRUE(
      RegisterCallbackStore("bad name", test::MapCallbacks::Table(), &map_)
          .IsInvalidArgument());
}

TEST_F(CallbackStoreTest, AThreadsRegistrationIsNotSeenByAnotherThread) {
  Status other;
  std::thread t([&] { other = store_->Read(kId).status(); });
  t.join();
  EXPECT_THAT(other.message(), HasSubstr("no store registered"));
  EXPECT_TRUE(store_->Read(kId).status().IsNotFound());
}

TEST_F(CallbackStoreTest, LockIsAnItemAddedAndDeleted) {
  SK_ASSERT_OK(store_->Write(kId, "v1", Duration(5000)));
  Result<LockedRead> a = store_->LockAndRead(kId, Request("a"));
  SK_ASSERT_OK(a);
  ASSERT_TRUE(a->acquired());
  EXPECT_EQ(a->record.data, "v1");
  std::string lock;
  ASSERT_TRUE(map_.Peek(LockKey(kId), &lock));
  EXPECT_THAT(lock, HasSubstr(" other-host.invalid|1|a"));

  Result<LockedRead> b = store_->LockAndRead(kId, Request("b"));
  SK_ASSERT_OK(b);
  EXPECT_EQ(b->outcome, LockOutcome::kTimedOut);
  EXPECT_TRUE(
      store_->WriteAndUnlock(kId, "b", Duration(5000), Request("b").owner)
          .IsLockLost());

  SK_ASSERT_OK(
      store_->WriteAndUnlock(kId, "v2", Duration(5000), Request("a").owner));
  EXPECT_FALSE(map_.Peek(LockKey(kId), &lock));
  EXPECT_EQ(store_->Read(kId)->data, "v2");
}

TEST_F(CallbackStoreTest, AnExpiredLeaseIsTakenOverByOneRequest) {
  ASSERT_TRUE(store_->LockAndRead(kId, Request("a"))->acquired());
  std::string record;
  ASSERT_TRUE(map_.Peek(LockKey(kId), &record));
  env_.Advance(std::chrono::milliseconds(1000));  // the lease's end

  // Another request claimed this record's takeover: b looks again until its
  // wait runs out, and does not take the lock.
  map_.Put(TakeoverKey(kId, record), "someone");
  Result<LockedRead> b = store_->LockAndRead(kId, Request("b"));
  SK_ASSERT_OK(b);
  EXPECT_EQ(b->outcome, LockOutcome::kTimedOut);

  // Unclaimed: b takes it over, and a's late write is refused.
  map_.Erase(TakeoverKey(kId, record));
  b = store_->LockAndRead(kId, Request("b"));
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired());
  EXPECT_EQ(b->broken_owner, "other-host.invalid|1|a");
  std::string claim;
  EXPECT_TRUE(map_.Peek(TakeoverKey(kId, record), &claim));
  EXPECT_TRUE(
      store_->WriteAndUnlock(kId, "late", Duration(5000), Request("a").owner)
          .IsLockLost());
  SK_EXPECT_OK(
      store_->WriteAndUnlock(kId, "b", Duration(5000), Request("b").owner));
}

TEST_F(CallbackStoreTest, WaiterSlotsCapTheWaiters) {
  ASSERT_TRUE(store_->LockAndRead(kId, Request("a"))->acquired());
  map_.Put(std::string(kId) + ".lock.w0", "w0");
  map_.Put(std::string(kId) + ".lock.w1", "w1");
  LockRequest extra = Request("extra", Duration(5000));
  extra.max_waiters = 2;
  Result<LockedRead> refused = store_->LockAndRead(kId, extra);
  SK_ASSERT_OK(refused);
  EXPECT_EQ(refused->outcome, LockOutcome::kTooManyWaiters);

  // A slot free: the waiter takes it, waits out its wait, and gives it back.
  extra.max_waiters = 3;
  extra.wait = Duration(50);
  Result<LockedRead> waited = store_->LockAndRead(kId, extra);
  SK_ASSERT_OK(waited);
  EXPECT_EQ(waited->outcome, LockOutcome::kTimedOut);
  std::string slot;
  EXPECT_FALSE(map_.Peek(std::string(kId) + ".lock.w2", &slot));
}

TEST_F(CallbackStoreTest, TouchAndUnlockOfAGoneSessionReleasesAndIsNotFound) {
  LockRequest a = Request("a");
  ASSERT_TRUE(store_->LockAndRead(kId, a)->acquired());
  EXPECT_TRUE(
      store_->TouchAndUnlock(kId, Duration(5000), a.owner).IsNotFound());
  std::string lock;
  EXPECT_FALSE(map_.Peek(LockKey(kId), &lock));
}

TEST_F(CallbackStoreTest, GcHasNothingToDoAndScanIsNotSupported) {
  SK_ASSERT_OK(store_->Write(kId, "x", Duration(10)));
  env_.Advance(std::chrono::milliseconds(20));
  Result<GcResult> gc = store_->Gc(env_.WallNow());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 0u);
  Status scan = store_->Scan(ScanOptions()).status();
  EXPECT_TRUE(scan.IsNotSupported());
  EXPECT_THAT(scan.message(), HasSubstr("php://t: cannot list sessions"));
}

TEST_F(CallbackStoreTest, RoundTripsAreTheCallbacksCalled) {
  (void)store_->TakeRoundTrips();
  const uint64_t before = map_.calls();
  SK_ASSERT_OK(store_->Write(kId, "x", Duration(1000)));
  SK_ASSERT_OK(store_->Read(kId));
  EXPECT_EQ(store_->TakeRoundTrips(), map_.calls() - before);
  EXPECT_EQ(store_->TakeRoundTrips(), 0u);
}

}  // namespace
}  // namespace sessionkit::callback
