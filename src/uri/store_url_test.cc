// The store URL grammar: schemes, user info, hosts, ports, paths, the
// parameter names of each scheme, and tiers.
#include "sessionkit/store_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "uri/store_url_test_util.h"

namespace sessionkit {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

// ---------------------------------------------------------------- schemes

TEST(StoreUrlScheme, UnknownSchemeIsQuotedWithTheKnownOnes) {
  std::string msg = Bad("mongodb://h/db");
  EXPECT_THAT(msg, HasSubstr("'mongodb'"));
  for (const char* known :
       {"lmdb", "redis", "rediss", "redis+sentinel", "redis+cluster",
        "memcached", "mysql", "postgres"}) {
    EXPECT_THAT(msg, HasSubstr(known));
  }
}

TEST(StoreUrlScheme, SchemeIsCaseInsensitiveAndLowerCased) {
  EXPECT_EQ(Good("LMDB:///tmp/x").scheme, "lmdb");
  EXPECT_EQ(Good("Redis://h").scheme, "redis");
  EXPECT_EQ(Good("REDIS+Sentinel://h/m").scheme, "redis+sentinel");
  EXPECT_EQ(Good("MemCached://h").scheme, "memcached");
}

TEST(StoreUrlScheme, PostgresqlIsAnAliasOfPostgres) {
  StoreUrl u = Good("postgresql://u:p@h/db");
  EXPECT_EQ(u.scheme, "postgres");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("h", 5432)));
  EXPECT_EQ(u.Redacted(), "postgres://u:***@h:5432/db");
}

TEST(StoreUrlScheme, MissingSchemeExplainsTheForm) {
  EXPECT_THAT(Bad("localhost"),
              AllOf(HasSubstr("'localhost'"), HasSubstr("no scheme"),
                    HasSubstr("lmdb")));
  // A bare directory, as PHP's files handler takes, gets the lmdb form.
  EXPECT_THAT(Bad("/var/lib/php/sessions"),
              HasSubstr("lmdb:///var/lib/php/sessions"));
  EXPECT_THAT(Bad("redis:h:6379"), HasSubstr("expected '//' after 'redis:'"));
  EXPECT_THAT(Bad(""), HasSubstr("empty"));
  EXPECT_THAT(Bad("   "), HasSubstr("empty"));
}

// ---------------------------------------------------------------- lmdb

TEST(StoreUrlLmdb, AbsolutePathAndParams) {
  StoreUrl u = Good(
      "lmdb:///var/lib/sessionkit?map_size=2GiB&sync=meta&max_readers=1024"
      "&mode=0640&write=sync");
  EXPECT_EQ(u.scheme, "lmdb");
  EXPECT_EQ(u.path, "/var/lib/sessionkit");
  EXPECT_TRUE(u.hosts.empty());
  EXPECT_TRUE(u.user.empty());
  EXPECT_FALSE(u.has_password);
  EXPECT_THAT(u.params,
              ElementsAre(Pair("map_size", "2GiB"), Pair("sync", "meta"),
                          Pair("max_readers", "1024"), Pair("mode", "0640"),
                          Pair("write", "sync")));
  EXPECT_EQ(u.SizeParam("map_size", 1).value(), uint64_t{2} << 30);
  EXPECT_EQ(u.IntParam("max_readers", 0).value(), 1024);
  EXPECT_EQ(u.ModeParam("mode", 0).value(), 0640u);
  EXPECT_EQ(u.Param("sync"), "meta");
  EXPECT_FALSE(u.write_async());
}

