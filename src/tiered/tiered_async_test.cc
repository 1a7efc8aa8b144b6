// The store of tiers with a tier written behind, through the journal:
// writes reach it later (coalesced, version-checked), reads fall back to it
// and to this host's journal, a cache left out is corrected when it is
// back, and a logout is never undone by a write applied late.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/stores/lmdb.h"
#include "sessionkit/stores/tiered.h"
#include "support/fake_env.h"
#include "support/test_server.h"
#include "support/test_status.h"
#include "tiered/tiered_store.h"
#include "tiered/tiered_test_support.h"

namespace sessionkit::tiered {
namespace {

using namespace std::chrono_literals;
using namespace sessionkit::tiered::fixtures;

// A synchronous LMDB tier and one written behind, through a journal.
class TieredAsyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("tiered-async");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    Open();
  }
  void TearDown() override {
    store_.reset();
    test::RemoveTempDir(dir_);
  }

  // Opens the store (again) on the same directories and journal, as
  // another process of the host would.
  void Open() {
    store_.reset();
    TieredOptions options;
    options.breaker_interval = interval_;
    options.write_delay = write_delay_;
    // Rounds of the drain close together: what a test waits for arrives
    // within tens of milliseconds rather than a second.
    options.drain_every = Duration(50);
    options.breaker_path = dir_ + "/breaker";
    options.journal_path = dir_ + "/journal";
    options.env = env_;
    for (int i = 0; i < 2; ++i) {
      auto store = OpenLmdbTier(dir_ + "/tier" + std::to_string(i), env_);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      auto faulty = std::make_unique<FaultyStore>(std::move(*store));
      faulty->down = down_[i];
      tier_[i] = faulty.get();
      options.tiers.push_back({std::move(faulty), /*async=*/i == 1});
    }
    auto store = OpenTieredStore(std::move(options));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  // Waits up to 5 s for the tier behind to hold `payload` for `id`.
  bool Behind(const std::string& id, const std::string& payload) {
    for (int i = 0; i < 500; ++i) {
      auto got = tier_[1]->inner().Read(id);
      if (got.ok() && PayloadOf(got->data) == payload) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  // The sessions the tests number 1 to count, each written once with
  // payload "v<n>" at version n.
  static std::string Numbered(int n) {
    return kId.substr(0, 30) + std::to_string(10 + n);
  }
  void WriteNumbered(int count) {
    for (int n = 1; n <= count; ++n) {
      SK_ASSERT_OK(
          store_->Write(Numbered(n), Frame(n, "v" + std::to_string(n)), kTtl));
    }
  }
  void ExpectNumberedBehind(int count) {
    for (int n = 1; n <= count; ++n) {
      EXPECT_TRUE(Behind(Numbered(n), "v" + std::to_string(n))) << n;
    }
  }

  Env* env_ = nullptr;             // the clocks of the tiers and the store
  Duration interval_ = kInterval;  // of the breakers
  Duration write_delay_{0};        // the tier behind gets writes at once
  std::string dir_;
  bool down_[2] = {false, false};
  FaultyStore* tier_[2] = {nullptr, nullptr};
  std::unique_ptr<Store> store_;
};

TEST_F(TieredAsyncTest, WritesReachTheTierBehindThroughTheJournal) {
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "one"), kTtl));
  EXPECT_TRUE(Behind(kId, "one"));
}

TEST_F(TieredAsyncTest, ABacklogDrainsWhenTheTierBehindIsBack) {
  tier_[1]->down = true;
  ASSERT_NO_FATAL_FAILURE(WriteNumbered(20));
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(tier_[1]->inner().Read(Numbered(1)).status().IsNotFound());
  tier_[1]->down = false;
  ExpectNumberedBehind(20);
}

TEST_F(TieredAsyncTest, AnOlderVersionNeverOverwritesANewerOneBehind) {
  SK_ASSERT_OK(tier_[1]->inner().Write(kId, Frame(10, "ten"), kTtl));
  SK_ASSERT_OK(store_->Write(kId, Frame(5, "five"), kTtl));
  SK_ASSERT_OK(store_->Write(kId + "x", Frame(1, "marker"), kTtl));
  ASSERT_TRUE(Behind(kId + "x", "marker"));  // the drain got past kId
  auto behind = tier_[1]->inner().Read(kId);
  ASSERT_TRUE(behind.ok());
  EXPECT_EQ(PayloadOf(behind->data), "ten");
}

