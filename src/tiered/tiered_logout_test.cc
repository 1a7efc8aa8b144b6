// Logouts across hosts, and the locks of a request that stands in for a
// tier: two "hosts" are two stores of tiers over the same tier stores, each
// with its own journal and breakers. A destroyed session is never served
// again through a tier that has not had the destroy yet, a lock on the tier
// behind reads what the drain applied there meanwhile, and a release never
// spoils the next request's lock.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "sessionkit/frame.h"
#include "sessionkit/stores/lmdb.h"
#include "sessionkit/stores/tiered.h"
#include "support/test_server.h"
#include "support/test_status.h"
#include "tiered/tiered_store.h"
#include "tiered/tiered_test_support.h"

namespace sessionkit::tiered {
namespace {

using namespace std::chrono_literals;
using namespace sessionkit::tiered::fixtures;

LockRequest Request(std::string token) {
  LockRequest r;
  r.wait = Duration(3000);
  r.lease = Duration(30000);
  r.owner.token = std::move(token);
  return r;
}

bool GoneIn(Store& tier, std::string_view id) {
  Result<SessionRecord> r = tier.Read(id);
  return r.status().IsNotFound() || (r.ok() && IsTombstoneFrame(r->data));
}

bool MarkIn(Store& tier, std::string_view id) {
  Result<SessionRecord> r = tier.Read(id);
  return r.ok() && IsTombstoneFrame(r->data);
}

// What `tier` holds of `id`, for a failure's message.
std::string Held(Store& tier, std::string_view id) {
  Result<SessionRecord> r = tier.Read(id);
  return r.ok() ? PayloadOf(r->data) : r.status().ToString();
}

// A cache (tier 0) and a tier behind (tier 1), shared by two hosts.
class TieredLogoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("tiered-logout");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    for (int i = 0; i < 2; ++i) {
      auto store = OpenLmdbTier(dir_ + "/tier" + std::to_string(i));
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      shared_[i] = std::move(*store);
    }
  }
  void TearDown() override {
    for (auto& h : host_) h.reset();
    for (auto& s : shared_) s.reset();
    test::RemoveTempDir(dir_);
  }

  // Host `h`: its own journal and breakers over the shared tiers. Its
  // drain runs when the test says (DrainAll), not by itself.
  void OpenHost(int h, Duration interval = Duration(60000)) {
    TieredOptions options;
    options.breaker_interval = interval;
    options.write_delay = Duration(0);
    options.drain_every = Duration(60000);
    options.breaker_path = dir_ + "/breaker" + std::to_string(h);
    options.journal_path = dir_ + "/journal" + std::to_string(h);
    for (int i = 0; i < 2; ++i) {
      auto faulty = std::make_unique<FaultyStore>(
          std::make_unique<SharedTier>(shared_[i].get()));
      gate_[h][i] = faulty.get();
      options.tiers.push_back({std::move(faulty), /*async=*/i == 1});
    }
    auto store = OpenTieredStore(std::move(options));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    host_[h] = std::move(*store);
    // The drain thread's first round runs at once on first use.
    (void)host_[h]->Read("warmup0123456789abcdefghijk");
    std::this_thread::sleep_for(50ms);
  }
  TieredStore& Host(int h) {
    return *static_cast<TieredStore*>(host_[h].get());
  }
  void DrainAll(int h) {
    for (int i = 0; i < 5; ++i) Host(h).DrainStep();
  }
  // Host `h`'s breaker of the cache opens (three failures at once).
  void CacheDownFor(int h) {
    gate_[h][0]->down = true;
    for (int i = 0; i < 3; ++i) (void)host_[h]->Read(kId);
  }

  std::string dir_;
  std::unique_ptr<Store> shared_[2];
  FaultyStore* gate_[2][2] = {};
  std::unique_ptr<Store> host_[2];
};

