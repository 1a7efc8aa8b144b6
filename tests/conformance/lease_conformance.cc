// The store conformance suite (store_conformance.h): leases that run out,
// takeovers, destroys of locked sessions, waiter caps, and increments under
// the lock that lose no update.
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

TEST_P(StoreConformance, ExpiredLeaseIsTakenOver) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "before", kLong));
  LockRequest a = Request("a");
  a.lease = Duration(300);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(500));

  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired()) << "a lock past its lease was not taken over";
  EXPECT_EQ(b->record.data, "before");
  // The record outlives the lease (kLockRecordRetention): the store knows
  // whom it took the lock from.
  EXPECT_EQ(b->broken_owner, a.owner.token);

  // The old holder comes back: its write is refused and nothing changes.
  Status w = store().WriteAndUnlock(id, "stale", kLong, a.owner);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  SK_ASSERT_OK(store().WriteAndUnlock(id, "after", kLong, Request("b").owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "after");
}

// A holder that keeps its connection and never releases (its web server
// died without closing it): a Gc long after its lease keeps what the store
// needs to take the lock over.
TEST_P(StoreConformance, ExpiredLeaseIsTakenOverAfterAGc) {
  const std::string id = NewId();
  LockRequest a = Request("a");
  a.lease = Duration(300);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(500));
  SK_ASSERT_OK(store().Gc(Now() + std::chrono::hours(3)));
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired()) << "a lock past its lease was not taken over";
  EXPECT_EQ(b->broken_owner, a.owner.token);
  SK_EXPECT_OK(store().Unlock(id, Request("b").owner));
}

TEST_P(StoreConformance, WaiterTakesOverWhenLeaseRunsOut) {
  const std::string id = NewId();
  LockRequest a = Request("a");
  a.lease = Duration(400);
  // The lease starts somewhere within a's call, which a loaded machine
  // (sanitizers, other tests) may make slow: the takeover is timed from
  // before that call.
  const auto before_a = SteadyClock::now();
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  if (factory().fake_clock) {
    GTEST_SKIP() << "leases follow the factory's fake clock";
  }
  const auto start = SteadyClock::now();
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(3000)));
  const int64_t waited = MsSince(start);
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired());
  EXPECT_EQ(b->broken_owner, a.owner.token);
  EXPECT_GE(MsSince(before_a), 300) << "taken over before the lease ended";
  // Far below the 3 s wait a waiter blind to the lease would sleep out.
  EXPECT_LE(waited, 400 + 1000) << "the waiter slept past the lease";
}

// A request that outlives its lease loses nothing when nobody else wanted
// the session: its write, touch and release still go through.
TEST_P(StoreConformance, EndedLeaseNobodyTookStillWrites) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "before", kLong));
  LockRequest a = Request("a");
  a.lease = Duration(300);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(600));
  SK_ASSERT_OK(store().WriteAndUnlock(id, "late but alone", kLong, a.owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "late but alone");
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "the late write did not release the lock";
  EXPECT_EQ(b->broken_owner, "");
  SK_ASSERT_OK(store().Unlock(id, Request("b").owner));

  // The same for a touch and for a plain release.
  locked = store().LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(600));
  SK_ASSERT_OK(store().TouchAndUnlock(id, Duration(5000), a.owner));
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + Duration(5000),
                         Now() + Duration(5000)))
      << "the late touch did not move the expiry";
  locked = store().LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(600));
  SK_ASSERT_OK(store().Unlock(id, a.owner));
  b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "the late Unlock did not release the lock";
  EXPECT_EQ(b->broken_owner, "") << "an unlocked session had a holder";
  SK_ASSERT_OK(store().Unlock(id, Request("b").owner));
}

