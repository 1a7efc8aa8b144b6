#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "sessionkit/lifetime.h"

namespace sessionkit {
namespace {

using std::chrono::seconds;

constexpr Duration kPolicyNormal = seconds(1440);

ClientInfo PolicyWeb(std::string_view user_agent) {
  return ClientInfo{true, user_agent};
}

std::shared_ptr<const LifetimePolicy> MakePolicy(LifetimeOptions options) {
  auto p = LifetimePolicy::Create(std::move(options));
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : nullptr;
}

TEST(LifetimePolicyTest, DefaultPatternsKnowCrawlersAndBrowsers) {
  auto p = MakePolicy({});
  for (const char* bot :
       {"Mozilla/5.0 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; "
        "+http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; YandexBot/3.0)",
        "Baiduspider+",
        "DuckDuckBot/1.1",
        "Mozilla/5.0 (compatible; Yahoo! Slurp)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0)",
        "SemrushBot/7~bl",
        "MJ12bot/v1.4.8",
        "PetalBot",
        "facebookexternalhit/1.1",
        "curl/7.88.1",
        "Wget/1.21.3",
        "python-requests/2.28.1",
        "Go-http-client/1.1",
        "Mozilla/5.0 HeadlessChrome/120.0",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; "
        "+http://www.baidu.com/search/spider.html)",
        "Sogou web spider/4.0(+http://www.sogou.com/docs/help/"
        "webmasters.htm#07)",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; "
        "YandexMetrika/4.0)"}) {
    EXPECT_TRUE(p->IsBot(PolicyWeb(bot))) << bot;
  }
  for (const char* browser :
       {"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
        "Firefox/120.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 "
        "Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        // Browsers of companies that also run crawlers.
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Version/4.0 Chrome/120.0.0.0 Mobile DuckDuckGo/5 "
        "Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-S918B Build/TP1A.220624.014; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
        "Chrome/120.0.6099.144 Mobile Safari/537.36 Telegram-Android/10.5.0 "
        "(Samsung SM-S918B; Android 13; SDK 33; HIGH)",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
        "SP-engine/2.80.0 main/1.0 baiduboxapp/13.40.0.10 (Baidu; P2 16.6) "
        "NABar/1.0",
        "Mozilla/5.0 (Linux; Android 10; V2031A) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Version/4.0 Chrome/78.0.3904.108 Mobile Safari/537.36 "
        "SogouMSE,SogouMobileBrowser/5.28.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/120.0.0.0 YaBrowser/24.1.0.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 YandexSearch/23.100"}) {
    EXPECT_FALSE(p->IsBot(PolicyWeb(browser))) << browser;
  }
}

TEST(LifetimePolicyTest, EmptyOrMissingUserAgentOfAnHttpRequestIsABot) {
  auto p = MakePolicy({});
  EXPECT_TRUE(p->IsBot(PolicyWeb("")));
  EXPECT_TRUE(p->IsBot(ClientInfo{true, std::nullopt}));
  // No request at all (a CLI script): no client to judge.
  EXPECT_FALSE(p->IsBot(ClientInfo{}));
  // A script that names a user agent is judged by it.
  EXPECT_TRUE(p->IsBot(ClientInfo{false, "curl/8.0"}));
  EXPECT_TRUE(p->IsBot(ClientInfo{false, ""}));
}

TEST(LifetimePolicyTest, BotPatternReplacesTheDefaultsCaseInsensitively) {
  LifetimeOptions o;
  o.bot_pattern = "^MyMonitor/";
  auto p = MakePolicy(o);
  EXPECT_TRUE(p->IsBot(PolicyWeb("mymonitor/1.0")));
  EXPECT_FALSE(p->IsBot(PolicyWeb("Googlebot/2.1")));
  EXPECT_FALSE(p->IsBot(PolicyWeb("x MyMonitor/1.0")));
}

TEST(LifetimePolicyTest, InvalidSettingsAreRefusedNamingThem) {
  LifetimeOptions o;
  o.bot_pattern = "(bot";
  auto p = LifetimePolicy::Create(
      o, [](std::string_view n) { return "sessionkit." + std::string(n); });
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.status().IsInvalidArgument());
  EXPECT_NE(p.status().message().find("sessionkit.bot_pattern"),
            std::string::npos)
      << p.status().message();
  EXPECT_NE(p.status().message().find("missing )"), std::string::npos)
      << p.status().message();

  LifetimeOptions bounds;
  bounds.min_lifetime = seconds(600);
  bounds.max_lifetime = seconds(60);
  p = LifetimePolicy::Create(bounds);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("min_lifetime (600 s) is above "
                                      "max_lifetime (60 s)"),
            std::string::npos)
      << p.status().message();

  LifetimeOptions negative;
  negative.first_lifetime = Duration(-1);
  p = LifetimePolicy::Create(negative);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("first_lifetime"), std::string::npos);
}

