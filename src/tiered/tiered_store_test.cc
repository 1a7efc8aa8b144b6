// The store of tiers against LMDB tiers wrapped in a store that fails on
// command: the newest version wins, a tier that comes back with old data
// is repaired, a tier that is down is left out, the lock moves to the next
// tier, and a logout is never undone through a tier that missed it.
#include "tiered/tiered_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/stores/lmdb.h"
#include "sessionkit/stores/tiered.h"
#include "support/fake_env.h"
#include "support/test_server.h"
#include "support/test_status.h"
#include "tiered/tiered_test_support.h"

namespace sessionkit::tiered {
namespace {

using namespace std::chrono_literals;
using namespace sessionkit::tiered::fixtures;

class TieredStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("tiered-store");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    store_ = Open("tier", tier_);
  }
  void TearDown() override {
    store_.reset();
    test::RemoveTempDir(dir_);
  }

  // Two LMDB tiers <dir>/<prefix>0 and 1, in `tiers`, named `names` when
  // given; their breakers in <dir>/breaker.
  std::unique_ptr<Store> Open(const std::string& prefix, FaultyStore** tiers,
                              const std::vector<std::string>& names = {}) {
    auto store = OpenWith(prefix, tiers, names, [](TieredOptions&) {});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  // The same, with the options `change` makes.
  Result<std::unique_ptr<Store>> OpenWith(
      const std::string& prefix, FaultyStore** tiers,
      const std::vector<std::string>& names,
      const std::function<void(TieredOptions&)>& change) {
    TieredOptions options;
    options.breaker_interval = kInterval;
    options.breaker_path = dir_ + "/breaker";
    options.env = &env_;
    for (size_t i = 0; i < 2; ++i) {
      auto store = OpenLmdbTier(dir_ + "/" + prefix + std::to_string(i), &env_);
      if (!store.ok()) return store.status();
      auto faulty = std::make_unique<FaultyStore>(
          std::move(*store), i < names.size() ? names[i] : "");
      tiers[i] = faulty.get();
      options.tiers.push_back({std::move(faulty), false});
    }
    change(options);
    return OpenTieredStore(std::move(options));
  }

  // Lets the tiers left out be asked again (the breakers go by the boot
  // clock).
  void PastRetry() { env_.Advance(kInterval); }

  LockRequest Request(std::string token) {
    LockRequest request;
    request.wait = Duration(200);
    request.lease = Duration(5000);
    request.owner.token = std::move(token);
    return request;
  }

  test::FakeEnv env_{test::FakeEnv::Scope::kRecordClocks};
  std::string dir_;
  FaultyStore* tier_[2] = {nullptr, nullptr};
  std::unique_ptr<Store> store_;
};

TEST_F(TieredStoreTest, WritesReachEveryTierAndTheNewestVersionIsRead) {
  SK_ASSERT_OK(store_->Write(kId, Frame(5, "five"), kTtl));
  for (FaultyStore* tier : tier_) {
    auto got = tier->inner().Read(kId);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(PayloadOf(got->data), "five");
  }
  // The slower tier alone has a newer version: it wins over the first.
  SK_ASSERT_OK(tier_[1]->inner().Write(kId, Frame(6, "six"), kTtl));
  auto got = store_->Read(kId);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(PayloadOf(got->data), "six");
}

TEST_F(TieredStoreTest, ATierBackWithOldDataIsNotBelievedAndIsRepaired) {
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "old"), kTtl));
  tier_[0]->down = true;
  SK_ASSERT_OK(store_->Write(kId, Frame(2, "new"), kTtl));  // tier 1 only
  tier_[0]->down = false;
  PastRetry();
  // Tier 0 answers again, with its old copy.
  auto locked = store_->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(locked.ok()) << locked.status().ToString();
  ASSERT_TRUE(locked->acquired());
  ASSERT_TRUE(locked->found);
  EXPECT_EQ(PayloadOf(locked->record.data), "new");
  // Tier 0 holds the lock: it is repaired as the lock ends.
  SK_EXPECT_OK(store_->Unlock(kId, Request("owner-a").owner));
  auto repaired = tier_[0]->inner().Read(kId);
  ASSERT_TRUE(repaired.ok());
  EXPECT_EQ(PayloadOf(repaired->data), "new") << "tier 0 was not repaired";
}

