// The store conformance suite (store_conformance.h): session locks, their
// owners, waiters and wake-ups.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conformance/conformance_support.h"
#include "conformance/store_conformance.h"
#include "support/test_status.h"

namespace sessionkit::conformance {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

// --- Locking ----------------------------------------------------------------

TEST_P(StoreConformance, LockOwnerWritesAndUnlocks) {
  const std::string id = NewId();
  const LockRequest a = Request("owner-a");
  SK_LOCK_OR_SKIP(locked, id, a);
  EXPECT_TRUE(locked->acquired());
  EXPECT_FALSE(locked->found) << "a session never written was found";
  EXPECT_EQ(locked->broken_owner, "");
  SK_ASSERT_OK(store().WriteAndUnlock(id, "by owner", kLong, a.owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "by owner");

  // Unlocked: another owner locks at once and reads the data.
  const LockRequest b = Request("owner-b", Duration(0));
  locked = store().LockAndRead(id, b);
  SK_ASSERT_OK(locked);
  EXPECT_TRUE(locked->acquired());
  EXPECT_TRUE(locked->found);
  EXPECT_EQ(locked->record.data, "by owner");
  EXPECT_TRUE(
      ExpiryNear(locked->record.expires_at, Now() + kLong, Now() + kLong));
  SK_EXPECT_OK(store().Unlock(id, b.owner));
}

TEST_P(StoreConformance, NonOwnerWriteAndUnlockIsLockLost) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "original", kLong));
  const LockRequest a = Request("owner-a");
  const LockOwner b{"other-host.invalid|2|owner-b"};
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  EXPECT_TRUE(locked->found);
  EXPECT_EQ(locked->record.data, "original");

  Status w = store().WriteAndUnlock(id, "by intruder", kLong, b);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  Status t = store().TouchAndUnlock(id, Duration(1000), b);
  EXPECT_TRUE(t.IsLockLost()) << t.ToString();
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "original") << "a refused write changed the session";
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + kLong, Now() + kLong))
      << "a refused touch moved the expiry";

  // The refused calls left the lock with its owner.
  Result<LockedRead> other = store().LockAndRead(id, Request("c", Duration(0)));
  SK_ASSERT_OK(other);
  EXPECT_FALSE(other->acquired());

  SK_EXPECT_OK(store().WriteAndUnlock(id, "by owner", kLong, a.owner));
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "by owner");
}

TEST_P(StoreConformance, WriteAndUnlockWithoutAnyLockIsLockLost) {
  const std::string id = NewId();
  SK_LOCK_OR_SKIP(probe, NewId(), Request("probe"));
  Status w = store().WriteAndUnlock(id, "x", kLong, Request("a").owner);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  EXPECT_TRUE(store().Read(id).status().IsNotFound());
}

TEST_P(StoreConformance, LockedSessionStaysReadableAndWritableUnlocked) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "v1", kLong));
  SK_LOCK_OR_SKIP(locked, id, Request("a"));
  ASSERT_TRUE(locked->acquired());
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "v1");
  Result<bool> exists = store().Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_TRUE(*exists);
  SK_EXPECT_OK(store().Unlock(id, Request("a").owner));
}

// PHP's strict mode (ExistsOrLocked): a session whose lock is held before
// its first write is known, as the file the files handler creates on open
// is; an id locked and left is not.
TEST_P(StoreConformance, ASessionBeingCreatedIsKnownWhileItsLockIsHeld) {
  const std::string id = NewId();
  Result<bool> known = store().ExistsOrLocked(id);
  SK_ASSERT_OK(known);
  EXPECT_FALSE(*known) << "an id never used is known";
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Result<bool> exists = store().Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists) << "Exists counted a lock as a session";
  known = store().ExistsOrLocked(id);
  SK_ASSERT_OK(known);
  EXPECT_TRUE(*known) << "a session being created is unknown";
  SK_ASSERT_OK(store().Unlock(id, a.owner));
  known = store().ExistsOrLocked(id);
  SK_ASSERT_OK(known);
  EXPECT_FALSE(*known) << "an id locked and left without a write is known";

  SK_ASSERT_OK(store().Write(id, "written", kLong));
  known = store().ExistsOrLocked(id);
  SK_ASSERT_OK(known);
  EXPECT_TRUE(*known) << "a written session is unknown";
}

// A holder that never released: its id is known while the lease runs only.
TEST_P(StoreConformance, ALockPastItsLeaseKeepsNoIdKnown) {
  const std::string id = NewId();
  LockRequest a = Request("a");
  a.lease = Duration(300);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Result<bool> known = store().ExistsOrLocked(id);
  SK_ASSERT_OK(known);
  EXPECT_TRUE(*known);
  Wait(Duration(500));
  known = store().ExistsOrLocked(id);
  SK_ASSERT_OK(known);
  EXPECT_FALSE(*known) << "a lock past its lease kept the id known";
  SK_EXPECT_OK(store().Unlock(id, a.owner));
}

