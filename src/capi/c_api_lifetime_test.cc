// The lifetime policy and size limits through the C ABI (sk_engine_settings'
// lifetime and size fields, sk_write_for, sk_touch_for,
// sk_check_bot_pattern), over an LMDB store whose stored expiry is checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "capi/c_api_internal.h"
#include "capi/c_api_test_support.h"
#include "sessionkit/c_api.h"
#include "sessionkit/lifetime.h"

namespace sessionkit {
namespace c_api_lifetime_test {
namespace {

using test::CApiTest;
using test::kId;
using test::ScopedResult;
using ::testing::HasSubstr;

constexpr int64_t kTtlMs = 1440 * 1000;
constexpr std::string_view kGooglebot =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
constexpr std::string_view kFirefox =
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

sk_request Http(std::string_view user_agent) {
  return sk_request{1, user_agent.data(), user_agent.size(), 0};
}

class CApiLifetimeTest : public CApiTest {
 protected:
  sk_engine* EngineWith(const sk_engine_settings& s) {
    ScopedResult r;
    sk_engine* e = sk_engine_get_with(spec_.data(), spec_.size(), &s, r.get());
    EXPECT_NE(e, nullptr) << r.message();
    return e;
  }

  // Reads kId for update and writes `payload` for `request`; returns the
  // code and leaves the result in `r`.
  sk_code Save(sk_engine* e, const std::string& payload,
               const sk_request* client, ScopedResult& r) {
    sk_lock_options options = SK_LOCK_OPTIONS_INIT;
    EXPECT_EQ(sk_read(e, kId.data(), kId.size(), &options, r.reset()), SK_OK)
        << r.message();
    const std::string token(r->lock_token ? r->lock_token : "");
    sk_lock lock = {r->lock_state, token.data(), token.size(),
                    r->version,    nullptr,      0};
    sk_request request = client ? *client : sk_request SK_REQUEST_INIT;
    request.read_writes = r->writes;
    return sk_write_for(e, kId.data(), kId.size(), payload.data(),
                        payload.size(), kTtlMs, &lock, nullptr, &request,
                        r.reset());
  }

  // The seconds from now until kId's stored expiry, rounded.
  int64_t StoredLifetimeS(sk_engine* e) {
    auto record = EngineOf(e)->store().Read(kId);
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    if (!record.ok()) return -1;
    const auto left = record->expires_at - Clock::now();
    return std::chrono::round<std::chrono::seconds>(left).count();
  }
};

TEST_F(CApiLifetimeTest, BotsGetTheBotLifetimeInTheStore) {
  sk_engine_settings s = SK_ENGINE_SETTINGS_INIT;
  s.bot_lifetime_s = SK_DEFAULT_BOT_LIFETIME_S;
  sk_engine* e = EngineWith(s);
  ScopedResult r;
  const sk_request bot = Http(kGooglebot);
  ASSERT_EQ(Save(e, "a|i:1;", &bot, r), SK_OK) << r.message();
  EXPECT_EQ(StoredLifetimeS(e), SK_DEFAULT_BOT_LIFETIME_S);
  const sk_request empty = Http("");
  ASSERT_EQ(Save(e, "a|i:2;", &empty, r), SK_OK) << r.message();
  EXPECT_EQ(StoredLifetimeS(e), SK_DEFAULT_BOT_LIFETIME_S);
  const sk_request missing = {1, nullptr, 0, 0};
  ASSERT_EQ(Save(e, "a|i:3;", &missing, r), SK_OK) << r.message();
  EXPECT_EQ(StoredLifetimeS(e), SK_DEFAULT_BOT_LIFETIME_S);
  const sk_request browser = Http(kFirefox);
  ASSERT_EQ(Save(e, "a|i:4;", &browser, r), SK_OK) << r.message();
  EXPECT_EQ(StoredLifetimeS(e), kTtlMs / 1000);
  // No request (a CLI script): no client to judge.
  ASSERT_EQ(Save(e, "a|i:5;", nullptr, r), SK_OK) << r.message();
  EXPECT_EQ(StoredLifetimeS(e), kTtlMs / 1000);
  EXPECT_EQ(EngineOf(e)->policy_counters().bot_lifetimes, 3u);

  // A touch by a bot: the bot lifetime too.
  sk_lock_options options = SK_LOCK_OPTIONS_INIT;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &options, r.reset()), SK_OK);
  const std::string token(r->lock_token);
  const std::string data = r.data();
  sk_lock lock = {r->lock_state, token.data(), token.size(),
                  r->version,    nullptr,      0};
  sk_request touching = bot;
  touching.read_writes = r->writes;
  ASSERT_EQ(sk_touch_for(e, kId.data(), kId.size(), data.data(), data.size(),
                         kTtlMs, &lock, nullptr, &touching, r.reset()),
            SK_OK)
      << r.message();
  EXPECT_EQ(StoredLifetimeS(e), SK_DEFAULT_BOT_LIFETIME_S);
  sk_engine_release(e);
}

TEST_F(CApiLifetimeTest, FirstVisitLifetimeGrowsWithEachSave) {
  sk_engine_settings s = SK_ENGINE_SETTINGS_INIT;
  s.first_lifetime_s = 300;
  sk_engine* e = EngineWith(s);
  ScopedResult r;
  const sk_request browser = Http(kFirefox);
  for (int64_t expected : {300, 600, 1200, 1440, 1440}) {
    ASSERT_EQ(Save(e, "a|i:1;", &browser, r), SK_OK) << r.message();
    EXPECT_EQ(StoredLifetimeS(e), expected);
  }
  EXPECT_EQ(test::StoredHeader(e).write_count, 0);
  sk_engine_release(e);
}

TEST_F(CApiLifetimeTest, MaxSizeRefusesNamingTheSizesAndKeepsTheSession) {
  sk_engine_settings s = SK_ENGINE_SETTINGS_INIT;
  s.max_size = 32;
  s.warn_size = 16;
  sk_engine* e = EngineWith(s);
  ScopedResult r;
  ASSERT_EQ(Save(e, "a|s:3:\"old\";", nullptr, r), SK_OK);
  EXPECT_EQ(r->log_count, 0u);
  const std::string big(33, 'x');
  ASSERT_EQ(Save(e, big, nullptr, r), SK_INVALID_ARGUMENT);
  EXPECT_THAT(r.message(), HasSubstr("33 bytes"));
  EXPECT_THAT(r.message(), HasSubstr("sessionkit.max_size (32 bytes)"));
  // The old data stays, and the lock went with the refusal: a read that
  // must not wait gets it.
  sk_lock_options no_wait = SK_LOCK_OPTIONS_INIT;
  no_wait.wait_ms = 0;
  no_wait.timeout_action = SK_LOCK_TIMEOUT_FAIL;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &no_wait, r.reset()), SK_OK)
      << r.message();
  EXPECT_EQ(r.data(), "a|s:3:\"old\";");
  sk_lock held = {r->lock_state, r->lock_token, r->lock_token_len,
                  r->version,    nullptr,       0};
  ScopedResult u;
  ASSERT_EQ(sk_unlock(e, kId.data(), kId.size(), &held, u.get()), SK_OK);

  ASSERT_EQ(Save(e, std::string(20, 'y'), nullptr, r), SK_OK);
  ASSERT_EQ(r->log_count, 1u);
  EXPECT_EQ(r->log[0].level, SK_LOG_NOTICE);
  EXPECT_THAT(r->log[0].message, HasSubstr("20 bytes"));
  EXPECT_THAT(r->log[0].message, HasSubstr("sessionkit.warn_size (16 bytes)"));
  const PolicyCounters c = EngineOf(e)->policy_counters();
  EXPECT_EQ(c.size_refused, 1u);
  EXPECT_EQ(c.size_warned, 1u);
  sk_engine_release(e);
}

