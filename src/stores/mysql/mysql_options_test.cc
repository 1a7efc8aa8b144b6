// MysqlOptions::FromUrl: every setting read from a mysql:// URL, its
// default and its checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "sessionkit/open.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/mysql.h"
#include "stores/mysql/schema.h"
#include "support/test_status.h"

namespace sessionkit {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

Result<MysqlOptions> Options(const std::string& url) {
  Result<StoreUrl> parsed = ParseStoreUrl(url);
  if (!parsed.ok()) return parsed.status();
  return MysqlOptions::FromUrl(*parsed);
}

std::string Bad(const std::string& url) {
  Result<MysqlOptions> o = Options(url);
  EXPECT_FALSE(o.ok()) << url;
  EXPECT_TRUE(o.status().IsInvalidArgument()) << o.status().ToString();
  return o.status().message();
}

TEST(MysqlOptionsTest, DefaultsStandForWhatIsNotGiven) {
  Result<MysqlOptions> o = Options("mysql://app:pw@db.internal/sessions");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->host, "db.internal");
  EXPECT_EQ(o->port, 3306);
  EXPECT_EQ(o->user, "app");
  EXPECT_EQ(o->password, "pw");
  EXPECT_TRUE(o->has_password);
  EXPECT_EQ(o->database, "sessions");
  EXPECT_EQ(o->table, "sessionkit_sessions");
  EXPECT_EQ(o->connect_timeout, Duration(100));
  EXPECT_EQ(o->read_timeout, Duration(1000));
  EXPECT_EQ(o->ssl_mode, MysqlSslMode::kPreferred);
  EXPECT_EQ(o->name, "mysql://app:***@db.internal:3306/sessions");
}

TEST(MysqlOptionsTest, EverySettingIsRead) {
  Result<MysqlOptions> o = Options(
      "mysql://app:p%40ss@127.0.0.1:3307/my_db?table=php_sessions&timeout=2s"
      "&read_timeout=300ms&sslmode=verify_identity&tls_ca=/etc/ca.pem");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->port, 3307);
  EXPECT_EQ(o->password, "p@ss");
  EXPECT_EQ(o->table, "php_sessions");
  EXPECT_EQ(o->connect_timeout, Duration(2000));
  EXPECT_EQ(o->read_timeout, Duration(300));
  EXPECT_EQ(o->ssl_mode, MysqlSslMode::kVerifyIdentity);
  EXPECT_EQ(o->tls_ca, "/etc/ca.pem");
  EXPECT_THAT(o->name, Not(HasSubstr("p@ss")));
  // A CA alone asks for a verified connection.
  o = Options("mysql://u@h/db?tls_ca=/etc/ca.pem");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->ssl_mode, MysqlSslMode::kVerifyCa);
  o = Options("mysql://u@h/db?tls_ca=/etc/ca.pem&sslmode=required");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->ssl_mode, MysqlSslMode::kRequired);
}

TEST(MysqlOptionsTest, BadValuesAreNamed) {
  EXPECT_THAT(Bad("mysql://u@h/db?table=1sessions"),
              HasSubstr("table=1sessions: expected an SQL identifier"));
  EXPECT_THAT(Bad("mysql://u@h/db?table=drop%20table"),
              HasSubstr("table=drop table"));
  EXPECT_TRUE(Options("mysql://u@h/db?table=_" + std::string(47, 'a')).ok());
  EXPECT_THAT(Bad("mysql://u@h/db?table=_" + std::string(48, 'a')),
              HasSubstr("at most 48 characters"));
  EXPECT_THAT(Bad("mysql://u@h/db?sslmode=verify-full"),
              AllOf(HasSubstr("sslmode=verify-full"),
                    HasSubstr("disabled, preferred, required, verify_ca, "
                              "verify_identity")));
  EXPECT_THAT(Bad("mysql://u@h/db?timeout=0"), HasSubstr("at least 1ms"));
  EXPECT_THAT(Bad("mysql://u@h/db?read_timeout=soon"),
              HasSubstr("read_timeout=soon"));
}

TEST(MysqlOptionsTest, OpenStoreChecksBeforeConnecting) {
  Result<std::unique_ptr<Store>> store =
      OpenStore("mysql://u:secret@h/db?table=1x");
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(store.status().IsInvalidArgument());
  EXPECT_THAT(store.status().message(), Not(HasSubstr("secret")));
  // Nothing is connected before the first use.
  store = OpenStore("mysql://u:secret@nowhere.invalid/db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->name(), "mysql://u:***@nowhere.invalid:3306/db");
}

// MySQL, and a MariaDB older than the schema's SQL, are refused by name.
TEST(MysqlServerCheckTest, OnlyMariadb103AndLaterIsAccepted) {
  for (std::string_view ok :
       {"10.11.6-MariaDB-0+deb12u1", "5.5.5-10.11.6-MariaDB-log",
        "10.3.39-MariaDB", "11.4.2-MariaDB"}) {
    SK_EXPECT_OK(mysql::CheckServer("mysql://u@h/db", ok)) << ok;
  }
  for (std::string_view refused :
       {"8.0.36", "8.4.0-Percona", "10.2.44-MariaDB", "5.7.44-log", ""}) {
    Status st = mysql::CheckServer("mysql://u@h/db", refused);
    EXPECT_TRUE(st.IsInvalidArgument()) << refused;
    EXPECT_THAT(st.message(), AllOf(HasSubstr("mysql://u@h/db: the server is "),
                                    HasSubstr(std::string(refused)),
                                    HasSubstr("needs MariaDB 10.3 or later")))
        << refused;
  }
}

}  // namespace
}  // namespace sessionkit
