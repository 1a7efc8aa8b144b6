// The connection layer on its own: wire format, pipelining, error replies,
// broken and stale connections, and the error mapping.
#include "stores/redis/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "stores/redis/connection_internal.h"
#include "stores/redis/pool.h"
#include "stores/redis/sentinel_topology.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::connection_test {
namespace {

using ::testing::HasSubstr;
using testing::SharedRedisServerTest;

TEST(RedisWireTest, FormatsCommandsAsRespArrays) {
  std::string wire;
  std::string binary("a\0b", 3);
  const Command commands[] = {{{"SET", "k", binary}}, {{"GET", ""}}};
  FormatCommands(commands, &wire);
  EXPECT_EQ(wire, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n" + binary +
                      "\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
}

TEST(RedisWireTest, EndpointNamesIpv6InBrackets) {
  EXPECT_EQ((Endpoint{"127.0.0.1", 6379}).ToString(), "127.0.0.1:6379");
  EXPECT_EQ((Endpoint{"::1", 6380}).ToString(), "[::1]:6380");
}

TEST(RedisWireTest, ErrorRepliesMapToCodes) {
  const Endpoint ep{"127.0.0.1", 6379};
  auto code = [&](std::string_view error) {
    return StatusFromErrorReply("redis://h", ep, "GET", error).code();
  };
  EXPECT_EQ(code("NOAUTH Authentication required."),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code("WRONGPASS invalid username-password pair"),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code("NOPERM this user has no permissions"),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code("LOADING Redis is loading the dataset in memory"),
            StatusCode::kUnavailable);
  EXPECT_EQ(code("READONLY You can't write against a read only replica."),
            StatusCode::kUnavailable);
  EXPECT_EQ(code("OOM command not allowed when used memory > 'maxmemory'."),
            StatusCode::kUnavailable);
  EXPECT_EQ(code("MOVED 3999 127.0.0.1:6381"), StatusCode::kUnavailable);
  EXPECT_EQ(code("WRONGTYPE Operation against a key holding the wrong kind"),
            StatusCode::kInternal);
  Status st = StatusFromErrorReply("redis://h", ep, "GET",
                                   std::string("ERR bad\r\n\x01", 10));
  EXPECT_THAT(st.message(), HasSubstr("redis://h: GET on 127.0.0.1:6379"));
  EXPECT_THAT(st.message(), HasSubstr("the server says: ERR bad???"));
}

// A write refused inside a Lua script (EVALSHA of the locking scripts) on a
// master demoted to a replica: Redis 7 leads with READONLY, Redis 6 wraps
// it in the script's failure. Both are a failover, as a plain READONLY is:
// Unavailable, and the sentinel topology looks for the new master.
TEST(RedisWireTest, WritesRefusedInsideScriptsMapAsTheirCommandsErrors) {
  const Endpoint ep{"127.0.0.1", 6379};
  const std::string sha = "f_9ab5e3a0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6";
  auto redis6 = [&](std::string_view refusal) {
    return "ERR Error running script (call to " + sha +
           "): @user_script:12: @user_script: 12: -" + std::string(refusal);
  };
  const std::string readonly =
      "READONLY You can't write against a read only replica.";
  const std::string redis7 =
      readonly + " script: " + sha.substr(2) + ", on @user_script:12.";
  auto code = [&](std::string_view error) {
    return StatusFromErrorReply("redis://h", ep, "EVALSHA", error).code();
  };
  EXPECT_EQ(code(redis7), StatusCode::kUnavailable);
  EXPECT_EQ(code(redis6(readonly)), StatusCode::kUnavailable);
  // What follows the refusal does not matter (Redis 6 may end it with the
  // spaces it puts for line ends).
  EXPECT_EQ(code(redis6(readonly + "   ")), StatusCode::kUnavailable);
  // Refused before the script's first write too, so it wrote nothing.
  EXPECT_EQ(code(redis6("OOM command not allowed when used memory > "
                        "'maxmemory'.")),
            StatusCode::kUnavailable);
  EXPECT_EQ(code(redis6("MISCONF Redis is configured to save RDB "
                        "snapshots, but it's currently unable to persist")),
            StatusCode::kUnavailable);
  // A script stopped by any other error may have written: not rerun.
  EXPECT_EQ(code(redis6("WRONGTYPE Operation against a key holding the "
                        "wrong kind of value")),
            StatusCode::kInternal);
  EXPECT_EQ(code(redis6("MOVED 3999 127.0.0.1:6381")), StatusCode::kInternal);
  EXPECT_EQ(code("ERR Error running script (call to " + sha +
                 "): @user_script:12: Script attempted to access a non "
                 "local key in a cluster node"),
            StatusCode::kInternal);
  // The server's whole text is quoted.
  EXPECT_THAT(StatusFromErrorReply("redis://h", ep, "EVALSHA", redis6(readonly))
                  .message(),
              HasSubstr("the server says: ERR Error running script"));

  // The sentinel topology takes both for a demoted master.
  RedisOptions options;
  options.mode = RedisMode::kSentinel;
  options.master_name = "mymaster";
  SentinelTopology sentinel(
      options, std::make_shared<ConnectionPool>(ConnectionOptions{}),
      std::make_shared<ConnectionPool>(ConnectionOptions{}));
  auto kind = [&](std::string_view error) {
    return sentinel.OnErrorReply(ep, error).kind;
  };
  EXPECT_EQ(kind(readonly), Redirect::Kind::kRetry);
  EXPECT_EQ(kind(redis7), Redirect::Kind::kRetry);
  EXPECT_EQ(kind(redis6(readonly)), Redirect::Kind::kRetry);
  EXPECT_EQ(kind(redis6("WRONGTYPE Operation against a key holding the "
                        "wrong kind of value")),
            Redirect::Kind::kNone);
}

class RedisConnectionTest : public SharedRedisServerTest<RedisConnectionTest> {
 protected:
  friend SharedRedisServerTest<RedisConnectionTest>;
  static test::RedisServerOptions ServerOptions() {
    test::RedisServerOptions options;
    options.name = "redis-conn";
    return options;
  }

  ConnectionOptions Options() {
    ConnectionOptions o;
    o.endpoint = Endpoint{"127.0.0.1", static_cast<uint16_t>(server_->port())};
    o.store_name = "redis://test";
    o.stats = &stats_;
    return o;
  }

  ConnectionStats stats_;
};

TEST_F(RedisConnectionTest, PipelinesManyCommandsInOneRoundTrip) {
  Connection conn(Options());
  std::vector<Command> commands(1000, Command{{"INCR", "conn:counter"}});
  std::vector<Reply> replies;
  SK_ASSERT_OK(conn.Execute(commands, &replies));
  ASSERT_EQ(replies.size(), 1000u);
  const int64_t first = replies[0].integer;
  for (size_t i = 0; i < replies.size(); ++i) {
    ASSERT_EQ(replies[i].type, Reply::Type::kInteger);
    EXPECT_EQ(replies[i].integer, first + static_cast<int64_t>(i));
  }
  EXPECT_EQ(stats_.round_trips.load(), 1u);
  EXPECT_EQ(stats_.commands.load(), 1000u);
  EXPECT_EQ(stats_.connects.load(), 1u);
  EXPECT_TRUE(conn.usable());
}

TEST_F(RedisConnectionTest, ErrorReplyIsAReplyAndKeepsTheConnection) {
  Connection conn(Options());
  std::vector<Reply> replies;
  const Command commands[] = {{{"NOSUCHCOMMAND"}}, {{"PING"}}};
  SK_ASSERT_OK(conn.Execute(commands, &replies));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_TRUE(replies[0].is_error());
  EXPECT_THAT(replies[0].str, HasSubstr("unknown command"));
  EXPECT_TRUE(replies[1].Is("PONG"));
  EXPECT_TRUE(conn.usable());
}

TEST_F(RedisConnectionTest, NestedRepliesAreCopied) {
  Connection conn(Options());
  std::vector<Reply> replies;
  const Command commands[] = {{{"DEL", "conn:list"}},
                              {{"RPUSH", "conn:list", "a", "", "c"}},
                              {{"LRANGE", "conn:list", "0", "-1"}},
                              {{"GET", "conn:none"}}};
  SK_ASSERT_OK(conn.Execute(commands, &replies));
  ASSERT_EQ(replies.size(), 4u);
  ASSERT_EQ(replies[2].type, Reply::Type::kArray);
  ASSERT_EQ(replies[2].elements.size(), 3u);
  EXPECT_EQ(replies[2].elements[0].str, "a");
  EXPECT_EQ(replies[2].elements[1].str, "");
  EXPECT_TRUE(replies[3].is_nil());
}

// An array header above kMaxReplyElements is a protocol error at the
// header, before hiredis allocates its element table; one at the cap reads.
TEST_F(RedisConnectionTest, ArrayAboveTheElementCapIsRefusedAtItsHeader) {
  const std::string at_cap = std::to_string(kMaxReplyElements);
  const std::string above = std::to_string(kMaxReplyElements + 1);
  const std::string script =
      "local t = {} for i = 1, tonumber(ARGV[1]) do t[i] = 1 end return t";
  ConnectionOptions options = Options();
  options.read_timeout = Duration(5000);
  {
    Connection conn(options);
    std::vector<Reply> replies;
    const Command within[] = {{{"EVAL", script, "0", at_cap}}};
    SK_ASSERT_OK(conn.Execute(within, &replies));
    ASSERT_EQ(replies[0].type, Reply::Type::kArray);
    EXPECT_EQ(replies[0].elements.size(),
              static_cast<size_t>(kMaxReplyElements));
  }
  Connection conn(options);
  std::vector<Reply> replies;
  const Command over[] = {{{"EVAL", script, "0", above}}};
  Status st = conn.Execute(over, &replies);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("protocol error"));
  EXPECT_FALSE(conn.usable());
}

// A connection idle for a second or more is looked at before reuse; one
// used more recently is not (a close since then fails the next Execute as
// stale, see below).
TEST_F(RedisConnectionTest, ServerClosingAnIdleConnectionIsSeen) {
  Connection conn(Options());
  std::vector<Reply> replies;
  const Command setname[] = {{{"CLIENT", "SETNAME", "victim"}}};
  SK_ASSERT_OK(conn.Execute(setname, &replies));
  const auto used = std::chrono::steady_clock::now();
  EXPECT_TRUE(conn.CheckIdle());
  Result<std::string> killed =
      server_->Cli({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  SK_ASSERT_OK(killed);
  std::this_thread::sleep_until(used + std::chrono::milliseconds(1010));
  // The FIN arrived long ago on loopback.
  EXPECT_FALSE(conn.CheckIdle());
  EXPECT_FALSE(conn.usable());
}

TEST_F(RedisConnectionTest, FailureOnAConnectionClosedWhileIdleIsStale) {
  Connection conn(Options());
  std::vector<Reply> replies;
  const Command ping[] = {{{"PING"}}};
  SK_ASSERT_OK(conn.Execute(ping, &replies));
  SK_ASSERT_OK(
      server_->Cli({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Status st = conn.Execute(ping, &replies);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_TRUE(conn.last_failure_was_stale());
  EXPECT_FALSE(conn.usable());
  // A fresh connection's failure is never called stale.
  ConnectionOptions o = Options();
  auto closed = test::ClosedPort::Make();
  SK_ASSERT_OK(closed);
  o.endpoint.port = static_cast<uint16_t>((*closed)->port());
  Connection fresh(o);
  EXPECT_FALSE(fresh.Execute(ping, &replies).ok());
  EXPECT_FALSE(fresh.last_failure_was_stale());
}

// A command the server holds on purpose (BLPOP with a timeout) gets its
// blocking time on top of read_timeout; without it, it times out.
TEST_F(RedisConnectionTest, BlockingCommandExtendsTheReadTimeout) {
  ConnectionOptions o = Options();
  o.read_timeout = Duration(100);
  Connection conn(o);
  std::vector<Reply> replies;
  const Command blpop[] = {{{"BLPOP", "conn:empty", "0.3"}}};
  SK_ASSERT_OK(conn.Execute(blpop, &replies, false, Duration(400)));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].is_nil());
  EXPECT_TRUE(conn.usable());
  Status st = conn.Execute(blpop, &replies);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("timed out after 100 ms"));
  EXPECT_FALSE(conn.usable());
  Connection other(o);
  st = other.Execute(blpop, &replies, false, Duration(50));
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(),
              HasSubstr("timed out after 150 ms waiting for a reply from "
                        "127.0.0.1:" +
                        std::to_string(server_->port()) +
                        " (read_timeout plus 50 ms allowed for a blocking "
                        "command)"));
}

TEST_F(RedisConnectionTest, PoolHandsOutIdleConnectionsAndDropsBroken) {
  ConnectionPool pool(Options());
  const Endpoint ep = Options().endpoint;
  std::vector<Reply> replies;
  const Command ping[] = {{{"PING"}}};
  {
    PooledConnection a(&pool, ep);
    PooledConnection b(&pool, ep);
    SK_ASSERT_OK(a->Execute(ping, &replies));
    SK_ASSERT_OK(b->Execute(ping, &replies));
  }
  EXPECT_EQ(pool.IdleCountForTesting(), 2u);
  EXPECT_EQ(pool.stats().connects.load(), 2u);
  {
    PooledConnection a(&pool, ep);
    SK_ASSERT_OK(a->Execute(ping, &replies));
    EXPECT_EQ(pool.IdleCountForTesting(), 1u);
  }
  EXPECT_EQ(pool.stats().connects.load(), 2u);
  // A broken connection is not taken back.
  std::unique_ptr<Connection> c = pool.Acquire(ep);
  SK_ASSERT_OK(
      server_->Cli({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}));
  // Past the second within which a used connection is not looked at.
  std::this_thread::sleep_for(std::chrono::milliseconds(1010));
  EXPECT_FALSE(c->Execute(ping, &replies).ok());
  pool.Release(std::move(c));
  // The other idle one was killed too: Acquire notices and connects anew.
  PooledConnection fresh(&pool, ep);
  SK_ASSERT_OK(fresh->Execute(ping, &replies));
  EXPECT_EQ(pool.stats().connects.load(), 3u);
}

}  // namespace
}  // namespace sessionkit::redis::connection_test
