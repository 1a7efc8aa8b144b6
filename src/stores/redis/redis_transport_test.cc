// The Redis store's connections: servers out of reach (a closed port, a
// connect or a reply that never comes), each failing within its timeout; a
// server that restarts or stops answering; TLS.
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
#include "stores/redis/redis_store.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::transport_test {
namespace {

using testing::AsRedis;
using testing::FullBacklog;
using ::testing::HasSubstr;
using testing::kHour;
using testing::MillisOf;
using ::testing::Not;
using testing::Open;
using testing::SharedRedisServerTest;
using testing::TestId;
using testing::UrlFor;

// Scheduling slack allowed on top of a configured timeout.
constexpr int64_t kSlackMs = 50;

// --- Unreachable servers, within their timeouts ---------------------------

TEST(RedisTimeoutTest, ClosedPortFailsAtOnce) {
  auto closed = test::ClosedPort::Make();
  SK_ASSERT_OK(closed);
  auto store = Open(UrlFor((*closed)->port(), "connect_timeout=100ms"));
  ASSERT_NE(store, nullptr);
  Status st;
  int64_t ms = MillisOf([&] { st = store->Write(TestId(20), "x", kHour); });
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("cannot connect to 127.0.0.1:" +
                                      std::to_string((*closed)->port())));
  EXPECT_THAT(st.message(), HasSubstr("refused"));
  EXPECT_THAT(st.message(), HasSubstr(store->name()));
  EXPECT_LE(ms, 100 + kSlackMs);
  EXPECT_TRUE(store->Health().IsUnavailable());
}

TEST(RedisTimeoutTest, UnansweredConnectTimesOutAfterConnectTimeout) {
  FullBacklog backlog;
  ASSERT_NE(backlog.port(), 0);
  auto store = Open(UrlFor(backlog.port(), "connect_timeout=120ms"));
  ASSERT_NE(store, nullptr);
  Status st;
  int64_t ms = MillisOf([&] { st = store->Read(TestId(21)).status(); });
  if (st.message().find("connect_timeout") == std::string::npos && ms < 100) {
    GTEST_SKIP() << "this kernel does not drop SYNs on a full backlog: "
                 << st.ToString();
  }
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("timed out after 120 ms connecting"));
  EXPECT_GE(ms, 115);
  EXPECT_LE(ms, 120 + kSlackMs);
}

TEST(RedisTimeoutTest, BlackholeFailsAfterReadTimeout) {
  auto hole = test::BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  auto store =
      Open(UrlFor((*hole)->port(), "connect_timeout=100ms&read_timeout=200ms"));
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 2; ++i) {  // also with a new connection after the first
    Status st;
    int64_t ms = MillisOf([&] { st = store->Read(TestId(22)).status(); });
    EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
    EXPECT_THAT(st.message(),
                HasSubstr("timed out after 200 ms waiting for a reply from "
                          "127.0.0.1:" +
                          std::to_string((*hole)->port())));
    EXPECT_GE(ms, 195);
    EXPECT_LE(ms, 200 + kSlackMs);
  }
  // timeout= sets both.
  auto both = Open(UrlFor((*hole)->port(), "timeout=150ms"));
  ASSERT_NE(both, nullptr);
  Status st;
  int64_t ms = MillisOf([&] { st = both->Write(TestId(22), "x", kHour); });
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_LE(ms, 150 + kSlackMs);
  EXPECT_GE(ms, 145);
}

TEST(RedisTimeoutTest, DefaultReadTimeoutIs250ms) {
  auto hole = test::BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  auto store = Open(UrlFor((*hole)->port()));
  ASSERT_NE(store, nullptr);
  Status st;
  int64_t ms = MillisOf([&] { st = store->Health(); });
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_GE(ms, 245);
  EXPECT_LE(ms, 250 + kSlackMs);
}

TEST(RedisTimeoutTest, TlsHandshakeWithABlackholeIsBoundByConnectTimeout) {
  auto hole = test::BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  auto store =
      Open(UrlFor((*hole)->port(), "connect_timeout=100ms&tls_insecure=1", "",
                  "", "rediss"));
  ASSERT_NE(store, nullptr);
  Status st;
  int64_t ms = MillisOf([&] { st = store->Health(); });
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("TLS handshake"));
  EXPECT_LE(ms, 100 + kSlackMs);
}

// --- Server restarts and a server that stops answering ---------------------

TEST(RedisRestartTest, ReconnectsAfterTheServerRestarts) {
  test::RedisServerOptions options;
  options.name = "redis-restart";
  auto server = test::StartRedis(options);
  SK_ASSERT_OK(server);
  auto store = Open(UrlFor((*server)->port(), "prefix=rs:"));
  ASSERT_NE(store, nullptr);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  const uint64_t connects = stats.connects.load();
  SK_ASSERT_OK(store->Write(TestId(30), "before", kHour));

  // Down: a clear error, fast.
  SK_ASSERT_OK((*server)->process().Stop());
  Status st;
  int64_t ms = MillisOf([&] { st = store->Write(TestId(30), "x", kHour); });
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_LE(ms, 100 + kSlackMs);

  // Back: the next call reconnects (no persistence: the data is gone).
  SK_ASSERT_OK((*server)->process().Restart());
  SK_ASSERT_OK(store->Write(TestId(30), "after", kHour));
  Result<SessionRecord> read = store->Read(TestId(30));
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "after");

  // Restarted while the pooled connection sat idle: the very next call
  // works, on a new connection.
  const uint64_t before_restart = stats.connects.load();
  SK_ASSERT_OK((*server)->process().Restart());
  SK_ASSERT_OK(store->Write(TestId(30), "again", kHour));
  EXPECT_EQ(stats.connects.load(), before_restart + 1);
  EXPECT_GE(stats.connects.load(), connects + 2);
}