// Host A logs out under its lock and has not drained the destroy to the
// tier behind yet: host B's next request finds the mark in the cache, not
// the session behind (which it would serve, and repair into the cache).
TEST_F(TieredLogoutTest, ALogoutIsNotUndoneByAnotherHostReadingBehind) {
  OpenHost(0);
  OpenHost(1);
  SK_ASSERT_OK(host_[0]->Write(kId, Frame(5, "logged-in"), kTtl));
  DrainAll(0);
  ASSERT_TRUE(shared_[1]->Read(kId).ok());
  auto a = host_[0]->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(a.ok() && a->acquired()) << a.status().ToString();
  SK_ASSERT_OK(host_[0]->Destroy(kId));
  EXPECT_TRUE(host_[0]->Read(kId).status().IsNotFound());
  EXPECT_TRUE(MarkIn(*shared_[0], kId)) << Held(*shared_[0], kId);

  auto b = host_[1]->LockAndRead(kId, Request("owner-b"));
  ASSERT_TRUE(b.ok() && b->acquired()) << b.status().ToString();
  EXPECT_FALSE(b->found) << "host B got the logged-out session";
  EXPECT_GT(b->tombstone_version, 5u);
  SK_ASSERT_OK(host_[1]->Unlock(kId, LockOwner{"owner-b"}));
  EXPECT_TRUE(host_[1]->Read(kId).status().IsNotFound());

  DrainAll(0);
  DrainAll(1);
  EXPECT_TRUE(GoneIn(*shared_[0], kId));
  EXPECT_TRUE(GoneIn(*shared_[1], kId));
  EXPECT_TRUE(host_[0]->Read(kId).status().IsNotFound());
}

// Host A missed a write of the cache (owed to it in A's journal), then the
// user logs out on A once the cache is back: the cache takes the destroy's
// mark at once, and the owed entry becomes the destroy. Its apply keeps the
// mark: had it deleted it, host B would read the session behind (the
// destroy not applied there yet) and repair it into the cache.
TEST_F(TieredLogoutTest, AnOwedDestroyKeepsTheMarkInTheCache) {
  OpenHost(0, Duration(100));
  OpenHost(1);
  CacheDownFor(0);
  SK_ASSERT_OK(host_[0]->Write(kId, Frame(5, "logged-in"), kTtl));
  DrainAll(0);  // the tier behind gets it; the cache's entry waits
  ASSERT_EQ(Held(*shared_[1], kId), "logged-in");
  gate_[0][0]->down = false;
  std::this_thread::sleep_for(150ms);  // host A probes the cache again
  auto a = host_[0]->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(a.ok() && a->acquired()) << a.status().ToString();
  SK_ASSERT_OK(host_[0]->Destroy(kId));
  gate_[0][1]->down = true;  // the destroy cannot reach the tier behind yet
  DrainAll(0);
  EXPECT_TRUE(MarkIn(*shared_[0], kId)) << Held(*shared_[0], kId);

  auto b = host_[1]->LockAndRead(kId, Request("owner-b"));
  ASSERT_TRUE(b.ok() && b->acquired()) << b.status().ToString();
  EXPECT_FALSE(b->found) << "host B got the logged-out session";
  SK_ASSERT_OK(host_[1]->Unlock(kId, LockOwner{"owner-b"}));
}

// Both hosts miss the cache. Host B's write and host A's later logout are
// both owed to it; A reaches the cache first. The destroy it applies leaves
// a mark there that refuses B's older write, which would otherwise bring
// the session back.
TEST_F(TieredLogoutTest, AnOwedDestroyRefusesAnotherHostsOlderOwedWrite) {
  OpenHost(0, Duration(100));
  OpenHost(1, Duration(100));
  SK_ASSERT_OK(host_[0]->Write(kId, Frame(5, "five"), kTtl));
  DrainAll(0);
  CacheDownFor(0);
  CacheDownFor(1);
  SK_ASSERT_OK(host_[1]->Write(kId, Frame(6, "six"), kTtl));
  DrainAll(1);  // the tier behind gets it; the cache's entry waits
  auto a = host_[0]->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(a.ok() && a->acquired()) << a.status().ToString();
  SK_ASSERT_OK(host_[0]->Destroy(kId));
  DrainAll(0);
  ASSERT_TRUE(GoneIn(*shared_[1], kId)) << Held(*shared_[1], kId);

  gate_[0][0]->down = false;
  std::this_thread::sleep_for(150ms);
  DrainAll(0);  // host A's destroy reaches the cache first
  gate_[1][0]->down = false;
  std::this_thread::sleep_for(150ms);
  DrainAll(1);  // then host B's older write
  EXPECT_TRUE(GoneIn(*shared_[0], kId))
      << "the cache holds the logged-out session again: "
      << Held(*shared_[0], kId);
  EXPECT_TRUE(host_[0]->Read(kId).status().IsNotFound());
  EXPECT_TRUE(host_[1]->Read(kId).status().IsNotFound());
}

