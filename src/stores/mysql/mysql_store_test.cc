// The MariaDB/MySQL store against a real mariadbd started for this binary:
// errors (bad credentials, unknown database, missing privileges, a server
// that is down or never answers, a table of the wrong shape), round trips
// per step, prepared statements, lock hand-over between owners and gc in
// batches; a restart of the server under load and the lock of a killed
// process are in mysql_restart_test.cc. The contract itself is the
// conformance suite's (tests/conformance/mysql_conformance_test.cc).
#include "stores/mysql/mysql_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "stores/mysql/mysql_store_test_fixture.h"
#include "support/destroy_race.h"
#include "support/mariadb_server.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::mysql_test {

test::MariadbEnvironment* const kMariadb = test::MariadbEnvironment::Add(
    {.password = kPassword, .tls = true, .name = "mariadb-store"});

namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Expects `status` to be an error of the store named `url_start` (the
// redacted URL), without the password, that says `says`.
void ExpectClearError(const Status& status, const std::string& says) {
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("mysql://sk:***@127.0.0.1:"), HasSubstr(says),
                    Not(HasSubstr(kPassword))))
      << status.ToString();
}

// A lock request of a new owner that waits up to a second, for `lease`.
LockRequest NewRequest(Duration lease = Duration(10000)) {
  LockRequest request;
  request.owner = LockOwner::Generate(nullptr);
  request.wait = Duration(1000);
  request.lease = lease;
  return request;
}

// --- Errors -------------------------------------------------------------

TEST_F(MysqlStoreTest, WrongPasswordIsAClearError) {
  const std::string url = "mysql://sk:not-the-password@127.0.0.1:" +
                          std::to_string(g_server->port()) + "/" +
                          g_server->database();
  auto store = OpenStore(url);
  SK_ASSERT_OK(store);
  const auto start = SteadyClock::now();
  Status st = (*store)->Health();
  EXPECT_LT(MsSince(start), 1000);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(),
              AllOf(HasSubstr("mysql://sk:***@"), HasSubstr("Access denied"),
                    Not(HasSubstr("not-the-password"))));
}

TEST_F(MysqlStoreTest, UnknownDatabaseIsAClearError) {
  auto store = OpenStore("mysql://sk:" + std::string(kPassword) +
                         "@127.0.0.1:" + std::to_string(g_server->port()) +
                         "/no_such_db");
  SK_ASSERT_OK(store);
  Status st = (*store)->Write("abc", "x", kLong);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  ExpectClearError(st, "no_such_db");
}

TEST_F(MysqlStoreTest, MissingCreatePrivilegeIsAClearError) {
  SK_ASSERT_OK(g_server->Sql(
      "CREATE USER IF NOT EXISTS 'weak'@'127.0.0.1' IDENTIFIED BY '" +
      std::string(kPassword) + "'; GRANT SELECT, INSERT, UPDATE, DELETE ON `" +
      g_server->database() + "`.* TO 'weak'@'127.0.0.1';"));
  auto store = OpenStore("mysql://weak:" + std::string(kPassword) +
                         "@127.0.0.1:" + std::to_string(g_server->port()) +
                         "/" + g_server->database() + "?table=" + table_);
  SK_ASSERT_OK(store);
  Status st = (*store)->Write("abc", "x", kLong);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(),
              AllOf(HasSubstr("mysql://weak:***@"), HasSubstr("CREATE"),
                    HasSubstr(table_), HasSubstr("docs/mysql.md"),
                    Not(HasSubstr(kPassword))));
}