TEST_F(TieredStoreTest, ADownTierIsLeftOutAfterThreeFailuresForAnInterval) {
  tier_[0]->down = true;
  for (int i = 0; i < 6; ++i) {
    SK_ASSERT_OK(store_->Write(kId, Frame(1 + i, "b"), kTtl));
    ASSERT_TRUE(store_->Read(kId).ok());
  }
  EXPECT_EQ(tier_[0]->calls, 3) << "a down tier was asked again";
  PastRetry();
  ASSERT_TRUE(store_->Read(kId).ok());
  ASSERT_TRUE(store_->Read(kId).ok());
  EXPECT_EQ(tier_[0]->calls, 4) << "not one probe after the interval";
  tier_[0]->down = false;
  PastRetry();
  ASSERT_TRUE(store_->Read(kId).ok());
  ASSERT_TRUE(store_->Read(kId).ok());
  EXPECT_EQ(tier_[0]->calls, 6) << "a tier that answered again is left out";
}

// Two stores of tiers (two php-fpm workers) that name the same tier share
// its breaker through the file: a blackholed tier costs them one timeout
// per interval together, not one each. The stores report the timeout as
// Unavailable, like a refusal; the time it took opens the breaker at once.
TEST_F(TieredStoreTest, TwoStoresSharingTheBreakerFileTimeOutOncePerInterval) {
  FaultyStore* other[2] = {nullptr, nullptr};
  std::unique_ptr<Store> second = Open("other", other, {tier_[0]->name()});
  ASSERT_NE(second, nullptr);
  for (FaultyStore* tier : {tier_[0], other[0]}) {
    tier->blackholed = true;
    tier->stall = [this] { env_.Advance(Duration(250)); };
  }
  const auto calls = [&] { return tier_[0]->calls + other[0]->calls; };
  for (int interval = 1; interval <= 3; ++interval) {
    for (int i = 0; i < 10; ++i) {
      for (Store* store : {store_.get(), second.get()}) {
        SK_ASSERT_OK(store->Write(kId, Frame(interval * 100 + i, "v"), kTtl));
        ASSERT_TRUE(store->Read(kId).ok());
      }
    }
    EXPECT_EQ(calls(), interval) << "in interval " << interval;
    PastRetry();
  }
  auto report = ReportTiers(*second);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->breaker_path, dir_ + "/breaker");
  const TierReport& t = report->tiers[0];
  EXPECT_EQ(t.breaker, TierReport::Breaker::kDown);
  EXPECT_EQ(t.last_failure_code, StatusCode::kUnavailable);
  EXPECT_EQ(t.last_failure_ago_ms, kInterval.count());
  EXPECT_EQ(t.opened, 3u);
  EXPECT_EQ(t.skipped, 3u * (40 - 1));
  EXPECT_TRUE(t.shared);
  EXPECT_EQ(report->tiers[1].breaker, TierReport::Breaker::kUp);
}

// A failure that came quicker than breaker_slow_failure (50 ms; a refused
// connection) is not taken for a timeout: it takes three in a row. One
// that took 50 ms opens the breaker at once.
TEST_F(TieredStoreTest, OnlyAFailureThatTookLongOpensTheBreakerAtOnce) {
  tier_[0]->blackholed = true;
  tier_[0]->stall = [this] { env_.Advance(Duration(49)); };
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "b"), kTtl));
  SK_ASSERT_OK(store_->Write(kId, Frame(2, "b"), kTtl));
  EXPECT_EQ(tier_[0]->calls, 2) << "a quick failure opened the breaker";
  tier_[0]->blackholed = false;
  SK_ASSERT_OK(store_->Write(kId, Frame(3, "b"), kTtl));  // answers: reset
  tier_[0]->blackholed = true;
  tier_[0]->stall = [this] { env_.Advance(Duration(50)); };
  SK_ASSERT_OK(store_->Write(kId, Frame(4, "b"), kTtl));
  SK_ASSERT_OK(store_->Write(kId, Frame(5, "b"), kTtl));
  SK_ASSERT_OK(store_->Write(kId, Frame(6, "b"), kTtl));
  EXPECT_EQ(tier_[0]->calls, 4) << "a slow failure did not open it at once";
}