TEST_P(StoreConformance, RelockBySameOwnerSucceeds) {
  const std::string id = NewId();
  const LockRequest a = Request("a", Duration(0));
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  locked = store().LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  EXPECT_TRUE(locked->acquired());
  SK_EXPECT_OK(store().Unlock(id, a.owner));
}

TEST_P(StoreConformance, SecondOwnerTimesOutWithinItsWait) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "held", kLong));
  SK_LOCK_OR_SKIP(locked, id, Request("a"));
  ASSERT_TRUE(locked->acquired());

  const auto start = SteadyClock::now();
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(300)));
  const int64_t waited = MsSince(start);
  SK_ASSERT_OK(b);
  EXPECT_EQ(b->outcome, LockOutcome::kTimedOut);
  EXPECT_GE(waited, 280) << "gave up before its wait ran out";
  // Far below the 5 s a store that ignored the wait would take; room for
  // a loaded machine under sanitizers.
  EXPECT_LE(waited, 300 + 700) << "waited well past lock wait";

  // A wait of 0 tries once.
  b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_EQ(b->outcome, LockOutcome::kTimedOut);
  SK_EXPECT_OK(store().Unlock(id, Request("a").owner));
}

// A waiter granted the lock after the session expired reads no session,
// however long it waited inside the store (a wait on the server counts the
// expiry, and the lease, from the grant, not from the call).
TEST_P(StoreConformance, AWaiterGrantedAfterTheExpiryReadsNoSession) {
  const Duration ttl = factory().short_ttl;
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "short-lived", ttl));
  SK_LOCK_OR_SKIP(locked, id, Request("a"));
  ASSERT_TRUE(locked->acquired());
  const LockRequest b_request =
      Request("b", ttl + factory().expiry_slack + Ms(5000));
  Result<LockedRead> b = Status::Internal("not run");
  std::thread waiter([&] { b = store().LockAndRead(id, b_request); });
  Wait(ttl);
  const bool expired =
      WaitUntil([&] { return store().Read(id).status().IsNotFound(); },
                factory().expiry_slack);
  SK_EXPECT_OK(store().Unlock(id, Request("a").owner));
  waiter.join();
  ASSERT_TRUE(expired) << "the session did not expire";
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired());
  EXPECT_FALSE(b->found) << "the waiter read a session that had expired: "
                         << b->record.data;
  SK_EXPECT_OK(store().Unlock(id, b_request.owner));
}

TEST_P(StoreConformance, UnlockByNonOwnerDoesNothing) {
  const std::string id = NewId();
  SK_LOCK_OR_SKIP(locked, id, Request("a"));
  ASSERT_TRUE(locked->acquired());
  SK_EXPECT_OK(store().Unlock(id, Request("b").owner));
  Result<LockedRead> c = store().LockAndRead(id, Request("c", Duration(0)));
  SK_ASSERT_OK(c);
  EXPECT_FALSE(c->acquired()) << "a non-owner's Unlock released the lock";
  SK_EXPECT_OK(store().Unlock(id, Request("a").owner));
  c = store().LockAndRead(id, Request("c", Duration(0)));
  SK_ASSERT_OK(c);
  EXPECT_TRUE(c->acquired()) << "the owner's Unlock did not release";
  SK_EXPECT_OK(store().Unlock(id, Request("c").owner));
  // Unlocking a session nobody holds is fine.
  SK_EXPECT_OK(store().Unlock(id, Request("c").owner));
}

// A waiter sleeps until the release wakes it, not until its next poll: the
// median of many hand-offs (release to the waiter's acquire) stays far
// below what polling every 50 ms would give (25 ms on average), and a
// median is not moved by a few slow hand-offs on a loaded machine or under
// sanitizers. The holders are of another host with long leases, so nothing
// but the release may end the waiter's sleep.
TEST_P(StoreConformance, WaiterIsWokenAtOnceByRelease) {
  constexpr int kHandOffs = 15;
  std::vector<int64_t> handoff_us;
  for (int i = 0; i < kHandOffs; ++i) {
    const std::string id = NewId();
    const LockRequest a = Request("a" + std::to_string(i));
    SK_LOCK_OR_SKIP(locked, id, a);
    ASSERT_TRUE(locked->acquired());
    const LockRequest b_request = Request("b" + std::to_string(i), Ms(5000));
    Result<LockedRead> b = Status::Internal("not run");
    SteadyClock::time_point acquired_at;
    std::thread waiter([&] {
      b = store().LockAndRead(id, b_request);
      acquired_at = SteadyClock::now();
    });
    std::this_thread::sleep_for(Ms(30));  // the waiter sleeps by now
    const SteadyClock::time_point released_at = SteadyClock::now();
    SK_ASSERT_OK(store().WriteAndUnlock(id, "from a", kLong, a.owner));
    waiter.join();
    SK_ASSERT_OK(b);
    ASSERT_TRUE(b->acquired());
    EXPECT_TRUE(b->found);
    EXPECT_EQ(b->record.data, "from a") << "the waiter read stale data";
    EXPECT_EQ(b->broken_owner, "");
    handoff_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                             acquired_at - released_at)
                             .count());
    SK_EXPECT_OK(store().Unlock(id, b_request.owner));
  }
  std::sort(handoff_us.begin(), handoff_us.end());
  const int64_t median_us = handoff_us[kHandOffs / 2];
  EXPECT_LT(median_us, 10000) << "median hand-off " << median_us / 1000.0
                              << " ms: the waiter was not woken by the release";
}