TEST(RedisRestartTest, TimedOutConnectionIsNeverReused) {
  test::RedisServerOptions options;
  options.name = "redis-pause";
  auto server = test::StartRedis(options);
  SK_ASSERT_OK(server);
  auto store = Open(UrlFor((*server)->port(), "prefix=ps:&read_timeout=150ms"));
  ASSERT_NE(store, nullptr);
  SK_ASSERT_OK(store->Write(TestId(31), "one", kHour));
  SK_ASSERT_OK(store->Write(TestId(32), "two", kHour));

  SK_ASSERT_OK((*server)->process().Pause());
  Status st;
  int64_t ms = MillisOf([&] { st = store->Read(TestId(31)).status(); });
  SK_ASSERT_OK((*server)->process().Resume());
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_LE(ms, 150 + kSlackMs);
  EXPECT_EQ(AsRedis(store.get())->PoolForTesting()->IdleCountForTesting(), 0u);

  // The reply to the timed-out GET is still on its way on the old
  // connection; the next read must not see it.
  Result<SessionRecord> read = store->Read(TestId(32));
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "two");
}

// --- TLS
// -----------------------------------------------------------------------

class RedisTlsTest : public SharedRedisServerTest<RedisTlsTest> {
 protected:
  friend SharedRedisServerTest<RedisTlsTest>;
  static test::RedisServerOptions ServerOptions() {
    test::RedisServerOptions options;
    options.tls = true;
    options.name = "redis-tls";
    return options;
  }
  static std::string TlsUrl(std::string_view query) {
    return UrlFor(server_->tls_port(), query, "", "", "rediss");
  }
};

TEST_F(RedisTlsTest, VerifiedConnectionWorks) {
  auto store = Open(TlsUrl("tls_ca=" + server_->ca_file()));
  ASSERT_NE(store, nullptr);
  const std::string big(1 << 20, 'z');  // many TLS records each way
  SK_ASSERT_OK(store->Write(TestId(50), big, kHour));
  Result<SessionRecord> read = store->Read(TestId(50));
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, big);
  for (int i = 0; i < 20; ++i) SK_ASSERT_OK(store->Health());
  EXPECT_EQ(AsRedis(store.get())->StatsForTesting().connects.load(), 1u);
  // By name too: the certificate covers localhost.
  auto by_name =
      Open("rediss://localhost:" + std::to_string(server_->tls_port()) +
           "?tls_ca=" + server_->ca_file());
  ASSERT_NE(by_name, nullptr);
  SK_EXPECT_OK(by_name->Health());
}

TEST_F(RedisTlsTest, UnknownCaFailsClearly) {
  auto store = Open(TlsUrl(""));
  ASSERT_NE(store, nullptr);
  Status st = store->Health();
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(),
              HasSubstr("TLS handshake with 127.0.0.1:" +
                        std::to_string(server_->tls_port()) + " failed"));
  EXPECT_THAT(st.message(), HasSubstr("certificate verify failed"));
  EXPECT_THAT(st.message(), HasSubstr("tls_ca="));
}

TEST_F(RedisTlsTest, WrongCaFailsClearly) {
  // The server's own certificate is not a CA for itself.
  auto store = Open(TlsUrl("tls_ca=" + server_->server_cert_file()));
  ASSERT_NE(store, nullptr);
  Status st = store->Health();
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("certificate verify failed"));
}

TEST_F(RedisTlsTest, InsecureSkipsVerification) {
  auto store = Open(TlsUrl("tls_insecure=1"));
  ASSERT_NE(store, nullptr);
  SK_ASSERT_OK(store->Write(TestId(51), "insecure", kHour));
  Result<SessionRecord> read = store->Read(TestId(51));
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "insecure");
}

TEST_F(RedisTlsTest, TlsToAPlainPortSaysSo) {
  auto store =
      Open(UrlFor(server_->port(), "tls_insecure=1", "", "", "rediss"));
  ASSERT_NE(store, nullptr);
  Status st = store->Health();
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("TLS"));
}

TEST_F(RedisTlsTest, UnreadableCaFileIsRefusedAtOpen) {
  auto store = OpenStore(TlsUrl("tls_ca=/nonexistent/ca.pem"));
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(store.status().IsInvalidArgument()) << store.status().ToString();
  EXPECT_THAT(store.status().message(),
              HasSubstr("tls_ca=/nonexistent/ca.pem: cannot read the file"));
  auto key_only = OpenStore(TlsUrl("tls_key=" + server_->server_key_file()));
  ASSERT_FALSE(key_only.ok());
  EXPECT_THAT(key_only.status().message(), HasSubstr("without tls_cert"));
}

TEST_F(RedisTlsTest, ForkedChildMakesItsOwnTlsSession) {
  auto store =
      // A TLS handshake in a fresh child may exceed the default 100 ms on a
      // loaded 2-core machine; this test is about the session, not speed.
      Open(TlsUrl("tls_ca=" + server_->ca_file() +
                  "&read_timeout=781ms&connect_timeout=2s"));
  ASSERT_NE(store, nullptr);
  SK_ASSERT_OK(store->Write(TestId(52), "tls parent", kHour));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Result<SessionRecord> r = store->Read(TestId(52));
    _exit(r.ok() && r->data == "tls parent" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The parent's TLS session is intact (the child sent nothing on it).
  SK_ASSERT_OK(store->Write(TestId(52), "still", kHour));
  EXPECT_EQ(AsRedis(store.get())->StatsForTesting().connects.load(), 1u);
}

}  // namespace
}  // namespace sessionkit::redis::transport_test
