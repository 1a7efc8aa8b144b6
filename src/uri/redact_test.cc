// Secrets in store URLs: messages that never show them, Redacted() and
// RedactStoreSpec.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sessionkit/store_url.h"
#include "uri/store_url_test_util.h"

namespace sessionkit {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------- secrets

TEST(StoreUrlSecrets, MessagesNeverContainThePassword) {
  const std::string pw = "Sup3rS3cretPw";
  const std::vector<std::string> urls = {
      "redis://:" + pw + "@h:99999",
      "redis://:" + pw + "@h:abc",
      "redis://:" + pw + "@bad host",
      "redis://:" + pw + "@h?bogus=1",
      "redis://:" + pw + "@h/notadb",
      "redis://:" + pw + "@h1,h2",
      "redis://:" + pw + "@",
      "redis://alice:" + pw + "@h?tls_ca=/x",
      "rediss://alice:" + pw + "@[::1",
      "redis+sentinel://:" + pw + "@s1",
      "redis+cluster://:" + pw + "@h1/2",
      "memcached://u:" + pw + "@h1/path",
      "mysql://u:" + pw + "@h",
      "mysql://:" + pw + "@h/db",
      "postgres://u:" + pw + "@h/db?bogus=nope",
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

// Where the sessions are: the same whatever the settings, their order, the
// user or the password; another key prefix, database or table is elsewhere.
TEST(StoreUrlLocation, KeepsOnlyWhatLocatesTheSessions) {
  EXPECT_EQ(
      Good("redis://alice:s3cret@h:6380/2?timeout=50ms&prefix=a:").Location(),
      "redis://h:6380/2?prefix=a:");
  EXPECT_EQ(
      Good("redis://h:6380/2?prefix=a:&write=async&write_delay=2s").Location(),
      "redis://h:6380/2?prefix=a:");
  EXPECT_NE(Good("redis://h?prefix=a:").Location(),
            Good("redis://h?prefix=b:").Location());
  EXPECT_NE(Good("redis://h/1").Location(), Good("redis://h/2").Location());
  EXPECT_EQ(
      Good("mysql://u:p@h/db?read_timeout=1s&table=t&timeout=2s").Location(),
      "mysql://h:3306/db?table=t");
  EXPECT_EQ(Good("memcached://a,b?timeout=1s&replicas=1&prefix=p&failover=0")
                .Location(),
            "memcached://a:11211,b:11211?prefix=p");
  EXPECT_EQ(Good("lmdb:///var/lib/sk?sync=full&map_size=1GiB").Location(),
            "lmdb:///var/lib/sk");
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