// A tier behind that checks versions itself takes the due entries in one
// step (no session lock); a newer version it holds is kept.
TEST_F(TieredAsyncTest, ATierThatChecksVersionsTakesTheDrainsBatchInOneStep) {
  tier_[1]->batches = FaultyStore::Batches::kCheckAndWrite;
  SK_ASSERT_OK(tier_[1]->inner().Write(kId, Frame(10, "ten"), kTtl));
  SK_ASSERT_OK(store_->Write(kId, Frame(5, "five"), kTtl));
  ASSERT_NO_FATAL_FAILURE(WriteNumbered(10));
  ExpectNumberedBehind(10);
  auto behind = tier_[1]->inner().Read(kId);
  ASSERT_TRUE(behind.ok());
  EXPECT_EQ(PayloadOf(behind->data), "ten");
  EXPECT_GE(tier_[1]->batch_calls.load(), 1);
  EXPECT_EQ(tier_[1]->lock_calls.load(), 0) << "an entry went one at a time";
}

// A batch the tier refuses (not an outage) is applied an entry at a time,
// so that one bad entry holds back no other.
TEST_F(TieredAsyncTest, ARefusedBatchIsAppliedAnEntryAtATime) {
  tier_[1]->batches = FaultyStore::Batches::kRefuse;
  ASSERT_NO_FATAL_FAILURE(WriteNumbered(3));
  ExpectNumberedBehind(3);
  EXPECT_GE(tier_[1]->batch_calls.load(), 1);
  EXPECT_GE(tier_[1]->lock_calls.load(), 3);
}

// The only synchronous tier is down: once its breaker opens, requests no
// longer call it (not even "all left out, ask anyway"): the tier behind
// serves the reads and the lock, and the journal keeps the writes.
TEST_F(TieredAsyncTest, ADownCacheIsLeftOutWhileTheTierBehindStandsIn) {
  interval_ = Duration(60000);  // no probe within the test
  Open();
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "one"), kTtl));
  ASSERT_TRUE(Behind(kId, "one"));
  tier_[0]->down = true;
  for (int i = 0; i < 3; ++i) {
    SK_ASSERT_OK(store_->Write(kId, Frame(2, "two"), kTtl));
  }
  const int calls = tier_[0]->calls;
  for (int i = 0; i < 20; ++i) {
    SK_ASSERT_OK(
        store_->Write(kId, Frame(3 + i, "n" + std::to_string(i)), kTtl));
    ASSERT_TRUE(Behind(kId, "n" + std::to_string(i)));
    auto read = store_->Read(kId);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(PayloadOf(read->data), "n" + std::to_string(i));
  }
  auto locked = store_->LockAndRead(kId, LockRequest{{}, {"owner-a"}});
  ASSERT_TRUE(locked.ok()) << locked.status().ToString();
  ASSERT_TRUE(locked->acquired());
  SK_ASSERT_OK(store_->WriteAndUnlock(kId, Frame(30, "locked"), kTtl,
                                      LockOwner{"owner-a"}));
  EXPECT_LE(tier_[0]->calls - calls, 1)
      << "requests kept calling a cache whose breaker is open";
  EXPECT_TRUE(Behind(kId, "locked"));
}

// A cache that was left out (down, then back with the copies it held
// before) is not believed: what it missed was kept in the journal for it
// and reaches it when it is back.
TEST_F(TieredAsyncTest, ACacheBackWithTheCopiesItHeldBeforeIsCorrected) {
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "before"), kTtl));
  ASSERT_TRUE(Behind(kId, "before"));
  tier_[0]->down = true;
  for (int i = 0; i < 5; ++i) {
    SK_ASSERT_OK(store_->Write(kId, Frame(2 + i, "during"), kTtl));
  }
  ASSERT_TRUE(Behind(kId, "during"));
  tier_[0]->down = false;  // back, with "before"
  bool corrected = false;
  for (int i = 0; i < 300 && !corrected; ++i) {
    auto read = store_->Read(kId);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(PayloadOf(read->data), "during") << "the old copy was believed";
    auto cache = tier_[0]->inner().Read(kId);
    corrected = cache.ok() && PayloadOf(cache->data) == "during";
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(corrected) << "the cache never got what it missed";
}