TEST(StoreUrlLmdb, PathIsPercentDecoded) {
  EXPECT_EQ(Good("lmdb:///srv/my%20sessions/%C3%A9t%C3%A9").path,
            "/srv/my sessions/\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(Good("lmdb:///a%3Fb").path, "/a?b");
}

TEST(StoreUrlLmdb, RelativePathOrHostIsRefusedWithTheForm) {
  for (const char* url : {"lmdb://relative/dir", "lmdb://host/var/lib",
                          "lmdb://", "lmdb://?sync=off"}) {
    std::string msg = Bad(url);
    EXPECT_THAT(msg, HasSubstr("lmdb:///var/lib/sessionkit")) << url;
    EXPECT_THAT(msg, HasSubstr("absolute")) << url;
  }
  EXPECT_THAT(Bad("lmdb://relative/dir"), HasSubstr("'lmdb://relative/dir'"));
  // User info is not echoed.
  EXPECT_THAT(Bad("lmdb://user:hunter22@/x"), Not(HasSubstr("hunter22")));
}

TEST(StoreUrlLmdb, RootAndControlCharactersAreRefused) {
  EXPECT_THAT(Bad("lmdb:///"), HasSubstr("root"));
  EXPECT_THAT(Bad("lmdb:///tmp/a%00b"), HasSubstr("control character"));
}

// The values of lmdb's settings are LmdbOptions::FromUrl's to read and
// check (lmdb_options_test.cc); the tier setting `write` is the grammar's.
TEST(StoreUrlLmdb, ParameterValuesAreChecked) {
  EXPECT_THAT(Bad("lmdb:///x?write=later"),
              HasSubstr("write=later: expected one of sync, async"));
  StoreUrl u = Good("lmdb:///x?map_size=1XB&sync=always&mode=rw");
  EXPECT_EQ(u.Param("map_size"), "1XB");
  EXPECT_THAT(u.SizeParam("map_size", 1).status().message(),
              HasSubstr("map_size=1XB: expected a size like 512MiB or 1GiB"));
  EXPECT_EQ(Good("lmdb:///x?mode=600").ModeParam("mode", 0).value(), 0600u);
  EXPECT_EQ(Good("lmdb:///x?mode=0777").ModeParam("mode", 0).value(), 0777u);
}

TEST(StoreUrlLmdb, UnknownParameterNamesTheSchemeAndTheValidNames) {
  std::string msg = Bad("lmdb:///x?mapsize=1GiB");
  EXPECT_THAT(msg, HasSubstr("'mapsize'"));
  EXPECT_THAT(msg, HasSubstr("lmdb URLs"));
  EXPECT_THAT(msg,
              HasSubstr("map_size, map_max, sync, max_readers, mode, writemap, "
                        "write"));
}

// ---------------------------------------------------------------- redis

TEST(StoreUrlRedis, DefaultsAndFullForm) {
  StoreUrl u = Good("redis://127.0.0.1");
  EXPECT_EQ(u.scheme, "redis");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("127.0.0.1", 6379)));
  EXPECT_EQ(u.path, "");
  EXPECT_FALSE(u.has_password);
  EXPECT_EQ(u.IntParam("db", 0).value(), 0);

  u = Good("redis://alice:s3cret@cache-1.example.com:6380/2?timeout=50ms");
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "s3cret");
  EXPECT_TRUE(u.has_password);
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("cache-1.example.com", 6380)));
  EXPECT_EQ(u.path, "2");
  EXPECT_EQ(u.IntParam("db", 0).value(), 2);
  // timeout sets both timeouts.
  EXPECT_EQ(u.DurationParam("connect_timeout", milliseconds(100)).value(),
            milliseconds(50));
  EXPECT_EQ(u.DurationParam("read_timeout", milliseconds(250)).value(),
            milliseconds(50));
}

TEST(StoreUrlRedis, SpecificTimeoutWinsOverTimeout) {
  StoreUrl u = Good("redis://h?timeout=1s&read_timeout=2s");
  EXPECT_EQ(u.DurationParam("connect_timeout", milliseconds(1)).value(),
            milliseconds(1000));
  EXPECT_EQ(u.DurationParam("read_timeout", milliseconds(1)).value(),
            milliseconds(2000));
  StoreUrl plain = Good("redis://h");
  EXPECT_EQ(plain.DurationParam("read_timeout", milliseconds(250)).value(),
            milliseconds(250));
}

TEST(StoreUrlRedis, PasswordOnlyUserOnlyAndEmptyUserInfo) {
  StoreUrl u = Good("redis://:pw@h");
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "pw");
  EXPECT_TRUE(u.has_password);

  u = Good("redis://alice@h");
  EXPECT_EQ(u.user, "alice");
  EXPECT_FALSE(u.has_password);

  u = Good("redis://@h");
  EXPECT_EQ(u.user, "");
  EXPECT_FALSE(u.has_password);
}

