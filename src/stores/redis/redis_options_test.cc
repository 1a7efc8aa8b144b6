// RedisOptions::FromUrl and the checks of options given in C++.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/store_url.h"
#include "sessionkit/stores/redis.h"
#include "stores/redis/redis_durable.h"
#include "stores/redis/redis_store.h"
#include "support/test_status.h"

namespace sessionkit {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Result<RedisOptions> FromUrl(const std::string& text) {
  Result<StoreUrl> url = ParseStoreUrl(text);
  if (!url.ok()) return url.status();
  return RedisOptions::FromUrl(*url);
}

TEST(RedisOptionsTest, Defaults) {
  Result<RedisOptions> o = FromUrl("redis://127.0.0.1");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->mode, RedisMode::kStandalone);
  ASSERT_EQ(o->hosts.size(), 1u);
  EXPECT_EQ(o->hosts[0].host, "127.0.0.1");
  EXPECT_EQ(o->hosts[0].port, 6379);
  EXPECT_EQ(o->db, 0);
  EXPECT_EQ(o->prefix, "sk:");
  EXPECT_EQ(o->connect_timeout, Duration(100));
  EXPECT_EQ(o->read_timeout, Duration(250));
  EXPECT_FALSE(o->has_password);
  EXPECT_FALSE(o->tls.enabled);
  EXPECT_EQ(o->name, "redis://127.0.0.1:6379");
}

TEST(RedisOptionsTest, EveryParameter) {
  Result<RedisOptions> o = FromUrl(
      "rediss://app:pa%40ss@cache.example:6380/5?prefix=myapp:&"
      "connect_timeout=50ms&read_timeout=2s&tls_ca=/etc/ca.pem&"
      "tls_cert=/etc/c.pem&tls_key=/etc/k.pem&tls_insecure=yes");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->user, "app");
  EXPECT_EQ(o->password, "pa@ss");
  EXPECT_TRUE(o->has_password);
  EXPECT_EQ(o->hosts[0].host, "cache.example");
  EXPECT_EQ(o->hosts[0].port, 6380);
  EXPECT_EQ(o->db, 5);
  EXPECT_EQ(o->prefix, "myapp:");
  EXPECT_EQ(o->connect_timeout, Duration(50));
  EXPECT_EQ(o->read_timeout, Duration(2000));
  EXPECT_TRUE(o->tls.enabled);
  EXPECT_EQ(o->tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(o->tls.cert_file, "/etc/c.pem");
  EXPECT_EQ(o->tls.key_file, "/etc/k.pem");
  EXPECT_TRUE(o->tls.insecure);
  EXPECT_THAT(o->name, HasSubstr("app:***@cache.example:6380/5"));
  EXPECT_THAT(o->name, Not(HasSubstr("pa@ss")));
}

TEST(RedisOptionsTest, TimeoutSetsBothUnlessOverridden) {
  Result<RedisOptions> o = FromUrl("redis://h?timeout=40ms");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->connect_timeout, Duration(40));
  EXPECT_EQ(o->read_timeout, Duration(40));
  o = FromUrl("redis://h?timeout=40ms&read_timeout=1s");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->connect_timeout, Duration(40));
  EXPECT_EQ(o->read_timeout, Duration(1000));
}

TEST(RedisOptionsTest, DbFromPathOrParameter) {
  Result<RedisOptions> o = FromUrl("redis://h?db=7");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->db, 7);
  o = FromUrl("redis://h/2");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->db, 2);
}

TEST(RedisOptionsTest, RefusesBadSettings) {
  Result<RedisOptions> o = FromUrl("redis://h?prefix=a{b}:");
  EXPECT_TRUE(o.status().IsInvalidArgument());
  EXPECT_THAT(o.status().message(), HasSubstr("'{' or '}'"));
  o = FromUrl("redis://h?timeout=0ms");
  EXPECT_TRUE(o.status().IsInvalidArgument()) << o.status().ToString();
  o = FromUrl("redis://h?tls_ca=/x");  // TLS settings need rediss://
  EXPECT_TRUE(o.status().IsInvalidArgument()) << o.status().ToString();
  o = FromUrl("lmdb:///tmp/x");
  EXPECT_TRUE(o.status().IsInvalidArgument());
}

