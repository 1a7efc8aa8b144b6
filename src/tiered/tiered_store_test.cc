// The store of tiers against LMDB tiers wrapped in a store that fails on
// command: the newest version wins, a tier that comes back with old data
// is repaired, a tier that is down is left out, the lock moves to the next
// tier, and a logout is never undone through a tier that missed it.
#include "tiered/tiered_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
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

namespace sessionkit::tiered {
namespace {

using namespace std::chrono_literals;

// A tier that forwards to a real store, or answers Unavailable while down
// (DeadlineExceeded while blackholed), counting the calls that reached it.
class FaultyStore final : public Store {
 public:
  // `name`: the name it goes by; empty: the inner store's.
  explicit FaultyStore(std::unique_ptr<Store> inner, std::string name = "")
      : inner_(std::move(inner)),
        name_(name.empty() ? inner_->name() : std::move(name)) {}

  std::atomic<bool> down{false};
  std::atomic<bool> blackholed{false};
  std::atomic<int> calls{0};
  // As Memcached: a locked write is refused when the session was written
  // since the lock was taken (its compare-and-swap).
  std::atomic<bool> cas{false};
  // Lock requests are refused (not an outage): the drain cannot apply.
  std::atomic<bool> refuse_locks{false};
  // When set, called at the start of every Write (to hold it).
  std::function<void()> on_write;

  const std::string& name() const override { return name_; }
  Result<SessionRecord> Read(std::string_view id) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Read(id);
  }
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override {
    SK_RETURN_IF_ERROR(Gate());
    if (on_write) on_write();
    ++generation_;
    return inner_->Write(id, data, ttl);
  }
  Status Touch(std::string_view id, Duration ttl) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Touch(id, ttl);
  }
  Status Destroy(std::string_view id) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Destroy(id);
  }
  Result<bool> Exists(std::string_view id) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Exists(id);
  }
  Result<ScanPage> Scan(const ScanOptions& options) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Scan(options);
  }
  Result<GcResult> Gc(TimePoint now) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Gc(now);
  }
  Status Health() override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Health();
  }
  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override {
    SK_RETURN_IF_ERROR(Gate());
    if (refuse_locks) return Status::ResourceExhausted("locks refused (test)");
    locked_generation_ = generation_.load();
    return inner_->LockAndRead(id, request);
  }
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override {
    SK_RETURN_IF_ERROR(Gate());
    if (cas && generation_ != locked_generation_) {
      (void)inner_->Unlock(id, owner);
      return Status::LockLost(inner_->name() + ": changed since locked (test)");
    }
    return inner_->WriteAndUnlock(id, data, ttl, owner);
  }
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->TouchAndUnlock(id, ttl, owner);
  }
  Status Unlock(std::string_view id, const LockOwner& owner) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Unlock(id, owner);
  }

  Store& inner() { return *inner_; }

 private:
  Status Gate() {
    ++calls;
    if (down) return Status::Unavailable(name_ + ": down (test)");
    if (blackholed) return Status::DeadlineExceeded(name_ + ": timed out");
    return Status::OK();
  }
  std::unique_ptr<Store> inner_;
  const std::string name_;
  std::atomic<int> generation_{0};  // plain writes so far
  std::atomic<int> locked_generation_{0};
};

constexpr Duration kTtl{60000};
constexpr Duration kInterval{100};
const std::string kId = "tiered0123456789abcdefghijklmnop";

// A stored value of session version `version`.
std::string Frame(uint64_t version, std::string_view payload) {
  FrameHeader header;
  header.session_version = version;
  return EncodeFrame(header, payload);
}

std::string PayloadOf(const std::string& stored) {
  Result<FrameView> view = DecodeFrame(stored);
  return view.ok() ? std::string(view->payload) : "(not a frame)";
}

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
    TieredOptions options;
    options.breaker_interval = kInterval;
    options.breaker_path = dir_ + "/breaker";
    options.env = &env_;
    for (size_t i = 0; i < 2; ++i) {
      LmdbOptions lmdb;
      lmdb.path = dir_ + "/" + prefix + std::to_string(i);
      lmdb.map_size = 16ull << 20;
      lmdb.env = &env_;
      auto store = OpenLmdbStore(lmdb);
      EXPECT_TRUE(store.ok()) << store.status().ToString();
      if (!store.ok()) return nullptr;
      auto faulty = std::make_unique<FaultyStore>(
          std::move(*store), i < names.size() ? names[i] : "");
      tiers[i] = faulty.get();
      options.tiers.push_back({std::move(faulty), false});
    }
    auto store = OpenTieredStore(std::move(options));
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
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
// per interval together, not one each.
TEST_F(TieredStoreTest, TwoStoresSharingTheBreakerFileTimeOutOncePerInterval) {
  FaultyStore* other[2] = {nullptr, nullptr};
  std::unique_ptr<Store> second = Open("other", other, {tier_[0]->name()});
  ASSERT_NE(second, nullptr);
  tier_[0]->blackholed = true;
  other[0]->blackholed = true;
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
  EXPECT_EQ(t.last_failure_code, StatusCode::kDeadlineExceeded);
  EXPECT_EQ(t.last_failure_ago_ms, kInterval.count());
  EXPECT_EQ(t.opened, 3u);
  EXPECT_EQ(t.skipped, 3u * (40 - 1));
  EXPECT_TRUE(t.shared);
  EXPECT_EQ(report->tiers[1].breaker, TierReport::Breaker::kUp);
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
  SK_ASSERT_OK(store_->Destroy(kId));
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
    options.breaker_path = dir_ + "/breaker";
    options.journal_path = dir_ + "/journal";
    options.env = env_;
    for (int i = 0; i < 2; ++i) {
      LmdbOptions lmdb;
      lmdb.path = dir_ + "/tier" + std::to_string(i);
      lmdb.map_size = 16ull << 20;
      lmdb.env = env_;
      auto store = OpenLmdbStore(lmdb);
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
  for (int n = 1; n <= 20; ++n) {
    const std::string id = kId.substr(0, 30) + std::to_string(10 + n);
    SK_ASSERT_OK(store_->Write(id, Frame(n, "v" + std::to_string(n)), kTtl));
  }
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(
      tier_[1]->inner().Read(kId.substr(0, 30) + "11").status().IsNotFound());
  tier_[1]->down = false;
  for (int n = 1; n <= 20; ++n) {
    EXPECT_TRUE(Behind(kId.substr(0, 30) + std::to_string(10 + n),
                       "v" + std::to_string(n)))
        << n;
  }
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
  SK_ASSERT_OK(store_->Destroy(kId));
  tier_[0]->refuse_locks = false;
  bool drained = false;
  for (int i = 0; i < 500 && !drained; ++i) {
    auto report = ReportTiers(*store_);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    drained = report->tiers[0].pending == 0 && report->tiers[1].pending == 0;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(drained);
  EXPECT_TRUE(tier_[0]->inner().Read(kId).status().IsNotFound())
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
  // One apply: the tier's lock and read, then its locked write (and the
  // read above, which found no copy in front).
  EXPECT_LE(tier_[1]->calls - calls, 3) << "the writes were not coalesced";
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

TEST(OpenTieredStoreTest, RefusesFewerThanTwoTiers) {
  TieredOptions options;
  auto store = OpenTieredStore(std::move(options));
  EXPECT_TRUE(store.status().IsInvalidArgument()) << store.status().ToString();
}

}  // namespace
}  // namespace sessionkit::tiered
