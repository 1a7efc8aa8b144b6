// Symfony's PdoSessionHandler tables on real servers started here: rows
// written by the real PdoSessionHandler in the php CLI (createTable, then
// session writes), read through their LegacySource and through the engine
// with EngineOptions::legacy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sessionkit/engine.h"
#include "sessionkit/legacy.h"
#include "sessionkit/open.h"
#include "support/mariadb_server.h"
#include "support/postgres_server.h"
#include "support/test_server.h"

#ifndef SK_PHP_BINARY
#error "SK_PHP_BINARY must name the php CLI"
#endif

namespace sessionkit {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "pdo-legacy-secret";

test::MariadbEnvironment* const kMariadb = test::MariadbEnvironment::Add(
    {.password = kPassword, .name = "mariadb-pdo"});
test::PostgresServer* g_postgres = nullptr;
const auto* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new test::PostgresEnvironment(
        {.password = kPassword, .settings = {}, .name = "postgres-pdo"},
        &g_postgres));

// One session written by PdoSessionHandler: argv is the PDO DSN, user,
// password, the handler's options (JSON), then "create" (createTable) or
// "write" with the id and a user name.
constexpr std::string_view kScript = R"php(<?php
require_once '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';
use Symfony\Component\HttpFoundation\Session\Storage\Handler\PdoSessionHandler;
$pdo = new PDO($argv[1], $argv[2], $argv[3],
               [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$handler = new PdoSessionHandler($pdo, json_decode($argv[4], true));
if ($argv[5] === 'create') { $handler->createTable(); echo "created\n"; exit; }
session_set_save_handler($handler, true);
session_id($argv[6]);
session_start();
$_SESSION['user'] = $argv[7];
$_SESSION['bin'] = "\x00\xff\x9f";
session_write_close();
echo "written\n";
)php";

// What PHP's serializer makes of the session above.
std::string Payload(const std::string& user) {
  return "user|s:" + std::to_string(user.size()) + ":\"" + user +
         "\";bin|s:3:\"" + std::string("\x00\xff\x9f", 3) + "\";";
}

enum class Db { kMysql, kPgsql };

std::string DbName(const ::testing::TestParamInfo<Db>& info) {
  return info.param == Db::kMysql ? "Mariadb" : "Postgres";
}

class LegacyPdoTest : public ::testing::TestWithParam<Db> {
 protected:
  static void SetUpTestSuite() {
    auto dir = test::MakeTempDir("legacy-pdo");
    ASSERT_TRUE(dir.ok());
    dir_ = new std::string(*dir);
    std::ofstream(*dir_ + "/pdo.php") << kScript;
  }
  static void TearDownTestSuite() {
    test::RemoveTempDirUnlessFailed(*dir_);
    delete dir_;
  }
  void SetUp() override {
    if (mysql()) {
      ASSERT_NE(kMariadb->server(), nullptr) << "mariadbd did not start";
    } else {
      ASSERT_NE(g_postgres, nullptr) << "postgres did not start";
    }
    static int n = 0;
    table_ = "sess_" + std::to_string(++n);
    engine_dir_ = *dir_ + "/engine" + std::to_string(n);
  }

  bool mysql() const { return GetParam() == Db::kMysql; }
  int port() {
    return mysql() ? kMariadb->server()->port() : g_postgres->port();
  }
  std::string Scheme() { return mysql() ? "pdo-mysql" : "pdo-pgsql"; }
  std::string Spec(const std::string& query) {
    return Scheme() + "://sk:" + kPassword +
           "@127.0.0.1:" + std::to_string(port()) + "/sk_test?table=" + table_ +
           (query.empty() ? "" : "&" + query);
  }
  // Runs `sql` as the superuser in the test database; its output.
  std::string Sql(const std::string& sql) {
    auto out = mysql() ? kMariadb->server()->Sql("USE sk_test; " + sql)
                       : g_postgres->Psql(sql);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    std::string text = out.ok() ? *out : "";
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  // Runs the script with PdoSessionHandler's `options` (JSON members).
  void Php(const std::string& options, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {
        SK_PHP_BINARY,
        "-d",
        "display_errors=stderr",
        "-d",
        "session.use_cookies=0",
        "-d",
        "session.cache_limiter=",
        "-d",
        "session.gc_probability=0",
        "-d",
        "session.gc_maxlifetime=1440",
        *dir_ + "/pdo.php",
        std::string(mysql() ? "mysql" : "pgsql") + ":host=127.0.0.1;port=" +
            std::to_string(port()) + ";dbname=sk_test",
        "sk",
        kPassword,
        "{" + options + "}"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto run = test::RunCommand(argv, Duration(30000));
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->exit_code, 0) << run->output;
  }
  // createTable, then one session per id, all with `options`.
  void Write(const std::vector<std::string>& ids,
             const std::string& options = "") {
    const std::string all = "\"db_table\":\"" + table_ + "\"" +
                            (options.empty() ? "" : ",") + options;
    // createTable's index is named EXPIRY whatever the table, and on
    // PostgreSQL index names are the schema's: one table per schema.
    if (!mysql()) Sql("DROP INDEX IF EXISTS expiry");
    Php(all, {"create"});
    for (const std::string& id : ids) Php(all, {"write", id, "u-" + id});
  }
  int Rows(const std::string& where = "1=1") {
    return std::stoi(Sql("SELECT COUNT(*) FROM " + table_ + " WHERE " + where));
  }
  std::unique_ptr<LegacySource> Open(const std::string& query = "") {
    auto source = OpenLegacySource(Spec(query));
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return source.ok() ? std::move(source).value() : nullptr;
  }
  // An engine on LMDB that falls back to `legacy`; its warnings in
  // warnings_.
  std::unique_ptr<SessionEngine> Engine(std::unique_ptr<LegacySource> legacy) {
    EngineOptions options;
    options.log = [this](LogLevel, std::string_view m) {
      warnings_.emplace_back(m);
    };
    options.legacy = std::move(legacy);
    auto engine = OpenEngine("lmdb://" + engine_dir_, std::move(options));
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return engine.ok() ? std::move(engine).value() : nullptr;
  }

  static std::string* dir_;
  std::string table_;
  std::string engine_dir_;
  std::vector<std::string> warnings_;
};

std::string* LegacyPdoTest::dir_ = nullptr;

TEST_P(LegacyPdoTest, ReadsWhatPdoSessionHandlerWroteAndDeletesIt) {
  Write({"pdo1", "pdo2"});
  auto source = Open();
  auto read = source->Read("pdo1");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->payload, Payload("u-pdo1"));
  // gc_maxlifetime=1440: the expiry PdoSessionHandler stored.
  EXPECT_GT(read->ttl, Duration(1430 * 1000));
  EXPECT_LE(read->ttl, Duration(1440 * 1000));
  EXPECT_TRUE(source->Read("pdo3").status().IsNotFound());
  ASSERT_TRUE(source->Delete("pdo1").ok());
  EXPECT_EQ(Rows("sess_id = 'pdo1'"), 0);
  EXPECT_EQ(Rows("sess_id = 'pdo2'"), 1);
  EXPECT_TRUE(source->Delete("pdo1").ok());
  EXPECT_TRUE(source->Read("pdo1").status().IsNotFound());
}

TEST_P(LegacyPdoTest, EngineMovesOnFirstWriteAndDeletesOnDestroy) {
  Write({"move1", "gone1"});
  auto engine = Engine(Open());
  ASSERT_NE(engine, nullptr);
  auto read = engine->ReadForUpdate("move1", LockOptions{});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(read->found);
  EXPECT_EQ(read->payload, Payload("u-move1"));
  EXPECT_EQ(Rows(), 2);  // a read moves nothing
  ASSERT_TRUE(engine
                  ->Write("move1", read->payload + "n|i:1;", Duration(60000),
                          read->lock)
                  .ok());
  EXPECT_EQ(Rows("sess_id = 'move1'"), 0);
  EXPECT_EQ(engine->Read("move1")->payload, Payload("u-move1") + "n|i:1;");
  // A logout deletes the old copy, though sessionkit never held it.
  ASSERT_TRUE(engine->Destroy("gone1").ok());
  EXPECT_EQ(Rows(), 0);
  EXPECT_FALSE(engine->Read("gone1")->found);
  EXPECT_TRUE(warnings_.empty()) << warnings_[0];
}

TEST_P(LegacyPdoTest, ExpiredRowsAreNotRead) {
  Write({"newexpired", "oldexpired", "oldalive"});
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  // Symfony 5.4's layout: sess_lifetime is the expiry.
  Sql("UPDATE " + table_ + " SET sess_lifetime = " + std::to_string(now - 5) +
      " WHERE sess_id = 'newexpired'");
  // Before 5.4: the lifetime after sess_time.
  Sql("UPDATE " + table_ + " SET sess_lifetime = 60, sess_time = " +
      std::to_string(now - 3600) + " WHERE sess_id = 'oldexpired'");
  Sql("UPDATE " + table_ + " SET sess_lifetime = 3600, sess_time = " +
      std::to_string(now - 60) + " WHERE sess_id = 'oldalive'");
  auto source = Open();
  EXPECT_TRUE(source->Read("newexpired").status().IsNotFound());
  EXPECT_TRUE(source->Read("oldexpired").status().IsNotFound());
  auto alive = source->Read("oldalive");
  ASSERT_TRUE(alive.ok()) << alive.status().ToString();
  EXPECT_GT(alive->ttl, Duration(3500 * 1000));
  auto engine = Engine(std::move(source));
  ASSERT_NE(engine, nullptr);
  auto read = engine->ReadForUpdate("newexpired", LockOptions{});
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found);
  EXPECT_FALSE(engine->Exists("oldexpired").value_or(true));
  EXPECT_TRUE(engine->Exists("oldalive").value_or(false));
}