// The parser checks the names; FromUrl reads and checks the values, and
// says what was expected.
TEST(RedisOptionsTest, BadValuesOfAParsedUrlAreNamed) {
  struct Case {
    const char* url;
    const char* message;
  } cases[] = {
      {"redis://h?prefix=a%20b",
       "prefix=a b: expected printable ASCII without spaces"},
      {"redis://h?timeout=fast",
       "timeout=fast: expected a duration like 250ms or 2s"},
      {"redis://h?timeout=0", "at least 1ms"},
      {"redis://h?read_timeout=99999999999999999999",
       "read_timeout=99999999999999999999: too long"},
      {"rediss://h?tls_insecure=maybe",
       "tls_insecure=maybe: expected 1/0, true/false"},
      {"rediss://h?tls_ca=", "tls_ca=: expected a file"},
      {"redis+sentinel://s1/m?db=x", "db=x: expected a whole number"},
      {"redis+sentinel://s1/m?db=2147483648", "db=2147483648 is out of range"},
  };
  for (const Case& c : cases) {
    Result<RedisOptions> o = FromUrl(c.url);
    EXPECT_TRUE(o.status().IsInvalidArgument()) << c.url;
    EXPECT_THAT(o.status().message(), HasSubstr(c.message)) << c.url;
  }
  // Nor do these messages show a password.
  Result<RedisOptions> o = FromUrl("redis://:Sup3rS3cretPw@h?timeout=soon");
  EXPECT_THAT(o.status().message(), HasSubstr("timeout=soon"));
  EXPECT_THAT(o.status().message(), Not(HasSubstr("S3cret")));
}

TEST(RedisOptionsTest, Durable) {
  Result<RedisOptions> o = FromUrl("redis://h");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->durable, 0);  // off
  EXPECT_EQ(o->durable_timeout, Duration(250));
  o = FromUrl("redis://h?durable=all");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->durable, RedisOptions::kDurableAll);
  o = FromUrl("redis+sentinel://s1/m?durable=2&durable_timeout=1s");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->durable, 2);
  EXPECT_EQ(o->durable_timeout, Duration(1000));
  o = FromUrl("redis+cluster://h1,h2?durable=1");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->durable, 1);
  for (const char* off : {"off", "0"}) {
    o = FromUrl(std::string("rediss://h?durable=") + off);
    SK_ASSERT_OK(o);
    EXPECT_EQ(o->durable, 0) << off;
  }
  // timeout= bounds the connection, not the wait for the replicas.
  o = FromUrl("redis://h?durable=all&timeout=40ms");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->durable_timeout, Duration(250));

  struct Case {
    const char* url;
    const char* message;
  } cases[] = {
      {"redis://h?durable=yes",
       "durable=yes: expected off, all, or the number of replicas"},
      {"redis://h?durable=-1", "durable=-1: expected off, all"},
      {"redis://h?durable=", "durable=: expected off, all"},
      {"redis://h?durable=ALL", "durable=ALL: expected off, all"},
      {"redis://h?durable=101", "durable=101 is out of range"},
      {"redis://h?durable=9999999999", "durable=9999999999: expected"},
      {"redis://h?durable=all&durable_timeout=0",
       "durable_timeout must be between 1ms and 60s"},
      {"redis://h?durable=all&durable_timeout=2m",
       "durable_timeout must be between 1ms and 60s (got 120000ms)"},
      {"redis://h?durable_timeout=soon", "durable_timeout=soon: expected"},
  };
  for (const Case& c : cases) {
    o = FromUrl(c.url);
    EXPECT_TRUE(o.status().IsInvalidArgument()) << c.url;
    EXPECT_THAT(o.status().message(), HasSubstr(c.message)) << c.url;
  }
  // In C++ the same ranges hold.
  RedisOptions cxx;
  cxx.hosts.push_back(HostPort{"127.0.0.1", 6379});
  cxx.durable = -2;
  EXPECT_THAT(OpenRedisStore(cxx).status().message(),
              HasSubstr("durable=-2 is out of range"));
  cxx.durable = RedisOptions::kDurableAll;
  cxx.durable_timeout = Duration(0);
  EXPECT_THAT(OpenRedisStore(cxx).status().message(),
              HasSubstr("durable_timeout must be between"));
  cxx.durable_timeout = Duration(100);
  SK_EXPECT_OK(OpenRedisStore(cxx).status());
}

