// The PostgreSQL store against a real postgres: the errors a misconfigured
// or missing server gives, the round trips of every step, and gc in
// batches. (postgres_fault_test.cc: restarts, killed holders, a paused
// server.)
#include "stores/postgres/postgres_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/open.h"
#include "sessionkit/stores/postgres.h"
#include "stores/postgres/pg_schema.h"
#include "stores/postgres/postgres_test_env.h"
#include "support/test_status.h"

namespace sessionkit::postgres_test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using SteadyClock = std::chrono::steady_clock;

test::PostgresServer* g_server = nullptr;

test::PostgresServerOptions ServerOptions() {
  test::PostgresServerOptions options;
  options.password = kPassword;
  options.name = "postgres-store";
  options.tls = true;
  return options;
}
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(
    new test::PostgresEnvironment(ServerOptions(), &g_server));

int64_t MsSince(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now() - t)
      .count();
}

// The url of the test server with `user`, `password` and `database`.
std::string UrlFor(const std::string& user, const std::string& password,
                   const std::string& database, const std::string& query) {
  return "postgres://" + user + ":" + password +
         "@127.0.0.1:" + std::to_string(Server()->port()) + "/" + database +
         "?" + query;
}

// The test role's url for a server on `port` of 127.0.0.1 (one that is not
// the test server).
std::string UrlAt(int port, const std::string& query) {
  return "postgres://sk:" + std::string(kPassword) +
         "@127.0.0.1:" + std::to_string(port) + "/sk_test" +
         (query.empty() ? "" : "?" + query);
}

// The error of a Read through `url`, which must fail within `bound_ms`.
Status FailingRead(const std::string& url, int64_t bound_ms) {
  Result<std::unique_ptr<Store>> store = OpenStore(url);
  if (!store.ok()) return store.status();
  const auto start = SteadyClock::now();
  Status st = (*store)->Read("some-session-id").status();
  EXPECT_LE(MsSince(start), bound_ms) << url;
  EXPECT_FALSE(st.ok() || st.IsNotFound()) << url << ": " << st.ToString();
  return st;
}

// Options of a store of the test server on `table`, with generous
// timeouts (a loaded machine).
PostgresOptions OptionsFor(const std::string& table) {
  PostgresOptions options;
  options.port = Server()->port();
  options.user = "sk";
  options.password = kPassword;
  options.has_password = true;
  options.database = "sk_test";
  options.table = table;
  options.read_timeout = Duration(10000);
  options.connect_timeout = Duration(2000);
  return options;
}

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Server() == nullptr) GTEST_SKIP() << "postgres did not start";
  }
};

TEST_F(PostgresStoreTest, WrongPasswordIsAClearError) {
  Status st = FailingRead(
      UrlFor("sk", "not-the-Pa55word", "sk_test", "connect_timeout=2s"), 2500);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), AllOf(HasSubstr("postgres://sk:***@127.0.0.1:"),
                                  HasSubstr("password authentication failed"),
                                  Not(HasSubstr("Pa55word"))));
}

TEST_F(PostgresStoreTest, UnknownDatabaseIsAClearError) {
  Status st = FailingRead(
      UrlFor("sk", kPassword, "no_such_db", "connect_timeout=2s"), 2500);
  EXPECT_THAT(st.message(),
              AllOf(HasSubstr("postgres://sk:***@"),
                    HasSubstr("database \"no_such_db\" does not exist"),
                    Not(HasSubstr(kPassword))));
}

// A role of the test database without CREATE on its schema (the database
// belongs to "sk"): "sk_dml" with password "dml-pw".
Status MakeRoleWithoutCreate() {
  return Server()
      ->Psql(
          "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
          "'sk_dml') THEN CREATE ROLE sk_dml LOGIN PASSWORD 'dml-pw'; END IF; "
          "END $$")
      .status();
}

TEST_F(PostgresStoreTest, MissingPrivilegeToCreateTheTableIsAClearError) {
  SK_ASSERT_OK(MakeRoleWithoutCreate());
  const std::string table = FreshTable();
  Status st = FailingRead(
      UrlFor("sk_dml", "dml-pw", "sk_test",
             "table=" + table + "&connect_timeout=2s&read_timeout=2s"),
      4500);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(),
              AllOf(HasSubstr("postgres://sk_dml:***@"),
                    HasSubstr("permission denied"), HasSubstr(table),
                    HasSubstr("docs/postgres.md"), Not(HasSubstr("dml-pw"))));
}