// A logout that reaches a cache which was still owed a write it missed
// while left out: the write is not applied after the logout (it would
// bring the session back there).
TEST_F(TieredAsyncTest, ADestroyReplacesWhatACacheItReachedWasStillOwed) {
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "one"), kTtl));
  ASSERT_TRUE(Behind(kId, "one"));
  tier_[0]->down = true;
  for (int i = 0; i < 3; ++i) {
    SK_ASSERT_OK(store_->Write(kId, Frame(2, "owed"), kTtl));
  }
  ASSERT_TRUE(Behind(kId, "owed"));
  tier_[0]->down = false;
  tier_[0]->refuse_locks = true;  // the drain cannot apply what it owes
  std::this_thread::sleep_for(kInterval + 50ms);
  // Reported as not done everywhere while the cache is still left out (a
  // request may hold the session's lock there); done when the drain
  // thread's probe of the cache (or the logout's own read) has found it
  // answering first, and then the cache holds the logout's mark. The
  // drain thread runs beside the test: either may come first. What
  // follows holds all the same.
  const Status logout = store_->Destroy(kId);
  if (logout.ok()) {
    auto mark = tier_[0]->inner().Read(kId);
    EXPECT_TRUE(mark.ok() && IsTombstoneFrame(mark->data))
        << "the logout was acknowledged without reaching the cache";
  } else {
    EXPECT_TRUE(logout.IsUnavailable()) << logout.ToString();
  }
  tier_[0]->refuse_locks = false;
  bool drained = false;
  for (int i = 0; i < 500 && !drained; ++i) {
    auto report = ReportTiers(*store_);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    drained = report->tiers[0].pending == 0 && report->tiers[1].pending == 0;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(drained);
  // The destroy's mark, or nothing: not the write.
  auto cached = tier_[0]->inner().Read(kId);
  EXPECT_TRUE(cached.status().IsNotFound() ||
              (cached.ok() && IsTombstoneFrame(cached->data)))
      << "the write the cache was owed came back after the logout";
  EXPECT_TRUE(store_->Read(kId).status().IsNotFound());
}

// The writes of a session within write_delay reach the tier behind once:
// the newest; until then this host reads them from the journal.
TEST_F(TieredAsyncTest, WritesWithinTheDelayReachTheTierBehindOnce) {
  write_delay_ = Duration(1000);
  Open();
  const int calls = tier_[1]->calls;
  auto* tiers = static_cast<TieredStore*>(store_.get());
  for (int i = 1; i <= 10; ++i) {
    SK_ASSERT_OK(store_->Write(kId, Frame(i, "v" + std::to_string(i)), kTtl));
    tiers->DrainStep();  // nothing is due yet
  }
  SK_ASSERT_OK(tier_[0]->inner().Destroy(kId));  // the cache loses it
  auto read = store_->Read(kId);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(PayloadOf(read->data), "v10") << "not read from the journal";
  EXPECT_TRUE(tier_[1]->inner().Read(kId).status().IsNotFound())
      << "applied before write_delay";
  ASSERT_TRUE(Behind(kId, "v10"));
  // One apply: the batch this tier cannot take (NotSupported), the tier's
  // lock and read, then its locked write (and the read above, which found
  // no copy in front).
  EXPECT_LE(tier_[1]->calls - calls, 4) << "the writes were not coalesced";
}

TEST_F(TieredAsyncTest, ACacheThatLostTheSessionIsRefilledFromBehind) {
  SK_ASSERT_OK(store_->Write(kId, Frame(3, "kept"), kTtl));
  ASSERT_TRUE(Behind(kId, "kept"));
  SK_ASSERT_OK(tier_[0]->inner().Destroy(kId));  // a restarted cache
  auto read = store_->Read(kId);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(PayloadOf(read->data), "kept");
  auto locked = store_->LockAndRead(kId, LockRequest{{}, {"owner-a"}});
  ASSERT_TRUE(locked.ok() && locked->acquired());
  EXPECT_EQ(PayloadOf(locked->record.data), "kept");
  // The cache holds the lock: it is refilled as the lock ends (a locked
  // write of a store like Memcached would refuse a change made under it).
  EXPECT_TRUE(tier_[0]->inner().Read(kId).status().IsNotFound());
  SK_EXPECT_OK(store_->Unlock(kId, LockOwner{"owner-a"}));
  auto refilled = tier_[0]->inner().Read(kId);
  ASSERT_TRUE(refilled.ok()) << "the cache was not repaired";
  EXPECT_EQ(PayloadOf(refilled->data), "kept");
}

