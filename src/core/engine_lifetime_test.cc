// The engine's lifetime policy and size limits (EngineOptions::lifetime and
// size_limits; lifetime.h) over a fake store: the lifetime each write and
// touch hands the store, the write count in the frame, what a refused
// write leaves.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/fake_store.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "support/fake_env.h"

namespace sessionkit {
namespace {

using std::chrono::seconds;

constexpr Duration kEngineNormal = seconds(1440);
const ClientInfo kEngineBrowser{true,
                                "Mozilla/5.0 (X11; Linux x86_64) Firefox/120"};
const ClientInfo kEngineCrawler{true,
                                "Mozilla/5.0 (compatible; Googlebot/2.1)"};

class EngineLifetimeTest : public ::testing::Test {
 protected:
  // An engine with `lifetime` (nullopt: no policy) and `limits`.
  void Open(std::optional<LifetimeOptions> lifetime, SizeLimits limits = {}) {
    auto store = std::make_unique<test::FakeStore>();
    store_ = store.get();
    EngineOptions options;
    options.env = &env_;
    options.log = [this](LogLevel level, std::string_view msg) {
      logs_.push_back({level, std::string(msg)});
    };
    if (lifetime.has_value()) {
      auto policy = LifetimePolicy::Create(*lifetime);
      ASSERT_TRUE(policy.ok()) << policy.status().message();
      options.lifetime = *policy;
    }
    options.size_limits = limits;
    engine_ = std::make_unique<SessionEngine>(std::move(store), options);
  }

  // One request of `client`: reads the session for update, then writes
  // `payload`; returns the lifetime the store was given.
  Duration Request(const ClientInfo& client, const std::string& payload) {
    auto r = engine_->ReadForUpdate(id_, LockOptions{});
    EXPECT_TRUE(r.ok());
    Status s = engine_->Write(id_, payload, kEngineNormal, r->lock,
                              CompressionOptions{}, client);
    EXPECT_TRUE(s.ok()) << s.message();
    return store_->last_ttl;
  }

  // One request of `client` that reads the session for update and leaves
  // it unchanged: a Touch, given the payload read when `with_payload`.
  // Returns the first store call it made.
  std::string Touch(const ClientInfo& client, bool with_payload) {
    auto r = engine_->ReadForUpdate(id_, LockOptions{});
    EXPECT_TRUE(r.ok());
    store_->calls.clear();
    std::optional<std::string_view> payload;
    if (with_payload) payload = r->payload;
    Status s = engine_->Touch(id_, kEngineNormal, r->lock, client, payload,
                              CompressionOptions{});
    EXPECT_TRUE(s.ok()) << s.message();
    return store_->calls.empty() ? "" : store_->calls[0];
  }

  uint8_t StoredWriteCount() {
    auto frame = DecodeFrame(store_->data[id_]);
    EXPECT_TRUE(frame.ok());
    return frame.ok() ? frame->header.write_count : 0;
  }