TEST(StoreUrlRedis, UserInfoIsPercentDecodedAndMayHoldAnyByte) {
  StoreUrl u = Good("redis://al%40ice:p%3Aw%2F%25%3F%26%7C@h");
  EXPECT_EQ(u.user, "al@ice");
  EXPECT_EQ(u.password, "p:w/%?&|");
  u = Good("redis://:%00%FF%0A@h");
  EXPECT_EQ(u.password, std::string("\0\xFF\n", 3));
  // A raw '@' in the password: user info ends at the last '@'.
  u = Good("redis://:p@ss@h");
  EXPECT_EQ(u.password, "p@ss");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("h", 6379)));
}

TEST(StoreUrlRedis, Ipv6Hosts) {
  StoreUrl u = Good("redis://[::1]:6380");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("::1", 6380)));
  EXPECT_EQ(u.Redacted(), "redis://[::1]:6380");
  u = Good("redis://:pw@[2001:db8::7]/1");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("2001:db8::7", 6379)));
  EXPECT_EQ(u.path, "1");
  u = Good("redis://[::ffff:127.0.0.1]");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("::ffff:127.0.0.1", 6379)));

  EXPECT_THAT(Bad("redis://::1"),
              AllOf(HasSubstr("'::1'"), HasSubstr("brackets"),
                    HasSubstr("[::1]:6379")));
  EXPECT_THAT(Bad("redis://[::1"), HasSubstr("missing ']'"));
  EXPECT_THAT(Bad("redis://[::g]:1"),
              HasSubstr("'[::g]' is not an IPv6 address"));
  EXPECT_THAT(Bad("redis://[::1]6379"), HasSubstr("unexpected '6379'"));
  // A NUL byte must not cut the address short.
  EXPECT_THAT(Bad(std::string("redis://[::6\0zz]:79", 19)),
              HasSubstr("'[::6\\x00zz]' is not an IPv6 address"));
  EXPECT_THAT(Bad("redis://[::1]:"), HasSubstr("empty port"));
}

TEST(StoreUrlRedis, DatabaseAsPathOrParameter) {
  EXPECT_EQ(Good("redis://h/0").path, "0");
  EXPECT_EQ(Good("redis://h/").path, "");
  EXPECT_EQ(Good("redis://h/2147483647").path, "2147483647");
  // Leading zeros are normalised.
  EXPECT_EQ(Good("redis://h/007").path, "7");

  StoreUrl u = Good("redis://h?db=3");
  EXPECT_EQ(u.path, "3");
  EXPECT_EQ(u.IntParam("db", 0).value(), 3);
  EXPECT_EQ(Good("redis://h/3?db=03").path, "3");

  EXPECT_THAT(
      Bad("redis://h/3?db=4"),
      AllOf(HasSubstr("'/3'"), HasSubstr("'db=4'"), HasSubstr("given twice")));
  EXPECT_THAT(Bad("redis://h/abc"),
              AllOf(HasSubstr("'/abc'"), HasSubstr("whole number")));
  EXPECT_THAT(Bad("redis://h/2147483648"), HasSubstr("'/2147483648'"));
  EXPECT_THAT(Bad("redis://h/1/2"), HasSubstr("'/1/2'"));
  EXPECT_THAT(Bad("redis://h?db=x"),
              HasSubstr("db=x: expected a whole number"));
}

TEST(StoreUrlRedis, OnlyOneHost) {
  EXPECT_THAT(Bad("redis://h1,h2"),
              AllOf(HasSubstr("one host"), HasSubstr("'h1,h2'"),
                    HasSubstr("redis+sentinel"), HasSubstr("redis+cluster")));
  EXPECT_THAT(Bad("mysql://u@h1,h2/db"), HasSubstr("one host"));
}