// The schema made by a user who may (a DBA, or the first deploy), then
// used by one who may not create anything: its first use only reads what
// exists (MariaDB checks the privilege to create before it looks whether
// the table or procedure exists).
TEST_F(MysqlStoreTest, SchemaMadeByADbaServesAUserWithoutCreate) {
  {
    auto dba = Open();
    SK_ASSERT_OK(dba);
    SK_ASSERT_OK((*dba)->Write("made", "by the dba", kLong));
  }
  SK_ASSERT_OK(g_server->Sql(
      "CREATE USER IF NOT EXISTS 'plain'@'127.0.0.1' IDENTIFIED BY '" +
      std::string(kPassword) +
      "'; GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE ON `" +
      g_server->database() + "`.* TO 'plain'@'127.0.0.1';"));
  auto store = OpenStore("mysql://plain:" + std::string(kPassword) +
                         "@127.0.0.1:" + std::to_string(g_server->port()) +
                         "/" + g_server->database() + "?table=" + table_);
  SK_ASSERT_OK(store);
  Result<SessionRecord> read = (*store)->Read("made");
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "by the dba");
  SK_EXPECT_OK((*store)->Write("plain", "written", kLong));
  LockRequest request = NewRequest();
  auto locked = (*store)->LockAndRead("plain", request);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  SK_EXPECT_OK(
      (*store)->WriteAndUnlock("plain", "saved", kLong, request.owner));
  SK_EXPECT_OK((*store)->Destroy("made"));
}

TEST_F(MysqlStoreTest, TableWithWrongColumnsIsAClearError) {
  SK_ASSERT_OK(
      g_server->Sql("CREATE TABLE `" + g_server->database() + "`.`" + table_ +
                    "` (id VARCHAR(256) PRIMARY KEY, data LONGBLOB, expires_at "
                    "VARCHAR(20), updated_at BIGINT, version BIGINT, user_id "
                    "VARCHAR(64))"));
  auto store = Open();
  SK_ASSERT_OK(store);
  Status st = (*store)->Write("abc", "x", kLong);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  ExpectClearError(st, "table " + g_server->database() + "." + table_ +
                           ": column expires_at is varchar, expected bigint");
  // A table without a column the store needs.
  const std::string other = NewTable();
  SK_ASSERT_OK(g_server->Sql("CREATE TABLE `" + g_server->database() + "`.`" +
                             other + "` (id VARCHAR(256) PRIMARY KEY)"));
  store = OpenStore(g_server->Url("table=" + other));
  SK_ASSERT_OK(store);
  st = (*store)->Read("abc").status();
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  ExpectClearError(st, "has no column data");
}

// MariaDB's procedure names ignore case, its table names do not: the store
// of a table whose name differs from another's only in case would call the
// other's procedures, and read and write the other table's sessions.
TEST_F(MysqlStoreTest, TablesWhoseNamesDifferOnlyInCaseDoNotShareSessions) {
  const std::string upper = "Case_" + table_;
  const std::string lower = "case_" + table_;
  auto first = OpenStore(g_server->Url("table=" + upper));
  SK_ASSERT_OK(first);
  SK_ASSERT_OK((*first)->Write("abc", "of the first table", kLong));
  auto second = OpenStore(g_server->Url("table=" + lower));
  SK_ASSERT_OK(second);
  LockRequest request;
  request.owner = LockOwner::Generate();
  Result<LockedRead> locked = (*second)->LockAndRead("abc", request);
  ASSERT_FALSE(locked.ok())
      << "the second table's store read "
      << (locked->found ? locked->record.data : "nothing");
  EXPECT_TRUE(locked.status().IsInvalidArgument())
      << locked.status().ToString();
  ExpectClearError(locked.status(), "differs from " + lower + " only in case");
  // The first table's store keeps working.
  Result<LockedRead> own = (*first)->LockAndRead("abc", request);
  SK_ASSERT_OK(own);
  ASSERT_TRUE(own->acquired());
  EXPECT_EQ(own->record.data, "of the first table");
  SK_EXPECT_OK((*first)->Unlock("abc", request.owner));
}

TEST_F(MysqlStoreTest, ServerDownFailsAtOnce) {
  auto closed = test::ClosedPort::Make();
  SK_ASSERT_OK(closed);
  auto store =
      OpenStore("mysql://sk:" + std::string(kPassword) +
                "@127.0.0.1:" + std::to_string((*closed)->port()) + "/db");
  SK_ASSERT_OK(store);
  const auto start = SteadyClock::now();
  Status st = (*store)->Read("abc").status();
  EXPECT_LT(MsSince(start), 500);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), AllOf(HasSubstr("mysql://sk:***@127.0.0.1:"),
                                  Not(HasSubstr(kPassword))));
}