TEST(RedisOptionsTest, ReplicasFromRole) {
  auto text = [](std::string s) {
    redis::Reply r;
    r.type = redis::Reply::Type::kString;
    r.str = std::move(s);
    return r;
  };
  auto array = [](std::vector<redis::Reply> e) {
    redis::Reply r;
    r.type = redis::Reply::Type::kArray;
    r.elements = std::move(e);
    return r;
  };
  redis::Reply offset;
  offset.type = redis::Reply::Type::kInteger;
  offset.integer = 1234;
  const redis::Reply replica =
      array({text("127.0.0.1"), text("7001"), text("1234")});
  EXPECT_EQ(redis::ReplicasFromRole(
                array({text("master"), offset, array({replica, replica})})),
            2);
  EXPECT_EQ(redis::ReplicasFromRole(array({text("master"), offset, array({})})),
            0);
  EXPECT_EQ(redis::ReplicasFromRole(array({text("slave"), text("127.0.0.1"),
                                           offset, text("connected"), offset})),
            std::nullopt);
  EXPECT_EQ(redis::ReplicasFromRole(array({text("sentinel"), array({})})),
            std::nullopt);
  EXPECT_EQ(redis::ReplicasFromRole(text("master")), std::nullopt);
}

// durable=all's count per master (pool.h, redis_durable.h): never fewer
// than seen there, learnt from WAIT's replies too.
TEST(RedisOptionsTest, DurableAllCountsReplicasPerMaster) {
  RedisOptions o;
  o.durable = RedisOptions::kDurableAll;
  redis::ConnectionPool pool(redis::ConnectionOptions{});
  redis::Durability durability(o, &pool);
  const redis::Endpoint old_master{"127.0.0.1", 6380};
  const redis::Endpoint promoted{"127.0.0.1", 6381};
  EXPECT_EQ(pool.NoteReplicas(promoted, 0), 0);
  EXPECT_FALSE(pool.SeenReplicas());
  EXPECT_EQ(pool.NoteReplicas(old_master, 2), 2);
  EXPECT_TRUE(pool.SeenReplicas());
  EXPECT_EQ(pool.NoteReplicas(old_master, 1), 2);  // one being promoted
  EXPECT_EQ(pool.NoteReplicas(promoted, 0), 0);
  redis::Reply acked;
  acked.type = redis::Reply::Type::kInteger;
  acked.integer = 2;  // the old master came back as a replica
  SK_EXPECT_OK(durability.Check(promoted, 1, acked, "a write"));
  EXPECT_EQ(pool.NoteReplicas(promoted, 0), 2);
  acked.integer = 1;
  EXPECT_TRUE(durability.Check(promoted, 2, acked, "a write").IsUnavailable());
}

TEST(RedisOptionsTest, CheckedWhenGivenInCxx) {
  RedisOptions o;
  EXPECT_TRUE(OpenRedisStore(o).status().IsInvalidArgument());  // no host
  o.hosts.push_back(HostPort{"127.0.0.1", 6379});
  o.db = -1;
  EXPECT_TRUE(OpenRedisStore(o).status().IsInvalidArgument());
  o.db = 0;
  o.read_timeout = Duration(0);
  EXPECT_TRUE(OpenRedisStore(o).status().IsInvalidArgument());
  o.read_timeout = Duration(250);
  o.tls.insecure = true;  // without tls.enabled
  EXPECT_TRUE(OpenRedisStore(o).status().IsInvalidArgument());
  o.tls.insecure = false;
  o.password = "pw";
  o.has_password = true;
  o.user = "u";
  Result<std::unique_ptr<Store>> store = OpenRedisStore(o);
  SK_ASSERT_OK(store);  // opening does not connect
  EXPECT_EQ((*store)->name(), "redis://u:***@127.0.0.1:6379/0");
}