// Another owner took the lock over after the lease and released it again:
// the late holder's write would erase what that owner wrote, so it is
// refused although nobody holds the lock now.
TEST_P(StoreConformance, TakenOverAndReleasedRefusesTheOldHolder) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "before", kLong));
  LockRequest a = Request("a");
  a.lease = Duration(300);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(600));
  const LockRequest b = Request("b", Duration(0));
  Result<LockedRead> taken = store().LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired()) << "a lock past its lease was not taken";
  EXPECT_EQ(taken->broken_owner, a.owner.token);
  SK_ASSERT_OK(store().WriteAndUnlock(id, "by b", kLong, b.owner));

  Status w = store().WriteAndUnlock(id, "stale from a", kLong, a.owner);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  Status t = store().TouchAndUnlock(id, Duration(1000), a.owner);
  EXPECT_TRUE(t.IsLockLost()) << t.ToString();
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "by b");
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + kLong, Now() + kLong));
}

// A logout (Destroy, by any request: here one without the lock, as a
// request whose wait ran out) ends the lock: the holder's later write and
// touch are refused, so the session does not come back.
TEST_P(StoreConformance, DestroyEndsTheLockOfItsHolder) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "user=alice", kLong));
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  SK_ASSERT_OK(store().Destroy(id));
  Status w = store().WriteAndUnlock(id, "user=alice;cart=1", kLong, a.owner);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  Status t = store().TouchAndUnlock(id, kLong, a.owner);
  EXPECT_TRUE(t.IsLockLost()) << t.ToString();
  SK_EXPECT_OK(store().Unlock(id, a.owner));
  EXPECT_TRUE(store().Read(id).status().IsNotFound())
      << "the destroyed session came back";
  Result<bool> exists = store().Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
  // The lock is free for the next request, which finds no session.
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired());
  EXPECT_FALSE(b->found);
  EXPECT_EQ(b->broken_owner, "");
  SK_EXPECT_OK(store().Unlock(id, Request("b").owner));
}

// A holder that destroys its own session (the logout request itself, or
// session_regenerate_id(true)) ends its lock that way too; a waiter is
// woken at once, not at the end of the lease.
TEST_P(StoreConformance, DestroyWakesWaitersAtOnce) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "user=alice", kLong));
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Result<LockedRead> b = Status::Internal("not run");
  std::atomic<int64_t> acquired_at_us{0};
  std::thread waiter([&] {
    b = store().LockAndRead(id, Request("b", Duration(5000)));
    acquired_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         SteadyClock::now().time_since_epoch())
                         .count();
  });
  std::this_thread::sleep_for(Ms(200));  // the waiter is waiting by now
  const int64_t destroyed_at_us =
      std::chrono::duration_cast<std::chrono::microseconds>(
          SteadyClock::now().time_since_epoch())
          .count();
  SK_ASSERT_OK(store().Destroy(id));
  waiter.join();
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired());
  EXPECT_FALSE(b->found) << "the waiter read the destroyed session";
  EXPECT_LT((acquired_at_us - destroyed_at_us) / 1000, 100)
      << "the waiter was not woken by the destroy";
  SK_EXPECT_OK(store().Unlock(id, a.owner));  // already ended: harmless
  EXPECT_TRUE(store().WriteAndUnlock(id, "x", kLong, a.owner).IsLockLost());
  SK_EXPECT_OK(store().WriteAndUnlock(id, "by b", kLong, Request("b").owner));
}

TEST_P(StoreConformance, LockOfAGoneProcessOnThisHostIsTakenAtOnce) {
  // A process that has exited (and been reaped): its pid names nobody.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  LockRequest dead;
  dead.owner.token = std::string(LockOwner::ThisHost()) + "|" +
                     std::to_string(child) + "|dead";
  dead.lease = Duration(60000);
  dead.wait = Duration(0);
  ASSERT_TRUE(LockHolderIsGone(dead.owner.token));

  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "v", kLong));
  SK_LOCK_OR_SKIP(locked, id, dead);
  ASSERT_TRUE(locked->acquired());

  LockRequest b;
  b.owner = LockOwner::Generate();
  b.wait = Duration(5000);
  const auto start = SteadyClock::now();
  Result<LockedRead> taken = store().LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired());
  EXPECT_LT(MsSince(start), 1000);
  EXPECT_EQ(taken->broken_owner, dead.owner.token);
  EXPECT_EQ(taken->record.data, "v");
  SK_EXPECT_OK(store().Unlock(id, b.owner));

  // A live process of this host (this one) is waited for, not taken over.
  LockRequest live;
  live.owner = LockOwner::Generate();
  locked = store().LockAndRead(id, live);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  b.wait = Duration(100);
  taken = store().LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  EXPECT_FALSE(taken->acquired());
}