TEST_F(MysqlStoreTest, ListenerThatNeverAnswersFailsWithinConnectTimeout) {
  auto hole = test::BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  auto store = OpenStore("mysql://sk:" + std::string(kPassword) +
                         "@127.0.0.1:" + std::to_string((*hole)->port()) +
                         "/db?connect_timeout=100ms");
  SK_ASSERT_OK(store);
  const auto start = SteadyClock::now();
  Status st = (*store)->Health();
  const int64_t took = MsSince(start);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("connect_timeout=100ms"));
  EXPECT_GE(took, 90);
  EXPECT_LT(took, 400);
  EXPECT_GE((*hole)->accepted(), 1);
}

TEST_F(MysqlStoreTest, PausedServerFailsWithinReadTimeout) {
  auto store = Open("&read_timeout=300ms");
  SK_ASSERT_OK(store);
  SK_ASSERT_OK((*store)->Write("paused1", "before", kLong));
  SK_ASSERT_OK(g_server->process().Pause());
  // SIGSTOP is sent, not yet acted on by every thread of the server.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = SteadyClock::now();
  Result<SessionRecord> read = (*store)->Read("paused1");
  const int64_t took = MsSince(start);
  // A new connection meets the paused server too: connect_timeout.
  auto second = Open("&read_timeout=300ms");
  const auto start2 = SteadyClock::now();
  Status health = second.ok() ? (*second)->Health() : second.status();
  const int64_t took2 = MsSince(start2);
  SK_ASSERT_OK(g_server->process().Resume());
  EXPECT_TRUE(read.status().IsUnavailable()) << read.status().ToString();
  EXPECT_THAT(read.status().message(), HasSubstr("read_timeout=300ms"));
  EXPECT_GE(took, 290);
  EXPECT_LT(took, 800);
  EXPECT_TRUE(health.IsUnavailable()) << health.ToString();
  EXPECT_LT(took2, 500);
  // Resumed: the failed connection was dropped; a new one works.
  Result<SessionRecord> again = (*store)->Read("paused1");
  SK_ASSERT_OK(again);
  EXPECT_EQ(again->data, "before");
}

// --- TLS ------------------------------------------------------------------

TEST_F(MysqlStoreTest, SslModesAreHonoured) {
  SK_ASSERT_OK(
      g_server->Sql("CREATE USER IF NOT EXISTS 'tls'@'127.0.0.1' "
                    "IDENTIFIED BY '" +
                    std::string(kPassword) + "' REQUIRE SSL; GRANT ALL ON `" +
                    g_server->database() + "`.* TO 'tls'@'127.0.0.1';"));
  const std::string base = "mysql://tls:" + std::string(kPassword) +
                           "@127.0.0.1:" + std::to_string(g_server->port()) +
                           "/" + g_server->database() + "?table=" + table_;
  auto health = [&](const std::string& query) {
    auto store = OpenStore(base + query);
    return store.ok() ? (*store)->Health() : store.status();
  };
  // The account requires TLS: refused without it.
  Status plain = health("&sslmode=disabled");
  EXPECT_TRUE(plain.IsInvalidArgument()) << plain.ToString();
  EXPECT_THAT(plain.message(), Not(HasSubstr(kPassword)));
  // preferred (the default) and required use TLS when the server offers it.
  SK_EXPECT_OK(health(""));
  SK_EXPECT_OK(health("&sslmode=required"));
  // Verified against the CA that signed the server's certificate.
  SK_EXPECT_OK(health("&sslmode=verify_ca&tls_ca=" + g_server->ca_file()));
  SK_EXPECT_OK(health("&tls_ca=" + g_server->ca_file()));
  SK_EXPECT_OK(
      health("&sslmode=verify_identity&tls_ca=" + g_server->ca_file()));
  // A CA that did not sign it: refused, naming the store.
  auto other = test::MakeTempDir("other-ca");
  SK_ASSERT_OK(other);
  SK_ASSERT_OK(test::MakeTestCertificates(*other));
  Status wrong = health("&sslmode=verify_ca&tls_ca=" + *other + "/ca.crt");
  EXPECT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.message(), AllOf(HasSubstr("mysql://tls:***@127.0.0.1:"),
                                     Not(HasSubstr(kPassword))));
  test::RemoveTempDir(*other);
}