TEST_P(LegacyPdoTest, PlaceholderRowOfTheLockIsNoSession) {
  Write({"real"});
  // PdoSessionHandler's transactional lock inserts an empty row for an id
  // it has not seen; it never stores an empty session.
  Sql("INSERT INTO " + table_ + " VALUES ('placeholder', '', 0, " +
      std::to_string(std::time(nullptr)) + ")");
  EXPECT_TRUE(Open()->Read("placeholder").status().IsNotFound());
}

TEST_P(LegacyPdoTest, CustomTableAndColumnsAndScan) {
  table_ = "App_Sessions_" + table_;
  std::set<std::string> written;
  std::vector<std::string> ids;
  for (int i = 0; i < 23; ++i) {
    ids.push_back("scan" + std::to_string(i));
    written.insert(ids.back());
  }
  Write(ids,
        "\"db_id_col\":\"sid\",\"db_data_col\":\"body\","
        "\"db_lifetime_col\":\"until_ts\",\"db_time_col\":\"at_ts\"");
  auto source = Open(
      "id_col=sid&data_col=body&lifetime_col=until_ts&"
      "time_col=at_ts");
  auto read = source->Read("scan7");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->payload, Payload("u-scan7"));
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = source->Scan(cursor, 10);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_LE(page->ids.size(), 10u);
    seen.insert(page->ids.begin(), page->ids.end());
    cursor = page->next_cursor;
  } while (!cursor.empty() && ++pages < 100);
  EXPECT_EQ(seen, written);
  EXPECT_EQ(pages, 2);  // 10, 10, then 3 and no cursor
  ASSERT_TRUE(source->Delete("scan7").ok());
  EXPECT_EQ(Rows("sid = 'scan7'"), 0);
  // The default columns are not there.
  auto wrong = Open()->Read("scan8");
  EXPECT_TRUE(wrong.status().IsUnavailable()) << wrong.status().ToString();
  EXPECT_THAT(wrong.status().message(), HasSubstr("sess_"));
}

