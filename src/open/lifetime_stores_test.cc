// The lifetime policy (EngineOptions::lifetime) against the expiry real
// stores keep: LMDB's expiry, and a redis-server's PTTL of the session key.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "sessionkit/engine.h"
#include "sessionkit/lifetime.h"
#include "sessionkit/open.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit {
namespace {

using std::chrono::seconds;

constexpr Duration kGcMaxLifetime = seconds(1440);
const ClientInfo kBot{true, "Mozilla/5.0 (compatible; bingbot/2.0)"};
const ClientInfo kUser{true, "Mozilla/5.0 (X11; Linux x86_64) Firefox/120"};

EngineOptions WithPolicy() {
  LifetimeOptions lifetime;
  lifetime.bot_lifetime = seconds(120);
  lifetime.first_lifetime = seconds(300);
  EngineOptions options;
  auto policy = LifetimePolicy::Create(lifetime);
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  if (policy.ok()) options.lifetime = *policy;
  return options;
}

// One request of `client` on session `id`: locked read, then a write.
void Request(SessionEngine& engine, const std::string& id,
             const ClientInfo& client) {
  auto read = engine.ReadForUpdate(id, LockOptions{});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  SK_ASSERT_OK(engine.Write(id, "cart|i:1;", kGcMaxLifetime, read->lock,
                            CompressionOptions{}, client));
}

// Seconds left until the expiry the store keeps for `id`, rounded.
int64_t SecondsLeft(SessionEngine& engine, const std::string& id) {
  auto record = engine.store().Read(id);
  EXPECT_TRUE(record.ok()) << record.status().ToString();
  if (!record.ok()) return -1;
  return std::chrono::round<seconds>(record->expires_at - Clock::now()).count();
}

TEST(LifetimeStoresTest, LmdbKeepsTheLifetimeThePolicyDecides) {
  auto dir = test::MakeTempDir("lifetime-lmdb");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  {
    auto engine = OpenEngine("lmdb://" + *dir + "/store", WithPolicy());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    const std::string bot = "lifetime-bot-abcdefghijklmnop";
    const std::string user = "lifetime-user-abcdefghijklmno";
    Request(**engine, bot, kBot);
    EXPECT_EQ(SecondsLeft(**engine, bot), 120);
    for (int64_t expected : {300, 600, 1200, 1440}) {
      Request(**engine, user, kUser);
      EXPECT_EQ(SecondsLeft(**engine, user), expected);
    }
  }
  test::RemoveTempDirUnlessFailed(*dir);
}

TEST(LifetimeStoresTest, RedisKeyTtlIsTheLifetimeThePolicyDecides) {
  auto server = test::StartRedis({});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto engine = OpenEngine(
      "redis://127.0.0.1:" + std::to_string((*server)->port()) + "/0",
      WithPolicy());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto pttl_s = [&](const std::string& id) -> int64_t {
    auto reply = (*server)->Cli({"PTTL", "sk:{" + id + "}"});
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return -1;
    return (std::atoll(reply->c_str()) + 500) / 1000;
  };
  const std::string bot = "lifetime-bot-abcdefghijklmnop";
  const std::string user = "lifetime-user-abcdefghijklmno";
  Request(**engine, bot, kBot);
  EXPECT_EQ(pttl_s(bot), 120);
  for (int64_t expected : {300, 600, 1200, 1440}) {
    Request(**engine, user, kUser);
    EXPECT_EQ(pttl_s(user), expected);
  }
  // A touch of the bot's session (PHP's lazy_write) keeps the bot lifetime.
  auto read = (*engine)->ReadForUpdate(bot, LockOptions{});
  ASSERT_TRUE(read.ok());
  SK_ASSERT_OK((*engine)->Touch(bot, kGcMaxLifetime, read->lock, kBot,
                                read->payload, CompressionOptions{}));
  EXPECT_EQ(pttl_s(bot), 120);
}

}  // namespace
}  // namespace sessionkit
