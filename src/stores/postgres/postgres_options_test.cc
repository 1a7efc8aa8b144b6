// PostgresOptions::FromUrl: defaults, every parameter, and the errors (no
// server needed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "sessionkit/open.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/postgres.h"
#include "stores/postgres/pg_schema.h"

namespace sessionkit {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

Result<PostgresOptions> FromUrl(const std::string& url) {
  Result<StoreUrl> parsed = ParseStoreUrl(url);
  if (!parsed.ok()) return parsed.status();
  return PostgresOptions::FromUrl(*parsed);
}

TEST(PostgresOptionsTest, DefaultsStandForParametersNotGiven) {
  Result<PostgresOptions> o = FromUrl("postgres://app:pw@db.internal/shop");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->host, "db.internal");
  EXPECT_EQ(o->port, 5432);
  EXPECT_EQ(o->user, "app");
  EXPECT_EQ(o->password, "pw");
  EXPECT_TRUE(o->has_password);
  EXPECT_EQ(o->database, "shop");
  EXPECT_EQ(o->table, "sessionkit_sessions");
  EXPECT_EQ(o->connect_timeout, Duration(100));
  EXPECT_EQ(o->read_timeout, Duration(1000));
  EXPECT_EQ(o->sslmode, "prefer");
  EXPECT_EQ(o->tls_ca, "");
  EXPECT_EQ(o->synchronous_commit, "");  // the server's own
  EXPECT_EQ(o->name, "postgres://app:***@db.internal:5432/shop");
}

TEST(PostgresOptionsTest, ReadsEveryParameter) {
  Result<PostgresOptions> o = FromUrl(
      "postgresql://app@127.0.0.1:6432/my%20db?table=php_sessions&timeout=2s"
      "&read_timeout=250ms&sslmode=verify-full&tls_ca=/etc/ca.pem&sync=off");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->port, 6432);
  EXPECT_FALSE(o->has_password);
  EXPECT_EQ(o->database, "my db");
  EXPECT_EQ(o->table, "php_sessions");
  EXPECT_EQ(o->connect_timeout, Duration(2000));  // from timeout=
  EXPECT_EQ(o->read_timeout, Duration(250));
  EXPECT_EQ(o->sslmode, "verify-full");
  EXPECT_EQ(o->tls_ca, "/etc/ca.pem");
  EXPECT_EQ(o->synchronous_commit, "off");
  EXPECT_EQ(FromUrl("postgres://app@h/db?sync=on")->synchronous_commit, "on");
}

TEST(PostgresOptionsTest, BadValuesNameTheParameterAndHideThePassword) {
  const std::string pw = "Sup3rS3cretPw";
  const std::string base = "postgres://u:" + pw + "@h/db?";
  struct Case {
    std::string query;
    std::string says;
  } cases[] = {
      {"sslmode=required",
       "disable, allow, prefer, require, verify-ca, "
       "verify-full"},
      {"table=1sessions", "table=1sessions: expected an SQL identifier"},
      {"table=drop%20table", "table=drop table"},
      {"table=t" + std::string(48, 'a'), "at most 48 characters"},
      {"timeout=0", "connect_timeout: must be from 1ms to 10m"},
      {"read_timeout=fast", "read_timeout=fast"},
      {"connect_timeout=11m", "connect_timeout: must be from 1ms to 10m"},
      {"sync=local", "sync=local: expected one of on, off"},
  };
  for (const Case& c : cases) {
    Result<PostgresOptions> o = FromUrl(base + c.query);
    ASSERT_FALSE(o.ok()) << c.query;
    EXPECT_TRUE(o.status().IsInvalidArgument()) << c.query;
    EXPECT_THAT(o.status().message(),
                AllOf(HasSubstr(c.says), HasSubstr("postgres://u:***@h"),
                      Not(HasSubstr("S3cret"))))
        << c.query;
  }
  EXPECT_TRUE(FromUrl(base + "table=t" + std::string(47, 'a')).ok());
}

TEST(PostgresOptionsTest, OpenStoreChecksNowAndConnectsLater) {
  // Nothing listens there: opening does not connect.
  Result<std::unique_ptr<Store>> store =
      OpenStore("postgres://u:pw@127.0.0.1:1/db?table=later");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->name(), "postgres://u:***@127.0.0.1:1/db?table=later");
  Result<std::unique_ptr<Store>> bad =
      OpenStore("postgres://u:pw@127.0.0.1:1/db?sslmode=on");
  EXPECT_TRUE(bad.status().IsInvalidArgument());
}

// docs/postgres.md shows DBAs the schema the store creates, word for word.
TEST(PostgresOptionsTest, DocsShowTheSchemaTheStoreCreates) {
  std::ifstream in(std::string(SK_SOURCE_DIR) + "/docs/postgres.md");
  ASSERT_TRUE(in.good());
  std::stringstream docs;
  docs << in.rdbuf();
  std::string schema = postgres::SchemaSql("sessionkit_sessions");
  while (!schema.empty() && schema.back() == '\n') schema.pop_back();
  while (!schema.empty() && schema.front() == '\n') schema.erase(0, 1);
  EXPECT_THAT(docs.str(), HasSubstr(schema))
      << "docs/postgres.md does not show the schema of pg_schema.cc";
}

}  // namespace
}  // namespace sessionkit
