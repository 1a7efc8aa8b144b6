#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "sessionkit/store_url.h"
#include "sessionkit/stores/memcached.h"
#include "stores/memcached/memcached_store.h"
#include "support/test_status.h"

namespace sessionkit {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

Result<MemcachedOptions> FromUrl(const std::string& url) {
  Result<StoreUrl> parsed = ParseStoreUrl(url);
  if (!parsed.ok()) return parsed.status();
  return MemcachedOptions::FromUrl(*parsed);
}

std::string BadMessage(const std::string& url) {
  Result<MemcachedOptions> options = FromUrl(url);
  EXPECT_TRUE(options.status().IsInvalidArgument()) << url;
  return options.status().message();
}

TEST(MemcachedOptionsTest, DefaultsStandForParametersNotGiven) {
  Result<MemcachedOptions> o = FromUrl("memcached://m1,m2:11311");
  SK_ASSERT_OK(o);
  const MemcachedOptions defaults;
  ASSERT_EQ(o->servers.size(), 2u);
  EXPECT_EQ(o->servers[0].host, "m1");
  EXPECT_EQ(o->servers[0].port, 11211);
  EXPECT_EQ(o->servers[1].port, 11311);
  EXPECT_EQ(o->replicas, defaults.replicas);
  EXPECT_EQ(o->prefix, defaults.prefix);
  EXPECT_EQ(o->connect_timeout, defaults.connect_timeout);
  EXPECT_EQ(o->read_timeout, defaults.read_timeout);
  EXPECT_EQ(o->down_time, defaults.down_time);
  EXPECT_EQ(o->wake_file, defaults.wake_file);
  EXPECT_FALSE(o->tls.enabled);
  EXPECT_EQ(o->name, "memcached://m1:11211,m2:11311");
}

TEST(MemcachedOptionsTest, ReadsEveryParameter) {
  Result<MemcachedOptions> o = FromUrl(
      "memcached://a,b,c?replicas=2&prefix=app1:&connect_timeout=20ms&"
      "read_timeout=2s&down_time=5s&wake_file=/run/app/wake&tls_ca=/ca.pem&"
      "tls_cert=/c.pem&tls_key=/k.pem&tls_insecure=1");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->replicas, 2);
  EXPECT_EQ(o->prefix, "app1:");
  EXPECT_EQ(o->connect_timeout, Duration(20));
  EXPECT_EQ(o->read_timeout, Duration(2000));
  EXPECT_EQ(o->down_time, Duration(5000));
  EXPECT_EQ(o->wake_file, "/run/app/wake");
  EXPECT_TRUE(o->tls.enabled);
  EXPECT_EQ(o->tls.ca_file, "/ca.pem");
  EXPECT_EQ(o->tls.cert_file, "/c.pem");
  EXPECT_EQ(o->tls.key_file, "/k.pem");
  EXPECT_TRUE(o->tls.insecure);
  Result<MemcachedOptions> both = FromUrl("memcached://a?timeout=7ms");
  SK_ASSERT_OK(both);
  EXPECT_EQ(both->connect_timeout, Duration(7));
  EXPECT_EQ(both->read_timeout, Duration(7));
}

TEST(MemcachedOptionsTest, BadValuesNameTheParameter) {
  EXPECT_THAT(BadMessage("memcached://h1,h2?replicas=2"),
              HasSubstr("replicas=2 is out of range: 0 to 1"));
  EXPECT_THAT(BadMessage("memcached://h1?replicas=-1"), HasSubstr("replicas"));
  EXPECT_THAT(BadMessage("memcached://h1,h1:11211"),
              HasSubstr("h1:11211 is given twice"));
  EXPECT_THAT(BadMessage("memcached://h?prefix=" + std::string(65, 'p')),
              HasSubstr("prefix is longer than 64"));
  EXPECT_THAT(BadMessage("memcached://h?read_timeout=0ms"),
              HasSubstr("read_timeout"));
  EXPECT_THAT(BadMessage("memcached://h?down_time=2h"),
              HasSubstr("down_time must be between 1ms and 1h"));
  EXPECT_THAT(BadMessage("memcached://h?replicas=x"), HasSubstr("replicas"));
  EXPECT_THAT(BadMessage("memcached://h?wake_file=run/wake"),
              HasSubstr("wake_file must be an absolute path or \"off\""));
}

// The wake file is the user's own in shared memory unless one is given;
// "off" turns it off.
TEST(MemcachedOptionsTest, WakeFileDefaultsToOnePerUserInSharedMemory) {
  const std::string own = "/sessionkit-wake-" + std::to_string(geteuid());
  MemcachedOptions options;
  const std::string path = memcached::WakeFileOf(options);
  if (access("/dev/shm", W_OK | X_OK) == 0) {
    EXPECT_EQ(path, "/dev/shm" + own);
  } else {
    EXPECT_THAT(path, EndsWith(own));
  }
  options.wake_file = "/run/app/wake";
  EXPECT_EQ(memcached::WakeFileOf(options), "/run/app/wake");
  Result<MemcachedOptions> off = FromUrl("memcached://h?wake_file=off");
  SK_ASSERT_OK(off);
  EXPECT_EQ(memcached::WakeFileOf(*off), "");
}

TEST(MemcachedOptionsTest, UserAndPasswordAreRefusedWithoutShowingIt) {
  const std::string message = BadMessage("memcached://user:hunter2secret@h1");
  EXPECT_THAT(message, HasSubstr("takes no user or password"));
  EXPECT_THAT(message, Not(HasSubstr("hunter2secret")));
}

TEST(MemcachedOptionsTest, OpenChecksTheOptionsAndConnectsLater) {
  // Nothing listens on port 1; opening does not connect.
  SK_EXPECT_OK(
      OpenMemcachedStore(*FromUrl("memcached://127.0.0.1:1?wake_file=off"))
          .status());
  MemcachedOptions none;
  EXPECT_TRUE(OpenMemcachedStore(none).status().IsInvalidArgument());
  Result<MemcachedOptions> tls =
      FromUrl("memcached://127.0.0.1:1?tls_ca=/no/such/ca.pem&wake_file=off");
  SK_ASSERT_OK(tls);
  Result<std::unique_ptr<Store>> store = OpenMemcachedStore(*tls);
  EXPECT_TRUE(store.status().IsInvalidArgument());
  EXPECT_THAT(store.status().message(), HasSubstr("tls_ca"));
}

}  // namespace
}  // namespace sessionkit