TEST(StoreUrlRedis, Parameters) {
  StoreUrl u = Good(
      "rediss://h?connect_timeout=100ms&read_timeout=2s&prefix=app1:sess:"
      "&tls_ca=/etc/ssl/ca.pem&tls_cert=/etc/ssl/c.pem&tls_key=/etc/ssl/k.pem"
      "&tls_insecure=yes&write=async&durable=all&durable_timeout=1s");
  EXPECT_EQ(u.scheme, "rediss");
  EXPECT_EQ(u.Param("durable"), "all");
  EXPECT_EQ(u.DurationParam("durable_timeout", milliseconds(1)).value(),
            milliseconds(1000));
  // Sentinel and Cluster take them too.
  EXPECT_EQ(Good("redis+sentinel://s1/m?durable=2").Param("durable"), "2");
  EXPECT_EQ(Good("redis+cluster://h1,h2?durable=all&durable_timeout=50ms")
                .Param("durable"),
            "all");
  EXPECT_EQ(u.Param("prefix"), "app1:sess:");
  EXPECT_EQ(u.Param("tls_ca"), "/etc/ssl/ca.pem");
  EXPECT_TRUE(u.BoolParam("tls_insecure", false).value());
  EXPECT_TRUE(u.write_async());
  EXPECT_EQ(u.DurationParam("read_timeout", milliseconds(1)).value(),
            milliseconds(2000));

  // Values are RedisOptions::FromUrl's to check (redis_options_test.cc).
  EXPECT_THAT(Bad("redis://h?table=x"),
              AllOf(HasSubstr("'table'"), HasSubstr("redis URLs"),
                    HasSubstr("connect_timeout"), HasSubstr("prefix")));
}

TEST(StoreUrlRedis, TlsParametersNeedRediss) {
  EXPECT_THAT(Bad("redis://h?tls_insecure=1"),
              AllOf(HasSubstr("'tls_insecure'"), HasSubstr("rediss://")));
  EXPECT_THAT(Bad("redis://h?tls_ca=/ca.pem"), HasSubstr("rediss://"));
  EXPECT_TRUE(ParseStoreUrl("rediss://h?tls_insecure=1").ok());
}

// ---------------------------------------------------------------- sentinel

TEST(StoreUrlSentinel, HostsAndMasterName) {
  StoreUrl u = Good(
      "redis+sentinel://:pw@s1,s2:26380,[::1]/mymaster?sentinel_password=sp"
      "&db=2&timeout=200ms");
  EXPECT_EQ(u.scheme, "redis+sentinel");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("s1", 26379), IsHost("s2", 26380),
                                   IsHost("::1", 26379)));
  EXPECT_EQ(u.path, "mymaster");
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.Param("sentinel_password"), "sp");
  EXPECT_EQ(u.IntParam("db", 0).value(), 2);
  EXPECT_EQ(u.Redacted(),
            "redis+sentinel://:***@s1:26379,s2:26380,[::1]:26379/mymaster"
            "?sentinel_password=***&db=2&timeout=200ms");
}

TEST(StoreUrlSentinel, MasterNameIsRequiredAndChecked) {
  EXPECT_THAT(Bad("redis+sentinel://s1,s2"),
              AllOf(HasSubstr("master name is missing"),
                    HasSubstr("redis+sentinel://h1:26379,h2:26379/mymaster")));
  EXPECT_THAT(Bad("redis+sentinel://s1/"), HasSubstr("master name"));
  EXPECT_THAT(Bad("redis+sentinel://s1/my%20master"), HasSubstr("'my master'"));
  EXPECT_THAT(Bad("redis+sentinel://s1/a/b"), HasSubstr("'a/b'"));
}

TEST(StoreUrlSentinel, SentinelPasswordIsNeverShown) {
  std::string msg = Bad("redis+sentinel://s1/m?sentinel_password=zz%G1top");
  EXPECT_THAT(msg, HasSubstr("sentinel_password"));
  EXPECT_THAT(msg, Not(HasSubstr("top")));
  EXPECT_THAT(msg, Not(HasSubstr("%G1")));
}

// ---------------------------------------------------------------- cluster