  const std::string id_ = "abcdefghijklmnopqrstuvwxyz012345";
  test::FakeEnv env_;
  test::FakeStore* store_ = nullptr;
  std::unique_ptr<SessionEngine> engine_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
};

TEST_F(EngineLifetimeTest, WithoutAPolicyEveryWriteGetsTheTtl) {
  Open(std::nullopt);
  EXPECT_EQ(Request(kEngineCrawler, "a|i:1;"), kEngineNormal);
  EXPECT_EQ(Request(kEngineCrawler, "a|i:2;"), kEngineNormal);
  EXPECT_EQ(StoredWriteCount(), 0);
  EXPECT_EQ(engine_->policy_counters().bot_lifetimes, 0u);
}

TEST_F(EngineLifetimeTest, BotsAndEmptyUserAgentsGetTheBotLifetime) {
  Open(LifetimeOptions{});
  EXPECT_EQ(Request(kEngineCrawler, "a|i:1;"), kDefaultBotLifetime);
  EXPECT_EQ(Request(ClientInfo{true, ""}, "a|i:1;"), kDefaultBotLifetime);
  EXPECT_EQ(Request(ClientInfo{true, std::nullopt}, "a|i:1;"),
            kDefaultBotLifetime);
  EXPECT_EQ(engine_->policy_counters().bot_lifetimes, 3u);
  EXPECT_EQ(Request(kEngineBrowser, "a|i:1;"), kEngineNormal);
  // A host that says nothing of the client (the plain Write): normal.
  ASSERT_TRUE(engine_->Write(id_, "a|i:1;", kEngineNormal).ok());
  EXPECT_EQ(store_->last_ttl, kEngineNormal);
  EXPECT_EQ(engine_->policy_counters().bot_lifetimes, 3u);
  // Bot lifetime only: the frame keeps no count.
  EXPECT_EQ(StoredWriteCount(), 0);
}

TEST_F(EngineLifetimeTest, TouchOfABotGetsTheBotLifetime) {
  Open(LifetimeOptions{});
  Request(kEngineBrowser, "a|i:1;");
  EXPECT_EQ(Touch(kEngineCrawler, /*with_payload=*/true), "touch+unlock");
  EXPECT_EQ(store_->last_ttl, kDefaultBotLifetime);
  EXPECT_TRUE(store_->holder.empty());
}

TEST_F(EngineLifetimeTest, FirstVisitGrowsWithEachWriteAndTheFrameCounts) {
  LifetimeOptions o;
  o.first_lifetime = seconds(300);
  Open(o);
  EXPECT_EQ(Request(kEngineBrowser, "a|i:1;"), seconds(300));
  EXPECT_EQ(StoredWriteCount(), 1);
  EXPECT_EQ(Request(kEngineBrowser, "a|i:2;"), seconds(600));
  EXPECT_EQ(StoredWriteCount(), 2);
  EXPECT_EQ(Request(kEngineBrowser, "a|i:3;"), seconds(1200));
  EXPECT_EQ(StoredWriteCount(), 3);
  // Grown: the normal lifetime, and the frame says 0 again (readable by
  // builds from before the count).
  EXPECT_EQ(Request(kEngineBrowser, "a|i:4;"), kEngineNormal);
  EXPECT_EQ(StoredWriteCount(), 0);
  EXPECT_EQ(Request(kEngineBrowser, "a|i:5;"), kEngineNormal);
  EXPECT_EQ(engine_->policy_counters().first_lifetimes, 3u);
  auto r = engine_->Read(id_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->payload, "a|i:5;");
  EXPECT_EQ(r->lock.read_writes, kMaxWriteCount);
}

TEST_F(EngineLifetimeTest, SessionsWrittenBeforeCountsLiveTheirNormalLife) {
  // Written without a policy (count 0), as by an older build.
  Open(std::nullopt);
  ASSERT_TRUE(engine_->Write(id_, "old|i:1;", kEngineNormal).ok());
  std::string old = store_->data[id_];
  LifetimeOptions o;
  o.first_lifetime = seconds(300);
  Open(o);
  store_->data[id_] = old;
  EXPECT_EQ(Request(kEngineBrowser, "old|i:2;"), kEngineNormal);
  EXPECT_EQ(StoredWriteCount(), 0);
}

TEST_F(EngineLifetimeTest, TouchWhileGrowingWritesTheNewCount) {
  LifetimeOptions o;
  o.first_lifetime = seconds(300);
  Open(o);
  Request(kEngineBrowser, "a|i:1;");
  // PHP's lazy_write: the data did not change, the client came back.
  EXPECT_EQ(Touch(kEngineBrowser, /*with_payload=*/true), "write+unlock");
  EXPECT_EQ(store_->last_ttl, seconds(600));
  EXPECT_EQ(StoredWriteCount(), 2);
  // Without the payload, the lifetime still follows the count.
  EXPECT_EQ(Touch(kEngineBrowser, /*with_payload=*/false), "touch+unlock");
  EXPECT_EQ(store_->last_ttl, seconds(1200));
  EXPECT_EQ(StoredWriteCount(), 2);
  // Grown sessions are touched, not written.
  Request(kEngineBrowser, "a|i:3;");
  Request(kEngineBrowser, "a|i:4;");
  EXPECT_EQ(Touch(kEngineBrowser, /*with_payload=*/true), "touch+unlock");
  EXPECT_EQ(store_->last_ttl, kEngineNormal);
}

// Locking off: a page that read the session unlocked, which another
// request logs out meanwhile, ends with a touch. While the first-visit
// lifetime grows the touch is a write, which must not bring the session
// back.
TEST_F(EngineLifetimeTest, AnUnlockedTouchWhileGrowingBringsNoLogoutBack) {
  LifetimeOptions o;
  o.first_lifetime = seconds(300);
  Open(o);
  Request(kEngineBrowser, "user|s:5:\"alice\";");
  LockOptions off;
  off.enabled = false;
  auto r = engine_->ReadForUpdate(id_, off);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->found);
  ASSERT_TRUE(engine_->Destroy(id_).ok());  // another request's logout
  Status s = engine_->Touch(id_, kEngineNormal, r->lock, kEngineBrowser,
                            r->payload, CompressionOptions{});
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  auto after = engine_->Read(id_);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->found) << "the logout was undone";
}