// --- Round trips ----------------------------------------------------------

TEST_F(MysqlStoreTest, EveryStepIsOneRoundTrip) {
  auto opened = Open();
  SK_ASSERT_OK(opened);
  auto* store = dynamic_cast<mysql::MysqlStore*>(opened->get());
  ASSERT_NE(store, nullptr);
  SK_ASSERT_OK(store->Health());  // connects, creates the schema
  auto trips = [&](auto&& step) {
    const uint64_t before = store->round_trips();
    step();
    return store->round_trips() - before;
  };
  LockRequest request;
  request.owner = LockOwner::Generate();
  EXPECT_EQ(trips([&] { SK_EXPECT_OK(store->Write("rt1", "data", kLong)); }),
            1u);
  EXPECT_EQ(trips([&] { SK_EXPECT_OK(store->Read("rt1")); }), 1u);
  EXPECT_EQ(trips([&] { SK_EXPECT_OK(store->Touch("rt1", kLong)); }), 1u);
  EXPECT_EQ(trips([&] { SK_EXPECT_OK(store->Exists("rt1")); }), 1u);
  EXPECT_EQ(trips([&] { SK_EXPECT_OK(store->ExistsOrLocked("rt1")); }), 1u);
  EXPECT_EQ(trips([&] {
              auto locked = store->LockAndRead("rt1", request);
              SK_EXPECT_OK(locked);
              EXPECT_TRUE(locked.ok() && locked->acquired());
            }),
            1u);
  EXPECT_EQ(
      trips([&] {
        SK_EXPECT_OK(store->WriteAndUnlock("rt1", "new", kLong, request.owner));
      }),
      1u);
  EXPECT_EQ(trips([&] { (void)store->LockAndRead("rt1", request); }), 1u);
  EXPECT_EQ(trips([&] {
              SK_EXPECT_OK(store->TouchAndUnlock("rt1", kLong, request.owner));
            }),
            1u);
  EXPECT_EQ(trips([&] { (void)store->LockAndRead("rt1", request); }), 1u);
  EXPECT_EQ(trips([&] { SK_EXPECT_OK(store->Unlock("rt1", request.owner)); }),
            1u);
  EXPECT_EQ(trips([&] { SK_EXPECT_OK(store->Destroy("rt1")); }), 1u);
  // Destroy of a session this store holds locked: still one.
  (void)store->LockAndRead("rt2", request);
  EXPECT_EQ(trips([&] { SK_EXPECT_OK(store->Destroy("rt2")); }), 1u);
}

// A server status counter (SHOW GLOBAL STATUS), or -1.
int64_t ServerCounter(const std::string& name) {
  Result<std::string> out =
      g_server->Sql("SHOW GLOBAL STATUS LIKE '" + name + "'");
  if (!out.ok()) return -1;
  const size_t tab = out->find('\t');
  return tab == std::string::npos ? -1 : std::stoll(out->substr(tab + 1));
}

// The statements of the steps go over the binary protocol, each prepared
// on the first use of a connection only: further cycles on it execute
// them without preparing anything.
TEST_F(MysqlStoreTest, StatementsArePreparedOncePerConnection) {
  auto store = Open();
  SK_ASSERT_OK(store);
  SK_ASSERT_OK((*store)->Health());  // connects, creates the schema
  LockRequest request;
  request.owner = LockOwner::Generate();
  auto cycle = [&] {
    auto locked = (*store)->LockAndRead("prepared", request);
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->acquired());
    SK_ASSERT_OK(
        (*store)->WriteAndUnlock("prepared", "data", kLong, request.owner));
  };
  const int64_t prepared0 = ServerCounter("Com_stmt_prepare");
  const int64_t executed0 = ServerCounter("Com_stmt_execute");
  ASSERT_GE(prepared0, 0);
  ASSERT_GE(executed0, 0);
  cycle();  // prepares the lock and the release CALLs
  const int64_t prepared1 = ServerCounter("Com_stmt_prepare");
  const int64_t executed1 = ServerCounter("Com_stmt_execute");
  EXPECT_EQ(prepared1 - prepared0, 2);
  EXPECT_EQ(executed1 - executed0, 2);
  constexpr int kCycles = 20;
  for (int i = 0; i < kCycles; ++i) cycle();
  EXPECT_EQ(ServerCounter("Com_stmt_prepare") - prepared1, 0);
  EXPECT_EQ(ServerCounter("Com_stmt_execute") - executed1, 2 * kCycles);
  Result<SessionRecord> read = (*store)->Read("prepared");
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "data");
}