TEST_P(StoreConformance, WaiterCapRefusesAtOnce) {
  const std::string id = NewId();
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());

  constexpr int kCap = 2;
  std::vector<std::thread> waiters;
  std::vector<Result<LockedRead>> got(kCap, Status::Internal("not run"));
  for (int i = 0; i < kCap; ++i) {
    waiters.emplace_back([&, i] {
      LockRequest w = Request("w" + std::to_string(i), Duration(5000));
      w.max_waiters = kCap;
      got[i] = store().LockAndRead(id, w);
      if (got[i].ok() && got[i]->acquired()) {
        std::this_thread::sleep_for(Ms(20));
        (void)store().Unlock(id, w.owner);
      }
    });
  }
  std::this_thread::sleep_for(Ms(300));  // both are waiting by now

  LockRequest extra = Request("extra", Duration(5000));
  extra.max_waiters = kCap;
  const auto start = SteadyClock::now();
  Result<LockedRead> refused = store().LockAndRead(id, extra);
  SK_ASSERT_OK(refused);
  EXPECT_EQ(refused->outcome, LockOutcome::kTooManyWaiters);
  // Refused, not made to wait its 5 s; the bound leaves room for a store
  // that opens a connection for the request (a SQL server's, under ASan).
  EXPECT_LT(MsSince(start), 1000) << "a request over the cap waited";

  SK_ASSERT_OK(store().Unlock(id, a.owner));
  for (auto& t : waiters) t.join();
  for (int i = 0; i < kCap; ++i) {
    SK_ASSERT_OK(got[i]);
    EXPECT_TRUE(got[i]->acquired()) << "waiter " << i;
  }

  // Waiters that left (timed out) no longer count against the cap.
  locked = store().LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  LockRequest quick = Request("quick", Duration(100));
  quick.max_waiters = 1;
  for (int i = 0; i < 3; ++i) {
    Result<LockedRead> q = store().LockAndRead(id, quick);
    SK_ASSERT_OK(q);
    EXPECT_EQ(q->outcome, LockOutcome::kTimedOut) << "round " << i;
  }
  SK_EXPECT_OK(store().Unlock(id, a.owner));
}

TEST_P(StoreConformance, LockedIncrementsLoseNoUpdate) {
  const std::string id = NewId();
  SK_LOCK_OR_SKIP(probe, NewId(), Request("probe"));
  constexpr int kThreads = 6;
  constexpr int kIters = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        LockRequest r;
        r.owner = LockOwner::Generate();
        r.wait = Duration(20000);
        r.max_waiters = 0;
        Result<LockedRead> got = store().LockAndRead(id, r);
        if (!got.ok() || !got->acquired()) {
          failures++;
          continue;
        }
        const int n = got->found ? std::stoi(got->record.data) : 0;
        if (!store()
                 .WriteAndUnlock(id, std::to_string(n + 1), kLong, r.owner)
                 .ok()) {
          failures++;
        }
      }
      (void)t;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, std::to_string(kThreads * kIters));
}

TEST_P(StoreConformance, LocksOfDifferentSessionsAreIndependent) {
  const std::string x = NewId();
  const std::string y = NewId();
  SK_LOCK_OR_SKIP(lx, x, Request("a"));
  ASSERT_TRUE(lx->acquired());
  Result<LockedRead> ly = store().LockAndRead(y, Request("b", Duration(0)));
  SK_ASSERT_OK(ly);
  EXPECT_TRUE(ly->acquired());
  SK_EXPECT_OK(store().Unlock(x, Request("a").owner));
  SK_EXPECT_OK(store().Unlock(y, Request("b").owner));
}

}  // namespace
}  // namespace sessionkit::conformance
