// The Redis store against real redis-server processes on 127.0.0.1: the
// data layout, round trips per operation (INFO commandstats), connection
// reuse, authentication and databases, fork. Servers out of reach, restarts
// and TLS: redis_transport_test.cc.
#include "stores/redis/redis_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/redis.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::store_test {
namespace {

using testing::AsRedis;
using testing::CommandCalls;
using testing::FullBacklog;
using ::testing::HasSubstr;
using testing::kHour;
using testing::MillisOf;
using ::testing::Not;
using testing::Open;
using testing::SharedRedisServerTest;
using testing::TestId;
using testing::UrlFor;

// One plain server shared by the tests that do not stop or reconfigure it.
class RedisStoreTest : public SharedRedisServerTest<RedisStoreTest> {
 protected:
  friend SharedRedisServerTest<RedisStoreTest>;

  static std::unique_ptr<Store> Fresh(std::string_view query = "") {
    return FreshStore("t", query);
  }
};

TEST_F(RedisStoreTest, RoundTrip) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(1);
  std::string data("bin\0ary\r\n$3\r\n", 13);
  const TimePoint before = Clock::now();
  SK_ASSERT_OK(store->Write(id, data, Duration(60000)));
  Result<SessionRecord> read = store->Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, data);
  EXPECT_GE(read->expires_at, before + Duration(59000));
  EXPECT_LE(read->expires_at, Clock::now() + Duration(60000));

  Result<bool> exists = store->Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_TRUE(*exists);
  SK_ASSERT_OK(store->Touch(id, kHour));
  read = store->Read(id);
  SK_ASSERT_OK(read);
  EXPECT_GE(read->expires_at, before + Duration(3599000));

  SK_ASSERT_OK(store->Destroy(id));
  EXPECT_TRUE(store->Read(id).status().IsNotFound());
  EXPECT_TRUE(store->Touch(id, kHour).IsNotFound());
  exists = store->Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
  SK_EXPECT_OK(store->Destroy(id));  // idempotent
  SK_EXPECT_OK(store->Health());
  Result<GcResult> gc = store->Gc(Clock::now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 0u);
}

TEST_F(RedisStoreTest, KeyLayoutUsesPrefixAndHashTag) {
  auto store = Fresh("prefix=app1:");
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(2);
  SK_ASSERT_OK(store->Write(id, "payload", kHour));
  Result<std::string> got = server_->Cli({"GET", "app1:{" + id + "}"});
  SK_ASSERT_OK(got);
  EXPECT_EQ(*got, "payload\n");
  Result<std::string> ttl = server_->Cli({"PTTL", "app1:{" + id + "}"});
  SK_ASSERT_OK(ttl);
  EXPECT_GT(std::stoll(*ttl), 3590000);
  EXPECT_EQ(AsRedis(store.get())->LockKey(id), "app1:{" + id + "}:lock");
  // The default prefix.
  auto plain = Open(UrlFor(server_->port()));
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(AsRedis(plain.get())->Key(id), "sk:{" + id + "}");
}

TEST_F(RedisStoreTest, NonPositiveTtlLeavesNoSession) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(3);
  SK_ASSERT_OK(store->Write(id, "x", kHour));
  SK_ASSERT_OK(store->Write(id, "y", Duration(0)));
  EXPECT_TRUE(store->Read(id).status().IsNotFound());
  SK_ASSERT_OK(store->Write(id, "x", kHour));
  SK_ASSERT_OK(store->Touch(id, Duration(-5)));
  EXPECT_TRUE(store->Read(id).status().IsNotFound());
}

TEST_F(RedisStoreTest, RefusesIdsThatCouldLeaveTheHashTag) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  Status st = store->Write("abc}def{ghijklmnopqrstuvwxyz", "x", kHour);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_TRUE(store->Read("").status().IsInvalidArgument());
}