// --- Locks ----------------------------------------------------------------

// Another owner's Unlock (a request whose wait ran out, tidying up) changes
// nothing: the holder still writes and releases.
TEST_F(MysqlStoreTest, UnlockByAnotherOwnerLeavesTheHolderItsWrite) {
  auto store = Open();
  SK_ASSERT_OK(store);
  LockRequest a;
  a.owner = LockOwner::Generate();
  auto held = (*store)->LockAndRead("other-unlock", a);
  SK_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired());
  SK_ASSERT_OK((*store)->Unlock("other-unlock", LockOwner::Generate()));
  SK_EXPECT_OK(
      (*store)->WriteAndUnlock("other-unlock", "by a", kLong, a.owner));
  Result<SessionRecord> read = (*store)->Read("other-unlock");
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "by a");
}

// ... and leaves the lock as it was: its row still names the holder and its
// lease, so a waiter takes over when that lease runs out, naming the
// holder it broke.
TEST_F(MysqlStoreTest, UnlockByAnotherOwnerKeepsTheHoldersLease) {
  auto store_a = Open();
  auto store_b = Open();
  SK_ASSERT_OK(store_a);
  SK_ASSERT_OK(store_b);
  LockRequest a;
  a.owner = LockOwner::Generate();
  a.lease = Duration(300);
  auto held = (*store_a)->LockAndRead("other-unlock-lease", a);
  SK_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired());
  SK_ASSERT_OK((*store_b)->Unlock("other-unlock-lease", LockOwner::Generate()));
  LockRequest b;
  b.owner = LockOwner::Generate();
  b.wait = Duration(3000);
  auto taken = (*store_b)->LockAndRead("other-unlock-lease", b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired()) << "the lease of the holder was lost";
  EXPECT_EQ(taken->broken_owner, a.owner.token);
  SK_EXPECT_OK((*store_b)->Unlock("other-unlock-lease", b.owner));
}

// A holder whose connection was ended, and whose lock was then taken by a
// request that died in turn (its row left behind, the server lock free),
// must not write: the row names the other owner. Its write comes on a new
// connection, which gets the free server lock; only the row tells.
TEST_F(MysqlStoreTest, WriteOfAHolderWhoseLockPassedOnIsRefused) {
  auto store_a = Open();
  auto store_b = Open();
  SK_ASSERT_OK(store_a);
  SK_ASSERT_OK(store_b);
  const std::string id = "passed-on";
  SK_ASSERT_OK((*store_a)->Write(id, "before", kLong));
  auto end_holder = [&] {
    Result<std::string> conn =
        g_server->Sql("SELECT conn FROM `" + g_server->database() + "`.`" +
                      table_ + "_locks` WHERE id = '" + id + "'");
    SK_ASSERT_OK(conn);
    ASSERT_FALSE(conn->empty());
    SK_ASSERT_OK(g_server->Sql("KILL CONNECTION " + *conn));
  };
  LockRequest a;
  a.owner = LockOwner::Generate();
  auto held = (*store_a)->LockAndRead(id, a);
  SK_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired());
  end_holder();  // a's connection, and with it the server lock
  LockRequest b;
  b.owner = LockOwner::Generate();
  b.wait = Duration(2000);
  auto taken = (*store_b)->LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired());
  end_holder();  // b dies holding it: its row stays, the lock is free
  Status late = (*store_a)->WriteAndUnlock(id, "late a", kLong, a.owner);
  EXPECT_TRUE(late.IsLockLost()) << late.ToString();
  Result<SessionRecord> read = (*store_a)->Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "before");
}