// The schema as docs/postgres.md gives it to DBAs, made by the superuser,
// with the privileges the docs list granted: a user who may not create
// anything reads, writes and locks.
TEST_F(PostgresStoreTest, SchemaMadeByADbaServesAUserWithoutCreate) {
  SK_ASSERT_OK(MakeRoleWithoutCreate());
  const std::string table = FreshTable();
  SK_ASSERT_OK(Server()->Psql(postgres::SchemaSql(table) +
                              "GRANT SELECT, INSERT, UPDATE, DELETE ON " +
                              table + ", " + table + "_locks TO sk_dml;"));
  auto store = OpenStore(UrlFor("sk_dml", "dml-pw", "sk_test",
                                "table=" + table + "&connect_timeout=2s"));
  SK_ASSERT_OK(store);
  SK_ASSERT_OK((*store)->Write("dba", "v1", Duration(60000)));
  LockRequest a;
  a.owner = LockOwner::Generate();
  auto locked = (*store)->LockAndRead("dba", a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_EQ(locked->record.data, "v1");
  SK_ASSERT_OK((*store)->WriteAndUnlock("dba", "v2", Duration(60000), a.owner));
  SK_ASSERT_OK((*store)->Destroy("dba"));
  SK_ASSERT_OK((*store)->Gc(Clock::now()));
}

TEST_F(PostgresStoreTest, TableWithWrongColumnsIsAClearError) {
  const std::string table = FreshTable();
  SK_ASSERT_OK(Server()->Psql("CREATE TABLE " + table +
                              " (id text PRIMARY KEY, data text, expires_at "
                              "bigint, updated_at bigint, version bigint, "
                              "user_id text); ALTER TABLE " +
                              table + " OWNER TO sk"));
  Status st = FailingRead(Server()->Url("table=" + table), 2000);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(),
              AllOf(HasSubstr("postgres://sk:***@"), HasSubstr(table),
                    HasSubstr("column data is text, expected bytea")));

  const std::string missing = FreshTable();
  SK_ASSERT_OK(Server()->Psql("CREATE TABLE " + missing +
                              " (id text PRIMARY KEY, data bytea); ALTER "
                              "TABLE " +
                              missing + " OWNER TO sk"));
  st = FailingRead(Server()->Url("table=" + missing), 2000);
  EXPECT_THAT(st.message(), HasSubstr("has no column expires_at"));
}

TEST_F(PostgresStoreTest, ServerDownFailsWithinTheConnectTimeout) {
  auto closed = test::ClosedPort::Make();
  SK_ASSERT_OK(closed);
  const std::string url = UrlAt((*closed)->port(), "");
  Status st = FailingRead(url, 500);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(),
              AllOf(HasSubstr("postgres://sk:***@"), HasSubstr("connect"),
                    Not(HasSubstr(kPassword))));
}

TEST_F(PostgresStoreTest, ListenerThatNeverAnswersFailsWithinTheTimeout) {
  auto hole = test::BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  const std::string url = UrlAt((*hole)->port(), "connect_timeout=150ms");
  const auto start = SteadyClock::now();
  Status st = FailingRead(url, 600);
  EXPECT_GE(MsSince(start), 140) << "gave up before the connect timeout";
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("within the timeout"));
}

// TLS as libpq's sslmode says: verify-full checks the server certificate
// against tls_ca (and its name), so a server signed by another CA is
// refused.
TEST_F(PostgresStoreTest, TlsVerifiesTheServerWithTlsCa) {
  const std::string table = FreshTable();
  auto store = Open("table=" + table +
                    "&connect_timeout=2s&sslmode=verify-full"
                    "&tls_ca=" +
                    Server()->ca_file());
  SK_ASSERT_OK(store);
  SK_ASSERT_OK((*store)->Write("tls", "over tls", Duration(60000)));
  auto ssl = Server()->Psql(
      "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a "
      "USING (pid) WHERE a.application_name = 'sessionkit' AND a.usename = "
      "'sk'");
  SK_ASSERT_OK(ssl);
  EXPECT_EQ(*ssl, "t\n") << "a connection of the store is not encrypted";

  auto other_ca = test::MakeTempDir("other-ca");
  SK_ASSERT_OK(other_ca);
  SK_ASSERT_OK(test::MakeTestCertificates(*other_ca));
  Status st = FailingRead(UrlFor("sk", kPassword, "sk_test",
                                 "table=" + table +
                                     "&connect_timeout=2s&sslmode=verify-full"
                                     "&tls_ca=" +
                                     *other_ca + "/ca.crt"),
                          2500);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("certificate verify failed"));
  test::RemoveTempDir(*other_ca);
}