// Read = GET + PTTL in one write, Write = one SET: counted by the server
// (INFO commandstats) and by the connection (round trips).
TEST_F(RedisStoreTest, EachOperationIsOneRoundTrip) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  const std::string id = TestId(4);
  SK_ASSERT_OK(store->Write(id, "warm", kHour));  // connected

  struct Counts {
    std::map<std::string, int64_t> calls;
    uint64_t round_trips, commands;
  };
  const std::vector<std::string> names = {"get",     "pttl", "set",
                                          "pexpire", "del",  "exists"};
  auto snapshot = [&]() {
    Counts c;
    for (const std::string& n : names) {
      Result<int64_t> calls = CommandCalls(*server_, n);
      EXPECT_TRUE(calls.ok()) << calls.status().ToString();
      c.calls[n] = calls.value_or(-1);
    }
    c.round_trips = stats.round_trips.load();
    c.commands = stats.commands.load();
    return c;
  };
  auto expect_delta = [&](const Counts& a, const Counts& b,
                          std::map<std::string, int64_t> want, const char* op) {
    for (const std::string& n : names) {
      EXPECT_EQ(b.calls.at(n) - a.calls.at(n), want[n]) << op << ": " << n;
    }
    EXPECT_EQ(b.round_trips - a.round_trips, 1u) << op << ": round trips";
  };

  Counts a = snapshot();
  SK_ASSERT_OK(store->Read(id));
  Counts b = snapshot();
  expect_delta(a, b, {{"get", 1}, {"pttl", 1}}, "Read");
  EXPECT_EQ(b.commands - a.commands, 2u);

  SK_ASSERT_OK(store->Write(id, "data", kHour));
  Counts c = snapshot();
  expect_delta(b, c, {{"set", 1}}, "Write");

  SK_ASSERT_OK(store->Touch(id, kHour));
  Counts d = snapshot();
  expect_delta(c, d, {{"pexpire", 1}}, "Touch");

  SK_ASSERT_OK(store->Exists(id));
  Counts e = snapshot();
  expect_delta(d, e, {{"exists", 1}}, "Exists");

  // Destroy is a script (it ends the session's lock too): its DELs run
  // inside it. One round trip once the server has the script.
  SK_ASSERT_OK(store->Destroy(TestId(5)));
  e = snapshot();
  SK_ASSERT_OK(store->Destroy(id));
  Counts f = snapshot();
  expect_delta(e, f, {{"del", 2}}, "Destroy");
  EXPECT_EQ(f.commands - e.commands, 1u);
}

TEST_F(RedisStoreTest, ReusesOneConnectionAcrossCalls) {
  // A configuration no other test uses, so the pool is this test's own.
  const std::string url =
      UrlFor(server_->port(), "prefix=reuse:&read_timeout=777ms");
  auto store = Open(url);
  ASSERT_NE(store, nullptr);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  for (int i = 0; i < 50; ++i) {
    SK_ASSERT_OK(store->Write(TestId(5), "v" + std::to_string(i), kHour));
    SK_ASSERT_OK(store->Read(TestId(5)));
  }
  EXPECT_EQ(stats.connects.load(), 1u);
  EXPECT_EQ(stats.round_trips.load(), 100u);
  // A store opened later with the same URL (as the next request would)
  // shares the pool and its connection.
  store.reset();
  auto again = Open(url);
  ASSERT_NE(again, nullptr);
  Result<SessionRecord> read = again->Read(TestId(5));
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "v49");
  EXPECT_EQ(AsRedis(again.get())->StatsForTesting().connects.load(), 1u);
}