// --- Gc -------------------------------------------------------------------

TEST_F(MysqlStoreTest, GcDeletesInBatchesAndLeavesNoExpiredRow) {
  auto opened = Open();
  SK_ASSERT_OK(opened);
  auto* store = dynamic_cast<mysql::MysqlStore*>(opened->get());
  ASSERT_NE(store, nullptr);
  SK_ASSERT_OK(store->Write("live", "still here", kLong));
  constexpr int kExpired = 2500;
  const std::string t = "`" + g_server->database() + "`.`" + table_ + "`";
  // Expired rows of 10 bytes each, and lock rows past their retention.
  SK_ASSERT_OK(g_server->Sql(
      "INSERT INTO " + t +
      " (id, data, expires_at, updated_at) SELECT CONCAT('gone', seq), "
      "'0123456789', seq, seq FROM `" +
      g_server->database() + "`.seq_1_to_" + std::to_string(kExpired) +
      "; INSERT INTO `" + g_server->database() + "`.`" + table_ +
      "_locks` (id, owner, lease_until, conn, keep_until) SELECT "
      "CONCAT('gone', seq), 'x', 1, 1, seq FROM `" +
      g_server->database() + "`.seq_1_to_1200;"));
  const uint64_t before = store->round_trips();
  Result<GcResult> gc = store->Gc(Clock::now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, static_cast<uint64_t>(kExpired));
  EXPECT_EQ(gc->bytes_removed, static_cast<uint64_t>(kExpired) * 10);
  // 1000 + 1000 + 500 sessions, 1000 + 200 lock rows.
  EXPECT_EQ(store->round_trips() - before, 5u);
  Result<std::string> left =
      g_server->Sql("SELECT COUNT(*) FROM " + t +
                    " WHERE expires_at <= UNIX_TIMESTAMP() * 1000; "
                    "SELECT COUNT(*) FROM `" +
                    g_server->database() + "`.`" + table_ + "_locks`");
  SK_ASSERT_OK(left);
  EXPECT_EQ(*left, "0\n0\n");
  SK_EXPECT_OK(store->Read("live"));
}

// A row another program wrote with an id outside PHP's charset (a quote, a
// backslash, a space) is a page's last id like any other: the scan goes on
// past it, and its bytes are never read as SQL.
TEST_F(MysqlStoreTest, AScanGoesOnPastRowsWithIdsOutsidePhpsCharset) {
  auto store = Open();
  SK_ASSERT_OK(store);
  SK_ASSERT_OK((*store)->Write("a1", "x", kLong));
  SK_ASSERT_OK((*store)->Write("z9", "x", kLong));
  const std::string t = "`" + g_server->database() + "`.`" + table_ + "`";
  SK_ASSERT_OK(g_server->Sql("INSERT INTO " + t +
                             " (id, data, expires_at, updated_at) VALUES "
                             "('b\\\\', 'x', 9999999999999, 0), "
                             "('c\\' OR 1=1 -- ', 'x', 9999999999999, 0), "
                             "('d e', 'x', 9999999999999, 0)"));
  std::vector<std::string> ids;
  ScanOptions options;
  options.limit = 1;
  for (int pages = 0; pages < 10; ++pages) {
    Result<ScanPage> page = (*store)->Scan(options);
    SK_ASSERT_OK(page);
    for (const SessionInfo& info : page->sessions) ids.push_back(info.id);
    if (page->next_cursor.empty()) break;
    options.cursor = page->next_cursor;
  }
  EXPECT_THAT(
      ids, ::testing::ElementsAre("a1", "b\\", "c' OR 1=1 -- ", "d e", "z9"));
  options.cursor = "caf\xc3\xa9";
  Result<ScanPage> bad = (*store)->Scan(options);
  EXPECT_TRUE(bad.status().IsInvalidArgument()) << bad.status().ToString();
  ExpectClearError(bad.status(),
                   "scan cursor has a non-ASCII byte at position 4");
}