TEST_F(EngineLifetimeTest, MinAndMaxBoundTheStoredLifetime) {
  LifetimeOptions o;
  o.min_lifetime = seconds(600);
  o.max_lifetime = seconds(1000);
  Open(o);
  EXPECT_EQ(Request(kEngineCrawler, "a|i:1;"), seconds(600));
  EXPECT_EQ(Request(kEngineBrowser, "a|i:1;"), seconds(1000));
}

TEST_F(EngineLifetimeTest, MaxSizeRefusesAndKeepsTheStoredSession) {
  Open(std::nullopt, SizeLimits{16, 0});
  ASSERT_EQ(Request(kEngineBrowser, "a|s:3:\"old\";"), kEngineNormal);
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->lock.state, LockState::kHeld);
  const std::string big = "a|s:20:\"" + std::string(20, 'x') + "\";";
  Status s = engine_->Write(id_, big, kEngineNormal, r->lock,
                            CompressionOptions{}, kEngineBrowser);
  ASSERT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(big.size()) + " bytes"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("max_size (16 bytes)"), std::string::npos)
      << s.message();
  // The lock went with the refused write; the old data stays.
  EXPECT_TRUE(store_->holder.empty());
  auto after = engine_->Read(id_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->payload, "a|s:3:\"old\";");
  EXPECT_EQ(engine_->policy_counters().size_refused, 1u);
  // At the limit: written.
  EXPECT_TRUE(engine_->Write(id_, std::string(16, 'y'), kEngineNormal).ok());
  EXPECT_EQ(engine_->policy_counters().size_refused, 1u);
}

TEST_F(EngineLifetimeTest, WarnSizeWritesAndNotices) {
  Open(std::nullopt, SizeLimits{0, 8});
  EXPECT_TRUE(engine_->Write(id_, "12345678", kEngineNormal).ok());
  EXPECT_TRUE(logs_.empty());
  EXPECT_EQ(engine_->policy_counters().size_warned, 0u);
  EXPECT_TRUE(engine_->Write(id_, "123456789", kEngineNormal).ok());
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0].first, LogLevel::kNotice);
  EXPECT_NE(logs_[0].second.find("9 bytes"), std::string::npos);
  EXPECT_NE(logs_[0].second.find("warn_size (8 bytes)"), std::string::npos);
  EXPECT_EQ(engine_->Read(id_)->payload, "123456789");
  EXPECT_EQ(engine_->policy_counters().size_warned, 1u);
}

}  // namespace
}  // namespace sessionkit