// The same without a lock (a CLI's destroy, locking off).
TEST_F(TieredLogoutTest, AnUnlockedLogoutLeavesTheMarkInTheCache) {
  OpenHost(0);
  OpenHost(1);
  SK_ASSERT_OK(host_[0]->Write(kId, Frame(5, "logged-in"), kTtl));
  DrainAll(0);
  SK_ASSERT_OK(host_[0]->Destroy(kId));
  EXPECT_TRUE(host_[1]->Read(kId).status().IsNotFound());
  auto b = host_[1]->LockAndRead(kId, Request("owner-b"));
  ASSERT_TRUE(b.ok() && b->acquired()) << b.status().ToString();
  EXPECT_FALSE(b->found) << "host B got the logged-out session";
  SK_ASSERT_OK(host_[1]->Unlock(kId, LockOwner{"owner-b"}));
}

// A logout without the lock on host B just after a save on host A, whose
// clock runs a minute ahead: the tombstone goes above the copy the tiers
// hold, not a minute below it. Below, it lost to the copy in A's journal
// (A served the session at once) and in the tier behind once drained.
TEST_F(TieredLogoutTest, AnUnlockedLogoutGoesAboveACopyFromAClockAhead) {
  OpenHost(0);
  OpenHost(1);
  const uint64_t ahead = NextSessionVersion(
      0, std::chrono::system_clock::now() + std::chrono::minutes(1));
  SK_ASSERT_OK(host_[0]->Write(kId, Frame(ahead, "saved-on-a"), kTtl));
  SK_ASSERT_OK(host_[1]->Destroy(kId));
  EXPECT_TRUE(host_[1]->Read(kId).status().IsNotFound());
  EXPECT_TRUE(host_[0]->Read(kId).status().IsNotFound())
      << "host A serves the logged-out session from its journal";
  DrainAll(0);
  DrainAll(1);
  EXPECT_TRUE(GoneIn(*shared_[1], kId)) << Held(*shared_[1], kId);
  EXPECT_TRUE(host_[0]->Read(kId).status().IsNotFound());
  EXPECT_TRUE(host_[1]->Read(kId).status().IsNotFound());
}

// While the cache is left out, the tier behind is the lock tier: a logout
// there leaves the mark that refuses an older write another host's journal
// still holds. Once the cache is back, it has the destroy too.
TEST_F(TieredLogoutTest, ALogoutOnTheTierBehindAsLockTierRefusesOlderWrites) {
  OpenHost(0, Duration(100));
  OpenHost(1);
  for (bool locked : {false, true}) {
    SCOPED_TRACE(locked ? "under the lock" : "without a lock");
    SK_ASSERT_OK(host_[1]->Write(kId, Frame(locked ? 6 : 5, "older"), kTtl));
    ASSERT_NE(Held(*shared_[1], kId), "older");
    CacheDownFor(0);
    if (locked) {
      auto a = host_[0]->LockAndRead(kId, Request("owner-a"));
      ASSERT_TRUE(a.ok() && a->acquired()) << a.status().ToString();
    }
    const Status logout = host_[0]->Destroy(kId);
    if (locked) {
      SK_ASSERT_OK(logout);
    } else {
      // Without a lock it is reported as not done everywhere: a request
      // may hold the session's lock on the cache left out.
      EXPECT_TRUE(logout.IsUnavailable()) << logout.ToString();
    }
    DrainAll(1);  // host B applies its older write now
    EXPECT_TRUE(GoneIn(*shared_[1], kId))
        << "the tier behind holds the logged-out session again: "
        << Held(*shared_[1], kId);
    gate_[0][0]->down = false;
    std::this_thread::sleep_for(150ms);  // host A probes the cache again
    DrainAll(0);
    EXPECT_TRUE(GoneIn(*shared_[0], kId));
    EXPECT_TRUE(host_[1]->Read(kId).status().IsNotFound());
  }
}