// Every step is one exchange with the server (connections warmed up: the
// first ones connect, make the schema and prepare the statements).
TEST_F(PostgresStoreTest, EveryStepIsOneRoundTrip) {
  auto opened = OpenPostgresStore(OptionsFor(FreshTable()));
  SK_ASSERT_OK(opened);
  auto* store = dynamic_cast<postgres::PostgresStore*>(opened->get());
  ASSERT_NE(store, nullptr);
  LockRequest a;
  a.owner = LockOwner::Generate();
  // Warm up two connections: one pinned to a lock, one for the rest.
  SK_ASSERT_OK(store->LockAndRead("warm", a));
  SK_ASSERT_OK(store->Exists("warm"));
  SK_ASSERT_OK(store->Unlock("warm", a.owner));

  const std::string id = "round-trips";
  auto counted = [&](const char* step, auto&& call) {
    const uint64_t before = store->round_trips();
    call();
    EXPECT_EQ(store->round_trips() - before, 1u) << step;
  };
  counted("Write",
          [&] { SK_EXPECT_OK(store->Write(id, "v1", Duration(60000))); });
  counted("Read", [&] { SK_EXPECT_OK(store->Read(id)); });
  counted("Touch", [&] { SK_EXPECT_OK(store->Touch(id, Duration(60000))); });
  counted("Exists", [&] { SK_EXPECT_OK(store->Exists(id)); });
  counted("ExistsOrLocked", [&] { SK_EXPECT_OK(store->ExistsOrLocked(id)); });
  counted("LockAndRead", [&] {
    auto locked = store->LockAndRead(id, a);
    SK_ASSERT_OK(locked);
    EXPECT_TRUE(locked->acquired());
    EXPECT_EQ(locked->record.data, "v1");
  });
  counted("WriteAndUnlock", [&] {
    SK_EXPECT_OK(store->WriteAndUnlock(id, "v2", Duration(60000), a.owner));
  });
  counted("LockAndRead", [&] { SK_EXPECT_OK(store->LockAndRead(id, a)); });
  counted("TouchAndUnlock", [&] {
    SK_EXPECT_OK(store->TouchAndUnlock(id, Duration(60000), a.owner));
  });
  counted("LockAndRead", [&] { SK_EXPECT_OK(store->LockAndRead(id, a)); });
  counted("Unlock", [&] { SK_EXPECT_OK(store->Unlock(id, a.owner)); });
  counted("LockAndRead", [&] { SK_EXPECT_OK(store->LockAndRead(id, a)); });
  counted("Destroy", [&] { SK_EXPECT_OK(store->Destroy(id)); });
  counted("Destroy", [&] { SK_EXPECT_OK(store->Destroy(id)); });
  counted("Health", [&] { SK_EXPECT_OK(store->Health()); });
}

// A waiter blocked in pg_advisory_lock is woken by the server when the
// holder releases: the hand-off (from the call of the release to the
// waiter's acquire) takes about a round trip, not a polling interval.
TEST_F(PostgresStoreTest, LockHandOffIsWokenByTheRelease) {
  auto opened = OpenPostgresStore(OptionsFor(FreshTable()));
  SK_ASSERT_OK(opened);
  Store& store = **opened;
  constexpr int kHandOffs = 21;
  std::vector<int64_t> handoff_us;
  for (int i = 0; i < kHandOffs; ++i) {
    const std::string id = "handoff-" + std::to_string(i);
    LockRequest a;
    a.owner = LockOwner::Generate();
    SK_ASSERT_OK(store.LockAndRead(id, a));
    LockRequest b;
    b.owner = LockOwner::Generate();
    b.wait = Duration(5000);
    Result<LockedRead> got = Status::Internal("not run");
    SteadyClock::time_point acquired_at;
    std::thread waiter([&] {
      got = store.LockAndRead(id, b);
      acquired_at = SteadyClock::now();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const SteadyClock::time_point released_at = SteadyClock::now();
    SK_ASSERT_OK(store.WriteAndUnlock(id, "a", Duration(60000), a.owner));
    waiter.join();
    SK_ASSERT_OK(got);
    ASSERT_TRUE(got->acquired());
    EXPECT_EQ(got->record.data, "a");
    handoff_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                             acquired_at - released_at)
                             .count());
    SK_ASSERT_OK(store.Unlock(id, b.owner));
  }
  std::sort(handoff_us.begin(), handoff_us.end());
  const int64_t median_us = handoff_us[kHandOffs / 2];
  std::printf("lock hand-off: median %lld us, max %lld us\n",
              static_cast<long long>(median_us),
              static_cast<long long>(handoff_us.back()));
  EXPECT_LT(median_us, 20000);
}

