// Opening engines and stores from URLs (open.h).
#include "sessionkit/open.h"

#include <gtest/gtest.h>

#include <string>

namespace sessionkit {
namespace {

TEST(OpenEngineTest, RefusesBadSpecsWithTheReason) {
  auto bad = OpenEngine("nosuch://x");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_NE(bad.status().message().find("nosuch"), std::string::npos);
  auto later = OpenEngine("memcached://127.0.0.1:11211");
  ASSERT_FALSE(later.ok());
  EXPECT_TRUE(later.status().IsNotSupported());
  auto tiers = OpenStore("lmdb:///tmp/a|lmdb:///tmp/b");
  ASSERT_FALSE(tiers.ok());
  EXPECT_TRUE(tiers.status().IsNotSupported());
}

}  // namespace
}  // namespace sessionkit