// While the cache is left out, the tier behind is the lock tier. The drain
// applies the session's entry there (without the session's lock, as the SQL
// stores do) just after the lock read it and before the journal is read:
// the request still reads the session, from one or the other.
TEST_F(TieredLogoutTest, ALockBehindReadsAnEntryAppliedWhileItLocked) {
  OpenHost(0);
  gate_[0][1]->batches = FaultyStore::Batches::kCheckAndWrite;
  SK_ASSERT_OK(host_[0]->Write(kId, Frame(5, "five"), kTtl));
  ASSERT_TRUE(shared_[1]->Read(kId).status().IsNotFound());
  CacheDownFor(0);
  std::atomic<bool> drained{false};
  gate_[0][1]->after_lock = [&] {
    if (!drained.exchange(true)) Host(0).DrainStep();
  };
  auto r = host_[0]->LockAndRead(kId, Request("owner-a"));
  gate_[0][1]->after_lock = nullptr;
  ASSERT_TRUE(drained);
  ASSERT_EQ(Held(*shared_[1], kId), "five") << "the drain did not apply it";
  ASSERT_TRUE(r.ok() && r->acquired()) << r.status().ToString();
  EXPECT_TRUE(r->found) << "the session read as new: it would start again";
  EXPECT_EQ(PayloadOf(r->record.data), "five");
  SK_EXPECT_OK(host_[0]->Unlock(kId, LockOwner{"owner-a"}));
}

// A request that took the handover (the lock on the cache and on the tier
// behind) and logs out ends both locks, and its own entry.
TEST_F(TieredLogoutTest, ALogoutEndsTheHandoverLockBehindToo) {
  OpenHost(0, Duration(100));
  SK_ASSERT_OK(host_[0]->Write(kId, Frame(1, "one"), kTtl));
  DrainAll(0);
  CacheDownFor(0);
  auto a = host_[0]->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(a.ok() && a->acquired()) << a.status().ToString();
  gate_[0][0]->down = false;
  std::this_thread::sleep_for(150ms);  // the cache is probed again
  auto b = std::async(std::launch::async, [&] {
    return host_[0]->LockAndRead(kId, Request("owner-b"));
  });
  ASSERT_EQ(b.wait_for(300ms), std::future_status::timeout)
      << "b did not wait for the lock held behind";
  SK_ASSERT_OK(
      host_[0]->WriteAndUnlock(kId, Frame(2, "a"), kTtl, LockOwner{"owner-a"}));
  auto got = b.get();
  ASSERT_TRUE(got.ok() && got->acquired()) << got.status().ToString();
  EXPECT_EQ(PayloadOf(got->record.data), "a");
  SK_ASSERT_OK(host_[0]->Destroy(kId));
  LockRequest probe = Request("probe");
  probe.wait = Duration(50);
  for (int i = 0; i < 2; ++i) {
    auto free = shared_[i]->LockAndRead(kId, probe);
    ASSERT_TRUE(free.ok()) << free.status().ToString();
    EXPECT_TRUE(free->acquired()) << "tier " << i << " still locked";
    EXPECT_FALSE(free->found && !IsTombstoneFrame(free->record.data));
    if (free->acquired()) {
      SK_EXPECT_OK(shared_[i]->Unlock(kId, probe.owner));
    }
  }
}