TEST(StoreUrlCluster, HostsWithoutDatabase) {
  StoreUrl u = Good("redis+cluster://:pw@h1:7000,h2:7001,h3?prefix=x:");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("h1", 7000), IsHost("h2", 7001),
                                   IsHost("h3", 6379)));
  EXPECT_EQ(u.path, "");
  EXPECT_EQ(Good("redis+cluster://h1/").path, "");

  EXPECT_THAT(Bad("redis+cluster://h1/3"),
              AllOf(HasSubstr("'/3'"), HasSubstr("only database 0")));
  EXPECT_THAT(Bad("redis+cluster://h1?db=1"),
              AllOf(HasSubstr("'db'"), HasSubstr("only database 0")));
  EXPECT_THAT(Bad("redis+cluster://h1?sentinel_password=x"),
              HasSubstr("'sentinel_password'"));
  // The getter also refuses db: the scheme does not define it.
  EXPECT_TRUE(u.IntParam("db", 0).status().IsInvalidArgument());
}

// ---------------------------------------------------------------- memcached

TEST(StoreUrlMemcached, HostsAndParameters) {
  StoreUrl u = Good("memcached://h1:11311,h2,10.0.0.3?replicas=2&prefix=s_");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("h1", 11311), IsHost("h2", 11211),
                                   IsHost("10.0.0.3", 11211)));
  EXPECT_EQ(u.IntParam("replicas", 0).value(), 2);
  // Ranges are MemcachedOptions::FromUrl's (memcached_options_test.cc).
  EXPECT_THAT(Bad("memcached://h1/x"), HasSubstr("takes no path"));
  EXPECT_THAT(Bad("memcached://h1?db=1"), HasSubstr("'db'"));
}

// ---------------------------------------------------------------- SQL

TEST(StoreUrlSql, MysqlAndPostgres) {
  StoreUrl m = Good(
      "mysql://app:pw@db.internal/sessions?table=php_sessions&sslmode=required"
      "&tls_ca=/etc/ca.pem&connect_timeout=1s");
  EXPECT_EQ(m.scheme, "mysql");
  EXPECT_EQ(m.user, "app");
  EXPECT_THAT(m.hosts, ElementsAre(IsHost("db.internal", 3306)));
  EXPECT_EQ(m.path, "sessions");
  EXPECT_EQ(m.Param("table"), "php_sessions");

  StoreUrl p =
      Good("postgres://app@127.0.0.1:6432/my%20db?sslmode=verify-full");
  EXPECT_THAT(p.hosts, ElementsAre(IsHost("127.0.0.1", 6432)));
  EXPECT_EQ(p.path, "my db");
  EXPECT_FALSE(p.has_password);
}

TEST(StoreUrlSql, UserDatabaseAndParametersAreChecked) {
  EXPECT_THAT(Bad("mysql://h/db"),
              AllOf(HasSubstr("user is required"),
                    HasSubstr("mysql://user:password@host/database")));
  EXPECT_THAT(Bad("postgres://:pw@h/db"), HasSubstr("user is required"));
  EXPECT_THAT(Bad("mysql://u:p@h"), HasSubstr("database name is missing"));
  EXPECT_THAT(Bad("postgres://u:p@h/"), HasSubstr("database name is missing"));
  EXPECT_THAT(Bad("mysql://u@h/a/b"), HasSubstr("'a/b'"));
  // mysql and postgres values are their Options::FromUrl's to check
  // (mysql_options_test.cc, postgres_options_test.cc).
  EXPECT_THAT(Bad("mysql://u@h/db?prefix=x"), HasSubstr("'prefix'"));
  EXPECT_THAT(Bad("postgres://u@h/db?prefix=x"), HasSubstr("'prefix'"));
}

// ---------------------------------------------------------------- authority

TEST(StoreUrlAuthority, PortsAreCheckedAndQuoted) {
  EXPECT_THAT(Good("redis://h:1").hosts, ElementsAre(IsHost("h", 1)));
  EXPECT_THAT(Good("redis://h:65535").hosts, ElementsAre(IsHost("h", 65535)));
  EXPECT_THAT(Bad("redis://h:0"),
              AllOf(HasSubstr("port '0'"), HasSubstr("1..65535")));
  EXPECT_THAT(Bad("redis://h:65536"), HasSubstr("port '65536'"));
  EXPECT_THAT(Bad("redis://h:99999999999999999999999"),
              HasSubstr("port '99999999999999999999999'"));
  EXPECT_THAT(Bad("redis://h:63x9"), HasSubstr("port '63x9'"));
  EXPECT_THAT(Bad("redis://h:-1"), HasSubstr("port '-1'"));
  EXPECT_THAT(Bad("redis://h:+80"), HasSubstr("port '+80'"));
  EXPECT_THAT(Bad("redis://h:"), HasSubstr("empty port after 'h:'"));
  EXPECT_THAT(Bad("memcached://h1:11211,h2:x"), HasSubstr("port 'x'"));
}

