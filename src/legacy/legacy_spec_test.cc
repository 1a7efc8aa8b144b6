#include "legacy/legacy_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sessionkit::legacy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(LegacySpec, FilesDefaultsAreThoseOfPhp) {
  auto spec = ParseLegacySpec("files:///var/lib/php/sessions/");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->kind, LegacyKind::kFiles);
  EXPECT_EQ(spec->dir, "/var/lib/php/sessions");
  EXPECT_EQ(spec->depth, 0);
  EXPECT_EQ(spec->lifetime, Duration(1440 * 1000));
}

TEST(LegacySpec, FilesDepthAndLifetime) {
  auto spec = ParseLegacySpec("files:///srv/s?depth=2&lifetime=600");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->depth, 2);
  EXPECT_EQ(spec->lifetime, Duration(600 * 1000));
  auto unit = ParseLegacySpec("files:///srv/s?lifetime=2h");
  ASSERT_TRUE(unit.ok()) << unit.status().ToString();
  EXPECT_EQ(unit->lifetime, Duration(7200 * 1000));
}

TEST(LegacySpec, FilesErrorsNameWhatIsWrong) {
  auto relative = ParseLegacySpec("files://2;/var/lib/php/sessions");
  ASSERT_TRUE(relative.status().IsInvalidArgument());
  EXPECT_THAT(relative.status().message(), HasSubstr("depth=N"));
  auto depth = ParseLegacySpec("files:///s?depth=99");
  EXPECT_THAT(depth.status().message(), HasSubstr("depth=99"));
  auto lifetime = ParseLegacySpec("files:///s?lifetime=-5");
  EXPECT_THAT(lifetime.status().message(), HasSubstr("lifetime=-5"));
  auto unknown = ParseLegacySpec("files:///s?prefix=x");
  EXPECT_THAT(unknown.status().message(), HasSubstr("'prefix'"));
}

TEST(LegacySpec, UnknownSchemeListsTheKnownOnes) {
  auto spec = ParseLegacySpec("memcache://h:11211");
  ASSERT_TRUE(spec.status().IsInvalidArgument());
  EXPECT_THAT(spec.status().message(), HasSubstr("'memcache'"));
  EXPECT_THAT(spec.status().message(), HasSubstr("php-memcached://"));
  EXPECT_TRUE(
      ParseLegacySpec("/var/lib/php/sessions").status().IsInvalidArgument());
}

TEST(LegacySpec, RedisKindsTakeTheOldHandlersPrefix) {
  auto phpredis = ParseLegacySpec("phpredis://127.0.0.1:6380/2");
  ASSERT_TRUE(phpredis.ok()) << phpredis.status().ToString();
  EXPECT_EQ(phpredis->kind, LegacyKind::kPhpRedis);
  EXPECT_EQ(phpredis->prefix, "PHPREDIS_SESSION:");
  EXPECT_EQ(phpredis->url.hosts.at(0).port, 6380);
  EXPECT_EQ(phpredis->url.path, "2");
  auto cm = ParseLegacySpec("cm-redis://127.0.0.1?prefix=s_");
  ASSERT_TRUE(cm.ok()) << cm.status().ToString();
  EXPECT_EQ(cm->prefix, "s_");
  EXPECT_EQ(ParseLegacySpec("cm-redis://h")->prefix, "sess_");
  EXPECT_EQ(ParseLegacySpec("php-memcached://a,b:11212")->prefix,
            "memc.sess.key.");
}

TEST(LegacySpec, PasswordNeverShown) {
  auto spec = ParseLegacySpec("phpredis://:s3cret@127.0.0.1:6379");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_THAT(spec->redacted, Not(HasSubstr("s3cret")));
  EXPECT_THAT(spec->redacted, HasSubstr("phpredis://"));
  auto bad = ParseLegacySpec("pdo-mysql://app:s3cret@db:notaport/app");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("s3cret")));
  EXPECT_THAT(bad.status().message(), HasSubstr("pdo-mysql"));
}

TEST(LegacySpec, RefusesSessionkitOnlySettingsAndBadNames) {
  auto tier = ParseLegacySpec("phpredis://h?write=async");
  EXPECT_THAT(tier.status().message(), HasSubstr("'write'"));
  auto tiers = ParseLegacySpec("phpredis://h|phpredis://g");
  EXPECT_TRUE(tiers.status().IsInvalidArgument());
  auto prefix = ParseLegacySpec("phpredis://h?prefix=a%20b");
  EXPECT_THAT(prefix.status().message(), HasSubstr("prefix="));
  auto table = ParseLegacySpec("pdo-pgsql://u:p@h/db?table=s;drop");
  EXPECT_THAT(table.status().message(), HasSubstr("table="));
  auto pdo = ParseLegacySpec("pdo-pgsql://u:p@h/db");
  ASSERT_TRUE(pdo.ok()) << pdo.status().ToString();
  EXPECT_EQ(pdo->pdo.table, "sessions");
  EXPECT_EQ(pdo->pdo.id_col, "sess_id");
  EXPECT_EQ(pdo->url.scheme, "postgres");
}

TEST(LegacySpec, PdoTableAndColumnsAreSymfonysOptions) {
  auto spec = ParseLegacySpec(
      "pdo-mysql://app:s3cret@db/app?timeout=2s&table=app_sess&id_col=sid&"
      "data_col=body&lifetime_col=until&time_col=at");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->pdo.table, "app_sess");
  EXPECT_EQ(spec->pdo.id_col, "sid");
  EXPECT_EQ(spec->pdo.data_col, "body");
  EXPECT_EQ(spec->pdo.lifetime_col, "until");
  EXPECT_EQ(spec->pdo.time_col, "at");
  // The connection settings stay the store URL's.
  EXPECT_EQ(spec->url.Param("timeout").value_or(""), "2s");
  EXPECT_FALSE(spec->url.Param("table"));
  EXPECT_EQ(spec->redacted,
            "pdo-mysql://app:***@db:3306/app?timeout=2s&table=app_sess&"
            "id_col=sid&data_col=body&lifetime_col=until&time_col=at");
  auto plain = ParseLegacySpec("pdo-pgsql://u@h/db");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->redacted, "pdo-pgsql://u@h:5432/db?table=sessions");
  EXPECT_EQ(plain->pdo.time_col, "sess_time");
}

TEST(LegacySpec, PdoNamesAreCheckedAndNamed) {
  const std::vector<std::string> bads = {
      "table=s%3Bdrop",     "id_col=a%60b",  "data_col=",
      "lifetime_col=x%20y", "time_col=t%22", "table=" + std::string(65, 'a')};
  for (const std::string& bad : bads) {
    auto spec = ParseLegacySpec("pdo-mysql://u:p@h/db?" + bad);
    ASSERT_TRUE(spec.status().IsInvalidArgument()) << bad;
    const std::string name = bad.substr(0, bad.find('=') + 1);
    EXPECT_THAT(spec.status().message(), HasSubstr(name)) << bad;
    EXPECT_THAT(spec.status().message(), HasSubstr("db_")) << bad;
  }
  // Columns are the PDO specs' own: a store URL of Redis does not take them.
  EXPECT_TRUE(
      ParseLegacySpec("phpredis://h?id_col=x").status().IsInvalidArgument());
}

}  // namespace
}  // namespace sessionkit::legacy