TEST_F(TieredStoreTest, EveryTierDownIsAnErrorNamingTheTiers) {
  tier_[0]->down = true;
  tier_[1]->down = true;
  Status st = store_->Write(kId, Frame(1, "a"), kTtl);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_NE(st.message().find("no tier answered"), std::string::npos)
      << st.ToString();
  EXPECT_TRUE(store_->Read(kId).status().IsUnavailable());
}

TEST_F(TieredStoreTest, TiersAreWrittenAtOnce) {
  // Each tier's write waits until both have started: written one after the
  // other, the first would wait for ever (here: 5 s, then fail).
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  bool both = true;
  auto hold = [&] {
    std::unique_lock<std::mutex> lock(mu);
    ++started;
    cv.notify_all();
    if (!cv.wait_for(lock, 5s, [&] { return started >= 2; })) both = false;
  };
  tier_[0]->on_write = hold;
  tier_[1]->on_write = hold;
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "a"), kTtl));
  EXPECT_TRUE(both) << "the tiers were written one after the other";
}

TEST_F(TieredStoreTest, TheLockMovesToTheNextTierWhileTheFirstIsDown) {
  tier_[0]->down = true;
  auto a = store_->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(a->acquired());
  auto b = store_->LockAndRead(kId, Request("owner-b"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->outcome, LockOutcome::kTimedOut) << "tier 1 did not lock";
  SK_ASSERT_OK(store_->WriteAndUnlock(kId, Frame(1, "by-a"), kTtl,
                                      Request("owner-a").owner));
  auto c = store_->LockAndRead(kId, Request("owner-c"));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->acquired());
  EXPECT_EQ(PayloadOf(c->record.data), "by-a");
  SK_EXPECT_OK(store_->Unlock(kId, Request("owner-c").owner));
}

TEST_F(TieredStoreTest, AWriteWhoseLockWasLostReachesNoTier) {
  auto a = store_->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(a.ok() && a->acquired());
  SK_ASSERT_OK(store_->Destroy(kId));  // a logout ends the lock
  Status st = store_->WriteAndUnlock(kId, Frame(3, "late"), kTtl,
                                     Request("owner-a").owner);
  EXPECT_TRUE(st.IsLockLost()) << st.ToString();
  for (FaultyStore* tier : tier_) {
    EXPECT_TRUE(tier->inner().Read(kId).status().IsNotFound())
        << "the late write reached " << tier->name();
  }
}

TEST_F(TieredStoreTest, ALogoutIsNotUndoneByATierThatMissedIt) {
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "logged-in"), kTtl));
  tier_[1]->down = true;
  // Reported as not done everywhere: a request may hold the session's
  // lock on the tier it missed.
  const Status logout = store_->Destroy(kId);
  EXPECT_TRUE(logout.IsUnavailable()) << logout.ToString();
  tier_[1]->down = false;
  PastRetry();
  // Tier 1 still holds the session; tier 0's tombstone is newer.
  ASSERT_TRUE(tier_[1]->inner().Read(kId).ok());
  EXPECT_TRUE(store_->Read(kId).status().IsNotFound());
  auto exists = store_->Exists(kId);
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
  EXPECT_TRUE(store_->Touch(kId, kTtl).IsNotFound());
  auto locked = store_->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(locked.ok() && locked->acquired());
  EXPECT_FALSE(locked->found);
  EXPECT_GT(locked->tombstone_version, 1u) << "the destroy's version";
  // The lock repaired tier 1: its copy is gone (it holds the tombstone).
  auto copy = tier_[1]->inner().Read(kId);
  ASSERT_TRUE(copy.ok());
  EXPECT_TRUE(IsTombstoneFrame(copy->data));
  SK_EXPECT_OK(store_->Unlock(kId, Request("owner-a").owner));
}