TEST(StoreUrlAuthority, HostsAreCheckedAndQuoted) {
  EXPECT_THAT(Bad("redis://"), HasSubstr("no host"));
  EXPECT_THAT(Bad("redis://:pw@"), HasSubstr("no host"));
  EXPECT_THAT(Bad("redis://:6379"), HasSubstr("host name is missing"));
  EXPECT_THAT(Bad("redis://bad host"),
              AllOf(HasSubstr("'bad host'"), HasSubstr("' '")));
  EXPECT_THAT(Bad("redis://h$x:1"), HasSubstr("'h$x'"));
  EXPECT_THAT(Bad("redis://h\x01"), HasSubstr("'h\\x01'"));
  EXPECT_THAT(Bad("memcached://h1,,h2"),
              AllOf(HasSubstr("empty entry"), HasSubstr("'h1,,h2'")));
  EXPECT_THAT(Bad("memcached://h1,"), HasSubstr("empty entry"));
  EXPECT_THAT(Bad("redis://" + std::string(254, 'a')), HasSubstr("253"));
  EXPECT_TRUE(ParseStoreUrl("redis://my_host-1.example").ok());
}

TEST(StoreUrlAuthority, BadPercentEscapesAreQuoted) {
  EXPECT_THAT(Bad("lmdb:///a%zzb"), HasSubstr("'%zz'"));
  EXPECT_THAT(Bad("lmdb:///a%4"), HasSubstr("'%4'"));
  EXPECT_THAT(Bad("lmdb:///a%"), HasSubstr("'%'"));
  EXPECT_THAT(Bad("redis://us%g1r@h"),
              AllOf(HasSubstr("'%g1'"), HasSubstr("user name")));
  EXPECT_THAT(Bad("redis://h?prefix=a%2"),
              AllOf(HasSubstr("'%2'"), HasSubstr("prefix")));
  EXPECT_THAT(Bad("mysql://u@h/d%xb"), HasSubstr("'%xb'"));
  std::string msg = Bad("redis://:Qx7%zzKw9@h");
  EXPECT_THAT(msg, HasSubstr("password"));
  EXPECT_THAT(msg, Not(HasSubstr("%zz")));
  EXPECT_THAT(msg, Not(HasSubstr("Qx7")));
  EXPECT_THAT(msg, Not(HasSubstr("Kw9")));
}

// ---------------------------------------------------------------- query

TEST(StoreUrlQuery, MalformedQueries) {
  EXPECT_THAT(Bad("redis://h?timeout=1s&timeout=2s"),
              AllOf(HasSubstr("'timeout'"), HasSubstr("given twice")));
  EXPECT_THAT(Bad("redis://h?timeout"),
              AllOf(HasSubstr("'timeout'"), HasSubstr("no value")));
  EXPECT_THAT(Bad("redis://h?timeout=1s&&prefix=x"),
              HasSubstr("empty parameter"));
  EXPECT_THAT(Bad("redis://h?timeout=1s&"), HasSubstr("empty parameter"));
  EXPECT_THAT(Bad("redis://h?=1"), HasSubstr("unknown parameter ''"));
  // An empty query is fine.
  EXPECT_TRUE(Good("redis://h?").params.empty());
  // Values are percent-decoded; '=' after the first is part of the value.
  EXPECT_EQ(Good("redis://h?prefix=a%26b=c").Param("prefix"), "a&b=c");
}

// ---------------------------------------------------------------- tiers

TEST(StoreSpec, SingleUrl) {
  std::vector<StoreUrl> t = GoodSpec("  lmdb:///var/lib/sk  ");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].path, "/var/lib/sk");
}