// A lock taken while a destroy of the unlocked session is under way (its
// delete waits for another transaction's row lock here) may read the
// session before the delete commits; the destroy then ends it, so its
// write cannot bring the logged-out session back.
TEST_F(MysqlStoreTest, ALockTakenDuringADestroyCannotWriteTheSessionBack) {
  auto d = Open();
  auto h = Open();
  SK_ASSERT_OK(d);
  SK_ASSERT_OK(h);
  const std::string t = "`" + g_server->database() + "`.`" + table_ + "`";
  test::DestroyRace race = test::RaceADestroyAndALock(**d, **h, "racing", [&] {
    (void)g_server->Sql("BEGIN; SELECT id FROM " + t +
                        " WHERE id = 'racing' FOR UPDATE; DO SLEEP(1); "
                        "COMMIT;");
  });
  SK_ASSERT_OK(race.destroyed);
  Result<LockedRead>& locked = race.locked;
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  Status wrote =
      (*h)->WriteAndUnlock("racing", "written back", kLong, race.owner);
  if (locked->found) {
    EXPECT_TRUE(wrote.IsLockLost()) << wrote.ToString();
    EXPECT_TRUE((*h)->Read("racing").status().IsNotFound());
  } else {
    SK_EXPECT_OK(wrote);
  }
}