TEST_P(LegacyPdoTest, BadTableNameIsRefusedNamingIt) {
  auto bad = OpenLegacySource(Spec("") + "x%60%3B+DROP+TABLE+t");
  ASSERT_TRUE(bad.status().IsInvalidArgument()) << bad.status().ToString();
  EXPECT_THAT(bad.status().message(),
              AllOf(HasSubstr("table="), HasSubstr("db_table"),
                    HasSubstr(Scheme()), Not(HasSubstr(kPassword))));
  auto column = OpenLegacySource(Spec("id_col=a.b"));
  EXPECT_THAT(column.status().message(), HasSubstr("id_col=a.b"));
  // A table the server does not have: a warning naming it, and a miss.
  table_ = "no_such_table";
  auto engine = Engine(Open());
  ASSERT_NE(engine, nullptr);
  auto read = engine->ReadForUpdate("abc1", LockOptions{});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_FALSE(read->found);
  EXPECT_EQ(read->lock.state, LockState::kHeld);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0],
              AllOf(HasSubstr("no_such_table"), HasSubstr("legacy sessions"),
                    Not(HasSubstr(kPassword))));
}

TEST_P(LegacyPdoTest, DownServerIsAWarningAndAMiss) {
  auto closed = test::ClosedPort::Make();
  ASSERT_TRUE(closed.ok());
  const std::string spec = Scheme() + "://sk:" + kPassword +
                           "@127.0.0.1:" + std::to_string((*closed)->port()) +
                           "/sk_test";
  auto source = OpenLegacySource(spec);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_TRUE((*source)->Delete("abc1").IsUnavailable());
  auto engine = Engine(std::move(source).value());
  ASSERT_NE(engine, nullptr);
  auto read = engine->ReadForUpdate("abc1", LockOptions{});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_FALSE(read->found);
  EXPECT_EQ(read->lock.state, LockState::kHeld);
  ASSERT_FALSE(warnings_.empty());
  EXPECT_THAT(warnings_[0],
              AllOf(HasSubstr("legacy sessions " + Scheme() + "://sk:***@"),
                    HasSubstr("asked again"), Not(HasSubstr(kPassword))));
  // A server that accepts and never answers: Unavailable within the
  // timeout.
  auto hole = test::BlackholeListener::Start();
  ASSERT_TRUE(hole.ok());
  auto hanging =
      OpenLegacySource(Scheme() + "://sk:" + kPassword +
                       "@127.0.0.1:" + std::to_string((*hole)->port()) +
                       "/sk_test?timeout=200ms");
  ASSERT_TRUE(hanging.ok());
  const auto start = std::chrono::steady_clock::now();
  auto hung = (*hanging)->Read("abc1");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(hung.status().IsUnavailable()) << hung.status().ToString();
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  // A wrong password is an outage too (a miss, asked again later), never a
  // read-only session, and it is not shown.
  auto denied =
      OpenLegacySource(Scheme() + "://sk:wrong-" + kPassword +
                       "@127.0.0.1:" + std::to_string(port()) + "/sk_test");
  ASSERT_TRUE(denied.ok());
  auto refused = (*denied)->Read("abc1");
  EXPECT_TRUE(refused.status().IsUnavailable()) << refused.status().ToString();
  EXPECT_THAT(refused.status().message(), Not(HasSubstr(kPassword)));
}

TEST_P(LegacyPdoTest, ConnectionClosedByTheServerIsMadeAgain) {
  Write({"kept1"});
  auto source = Open();
  ASSERT_TRUE(source->Read("kept1").ok());
  // wait_timeout or a restart ends the idle connection of a worker.
  Sql(mysql() ? "KILL USER sk"
              : "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = 'sk'");
  auto read = source->Read("kept1");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->payload, Payload("u-kept1"));
}

INSTANTIATE_TEST_SUITE_P(Pdo, LegacyPdoTest,
                         ::testing::Values(Db::kMysql, Db::kPgsql), DbName);

}  // namespace
}  // namespace sessionkit