TEST(StoreSpec, PipeSeparatesTiers) {
  std::vector<StoreUrl> t = GoodSpec("lmdb:///a|redis://h");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].scheme, "lmdb");
  EXPECT_EQ(t[0].path, "/a");
  EXPECT_EQ(t[1].scheme, "redis");

  t = GoodSpec(" lmdb:///a | redis://h?write=async | memcached://m1,m2 ");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_TRUE(t[1].write_async());
  EXPECT_EQ(t[2].hosts.size(), 2u);
}

TEST(StoreSpec, CommaBeforeASchemeSeparatesTiers) {
  std::vector<StoreUrl> t = GoodSpec("redis://h1,memcached://h2:11211");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_THAT(t[0].hosts, ElementsAre(IsHost("h1", 6379)));
  EXPECT_EQ(t[1].scheme, "memcached");
  EXPECT_THAT(t[1].hosts, ElementsAre(IsHost("h2", 11211)));

  t = GoodSpec("lmdb:///a, Redis://h");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].path, "/a");
  EXPECT_EQ(t[1].scheme, "redis");
}

TEST(StoreSpec, CommasInsideAHostListStayInTheUrl) {
  std::vector<StoreUrl> t = GoodSpec("redis+sentinel://h1,h2/m");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_THAT(t[0].hosts,
              ElementsAre(IsHost("h1", 26379), IsHost("h2", 26379)));
  EXPECT_EQ(t[0].path, "m");

  t = GoodSpec("memcached://a,b,c|redis+cluster://d:7000,e:7001");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].hosts.size(), 3u);
  EXPECT_EQ(t[1].hosts.size(), 2u);

  t = GoodSpec("redis+sentinel://h1,h2/m,memcached://x,y");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].path, "m");
  EXPECT_EQ(t[1].hosts.size(), 2u);
}

TEST(StoreSpec, EmptySpecOrTierIsAnError) {
  EXPECT_THAT(BadSpec(""), HasSubstr("empty"));
  EXPECT_THAT(BadSpec("   "), HasSubstr("empty"));
  EXPECT_THAT(BadSpec("lmdb:///a||redis://h"),
              HasSubstr("tier 2 of 3 is empty"));
  EXPECT_THAT(BadSpec("lmdb:///a|"), HasSubstr("tier 2 of 2 is empty"));
  EXPECT_THAT(BadSpec("|lmdb:///a"), HasSubstr("tier 1 of 2 is empty"));
  EXPECT_THAT(BadSpec("lmdb:///a| |redis://h"), HasSubstr("tier 2 of 3"));
  EXPECT_THAT(BadSpec("|"), HasSubstr("is empty"));
}

TEST(StoreSpec, ErrorsNameTheTier) {
  EXPECT_THAT(BadSpec("lmdb:///a|redis://h:0"),
              AllOf(StartsWith("tier 2: "), HasSubstr("port '0'")));
  EXPECT_THAT(BadSpec("lmdb:///a?write=x|redis://h"),
              AllOf(StartsWith("tier 1: "), HasSubstr("write=x")));
  EXPECT_THAT(BadSpec("redis://h1,foo://h2"),
              AllOf(StartsWith("tier 2: "), HasSubstr("'foo'")));
  EXPECT_THAT(BadSpec("lmdb:///a|/var/lib/b"),
              AllOf(StartsWith("tier 2: "), HasSubstr("lmdb:///var/lib/b")));
  // One tier: no tier number.
  EXPECT_THAT(BadSpec("redis://h:0"), StartsWith("bad redis URL: "));
}

// ---------------------------------------------------------------- values