TEST(RedisOptionsTest, PoolKeySeparatesPasswordsButHidesThem) {
  Result<RedisOptions> a = FromUrl("redis://:one@h");
  Result<RedisOptions> b = FromUrl("redis://:two@h");
  SK_ASSERT_OK(a);
  SK_ASSERT_OK(b);
  EXPECT_NE(redis::PoolKey(*a), redis::PoolKey(*b));
  EXPECT_EQ(a->name, b->name);
  EXPECT_EQ(redis::PoolKey(*a), redis::PoolKey(*FromUrl("redis://:one@h")));
}

TEST(RedisOptionsTest, Sentinel) {
  Result<RedisOptions> o = FromUrl(
      "redis+sentinel://:pw@s1,s2:26380/mymaster?db=3&sentinel_password=sp&"
      "prefix=p:&timeout=40ms");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->mode, RedisMode::kSentinel);
  ASSERT_EQ(o->hosts.size(), 2u);
  EXPECT_EQ(o->hosts[0].port, 26379);
  EXPECT_EQ(o->hosts[1].port, 26380);
  EXPECT_EQ(o->master_name, "mymaster");
  EXPECT_EQ(o->db, 3);
  EXPECT_EQ(o->password, "pw");
  EXPECT_EQ(o->sentinel_password, "sp");
  EXPECT_TRUE(o->has_sentinel_password);
  EXPECT_EQ(o->prefix, "p:");
  EXPECT_EQ(o->read_timeout, Duration(40));
  EXPECT_FALSE(o->tls.enabled);
  EXPECT_THAT(o->name, Not(HasSubstr("sp&")));
  EXPECT_THAT(o->name, Not(HasSubstr("pw")));

  // tls_* parameters turn TLS on (there is no rediss+sentinel).
  Result<RedisOptions> t = FromUrl("redis+sentinel://s1/m?tls_ca=/etc/ca.pem");
  SK_ASSERT_OK(t);
  EXPECT_TRUE(t->tls.enabled);
  EXPECT_EQ(t->tls.ca_file, "/etc/ca.pem");

  // The sentinel password takes part in the pool key.
  EXPECT_NE(redis::PoolKey(*o),
            redis::PoolKey(
                *FromUrl("redis+sentinel://:pw@s1,s2:26380/mymaster?db=3&"
                         "sentinel_password=other&prefix=p:&timeout=40ms")));
}

TEST(RedisOptionsTest, Cluster) {
  Result<RedisOptions> o =
      FromUrl("redis+cluster://:pw@h1:7000,h2:7001,h3?prefix=c:");
  SK_ASSERT_OK(o);
  EXPECT_EQ(o->mode, RedisMode::kCluster);
  ASSERT_EQ(o->hosts.size(), 3u);
  EXPECT_EQ(o->hosts[2].port, 6379);
  EXPECT_EQ(o->db, 0);
  EXPECT_EQ(o->prefix, "c:");
  EXPECT_EQ(o->name, "redis+cluster://:***@h1:7000,h2:7001,h3:6379?prefix=c:");
}

TEST(RedisOptionsTest, SentinelAndClusterCheckedWhenGivenInCxx) {
  RedisOptions o;
  o.mode = RedisMode::kSentinel;
  o.hosts = {HostPort{"127.0.0.1", 26379}, HostPort{"127.0.0.1", 26380}};
  Status st = OpenRedisStore(o).status();
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_THAT(st.message(), HasSubstr("master name"));
  o.master_name = "mymaster";
  o.db = 2;
  Result<std::unique_ptr<Store>> store = OpenRedisStore(o);
  SK_ASSERT_OK(store);
  EXPECT_EQ((*store)->name(),
            "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster?db=2");

  o.mode = RedisMode::kCluster;
  st = OpenRedisStore(o).status();
  EXPECT_TRUE(st.IsInvalidArgument());  // a master name, and a db
  o.master_name.clear();
  st = OpenRedisStore(o).status();
  EXPECT_THAT(st.message(), HasSubstr("only database 0"));
  o.db = 0;
  store = OpenRedisStore(o);
  SK_ASSERT_OK(store);
  EXPECT_EQ((*store)->name(),
            "redis+cluster://127.0.0.1:26379,127.0.0.1:26380");
  o.hosts.clear();
  EXPECT_TRUE(OpenRedisStore(o).status().IsInvalidArgument());
}

}  // namespace
}  // namespace sessionkit
