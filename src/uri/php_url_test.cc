// php://NAME, the URL of a store written in PHP (docs/php-stores.md).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "uri/store_url_test_util.h"

namespace sessionkit {
namespace {

using ::testing::HasSubstr;

TEST(PhpUrl, TheNameIsThePath) {
  StoreUrl u = Good("php://cart");
  EXPECT_EQ(u.scheme, "php");
  EXPECT_EQ(u.path, "cart");
  EXPECT_TRUE(u.hosts.empty());
  EXPECT_EQ(u.Redacted(), "php://cart");
  EXPECT_EQ(Good("PHP://a_b-c.9").path, "a_b-c.9");
  EXPECT_EQ(Good("php://" + std::string(64, 'n')).path, std::string(64, 'n'));
}

TEST(PhpUrl, ABadNameIsRefusedNamingWhatWasExpected) {
  for (const std::string& url : std::vector<std::string>{
           "php://", "php://a b", "php://user:secret@cart", "php://cart/x",
           "php://" + std::string(65, 'n')}) {
    const std::string msg = Bad(url);
    EXPECT_THAT(msg, HasSubstr("expected the name of a registered store "
                               "after 'php://'"))
        << url;
    EXPECT_THAT(msg, ::testing::Not(HasSubstr("secret"))) << url;
  }
}

TEST(PhpUrl, TakesTheTierSettingsOnly) {
  StoreUrl u = Good("php://cache?breaker=off");
  EXPECT_EQ(u.Param("breaker"), "off");
  EXPECT_EQ(u.Redacted(), "php://cache?breaker=off");
  EXPECT_THAT(Bad("php://cache?prefix=x"), HasSubstr("prefix"));
  std::vector<StoreUrl> tiers = GoodSpec("php://cache|lmdb:///tmp/x");
  ASSERT_EQ(tiers.size(), 2u);
  EXPECT_EQ(tiers[0].path, "cache");
}

}  // namespace
}  // namespace sessionkit