TEST_F(CApiLifetimeTest, BadSettingsAreRefusedNamingTheIniEntry) {
  ScopedResult r;
  const std::string bad = "(bot";
  EXPECT_EQ(sk_check_bot_pattern(bad.data(), bad.size(), r.get()),
            SK_INVALID_ARGUMENT);
  EXPECT_THAT(r.message(), HasSubstr("sessionkit.bot_pattern"));
  EXPECT_THAT(r.message(), HasSubstr("missing )"));
  const std::string good = "^mymonitor/";
  EXPECT_EQ(sk_check_bot_pattern(good.data(), good.size(), r.reset()), SK_OK);
  EXPECT_EQ(sk_check_bot_pattern(nullptr, 0, r.reset()), SK_OK);

  sk_engine_settings s = SK_ENGINE_SETTINGS_INIT;
  s.bot_lifetime_s = 60;
  s.bot_pattern = bad.data();
  s.bot_pattern_len = bad.size();
  EXPECT_EQ(sk_engine_get_with(spec_.data(), spec_.size(), &s, r.reset()),
            nullptr);
  EXPECT_EQ(r->code, SK_INVALID_ARGUMENT);
  EXPECT_THAT(r.message(), HasSubstr("sessionkit.bot_pattern"));

  sk_engine_settings bounds = SK_ENGINE_SETTINGS_INIT;
  bounds.min_lifetime_s = 600;
  bounds.max_lifetime_s = 60;
  EXPECT_EQ(sk_engine_get_with(spec_.data(), spec_.size(), &bounds, r.reset()),
            nullptr);
  EXPECT_THAT(r.message(), HasSubstr("sessionkit.min_lifetime (600 s) is "
                                     "above sessionkit.max_lifetime (60 s)"));
}

TEST_F(CApiLifetimeTest, EachPolicyIsItsOwnEngine) {
  sk_engine_settings a = SK_ENGINE_SETTINGS_INIT;
  a.bot_lifetime_s = 60;
  sk_engine_settings b = a;
  b.bot_lifetime_s = 120;
  sk_engine_settings c = a;
  c.max_size = 1000;
  sk_engine* ea = EngineWith(a);
  sk_engine* eb = EngineWith(b);
  sk_engine* ec = EngineWith(c);
  sk_engine* again = EngineWith(a);
  EXPECT_NE(ea, eb);
  EXPECT_NE(ea, ec);
  EXPECT_EQ(ea, again);
  for (sk_engine* e : {ea, eb, ec, again}) sk_engine_release(e);
}

}  // namespace
}  // namespace c_api_lifetime_test
}  // namespace sessionkit