// The cache dies while a request holds the session's lock on the tier
// behind (standing in for it), and is back before that request ends: the
// next request, which locks on the cache again, also waits for the lock
// behind and reads what the first one wrote (the handover loses nothing).
TEST_F(TieredAsyncTest, ALockHeldBehindIsWaitedForWhenTheCacheIsBack) {
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "one"), kTtl));
  ASSERT_TRUE(Behind(kId, "one"));
  tier_[0]->down = true;
  for (int i = 0; i < 3; ++i) (void)store_->Read(kId);  // its breaker opens
  auto a = store_->LockAndRead(kId, LockRequest{{}, {"owner-a"}});
  ASSERT_TRUE(a.ok() && a->acquired()) << a.status().ToString();
  EXPECT_EQ(PayloadOf(a->record.data), "one");
  SK_ASSERT_OK(tier_[0]->inner().Destroy(kId));  // restarted empty
  tier_[0]->down = false;
  std::this_thread::sleep_for(kInterval + 50ms);  // due for a probe
  auto b = std::async(std::launch::async, [&] {
    return store_->LockAndRead(kId, LockRequest{{}, {"owner-b"}});
  });
  EXPECT_EQ(b.wait_for(300ms), std::future_status::timeout)
      << "the next request did not wait for the lock held behind";
  SK_ASSERT_OK(
      store_->WriteAndUnlock(kId, Frame(2, "a"), kTtl, LockOwner{"owner-a"}));
  auto got = b.get();
  ASSERT_TRUE(got.ok() && got->acquired()) << got.status().ToString();
  EXPECT_EQ(PayloadOf(got->record.data), "a")
      << "the next request missed the update made behind";
  SK_ASSERT_OK(
      store_->WriteAndUnlock(kId, Frame(3, "b"), kTtl, LockOwner{"owner-b"}));
  auto read = store_->Read(kId);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(PayloadOf(read->data), "b");
  EXPECT_TRUE(Behind(kId, "b"));
  // Both locks ended: the tiers lock at once.
  for (FaultyStore* tier : tier_) {
    LockRequest probe{{Duration(50)}, {"probe"}};
    auto free = tier->inner().LockAndRead(kId, probe);
    ASSERT_TRUE(free.ok() && free->acquired())
        << tier->name() << " still locked";
    SK_EXPECT_OK(tier->inner().Unlock(kId, probe.owner));
  }
}

