#include "sessionkit/store_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sessionkit {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

// Parses `url`, which must be valid.
StoreUrl Good(std::string_view url) {
  Result<StoreUrl> r = ParseStoreUrl(url);
  EXPECT_TRUE(r.ok()) << url << " -> " << r.status().ToString();
  return r.ok() ? *r : StoreUrl{};
}

// Parses `url`, which must be refused as InvalidArgument; returns the message.
std::string Bad(std::string_view url) {
  Result<StoreUrl> r = ParseStoreUrl(url);
  EXPECT_FALSE(r.ok()) << url << " was accepted";
  if (r.ok()) return "";
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_FALSE(r.status().message().empty());
  return r.status().message();
}

std::vector<StoreUrl> GoodSpec(std::string_view spec) {
  Result<std::vector<StoreUrl>> r = ParseStoreSpec(spec);
  EXPECT_TRUE(r.ok()) << spec << " -> " << r.status().ToString();
  return r.ok() ? *r : std::vector<StoreUrl>{};
}

std::string BadSpec(std::string_view spec) {
  Result<std::vector<StoreUrl>> r = ParseStoreSpec(spec);
  EXPECT_FALSE(r.ok()) << spec << " was accepted";
  if (r.ok()) return "";
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  return r.status().message();
}

MATCHER_P2(IsHost, host, port, "") {
  return arg.host == host && arg.port == port;
}

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
  EXPECT_EQ(u.IntParam("mode", 0).value(), 0640);
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

TEST(StoreUrlLmdb, ParameterValuesAreChecked) {
  EXPECT_THAT(Bad("lmdb:///x?map_size=1XB"),
              HasSubstr("map_size=1XB: expected a size like 512MiB or 1GiB"));
  EXPECT_THAT(Bad("lmdb:///x?map_size=512KiB"),
              HasSubstr("map_size=512KiB: must be at least 1MiB"));
  EXPECT_TRUE(ParseStoreUrl("lmdb:///x?map_size=1MiB").ok());
  EXPECT_THAT(Bad("lmdb:///x?map_size=99999999999TiB"),
              HasSubstr("map_size=99999999999TiB: too large"));
  EXPECT_THAT(Bad("lmdb:///x?sync=always"),
              HasSubstr("sync=always: expected one of off, meta, full"));
  EXPECT_THAT(Bad("lmdb:///x?max_readers=0"),
              HasSubstr("max_readers=0: expected a whole number from 1 to "
                        "65535"));
  EXPECT_THAT(Bad("lmdb:///x?max_readers=65536"), HasSubstr("max_readers="));
  EXPECT_THAT(Bad("lmdb:///x?max_readers=-1"), HasSubstr("max_readers=-1"));
  EXPECT_EQ(Good("lmdb:///x?mode=600").IntParam("mode", 0).value(), 0600);
  EXPECT_EQ(Good("lmdb:///x?mode=0777").IntParam("mode", 0).value(), 0777);
  for (const char* mode : {"0800", "01777", "rw", "", "06000"}) {
    EXPECT_THAT(Bad(std::string("lmdb:///x?mode=") + mode),
                HasSubstr("expected an octal file mode like 0600"))
        << mode;
  }
  EXPECT_THAT(Bad("lmdb:///x?write=later"),
              HasSubstr("write=later: expected one of sync, async"));
}

TEST(StoreUrlLmdb, UnknownParameterNamesTheSchemeAndTheValidNames) {
  std::string msg = Bad("lmdb:///x?mapsize=1GiB");
  EXPECT_THAT(msg, HasSubstr("'mapsize'"));
  EXPECT_THAT(msg, HasSubstr("lmdb URLs"));
  EXPECT_THAT(msg, HasSubstr("map_size, sync, max_readers, mode, write"));
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
      "&tls_insecure=yes&write=async");
  EXPECT_EQ(u.scheme, "rediss");
  EXPECT_EQ(u.Param("prefix"), "app1:sess:");
  EXPECT_EQ(u.Param("tls_ca"), "/etc/ssl/ca.pem");
  EXPECT_TRUE(u.BoolParam("tls_insecure", false).value());
  EXPECT_TRUE(u.write_async());
  EXPECT_EQ(u.DurationParam("read_timeout", milliseconds(1)).value(),
            milliseconds(2000));

  EXPECT_THAT(Bad("redis://h?prefix=a%20b"),
              HasSubstr("prefix=a b: expected printable ASCII without spaces"));
  EXPECT_THAT(Bad("redis://h?timeout=fast"),
              HasSubstr("timeout=fast: expected a duration like 250ms or 2s"));
  EXPECT_THAT(Bad("redis://h?timeout=0"), HasSubstr("at least 1ms"));
  EXPECT_THAT(Bad("rediss://h?tls_insecure=maybe"),
              HasSubstr("tls_insecure=maybe: expected 1/0, true/false"));
  EXPECT_THAT(Bad("rediss://h?tls_ca="), HasSubstr("tls_ca=: expected a file"));
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