// The lock tier lost the session: it gets the newest copy with the
// request's own locked write, never by a write under its lock (which a
// compare-and-swap lock, as Memcached's, would take for another writer's).
TEST_F(TieredStoreTest, ALockTierThatLostTheSessionTakesTheLockedWrite) {
  tier_[0]->cas = true;
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "one"), kTtl));
  SK_ASSERT_OK(tier_[0]->inner().Destroy(kId));  // a restarted cache
  auto locked = store_->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(locked.ok() && locked->acquired());
  EXPECT_EQ(PayloadOf(locked->record.data), "one");
  SK_EXPECT_OK(store_->WriteAndUnlock(kId, Frame(2, "two"), kTtl,
                                      Request("owner-a").owner));
  for (FaultyStore* tier : tier_) {
    auto got = tier->inner().Read(kId);
    ASSERT_TRUE(got.ok()) << tier->name();
    EXPECT_EQ(PayloadOf(got->data), "two") << tier->name();
  }
}

// The lock tier dies while a request holds the lock: the next request of
// the session locks on the next tier, so the first one's update fails
// rather than being saved beside the second's (one of the two would be
// lost after both were acknowledged).
TEST_F(TieredStoreTest, AnUpdateWhoseLockTierDiedFailsAndWritesNoTier) {
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "one"), kTtl));
  auto a = store_->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(a.ok() && a->acquired());
  tier_[0]->down = true;
  Status st = store_->WriteAndUnlock(kId, Frame(2, "by-a"), kTtl,
                                     Request("owner-a").owner);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  auto kept = tier_[1]->inner().Read(kId);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(PayloadOf(kept->data), "one") << "the failed update was saved";
}

TEST_F(TieredStoreTest, ADestroyThatReachedEveryTierLeavesNoTombstone) {
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "a"), kTtl));
  SK_ASSERT_OK(store_->Destroy(kId));
  for (FaultyStore* tier : tier_) {
    EXPECT_TRUE(tier->inner().Read(kId).status().IsNotFound());
  }
}

TEST_F(TieredStoreTest, RefusesADelayOrADrainRoundOutOfRange) {
  const struct {
    Duration TieredOptions::*field;
    Duration value;
    std::string message;
  } cases[] = {
      {&TieredOptions::drain_every, Duration(0),
       "drain_every must be from 1 to 60000 ms, not 0"},
      {&TieredOptions::drain_every, Duration(-5),
       "drain_every must be from 1 to 60000 ms, not -5"},
      {&TieredOptions::drain_every, TieredOptions::kMaxDrainEvery + Duration(1),
       "drain_every must be from 1 to 60000 ms, not 60001"},
      {&TieredOptions::write_delay, Duration(-1),
       "write_delay must be from 0 to 10000 ms, not -1"},
      {&TieredOptions::write_delay, TieredOptions::kMaxWriteDelay + Duration(1),
       "write_delay must be from 0 to 10000 ms, not 10001"},
  };
  int n = 0;
  for (const auto& c : cases) {
    FaultyStore* tiers[2] = {};
    auto store = OpenWith("range" + std::to_string(n++), tiers, {},
                          [&](TieredOptions& o) { o.*c.field = c.value; });
    EXPECT_TRUE(store.status().IsInvalidArgument()) << c.message;
    EXPECT_THAT(store.status().message(), ::testing::HasSubstr(c.message));
  }
}

TEST(OpenTieredStoreTest, RefusesFewerThanTwoTiers) {
  TieredOptions options;
  auto store = OpenTieredStore(std::move(options));
  EXPECT_TRUE(store.status().IsInvalidArgument()) << store.status().ToString();
}

}  // namespace
}  // namespace sessionkit::tiered
