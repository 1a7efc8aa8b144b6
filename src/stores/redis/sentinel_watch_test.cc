// The parsers of the sentinels' announcements (sentinel_watch.h); the
// subscriptions themselves are tested on real sentinels in
// redis_sentinel_test.cc.
#include "stores/redis/sentinel_watch.h"

#include <gtest/gtest.h>

namespace sessionkit::redis::sentinel_watch_test {
namespace {

TEST(SentinelWatchTest, ReadsTheNewMasterOfItsOwnMasterOnly) {
  auto named =
      ParseSwitchMaster("mymaster 127.0.0.1 6379 127.0.0.2 6380", "mymaster");
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(named->ToString(), "127.0.0.2:6380");
  EXPECT_FALSE(
      ParseSwitchMaster("other 127.0.0.1 6379 127.0.0.2 6380", "mymaster"));
  for (const char* bad : {"", "mymaster", "mymaster 127.0.0.1 6379 127.0.0.2",
                          "mymaster 127.0.0.1 6379 127.0.0.2 0",
                          "mymaster 127.0.0.1 6379 127.0.0.2 65536",
                          "mymaster 127.0.0.1 6379  6380",
                          "mymaster 127.0.0.1 6379 127.0.0.2 6380 extra",
                          "mymaster  127.0.0.1 6379 127.0.0.2 6380"}) {
    EXPECT_FALSE(ParseSwitchMaster(bad, "mymaster")) << bad;
  }
}

TEST(SentinelWatchTest, ReadsTheReplicaBeingPromotedForItsOwnMasterOnly) {
  auto replica = ParsePromotion(
      "slave 127.0.0.2:6380 127.0.0.2 6380 @ mymaster 127.0.0.1 6379",
      "mymaster");
  ASSERT_TRUE(replica.has_value());
  EXPECT_EQ(replica->ToString(), "127.0.0.2:6380");
  EXPECT_FALSE(ParsePromotion(
      "slave 127.0.0.2:6380 127.0.0.2 6380 @ other 127.0.0.1 6379",
      "mymaster"));
  for (const char* bad :
       {"", "slave", "master mymaster 127.0.0.1 6379 @ mymaster 127.0.0.1 6379",
        "slave 127.0.0.2:6380 127.0.0.2 0 @ mymaster 127.0.0.1 6379",
        "slave 127.0.0.2:6380  6380 @ mymaster 127.0.0.1 6379",
        "slave 127.0.0.2:6380 127.0.0.2 6380 mymaster 127.0.0.1 6379",
        "slave 127.0.0.2:6380 127.0.0.2 6380 @ mymaster 127.0.0.1 6379 x"}) {
    EXPECT_FALSE(ParsePromotion(bad, "mymaster")) << bad;
  }
}

}  // namespace
}  // namespace sessionkit::redis::sentinel_watch_test