TEST(StoreUrlMemcached, HostsReplicasAndSasl) {
  StoreUrl u = Good("memcached://h1:11311,h2,10.0.0.3?replicas=2&prefix=s_");
  EXPECT_THAT(u.hosts, ElementsAre(IsHost("h1", 11311), IsHost("h2", 11211),
                                   IsHost("10.0.0.3", 11211)));
  EXPECT_EQ(u.IntParam("replicas", 0).value(), 2);

  u = Good("memcached://sasluser:saslpw@h1");
  EXPECT_EQ(u.user, "sasluser");
  EXPECT_EQ(u.password, "saslpw");
  EXPECT_EQ(u.IntParam("replicas", 0).value(), 0);

  EXPECT_THAT(
      Bad("memcached://h1,h2?replicas=2"),
      AllOf(HasSubstr("replicas=2: expected a whole number from 0 to 1"),
            HasSubstr("2 hosts")));
  EXPECT_THAT(Bad("memcached://h1?replicas=1"), HasSubstr("from 0 to 0"));
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
  EXPECT_THAT(Bad("mysql://u@h/db?table=1sessions"),
              HasSubstr("table=1sessions: expected an SQL identifier"));
  EXPECT_THAT(Bad("mysql://u@h/db?table=drop%20table"),
              HasSubstr("table=drop table"));
  EXPECT_TRUE(
      ParseStoreUrl("mysql://u@h/db?table=_" + std::string(63, 'a')).ok());
  EXPECT_FALSE(
      ParseStoreUrl("mysql://u@h/db?table=_" + std::string(64, 'a')).ok());
  // Each server has its own sslmode words.
  EXPECT_THAT(Bad("mysql://u@h/db?sslmode=verify-full"),
              AllOf(HasSubstr("sslmode=verify-full"),
                    HasSubstr("disabled, preferred, required, verify_ca, "
                              "verify_identity")));
  EXPECT_THAT(Bad("postgres://u@h/db?sslmode=required"),
              AllOf(HasSubstr("sslmode=required"),
                    HasSubstr("disable, allow, prefer, require, verify-ca, "
                              "verify-full")));
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

// ---------------------------------------------------------------- secrets

TEST(StoreUrlSecrets, MessagesNeverContainThePassword) {
  const std::string pw = "Sup3rS3cretPw";
  const std::vector<std::string> urls = {
      "redis://:" + pw + "@h:99999",
      "redis://:" + pw + "@h:abc",
      "redis://:" + pw + "@bad host",
      "redis://:" + pw + "@h?bogus=1",
      "redis://:" + pw + "@h?timeout=soon",
      "redis://:" + pw + "@h/notadb",
      "redis://:" + pw + "@h1,h2",
      "redis://:" + pw + "@",
      "redis://alice:" + pw + "@h?tls_ca=/x",
      "rediss://alice:" + pw + "@[::1",
      "redis+sentinel://:" + pw + "@s1",
      "redis+cluster://:" + pw + "@h1/2",
      "memcached://u:" + pw + "@h1?replicas=5",
      "mysql://u:" + pw + "@h",
      "mysql://:" + pw + "@h/db",
      "postgres://u:" + pw + "@h/db?sslmode=nope",
      "postgres://u:" + pw + "%@h/db",
      "mongodb://u:" + pw + "@h/db",
      "u:" + pw + "@h",
      // No '@host': the "port" is the password.
      "redis://u:" + pw,
      "lmdb://u:" + pw + "@/var/lib/x",
  };
  for (const std::string& url : urls) {
    std::string msg = Bad(url);
    EXPECT_THAT(msg, Not(HasSubstr(pw))) << url;
    EXPECT_THAT(msg, Not(HasSubstr("S3cret"))) << url;
  }
}

TEST(StoreUrlSecrets, UnencodedSlashOrQuestionMarkInPasswordIsNotEchoed) {
  const std::vector<std::string> urls = {
      "redis://:Sup3r/S3cret@h",       "redis://u:Sup3r?S3cret@h:6379",
      "redis://u:1234/S3cret@h/0",     "mysql://u:Sup3r/S3cret@h/db",
      "redis://:Sup3r/S3cret@h:99999", "redis+sentinel://:Sup3r?S3cret@s/m",
  };
  for (const std::string& url : urls) {
    std::string msg = Bad(url);
    EXPECT_THAT(msg, Not(HasSubstr("Sup3r"))) << url << ": " << msg;
    EXPECT_THAT(msg, Not(HasSubstr("S3cret"))) << url << ": " << msg;
    EXPECT_THAT(msg, HasSubstr("%2F")) << url;
  }
  // When the rest is valid the message says exactly what to do.
  EXPECT_THAT(Bad("redis://:Sup3r/S3cret@h"),
              HasSubstr("unencoded '/' or '?'"));
  // Encoded, the same password is fine.
  EXPECT_EQ(Good("redis://:Sup3r%2FS3cret@h").password, "Sup3r/S3cret");
}

TEST(StoreUrlSecrets, PipeInPasswordIsNotEchoedBySpec) {
  std::string msg = BadSpec("redis://u:Sup3r|S3cret@h");
  EXPECT_THAT(msg, Not(HasSubstr("Sup3r")));
  EXPECT_THAT(msg, Not(HasSubstr("S3cret")));
  EXPECT_THAT(msg, HasSubstr("%7C"));
  EXPECT_EQ(GoodSpec("redis://u:Sup3r%7CS3cret@h").at(0).password,
            "Sup3r|S3cret");
}

// ---------------------------------------------------------------- Redacted

TEST(StoreUrlRedacted, HidesPasswordKeepsUser) {
  EXPECT_EQ(Good("redis://alice:s3cret@h:6380/2?timeout=50ms").Redacted(),
            "redis://alice:***@h:6380/2?timeout=50ms");
  EXPECT_EQ(Good("redis://:s3cret@h").Redacted(), "redis://:***@h:6379");
  EXPECT_EQ(Good("redis://:@h").Redacted(), "redis://:***@h:6379");
  EXPECT_EQ(Good("redis://alice@h").Redacted(), "redis://alice@h:6379");
  EXPECT_EQ(Good("redis://h").Redacted(), "redis://h:6379");
  EXPECT_EQ(Good("mysql://u:p@h/db?table=t").Redacted(),
            "mysql://u:***@h:3306/db?table=t");
  EXPECT_EQ(Good("lmdb:///var/lib/sk?sync=full").Redacted(),
            "lmdb:///var/lib/sk?sync=full");
  EXPECT_EQ(Good("lmdb:///my%20dir%7Cx").Redacted(), "lmdb:///my%20dir%7Cx");
  EXPECT_EQ(Good("redis://al%40ice:x@h?prefix=a%26b").Redacted(),
            "redis://al%40ice:***@h:6379?prefix=a%26b");
}

TEST(StoreUrlRedacted, ReparsesToTheSameUrlWithStarsForSecrets) {
  for (const char* text :
       {"lmdb:///var/lib/x%2Cy?map_size=1GiB&mode=600",
        "redis://al%3Aice:pw@[::1]:7000/5?prefix=a%7Cb&timeout=2s",
        "redis+sentinel://:pw@s1,s2/m%40x?sentinel_password=x&db=1",
        "redis+cluster://h1:7000,h2",
        "memcached://u:p@h1,h2?replicas=1&write=async",
        "postgres://u@h/d%2Cb?sslmode=prefer"}) {
    StoreUrl u = Good(text);
    std::string redacted = u.Redacted();
    StoreUrl again = Good(redacted);
    EXPECT_EQ(again.scheme, u.scheme) << text;
    EXPECT_EQ(again.user, u.user) << text;
    EXPECT_EQ(again.has_password, u.has_password) << text;
    if (u.has_password) {
      EXPECT_EQ(again.password, "***") << text;
    }
    ASSERT_EQ(again.hosts.size(), u.hosts.size()) << text;
    for (size_t i = 0; i < u.hosts.size(); ++i) {
      EXPECT_EQ(again.hosts[i].host, u.hosts[i].host) << text;
      EXPECT_EQ(again.hosts[i].port, u.hosts[i].port) << text;
    }
    EXPECT_EQ(again.path, u.path) << text;
    ASSERT_EQ(again.params.size(), u.params.size()) << text;
    for (size_t i = 0; i < u.params.size(); ++i) {
      EXPECT_EQ(again.params[i].first, u.params[i].first);
      if (u.params[i].first != "sentinel_password") {
        EXPECT_EQ(again.params[i].second, u.params[i].second) << text;
      }
    }
    EXPECT_EQ(again.Redacted(), redacted);
    // One tier, even with commas inside.
    EXPECT_EQ(GoodSpec(redacted).size(), 1u) << redacted;
  }
}

// ---------------------------------------------------------------- getters

TEST(StoreUrlGetters, FallbackUnknownNameAndWrongType) {
  StoreUrl u = Good("lmdb:///x?sync=full");
  EXPECT_EQ(u.SizeParam("map_size", 1ull << 30).value(), 1ull << 30);
  EXPECT_EQ(u.IntParam("max_readers", 512).value(), 512);
  EXPECT_EQ(u.IntParam("mode", 0600).value(), 0600);
  EXPECT_FALSE(u.Param("map_size").has_value());
  EXPECT_EQ(u.Param("sync"), "full");

  Result<uint64_t> unknown = u.SizeParam("mapsize", 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(unknown.status().IsInvalidArgument());
  EXPECT_THAT(unknown.status().message(),
              AllOf(HasSubstr("'mapsize'"), HasSubstr("lmdb")));
  // A name defined for another scheme is still unknown here.
  EXPECT_FALSE(u.DurationParam("timeout", milliseconds(1)).ok());
  EXPECT_FALSE(u.BoolParam("tls_insecure", false).ok());
  // Defined, but not of the asked type.
  Result<bool> wrong = u.BoolParam("map_size", false);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(),
              AllOf(HasSubstr("'map_size'"), HasSubstr("a size")));
  EXPECT_FALSE(u.IntParam("sync", 0).ok());

  StoreUrl r = Good("rediss://h");
  EXPECT_TRUE(r.BoolParam("tls_insecure", true).value());
  EXPECT_FALSE(r.BoolParam("tls_insecure", false).value());
  EXPECT_EQ(r.DurationParam("connect_timeout", milliseconds(100)).value(),
            milliseconds(100));
}

TEST(StoreUrlGetters, HandBuiltValuesAreCheckedToo) {
  StoreUrl u;
  u.scheme = "lmdb";
  u.path = "/x";
  u.params = {{"map_size", "lots"}};
  Result<uint64_t> size = u.SizeParam("map_size", 1);
  ASSERT_FALSE(size.ok());
  EXPECT_THAT(size.status().message(), HasSubstr("map_size=lots"));

  StoreUrl odd;
  odd.scheme = "ftp";
  EXPECT_TRUE(odd.IntParam("x", 0).status().IsInvalidArgument());
  // Unknown parameters of a hand-built URL are not shown by Redacted().
  StoreUrl hand;
  hand.scheme = "redis";
  hand.hosts = {{"h", 1}};
  hand.params = {{"token", "t0ps3cret"}};
  EXPECT_EQ(hand.Redacted(), "redis://h:1?token=***");
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
  EXPECT_THAT(BadSpec("lmdb:///a?sync=x|redis://h"),
              AllOf(StartsWith("tier 1: "), HasSubstr("sync=x")));
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

TEST(RedactStoreSpecTest, ParsedSpecsUseRedacted) {
  EXPECT_EQ(RedactStoreSpec("lmdb:///var/lib/sk?sync=off"),
            "lmdb:///var/lib/sk?sync=off");
  EXPECT_EQ(RedactStoreSpec(" redis://u:pw@h1/2 | redis+sentinel://h1,h2/m"
                            "?sentinel_password=topsecret"),
            "redis://u:***@h1:6379/2|redis+sentinel://h1:26379,h2:26379/m"
            "?sentinel_password=***");
}

TEST(RedactStoreSpecTest, UnparsableSpecsStillHidePasswords) {
  // Each fails to parse (unknown parameter, bad port, unknown scheme), so
  // the raw-text masking is what keeps the password out.
  for (const char* spec :
       {"redis://user:hunter2@h1:6379/0?auth=hunter2&bogus=1",
        "redis://:hunter2@h1:99999", "nosuch://u:hunter2@h",
        "redis+sentinel://h1/m?sentinel_password=hunter2&x=1",
        "lmdb:///x|memcached://u:hunter2@h:1?Password=hunter2&q"}) {
    ASSERT_FALSE(ParseStoreSpec(spec).ok()) << spec;
    std::string shown = RedactStoreSpec(spec);
    EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
    EXPECT_NE(shown.find("***"), std::string::npos) << shown;
  }
  EXPECT_EQ(RedactStoreSpec("redis://user:hunter2@h1:6379/0?timeout=5ms&"
                            "password=hunter2&db=1"),
            "redis://***@h1:6379/0?timeout=5ms&password=***&db=1");
}

// A spec that does not parse may hold a password with any character (a raw
// '/', '?', '#', '|' or '@': base64 has '/'): everything between "://" and
// the last '@' is masked, whichever tier it is in.
TEST(RedactStoreSpecTest, UnparsableSpecsMaskUpToTheLastAt) {
  struct Case {
    const char* spec;
    const char* shown;
  };
  for (const Case& c : {
           Case{"redis://:ab/cdSECRET@127.0.0.1:1", "redis://***@127.0.0.1:1"},
           Case{"redis://user:ab?cdSECRET@127.0.0.1:1/0",
                "redis://***@127.0.0.1:1/0"},
           Case{"redis://:ab|cdSECRET@127.0.0.1:1", "redis://***@127.0.0.1:1"},
           Case{"redis://:ab@cd/SECRET@127.0.0.1:1", "redis://***@127.0.0.1:1"},
           Case{"redis://:ab|redis://cdSECRET@h", "redis://***@h"},
           Case{"lmdb:///tmp/x|redis://u:ab/cdSECRET@127.0.0.1:1",
                "lmdb://***@127.0.0.1:1"},
           Case{"redis://u:ab/SECRET@h1|redis://:pw2SECRET@h2:1?password=x",
                "redis://***@h2:1?password=***"},
           Case{"redis:/:ab://SECRET@h", "***@h"},
           Case{":SECRET@h", "***@h"},
           Case{"redis://h/0?password=ab|cdSECRET&db=1",
                "redis://h/0?password=***&db=1"},
           Case{"redis://h/0?x=1&Sentinel_Password=SECRET|redis://h2",
                "redis://h/0?x=1&Sentinel_Password=***|redis://h2"},
       }) {
    ASSERT_FALSE(ParseStoreSpec(c.spec).ok()) << c.spec;
    EXPECT_EQ(RedactStoreSpec(c.spec), c.shown) << c.spec;
  }
}

// The parse error of such a URL does not quote the password either.
TEST(ParseStoreUrlTest, ErrorForAtInPasswordDoesNotQuoteIt) {
  for (const char* spec : {"redis://:ab@cd/SECRET@127.0.0.1:1",
                           "redis://u:ab@cd?SECRET@127.0.0.1:1",
                           "redis://:ab/cdSECRET@127.0.0.1:1"}) {
    Result<StoreUrl> url = ParseStoreUrl(spec);
    ASSERT_FALSE(url.ok()) << spec;
    EXPECT_EQ(url.status().message().find("SECRET"), std::string::npos)
        << url.status().message();
  }
}

}  // namespace
}  // namespace sessionkit