// A write the cache refused (not an outage) is reported failed and is not
// queued: neither this host's reads nor the tier behind get it.
TEST_F(TieredLogoutTest, ARefusedWriteIsNotQueued) {
  OpenHost(0);
  gate_[0][0]->refuse_writes = true;
  Status st = host_[0]->Write(kId, Frame(5, "refused"), kTtl);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_TRUE(host_[0]->Read(kId).status().IsNotFound());
  DrainAll(0);
  EXPECT_TRUE(shared_[1]->Read(kId).status().IsNotFound());
}

// A session locked on the tier behind holds back its own entry only: the
// drain applies the rest of the batch, and the tier's breaker stays up.
TEST_F(TieredLogoutTest, ALockedSessionBehindIsNoOutage) {
  OpenHost(0);
  const std::string other = std::string(kId) + "x";
  LockRequest holder = Request("holder");
  auto held = shared_[1]->LockAndRead(kId, holder);
  ASSERT_TRUE(held.ok() && held->acquired());
  for (int round = 0; round < 4; ++round) {
    SK_ASSERT_OK(host_[0]->Write(kId, Frame(10 + round, "held"), kTtl));
    SK_ASSERT_OK(host_[0]->Write(other, Frame(10 + round, "free"), kTtl));
    Host(0).DrainStep();
  }
  auto report = ReportTiers(*host_[0]);
  SK_ASSERT_OK(report);
  EXPECT_EQ(report->tiers[1].breaker, TierReport::Breaker::kUp);
  EXPECT_EQ(report->tiers[1].failures, 0u);
  auto applied = shared_[1]->Read(other);
  SK_ASSERT_OK(applied);
  EXPECT_EQ(PayloadOf(applied->data), "free");
  SK_ASSERT_OK(shared_[1]->Unlock(kId, holder.owner));
}

// Two synchronous tiers, no journal (memcached|redis): the request that
// stood in on tier 1 while tier 0 was left out does not write tier 0 at
// its release, where the next request holds a compare-and-swap lock.
TEST(TieredStandInTest, AStandInsReleaseLeavesTheNextCasLockAlone) {
  auto dir = test::MakeTempDir("tiered-standin");
  ASSERT_TRUE(dir.ok());
  TieredOptions options;
  options.breaker_interval = Duration(100);
  options.breaker_path = *dir + "/breaker";
  FaultyStore* tier[2] = {};
  for (int i = 0; i < 2; ++i) {
    auto store = OpenLmdbTier(*dir + "/tier" + std::to_string(i));
    ASSERT_TRUE(store.ok());
    auto faulty = std::make_unique<FaultyStore>(std::move(*store));
    tier[i] = faulty.get();
    options.tiers.push_back({std::move(faulty), false});
  }
  auto opened = OpenTieredStore(std::move(options));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> store = std::move(*opened);
  tier[0]->cas = true;
  SK_ASSERT_OK(store->Write(kId, Frame(1, "one"), kTtl));
  tier[0]->down = true;
  for (int i = 0; i < 3; ++i) (void)store->Read(kId);
  auto a = store->LockAndRead(kId, Request("owner-a"));
  ASSERT_TRUE(a.ok() && a->acquired()) << a.status().ToString();
  tier[0]->down = false;
  std::this_thread::sleep_for(150ms);  // the cache is probed again
  auto b = std::async(std::launch::async, [&] {
    return store->LockAndRead(kId, Request("owner-b"));
  });
  ASSERT_EQ(b.wait_for(300ms), std::future_status::timeout);
  SK_ASSERT_OK(
      store->WriteAndUnlock(kId, Frame(2, "a"), kTtl, LockOwner{"owner-a"}));
  auto got = b.get();
  ASSERT_TRUE(got.ok() && got->acquired()) << got.status().ToString();
  EXPECT_EQ(PayloadOf(got->record.data), "a");
  SK_EXPECT_OK(
      store->WriteAndUnlock(kId, Frame(3, "b"), kTtl, LockOwner{"owner-b"}));
  auto read = store->Read(kId);
  SK_ASSERT_OK(read);
  EXPECT_EQ(PayloadOf(read->data), "b");
  store.reset();
  test::RemoveTempDir(*dir);
}

}  // namespace
}  // namespace sessionkit::tiered