TEST_P(StoreConformance, TouchAndUnlockReleasesAndMovesExpiry) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "data", Duration(5000)));
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  SK_ASSERT_OK(store().TouchAndUnlock(id, kLong, a.owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "data");
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + kLong, Now() + kLong));
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "TouchAndUnlock kept the lock";

  // A touch of a session that is gone is NotFound and still releases.
  const std::string gone = NewId();
  locked = store().LockAndRead(gone, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_TRUE(store().TouchAndUnlock(gone, kLong, a.owner).IsNotFound());
  b = store().LockAndRead(gone, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired());
}

// A waiter that came while the lock was held and gave up (its wait ran
// out) changes nothing for the holder: its write, touch and release still
// do all they do. (Redis: the waiter's registration ends the holder's
// WATCH, so these go through the release scripts, not MULTI/EXEC.)
TEST_P(StoreConformance, ReleasesAfterAWaiterCameAndWent) {
  const std::string id = NewId();
  SK_LOCK_OR_SKIP(probe, NewId(), Request("probe"));
  SK_ASSERT_OK(store().Write(id, "before", Duration(5000)));
  const LockRequest a = Request("a");
  const LockRequest b = Request("b", Duration(100));
  auto lock_and_wait = [&]() -> ::testing::AssertionResult {
    Result<LockedRead> held = store().LockAndRead(id, a);
    if (!held.ok())
      return ::testing::AssertionFailure() << held.status().ToString();
    if (!held->acquired()) return ::testing::AssertionFailure() << "not held";
    Result<LockedRead> waited = store().LockAndRead(id, b);
    if (!waited.ok())
      return ::testing::AssertionFailure() << waited.status().ToString();
    if (waited->acquired()) {
      return ::testing::AssertionFailure() << "the waiter took a held lock";
    }
    return ::testing::AssertionSuccess();
  };
  auto free_now = [&] {
    Result<LockedRead> c = store().LockAndRead(id, Request("c", Duration(0)));
    const bool acquired = c.ok() && c->acquired();
    if (acquired) (void)store().Unlock(id, Request("c").owner);
    return acquired;
  };

  // TouchAndUnlock: moves the expiry and releases.
  ASSERT_TRUE(lock_and_wait()) << "before the touch";
  SK_ASSERT_OK(store().TouchAndUnlock(id, kLong, a.owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "before");
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + kLong, Now() + kLong))
      << "the touch did not move the expiry";
  EXPECT_TRUE(free_now()) << "the touch did not release the lock";

  // WriteAndUnlock: writes data and expiry, and releases.
  ASSERT_TRUE(lock_and_wait()) << "before the write";
  SK_ASSERT_OK(store().WriteAndUnlock(id, "after", Duration(600000), a.owner));
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "after");
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + Duration(600000),
                         Now() + Duration(600000)));
  EXPECT_TRUE(free_now()) << "the write did not release the lock";

  // Unlock: releases, changes nothing else.
  ASSERT_TRUE(lock_and_wait()) << "before the unlock";
  SK_ASSERT_OK(store().Unlock(id, a.owner));
  EXPECT_TRUE(free_now()) << "Unlock did not release the lock";
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "after");

  // A touch of a session that is gone still releases.
  SK_ASSERT_OK(store().Destroy(id));
  ASSERT_TRUE(lock_and_wait()) << "before the touch of nothing";
  EXPECT_TRUE(store().TouchAndUnlock(id, kLong, a.owner).IsNotFound());
  EXPECT_TRUE(free_now()) << "the touch of nothing did not release the lock";
  EXPECT_TRUE(store().Read(id).status().IsNotFound());
}

}  // namespace
}  // namespace sessionkit::conformance