// A statement over the server's max_allowed_packet is refused before it is
// sent, for what it is: the server would answer it by ending the
// connection, which a client still sending sees as "server has gone away"
// (an outage, which tiers retry for ever and the breaker counts against a
// server that is up). The connection goes on; a value that fits is sent.
TEST_F(MysqlStoreTest, AStatementOverMaxAllowedPacketIsRefusedNotAnOutage) {
  Result<std::string> was = g_server->Sql("SELECT @@max_allowed_packet");
  SK_ASSERT_OK(was);
  SK_ASSERT_OK(g_server->Sql("SET GLOBAL max_allowed_packet = 65536"));
  struct Restore {
    std::string value;
    ~Restore() {
      (void)g_server->Sql("SET GLOBAL max_allowed_packet = " + value);
    }
  } restore{*was};
  auto store = Open();
  SK_ASSERT_OK(store);
  // Just under the limit: sent.
  const std::string fits(65536 - 200, 'f');
  SK_EXPECT_OK((*store)->Write("packet-fits", fits, kLong));
  EXPECT_EQ((*store)->Read("packet-fits")->data, fits);
  const std::string big(100'000, 'x');
  Status wrote = (*store)->Write("packet-big", big, kLong);
  EXPECT_TRUE(wrote.IsResourceExhausted()) << wrote.ToString();
  EXPECT_THAT(wrote.message(),
              AllOf(HasSubstr("max_allowed_packet (65536 bytes)"),
                    HasSubstr("(write of session ")));
  LockRequest request = NewRequest();
  SK_ASSERT_OK((*store)->LockAndRead("packet-locked", request));
  wrote = (*store)->WriteAndUnlock("packet-locked", big, kLong, request.owner);
  EXPECT_TRUE(wrote.IsResourceExhausted()) << wrote.ToString();
  SK_EXPECT_OK((*store)->Unlock("packet-locked", request.owner));
  // A tier's batch (text SQL, as hex) over the limit: refused the same way,
  // so that the tier applies its entries one by one instead.
  const std::string part(20'000, 'p');
  std::vector<VersionedWrite> batch;
  for (const char* id : {"packet-batch-1", "packet-batch-2"}) {
    batch.push_back({id, part, kLong});
  }
  Status applied = (*store)->WriteUnlessNewer(batch);
  EXPECT_TRUE(applied.IsResourceExhausted()) << applied.ToString();
  SK_EXPECT_OK((*store)->WriteUnlessNewer({batch[0]}));
  SK_EXPECT_OK((*store)->Write("packet-big", "small", kLong));
  EXPECT_EQ((*store)->Read("packet-big")->data, "small");
}

// A server whose sessions start with autocommit off (my.cnf, init_connect)
// or in a time zone other than UTC: the store's connections set both as it
// needs them. With autocommit off, an acknowledged write stayed in an open
// transaction that no other connection saw and that rolled back with its
// connection.
TEST_F(MysqlStoreTest, AutocommitOffOrAnotherTimeZoneOnTheServerChangeNothing) {
  SK_ASSERT_OK(g_server->Sql(
      "SET GLOBAL autocommit = 0; SET GLOBAL time_zone = '+05:00'"));
  struct Restore {
    ~Restore() {
      (void)g_server->Sql(
          "SET GLOBAL autocommit = 1; SET GLOBAL time_zone = 'SYSTEM'");
    }
  } restore;
  auto writer = Open();
  auto reader = Open();
  SK_ASSERT_OK(writer);
  SK_ASSERT_OK(reader);
  SK_ASSERT_OK((*writer)->Write("autocommit-write", "saved", kLong));
  Result<SessionRecord> read = (*reader)->Read("autocommit-write");
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "saved");
  // Locked: the release's write is seen too, and the lock is free after.
  LockRequest request = NewRequest();
  SK_ASSERT_OK((*writer)->LockAndRead("autocommit-lock", request));
  SK_ASSERT_OK((*writer)->WriteAndUnlock("autocommit-lock", "released", kLong,
                                         request.owner));
  EXPECT_EQ((*reader)->Read("autocommit-lock")->data, "released");
  LockRequest other = request;
  other.owner = LockOwner::Generate(nullptr);
  other.wait = Duration(0);
  auto again = (*reader)->LockAndRead("autocommit-lock", other);
  SK_ASSERT_OK(again);
  EXPECT_TRUE(again->acquired());
  EXPECT_EQ(again->record.data, "released");
  // The writer's connections gone: nothing rolls back.
  writer->reset();
  EXPECT_EQ((*reader)->Read("autocommit-write")->data, "saved");
}

// A logout racing the save of the request that holds the lock: a trigger
// makes the destroy's delete of the lock row (after its delete of the
// session) take half a second, and the holder's save is sent meanwhile.
// The save must not land after the session's delete (the session back
// after its logout): the destroy takes the lock from its holder before it
// deletes anything, and the save is refused.
TEST_F(MysqlStoreTest, ASaveRacingADestroyCannotWriteTheSessionBack) {
  auto d = Open();
  auto h = Open();
  SK_ASSERT_OK(d);
  SK_ASSERT_OK(h);
  SK_ASSERT_OK((*d)->Write("racing-save", "logged-in", kLong));
  LockRequest request = NewRequest(Duration(30000));
  auto held = (*h)->LockAndRead("racing-save", request);
  SK_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired());
  const std::string db = "`" + g_server->database() + "`.";
  const std::string trigger = db + "`" + table_ + "_slow_unlock`";
  SK_ASSERT_OK(g_server->Sql("CREATE TRIGGER " + trigger + " AFTER DELETE ON " +
                             db + "`" + table_ +
                             "_locks` FOR EACH ROW DO SLEEP(0.5)"));
  struct Drop {
    std::string trigger;
    ~Drop() { (void)g_server->Sql("DROP TRIGGER IF EXISTS " + trigger); }
  } drop{trigger};
  Status destroyed = Status::Internal("not run");
  std::thread destroying([&] { destroyed = (*d)->Destroy("racing-save"); });
  // The save goes once the destroy sleeps in the trigger: it has deleted
  // the session by then.
  for (int i = 0; i < 300; ++i) {
    Result<std::string> sleeping = g_server->Sql(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE STATE = 'User sleep'");
    if (sleeping.ok() && sleeping->rfind("1", 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const Status saved =
      (*h)->WriteAndUnlock("racing-save", "saved", kLong, request.owner);
  destroying.join();
  SK_EXPECT_OK(destroyed);
  Result<SessionRecord> after = (*d)->Read("racing-save");
  EXPECT_TRUE(after.status().IsNotFound())
      << "the session came back after its logout: " << after->data;
  EXPECT_FALSE(saved.ok()) << "the save was acknowledged after the logout";
}

}  // namespace
}  // namespace sessionkit::mysql_test