// A request that locks on the tier behind while the cache is left out,
// and finds the cache back once it holds that lock, gives it up and locks
// on the cache: a request that locked there meanwhile may not have seen it
// stand in.
TEST_F(TieredAsyncTest, ALockTakenBehindMovesToTheCacheBackMeanwhile) {
  interval_ = Duration(300);
  Open();
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "one"), kTtl));
  ASSERT_TRUE(Behind(kId, "one"));
  tier_[0]->down = true;
  for (int i = 0; i < 3; ++i) (void)store_->Read(kId);  // its breaker opens
  tier_[0]->down = false;
  std::atomic<bool> fired{false};
  tier_[1]->on_lock = [&] {
    if (fired.exchange(true)) return;
    // Another request of the host probes the cache, which answers (or the
    // drain, catching up with what the cache was owed, probed it first:
    // its breaker is up once either probe is over).
    // Asked again until the breaker is up: a probe the drain claimed and
    // gave back (nothing owed) leaves the next probe to the next request.
    std::this_thread::sleep_for(Duration(350));
    for (int i = 0; i < 500; ++i) {
      (void)store_->Read(kId + "x");
      auto report = ReportTiers(*store_);
      if (report.ok() && report->tiers[0].breaker == TierReport::Breaker::kUp) {
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
  };
  auto a = store_->LockAndRead(kId, LockRequest{{}, {"owner-a"}});
  ASSERT_TRUE(a.ok() && a->acquired()) << a.status().ToString();
  ASSERT_TRUE(fired);
  LockRequest probe{{Duration(50)}, {"probe"}};
  auto cache = tier_[0]->inner().LockAndRead(kId, probe);
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  EXPECT_FALSE(cache->acquired()) << "the lock stayed on the tier behind";
  auto behind = tier_[1]->inner().LockAndRead(kId, probe);
  ASSERT_TRUE(behind.ok() && behind->acquired()) << "the lock behind was kept";
  SK_ASSERT_OK(tier_[1]->inner().Unlock(kId, probe.owner));
  SK_ASSERT_OK(
      store_->WriteAndUnlock(kId, Frame(2, "two"), kTtl, LockOwner{"owner-a"}));
  EXPECT_TRUE(Behind(kId, "two"));
}

TEST_F(TieredAsyncTest, ThisHostReadsWhatItsJournalStillOwes) {
  tier_[1]->down = true;  // nothing reaches the tier behind
  SK_ASSERT_OK(store_->Write(kId, Frame(4, "owed"), kTtl));
  SK_ASSERT_OK(tier_[0]->inner().Destroy(kId));  // and the cache lost it
  auto read = store_->Read(kId);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(PayloadOf(read->data), "owed");
}

TEST_F(TieredAsyncTest, ALogoutReachesTheTierBehind) {
  SK_ASSERT_OK(store_->Write(kId, Frame(2, "in"), kTtl));
  ASSERT_TRUE(Behind(kId, "in"));
  SK_ASSERT_OK(store_->Destroy(kId));
  // The tier behind keeps the destroy's mark (an older write applied late
  // by another drainer is refused by it).
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    auto got = tier_[1]->inner().Read(kId);
    gone = got.ok() && IsTombstoneFrame(got->data);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "the destroy did not reach the tier behind";
  EXPECT_TRUE(store_->Read(kId).status().IsNotFound());
}

// A process that wrote while the tier behind was down and is gone leaves
// its backlog in the journal; the next process that opens the tiers
// drains it, with no operator action.
// A session started right after a logout, by a web server whose clock is
// behind the one that logged out, while the logout still waits in the
// journal for the tier behind: its writes go above the logout's version,
// so it is neither hidden by it nor dropped on the way to the tier behind.
TEST_F(TieredAsyncTest, ANewSessionIsNotHiddenByALogoutFromAClockAhead) {
  test::FakeEnv env(test::FakeEnv::Scope::kRecordClocks);
  env_ = &env;
  Open();
  SK_ASSERT_OK(store_->Write(kId, Frame(1, "logged-in"), kTtl));
  ASSERT_TRUE(Behind(kId, "logged-in"));
  tier_[1]->down = true;
  SK_ASSERT_OK(store_->Destroy(kId));  // queued for the tier behind
  env.SetWallNow(env.WallNow() - std::chrono::minutes(10));
  EngineOptions engine_options;
  engine_options.env = &env;
  SessionEngine engine(std::move(store_), engine_options);
  LockOptions lock;
  lock.wait = Duration(200);
  for (std::string payload : {"a|i:1;", "a|i:2;"}) {
    auto read = engine.ReadForUpdate(kId, lock);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    SK_ASSERT_OK(engine.Write(kId, payload, Duration(3600 * 1000), read->lock));
    auto back = engine.Read(kId);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(back->found) << "the session written is hidden";
    EXPECT_EQ(back->payload, payload);
  }
  // The tier behind gets the new session, not the logout. (The retries of
  // the logout went by the clock ahead: this process plays both hosts.)
  tier_[1]->down = false;
  env.Advance(std::chrono::minutes(11));
  bool behind = false;
  for (int i = 0; i < 250 && !behind; ++i) {
    env.Advance(1s);  // the journal's retries go by the wall clock
    auto got = tier_[1]->inner().Read(kId);
    behind = got.ok() && PayloadOf(got->data) == "a|i:2;";
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(behind) << "the tier behind never got the new session";
}

TEST_F(TieredAsyncTest, AnotherProcessDrainsTheBacklogOfOneThatIsGone) {
  down_[1] = true;
  Open();
  SK_ASSERT_OK(store_->Write(kId, Frame(6, "left"), kTtl));
  down_[1] = false;
  Open();  // the first is gone; a new one opens the same journal
  ASSERT_TRUE(store_->Read("unrelated0123456789abcdefghijk")
                  .status()
                  .IsNotFound());  // any use starts the drain
  EXPECT_TRUE(Behind(kId, "left"));
}

TEST_F(TieredAsyncTest, TheReportShowsTheBacklogOfATierBehindThatIsDown) {
  tier_[1]->down = true;
  for (int n = 1; n <= 3; ++n) {
    const std::string id = kId.substr(0, 30) + std::to_string(10 + n);
    SK_ASSERT_OK(store_->Write(id, Frame(n, "v"), kTtl));
  }
  std::this_thread::sleep_for(50ms);
  static_cast<TieredStore*>(store_.get())->DrainStep();  // tries them
  auto report = ReportTiers(*store_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->tiers.size(), 2u);
  EXPECT_FALSE(report->tiers[0].async);
  EXPECT_EQ(report->tiers[0].pending, 0u);
  const TierReport& behind = report->tiers[1];
  EXPECT_TRUE(behind.async);
  EXPECT_EQ(behind.pending, 3u);
  EXPECT_GE(behind.in_backoff, 1u) << "no entry was tried";
  EXPECT_GE(behind.backlog_age, 40ms);
  EXPECT_GE(behind.failures, 1u);
  EXPECT_EQ(behind.last_failure_code, StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sessionkit::tiered