TEST_F(RedisStoreTest, ThreadsUseSeparateConnections) {
  auto store = Fresh("read_timeout=778ms");
  ASSERT_NE(store, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string id = TestId(100 + t);
        const std::string v = std::to_string(t) + ":" + std::to_string(i);
        if (!store->Write(id, v, kHour).ok()) ++failures;
        Result<SessionRecord> r = store->Read(id);
        if (!r.ok() || r->data != v) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  EXPECT_LE(stats.connects.load(), 4u);
  EXPECT_GE(stats.connects.load(), 1u);
}

TEST_F(RedisStoreTest, ScanListsSessionsOnlyOnceInPages) {
  // SCAN repeats keys when the key table shrinks during the scan, as it
  // may once keys of the tests before this one expire: start empty.
  SK_ASSERT_OK(server_->Cli({"FLUSHALL"}));
  auto store = Fresh("prefix=sc*n?[x]:");  // glob characters are escaped
  ASSERT_NE(store, nullptr);
  std::map<std::string, size_t> ids;  // id -> bytes
  for (int i = 0; i < 120; ++i) {
    const std::string id = TestId(1000 + i);
    ids[id] = static_cast<size_t>(i);
    SK_ASSERT_OK(
        store->Write(id, std::string(static_cast<size_t>(i), 'x'), kHour));
  }
  // Keys that are not sessions of this store.
  SK_ASSERT_OK(server_->Cli({"SET", "sc*n?[x]:{" + TestId(1) + "}:lock", "1"}));
  SK_ASSERT_OK(server_->Cli({"SET", "scXnY[x]:{" + TestId(1) + "}", "1"}));
  SK_ASSERT_OK(server_->Cli({"SET", "sc*n?[x]:{bad id}", "1"}));
  for (size_t limit : {1u, 3u, 7u, 50u, 1000u}) {
    std::multiset<std::string> listed;
    ScanOptions options;
    options.limit = limit;
    for (int page = 0; page < 500; ++page) {
      Result<ScanPage> p = store->Scan(options);
      SK_ASSERT_OK(p);
      EXPECT_LE(p->sessions.size(), limit);
      for (const SessionInfo& info : p->sessions) {
        listed.insert(info.id);
        auto it = ids.find(info.id);
        ASSERT_NE(it, ids.end()) << "not a session of this store: " << info.id;
        EXPECT_EQ(info.bytes, it->second) << info.id;
        EXPECT_GT(info.expires_at, Clock::now() + Duration(3500000));
      }
      if (p->next_cursor.empty()) break;
      options.cursor = p->next_cursor;
    }
    std::multiset<std::string> want;
    for (const auto& [id, bytes] : ids) want.insert(id);
    EXPECT_EQ(listed, want) << "limit " << limit;
  }
  ScanOptions bad;
  bad.cursor = "12:xyz";
  EXPECT_TRUE(store->Scan(bad).status().IsInvalidArgument());
}

TEST_F(RedisStoreTest, ErrorReplyToADataCommandQuotesTheServer) {
  auto store = Fresh("prefix=wt:");
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(6);
  SK_ASSERT_OK(server_->Cli({"LPUSH", "wt:{" + id + "}", "x"}));
  Result<SessionRecord> read = store->Read(id);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInternal)
      << read.status().ToString();
  EXPECT_THAT(read.status().message(), HasSubstr("WRONGTYPE"));
  EXPECT_THAT(read.status().message(), HasSubstr(store->name()));
  EXPECT_THAT(read.status().message(), Not(HasSubstr(id)));
  // The connection stays usable: replies were all read.
  SK_ASSERT_OK(store->Write(TestId(7), "ok", kHour));
}

TEST_F(RedisStoreTest, PasswordForAServerWithoutOneIsAClearError) {
  auto store = Open(UrlFor(server_->port(), "", "unneeded-pw"));
  ASSERT_NE(store, nullptr);
  Status st = store->Health();
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("has none set"));
  EXPECT_THAT(st.message(), Not(HasSubstr("unneeded-pw")));
}

// --- Authentication and databases -------------------------------------------

class RedisAuthTest : public SharedRedisServerTest<RedisAuthTest> {
 protected:
  friend SharedRedisServerTest<RedisAuthTest>;
  static test::RedisServerOptions ServerOptions() {
    test::RedisServerOptions options;
    options.password = "s3cret-pw";
    options.name = "redis-auth";
    return options;
  }
  static void Prepare() {
    ASSERT_TRUE(
        server_
            ->Cli({"ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all"})
            .ok());
    ASSERT_TRUE(server_
                    ->Cli({"ACL", "SETUSER", "reader", "on", ">reader-pw", "~*",
                           "+get", "+pttl", "+ping"})
                    .ok());
  }
};

TEST_F(RedisAuthTest, RightPasswordWorksAndIsPipelined) {
  auto store = Open(UrlFor(server_->port(), "", "s3cret-pw", "3"));
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->name(), Not(HasSubstr("s3cret-pw")));
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  // The first call connects, authenticates, selects db 3 and reads: one
  // round trip.
  EXPECT_TRUE(store->Read(TestId(10)).status().IsNotFound());
  EXPECT_EQ(stats.round_trips.load(), 1u);
  EXPECT_EQ(stats.commands.load(), 4u);  // AUTH, SELECT, GET, PTTL
  SK_ASSERT_OK(store->Write(TestId(10), "in db 3", kHour));
  Result<std::string> db3 =
      server_->Cli({"-n", "3", "GET", "sk:{" + TestId(10) + "}"});
  SK_ASSERT_OK(db3);
  EXPECT_EQ(*db3, "in db 3\n");
}

TEST_F(RedisAuthTest, SelectGoesAloneBeforeAFirstWrite) {
  auto store = Open(UrlFor(server_->port(), "prefix=sel:", "s3cret-pw", "4"));
  ASSERT_NE(store, nullptr);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  SK_ASSERT_OK(store->Write(TestId(15), "in db 4", kHour));
  EXPECT_EQ(stats.round_trips.load(), 2u);  // AUTH + SELECT, then SET
  SK_ASSERT_OK(store->Write(TestId(15), "again", kHour));
  EXPECT_EQ(stats.round_trips.load(), 3u);
  Result<std::string> db4 =
      server_->Cli({"-n", "4", "GET", "sel:{" + TestId(15) + "}"});
  SK_ASSERT_OK(db4);
  EXPECT_EQ(*db4, "again\n");
}