TEST(LifetimePolicyTest, BotsGetBotLifetimeAtMostTheNormalOne) {
  auto p = MakePolicy({});
  auto d = p->Decide(kPolicyNormal, PolicyWeb("Googlebot"), 1);
  EXPECT_EQ(d.kind, LifetimePolicy::Kind::kBot);
  EXPECT_EQ(d.lifetime, kDefaultBotLifetime);
  // Whatever the write count.
  EXPECT_EQ(p->Decide(kPolicyNormal, PolicyWeb("Googlebot"), 40).lifetime,
            kDefaultBotLifetime);
  EXPECT_EQ(p->Decide(seconds(100), PolicyWeb("Googlebot"), 1).lifetime,
            seconds(100));
  d = p->Decide(kPolicyNormal, PolicyWeb("Firefox/120.0"), 1);
  EXPECT_EQ(d.kind, LifetimePolicy::Kind::kNormal);
  EXPECT_EQ(d.lifetime, kPolicyNormal);

  LifetimeOptions off;
  off.bot_lifetime = Duration(0);
  EXPECT_EQ(MakePolicy(off)
                ->Decide(kPolicyNormal, PolicyWeb("Googlebot"), 1)
                .lifetime,
            kPolicyNormal);
}

TEST(LifetimePolicyTest, FirstVisitDoublesWithEachWriteUpToTheNormal) {
  LifetimeOptions o;
  o.first_lifetime = seconds(100);
  auto p = MakePolicy(o);
  const ClientInfo browser = PolicyWeb("Firefox/120.0");
  const Duration expected[] = {seconds(100), seconds(200),  seconds(400),
                               seconds(800), kPolicyNormal, kPolicyNormal};
  for (uint32_t writes = 1; writes <= 6; ++writes) {
    auto d = p->Decide(kPolicyNormal, browser, writes);
    EXPECT_EQ(d.lifetime, expected[writes - 1]) << writes;
    EXPECT_EQ(d.kind, writes <= 4 ? LifetimePolicy::Kind::kFirstVisit
                                  : LifetimePolicy::Kind::kNormal)
        << writes;
    // The count is stored while it grows, not once it has grown.
    EXPECT_EQ(p->StoredWriteCount(kPolicyNormal, writes),
              writes <= 4 ? writes : 0)
        << writes;
  }
  EXPECT_EQ(p->Decide(kPolicyNormal, browser, kMaxWriteCount).lifetime,
            kPolicyNormal);
  EXPECT_EQ(p->StoredWriteCount(kPolicyNormal, kMaxWriteCount), 0);
  // A normal lifetime at or below first_lifetime: nothing to shorten.
  EXPECT_EQ(p->Decide(seconds(50), browser, 1).lifetime, seconds(50));
  EXPECT_EQ(p->StoredWriteCount(seconds(50), 1), 0);
  // Off: nothing stored.
  EXPECT_EQ(MakePolicy({})->StoredWriteCount(kPolicyNormal, 1), 0);
}

TEST(LifetimePolicyTest, GrowthNeverOverflows) {
  const Duration huge(INT64_MAX / 2 + 1);
  EXPECT_EQ(FirstVisitLifetime(Duration(1), huge, kMaxWriteCount), huge);
  EXPECT_EQ(FirstVisitLifetime(Duration(3), Duration(INT64_MAX), 200),
            Duration(INT64_MAX));
  EXPECT_EQ(FirstVisitLifetime(seconds(1), seconds(10), 0), seconds(10));
}

TEST(LifetimePolicyTest, MinAndMaxBoundEveryLifetime) {
  LifetimeOptions o;
  o.first_lifetime = seconds(10);
  o.min_lifetime = seconds(120);
  o.max_lifetime = seconds(1000);
  auto p = MakePolicy(o);
  EXPECT_EQ(p->Decide(kPolicyNormal, PolicyWeb("Googlebot"), 1).lifetime,
            seconds(300));
  EXPECT_EQ(p->Decide(kPolicyNormal, PolicyWeb("Firefox"), 1).lifetime,
            seconds(120));
  EXPECT_EQ(p->Decide(kPolicyNormal, PolicyWeb("Firefox"), 200).lifetime,
            seconds(1000));
  o.min_lifetime = seconds(600);
  EXPECT_EQ(
      MakePolicy(o)->Decide(kPolicyNormal, PolicyWeb("Googlebot"), 1).lifetime,
      seconds(600));
}

TEST(LifetimePolicyTest, NextWriteCountSaturates) {
  EXPECT_EQ(NextWriteCount(0), 1u);
  EXPECT_EQ(NextWriteCount(1), 2u);
  EXPECT_EQ(NextWriteCount(kMaxWriteCount - 1), kMaxWriteCount);
  EXPECT_EQ(NextWriteCount(kMaxWriteCount), kMaxWriteCount);
}

}  // namespace
}  // namespace sessionkit