// Gc deletes in batches of 1000 over the expires_at index and leaves no
// expired row (nor lock record past its retention) behind.
TEST_F(PostgresStoreTest, GcInBatchesLeavesNoExpiredRows) {
  const std::string table = FreshTable();
  auto opened = OpenPostgresStore(OptionsFor(table));
  SK_ASSERT_OK(opened);
  auto* store = dynamic_cast<postgres::PostgresStore*>(opened->get());
  for (int i = 0; i < 10; ++i) {
    SK_ASSERT_OK(
        store->Write("live-" + std::to_string(i), "live", Duration(600000)));
  }
  // 2500 expired sessions and 1200 forgotten lock records, made at once.
  SK_ASSERT_OK(Server()->Psql(
      "INSERT INTO " + table +
      " (id, data, expires_at, updated_at) SELECT 'old-' || g, "
      "'\\x616263'::bytea, 1000 + g, 1 FROM generate_series(1, 2500) g; "
      "INSERT INTO " +
      table +
      "_locks (id, owner, lease_until, conn, keep_until) SELECT 'old-' || "
      "g, 'h|1|x', 1, 1, 2 FROM generate_series(1, 1200) g"));
  const uint64_t before = store->round_trips();
  auto gc = store->Gc(Clock::now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 2500u);
  EXPECT_EQ(gc->bytes_removed, 7500u);
  // Sessions: 1000, 1000, 500; lock records: 1000, 200.
  EXPECT_EQ(store->round_trips() - before, 5u);
  auto left = Server()->Psql(
      "SELECT (SELECT count(*) FROM " + table +
      " WHERE expires_at <= (extract(epoch from now()) * 1000)::bigint) || "
      "',' || (SELECT count(*) FROM " +
      table + ") || ',' || (SELECT count(*) FROM " + table + "_locks)");
  SK_ASSERT_OK(left);
  EXPECT_EQ(*left, "0,10,0\n") << "expired rows, all rows, lock records";
}

// A database (or role) whose transactions default to repeatable read or
// serializable: the store's connections use read committed, which its
// functions are written for. Under repeatable read a lock granted after a
// wait read the lock row through a snapshot older than the release, and
// failed with a serialization error: every contended lock an outage.
TEST_F(PostgresStoreTest, AStricterDefaultIsolationChangesNothing) {
  SK_ASSERT_OK(Server()->Psql(
      "ALTER DATABASE sk_test SET default_transaction_isolation = "
      "'repeatable read'"));
  struct Reset {
    ~Reset() {
      (void)Server()->Psql(
          "ALTER DATABASE sk_test RESET default_transaction_isolation");
    }
  } reset;
  const std::string table = FreshTable();
  auto a = OpenPostgresStore(OptionsFor(table));
  auto b = OpenPostgresStore(OptionsFor(table));
  SK_ASSERT_OK(a);
  SK_ASSERT_OK(b);
  SK_ASSERT_OK((*a)->Write("isolation", "v1", Duration(600000)));
  LockRequest first;
  first.owner = LockOwner::Generate();
  first.wait = Duration(1000);
  first.lease = Duration(30000);
  auto held = (*a)->LockAndRead("isolation", first);
  SK_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired());
  LockRequest second = first;
  second.owner = LockOwner::Generate();
  second.wait = Duration(5000);
  Result<LockedRead> waited = Status::Internal("not run");
  std::thread waiter([&] { waited = (*b)->LockAndRead("isolation", second); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  SK_ASSERT_OK(
      (*a)->WriteAndUnlock("isolation", "v2", Duration(600000), first.owner));
  waiter.join();
  SK_ASSERT_OK(waited);
  ASSERT_TRUE(waited->acquired());
  EXPECT_EQ(waited->record.data, "v2");
  SK_EXPECT_OK((*b)->Unlock("isolation", second.owner));
}

}  // namespace

test::PostgresServer* Server() { return g_server; }

std::string FreshTable() {
  static int n = 0;
  return "st" + std::to_string(getpid()) + "_" + std::to_string(++n);
}

Result<std::unique_ptr<Store>> Open(const std::string& query) {
  if (g_server == nullptr) return Status::Unavailable("postgres did not start");
  return OpenStore(g_server->Url(query));
}

}  // namespace sessionkit::postgres_test
