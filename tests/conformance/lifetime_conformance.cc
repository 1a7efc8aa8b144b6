// The lifetime policy (lifetime.h, docs/lifetimes.md) on every store of the
// conformance suite: the lifetime the engine decides must be the expiry the
// store keeps, for bots, an empty User-Agent, a first visit's growing
// lifetime and the bounds.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "conformance/store_conformance.h"
#include "sessionkit/engine.h"
#include "sessionkit/lifetime.h"
#include "support/test_status.h"

namespace sessionkit::conformance {
namespace {

// The normal lifetime (PHP's gc_maxlifetime) the tests pass to Write.
constexpr Duration kNormal{600000};
// How far a store's expiry may be from the one the engine decided: the
// time a write takes, and Memcached's whole seconds.
constexpr Duration kTolerance{2000};

// Keeps the engine and the store it writes to together.
struct PolicyEngine {
  std::unique_ptr<SessionEngine> engine;
  Store* store = nullptr;
};

PolicyEngine EngineWith(const StoreFactory& factory, LifetimeOptions options) {
  PolicyEngine out;
  auto policy = LifetimePolicy::Create(std::move(options));
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  auto store = factory.make_fresh();
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!policy.ok() || !store.ok()) return out;
  out.store = store->get();
  EngineOptions engine_options;
  engine_options.env = factory.fake_clock.get();
  engine_options.lifetime = std::move(policy).value();
  out.engine = std::make_unique<SessionEngine>(std::move(store).value(),
                                               std::move(engine_options));
  return out;
}

ClientInfo Web(std::optional<std::string_view> user_agent) {
  ClientInfo client;
  client.http = true;
  client.user_agent = user_agent;
  return client;
}

constexpr std::string_view kBrowser =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
constexpr std::string_view kCrawler =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

// Expects `store` to keep `id` until about `lifetime` after `now`.
::testing::AssertionResult LivesFor(Store& store, const std::string& id,
                                    Duration lifetime, TimePoint now) {
  auto read = store.Read(id);
  if (!read.ok()) {
    return ::testing::AssertionFailure() << read.status().ToString();
  }
  const auto left =
      std::chrono::duration_cast<Duration>(read->expires_at - now);
  if (left > lifetime - kTolerance && left <= lifetime + kTolerance) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "the store keeps the session " << left.count()
         << " ms more, expected " << lifetime.count() << " ms";
}

// Writes `id` for `client` with the normal lifetime, as a request that
// read nothing does.
Status WriteFor(SessionEngine& engine, const std::string& id,
                const ClientInfo& client) {
  return engine.Write(id, "cart|i:1;", kNormal, SessionLock{},
                      CompressionOptions{}, client);
}

}  // namespace

TEST_P(StoreConformance, LifetimeBotsAndEmptyUserAgentsGetTheBotLifetime) {
  LifetimeOptions options;
  options.bot_lifetime = Duration(120000);
  auto e = EngineWith(factory(), options);
  ASSERT_NE(e.engine, nullptr);
  const std::string crawler = NewId(), empty = NewId(), missing = NewId(),
                    browser = NewId(), script = NewId();
  SK_ASSERT_OK(WriteFor(*e.engine, crawler, Web(kCrawler)));
  SK_ASSERT_OK(WriteFor(*e.engine, empty, Web("")));
  SK_ASSERT_OK(WriteFor(*e.engine, missing, Web(std::nullopt)));
  SK_ASSERT_OK(WriteFor(*e.engine, browser, Web(kBrowser)));
  SK_ASSERT_OK(WriteFor(*e.engine, script, ClientInfo{}));
  EXPECT_TRUE(LivesFor(*e.store, crawler, options.bot_lifetime, Now()));
  EXPECT_TRUE(LivesFor(*e.store, empty, options.bot_lifetime, Now()));
  EXPECT_TRUE(LivesFor(*e.store, missing, options.bot_lifetime, Now()));
  EXPECT_TRUE(LivesFor(*e.store, browser, kNormal, Now()));
  EXPECT_TRUE(LivesFor(*e.store, script, kNormal, Now()));
  // A touch gives a bot the bot lifetime too.
  auto read = e.engine->Read(crawler);
  SK_ASSERT_OK(read);
  SK_ASSERT_OK(e.engine->Touch(crawler, kNormal, read->lock, Web(kCrawler),
                               std::nullopt, CompressionOptions{}));
  EXPECT_TRUE(LivesFor(*e.store, crawler, options.bot_lifetime, Now()));
}

TEST_P(StoreConformance, LifetimeAFirstVisitsLifetimeDoublesWithEachWrite) {
  LifetimeOptions options;
  options.first_lifetime = Duration(60000);
  auto e = EngineWith(factory(), options);
  ASSERT_NE(e.engine, nullptr);
  const std::string id = NewId();
  SK_ASSERT_OK(WriteFor(*e.engine, id, Web(kBrowser)));
  EXPECT_TRUE(LivesFor(*e.store, id, Duration(60000), Now()));
  // Each request reads the count the last one stored.
  const Duration expected[] = {Duration(120000), Duration(240000),
                               Duration(480000), kNormal, kNormal};
  for (Duration lifetime : expected) {
    auto read = e.engine->ReadForUpdate(id, LockOptions{});
    SK_ASSERT_OK(read);
    ASSERT_TRUE(read->found);
    SK_ASSERT_OK(e.engine->Write(id, "cart|i:2;", kNormal, read->lock,
                                 CompressionOptions{}, Web(kBrowser)));
    EXPECT_TRUE(LivesFor(*e.store, id, lifetime, Now()));
  }
}

TEST_P(StoreConformance, LifetimeMinAndMaxLifetimeBoundEveryLifetime) {
  LifetimeOptions options;
  options.bot_lifetime = Duration(30000);
  options.min_lifetime = Duration(90000);
  options.max_lifetime = Duration(300000);
  auto e = EngineWith(factory(), options);
  ASSERT_NE(e.engine, nullptr);
  const std::string crawler = NewId(), browser = NewId();
  SK_ASSERT_OK(WriteFor(*e.engine, crawler, Web(kCrawler)));
  SK_ASSERT_OK(WriteFor(*e.engine, browser, Web(kBrowser)));
  EXPECT_TRUE(LivesFor(*e.store, crawler, options.min_lifetime, Now()));
  EXPECT_TRUE(LivesFor(*e.store, browser, options.max_lifetime, Now()));
}

}  // namespace sessionkit::conformance