TEST(ParseSizeTest, UnitsAreBinaryAndCaseInsensitive) {
  EXPECT_EQ(ParseSize("0").value(), 0u);
  EXPECT_EQ(ParseSize("512").value(), 512u);
  EXPECT_EQ(ParseSize("512B").value(), 512u);
  for (const char* k : {"1K", "1k", "1KB", "1kb", "1KiB", "1kib"}) {
    EXPECT_EQ(ParseSize(k).value(), 1024u) << k;
  }
  EXPECT_EQ(ParseSize("3M").value(), 3u << 20);
  EXPECT_EQ(ParseSize("3MB").value(), 3u << 20);
  EXPECT_EQ(ParseSize("512MiB").value(), 512u << 20);
  EXPECT_EQ(ParseSize("1g").value(), 1ull << 30);
  EXPECT_EQ(ParseSize("1GB").value(), 1ull << 30);
  EXPECT_EQ(ParseSize("2TiB").value(), 2ull << 40);
  EXPECT_EQ(ParseSize("4tb").value(), 4ull << 40);
  EXPECT_EQ(ParseSize(" 1 GiB ").value(), 1ull << 30);
  EXPECT_EQ(ParseSize("18446744073709551615").value(), UINT64_MAX);
  EXPECT_EQ(ParseSize("16777215TiB").value(), 16777215ull << 40);
}

TEST(ParseSizeTest, BadSizesAndOverflow) {
  for (const char* bad : {"", "GiB", "1.5GiB", "-1", "+1", "1XB", "1 G B",
                          "1PiB", "0x10", "1GiBs"}) {
    Result<uint64_t> r = ParseSize(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsInvalidArgument());
    EXPECT_THAT(r.status().message(),
                AllOf(HasSubstr("'" + std::string(bad) + "'"),
                      HasSubstr("not a size"), HasSubstr("GiB")))
        << bad;
  }
  for (const char* big :
       {"18446744073709551616", "16777216TiB", "99999999999999999999999G"}) {
    Result<uint64_t> r = ParseSize(big);
    ASSERT_FALSE(r.ok()) << big;
    EXPECT_THAT(r.status().message(), HasSubstr("too large")) << big;
  }
}

TEST(ParseDurationTest, UnitsAndBareMilliseconds) {
  EXPECT_EQ(ParseDuration("250").value(), milliseconds(250));
  EXPECT_EQ(ParseDuration("250ms").value(), milliseconds(250));
  EXPECT_EQ(ParseDuration("0").value(), milliseconds(0));
  EXPECT_EQ(ParseDuration("2s").value(), milliseconds(2000));
  EXPECT_EQ(ParseDuration("3m").value(), milliseconds(180000));
  EXPECT_EQ(ParseDuration("1h").value(), milliseconds(3600000));
  EXPECT_EQ(ParseDuration("1H").value(), milliseconds(3600000));
  EXPECT_EQ(ParseDuration(" 5 s ").value(), milliseconds(5000));
  EXPECT_EQ(ParseDuration("2562047788015h").value(),
            milliseconds(2562047788015LL * 3600000));
}

TEST(ParseDurationTest, BadDurationsAndOverflow) {
  for (const char* bad :
       {"", "s", "1d", "1.5s", "-1s", "1 sec", "ms1", "1us"}) {
    Result<Duration> r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsInvalidArgument());
    EXPECT_THAT(r.status().message(),
                AllOf(HasSubstr("'" + std::string(bad) + "'"),
                      HasSubstr("not a duration"), HasSubstr("250ms")))
        << bad;
  }
  for (const char* big :
       {"9223372036854775808", "2562047788016h", "99999999999999999999999ms"}) {
    Result<Duration> r = ParseDuration(big);
    ASSERT_FALSE(r.ok()) << big;
    EXPECT_THAT(r.status().message(), HasSubstr("too long")) << big;
  }
  EXPECT_EQ(ParseDuration("9223372036854775807").value(),
            milliseconds(INT64_MAX));
}

TEST(ParseBoolTest, AllSpellings) {
  for (const char* t : {"1", "true", "TRUE", "on", "On", "yes", "YES"}) {
    EXPECT_TRUE(ParseBool(t).value()) << t;
  }
  for (const char* f : {"0", "false", "False", "off", "OFF", "no", "No"}) {
    EXPECT_FALSE(ParseBool(f).value()) << f;
  }
  for (const char* bad : {"", "2", "maybe", "y", "n", "enabled", "10"}) {
    Result<bool> r = ParseBool(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(
        r.status().message(),
        AllOf(HasSubstr("'" + std::string(bad) + "'"), HasSubstr("on/off")));
  }
}

}  // namespace
}  // namespace sessionkit