TEST_F(RedisAuthTest, WrongPasswordIsAClearError) {
  auto store = Open(UrlFor(server_->port(), "", "not-the-pw"));
  ASSERT_NE(store, nullptr);
  Result<SessionRecord> read = store->Read(TestId(11));
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(read.status().IsInvalidArgument()) << read.status().ToString();
  EXPECT_THAT(read.status().message(), HasSubstr("wrong password or user"));
  EXPECT_THAT(read.status().message(), HasSubstr(store->name()));
  EXPECT_THAT(read.status().message(),
              HasSubstr("127.0.0.1:" + std::to_string(server_->port())));
  EXPECT_THAT(read.status().message(), Not(HasSubstr("not-the-pw")));
  Status write = store->Write(TestId(11), "x", kHour);
  EXPECT_TRUE(write.IsInvalidArgument()) << write.ToString();
}

TEST_F(RedisAuthTest, MissingPasswordSaysOneIsRequired) {
  auto store = Open(UrlFor(server_->port()));
  ASSERT_NE(store, nullptr);
  Status st = store->Write(TestId(12), "x", kHour);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("requires a password"));
}

TEST_F(RedisAuthTest, AclUserAndPassword) {
  auto store = Open("redis://alice:alice-pw@127.0.0.1:" +
                    std::to_string(server_->port()));
  ASSERT_NE(store, nullptr);
  SK_ASSERT_OK(store->Write(TestId(13), "alice's", kHour));
  Result<SessionRecord> read = store->Read(TestId(13));
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "alice's");

  auto wrong =
      Open("redis://alice:bob-pw@127.0.0.1:" + std::to_string(server_->port()));
  ASSERT_NE(wrong, nullptr);
  Status st = wrong->Health();
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("wrong password or user"));
  EXPECT_THAT(st.message(), Not(HasSubstr("bob-pw")));

  // A user without the right to SET: the server's refusal, named.
  auto reader = Open("redis://reader:reader-pw@127.0.0.1:" +
                     std::to_string(server_->port()));
  ASSERT_NE(reader, nullptr);
  SK_ASSERT_OK(reader->Read(TestId(13)));
  st = reader->Write(TestId(13), "x", kHour);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("may not run SET"));
}

TEST_F(RedisAuthTest, UnknownDbIsAClearErrorAndWritesNothing) {
  const std::string url = UrlFor(server_->port(), "", "s3cret-pw", "99");
  auto store = Open(url);
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(14);
  // A write: SELECT goes first, alone, so a refused SELECT cannot let the
  // SET land in database 0.
  Status st = store->Write(id, "lost?", kHour);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("database 99 does not exist"));
  EXPECT_THAT(st.message(), HasSubstr(store->name()));
  Result<std::string> db0 = server_->Cli({"EXISTS", "sk:{" + id + "}"});
  SK_ASSERT_OK(db0);
  EXPECT_EQ(*db0, "0\n");
  // A read (SELECT pipelined with it): the same error.
  Result<SessionRecord> read = store->Read(id);
  EXPECT_TRUE(read.status().IsInvalidArgument()) << read.status().ToString();
  EXPECT_THAT(read.status().message(), HasSubstr("database 99"));
}

// --- fork() ------------------------------------------------------------------

TEST_F(RedisStoreTest, ForkedChildUsesItsOwnConnection) {
  auto store = Fresh("read_timeout=779ms");
  ASSERT_NE(store, nullptr);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  SK_ASSERT_OK(store->Write(TestId(40), "parent", kHour));
  ASSERT_EQ(stats.connects.load(), 1u);
  Result<std::string> clients = server_->Cli({"INFO", "clients"});
  SK_ASSERT_OK(clients);

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: its own connection (connects goes up), the parent's
    // socket untouched.
    int code = 0;
    if (!store->Write(TestId(41), "child", kHour).ok()) code |= 1;
    Result<SessionRecord> r = store->Read(TestId(40));
    if (!r.ok() || r->data != "parent") code |= 2;
    if (stats.connects.load() != 2u) code |= 4;
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: write, 2: read, 4: no new connect";

  // The parent's connection still works, and was not replaced.
  Result<SessionRecord> r = store->Read(TestId(41));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, "child");
  EXPECT_EQ(stats.connects.load(), 1u);
}

}  // namespace
}  // namespace sessionkit::redis::store_test
