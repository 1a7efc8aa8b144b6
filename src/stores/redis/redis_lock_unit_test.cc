// Unit tests of pieces of the Redis store that need no server: the version
// check of the lock, and the connect that tries every resolved address.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "stores/redis/connection.h"
#include "stores/redis/redis_lock.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::lock_unit_test {
namespace {

using testing::FullBacklog;
using ::testing::HasSubstr;
using testing::MillisOf;

TEST(RedisVersionTest, ReadsRedisVersionFromInfo) {
  EXPECT_EQ(RedisVersionFromInfo("# Server\r\nredis_version:7.0.15\r\n"
                                 "redis_git_sha1:00000000\r\n"),
            "7.0.15");
  EXPECT_EQ(RedisVersionFromInfo("redis_version:5.0.7"), "5.0.7");
  EXPECT_EQ(RedisVersionFromInfo("# Server\nredis_mode:standalone\n"
                                 "redis_version:6.2.14\n"),
            "6.2.14");
  EXPECT_EQ(RedisVersionFromInfo("# Server\r\nredis_mode:standalone\r\n"),
            std::nullopt);
  EXPECT_EQ(RedisVersionFromInfo("redis_version:\r\n"), std::nullopt);
  EXPECT_EQ(RedisVersionFromInfo(""), std::nullopt);
  // Not a field that merely ends the same way.
  EXPECT_EQ(RedisVersionFromInfo("xredis_version:1.0.0\r\n"), std::nullopt);
}

TEST(RedisVersionTest, MajorNumber) {
  EXPECT_EQ(VersionMajor("5.0.7"), 5);
  EXPECT_EQ(VersionMajor("6.0.0"), 6);
  EXPECT_EQ(VersionMajor("7.2.4"), 7);
  EXPECT_EQ(VersionMajor("10.1.0"), 10);
  EXPECT_EQ(VersionMajor("?"), std::nullopt);
  EXPECT_EQ(VersionMajor("7"), std::nullopt);
  EXPECT_EQ(VersionMajor("df-v1.2"), std::nullopt);
  EXPECT_EQ(VersionMajor(""), std::nullopt);
  EXPECT_EQ(VersionMajor("99999999999.1"), std::nullopt);
}

TEST(RedisVersionTest, OnlyKnownOldVersionsAreRefused) {
  const Endpoint ep{"127.0.0.1", 6379};
  Status st = CheckLockingVersion("redis://127.0.0.1:6379", ep, "5.0.7");
  EXPECT_TRUE(st.IsNotSupported()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("redis://127.0.0.1:6379: 127.0.0.1:6379 "
                                      "runs Redis 5.0.7; session locking "
                                      "needs Redis 6 or later"));
  EXPECT_THAT(st.message(), HasSubstr("setting locking = 0"));
  EXPECT_TRUE(CheckLockingVersion("s", ep, "4.0.14").IsNotSupported());
  SK_EXPECT_OK(CheckLockingVersion("s", ep, "6.0.0"));
  SK_EXPECT_OK(CheckLockingVersion("s", ep, "7.0.15"));
  SK_EXPECT_OK(CheckLockingVersion("s", ep, "?"));  // would not say
  SK_EXPECT_OK(CheckLockingVersion("s", ep, "df-v1.2"));
}

SocketAddress Loopback(int port) {
  SocketAddress a;
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in.sin_port = htons(static_cast<uint16_t>(port));
  std::memcpy(&a.storage, &in, sizeof in);
  a.size = sizeof in;
  return a;
}

int PeerPort(int fd) {
  sockaddr_in in{};
  socklen_t len = sizeof in;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&in), &len) != 0) return -1;
  return ntohs(in.sin_port);
}

Deadline In(int ms) {
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
}

// A host name with two addresses, the first silent (its SYNs dropped): the
// second is tried within the connect timeout, not abandoned.
TEST(RedisLockValueTest, StampedAndSplit) {
  const std::string v = StampedLockValue("h|1|ab", Endpoint{"::1", 6380});
  EXPECT_EQ(v, "h|1|ab@[::1]:6380");
  EXPECT_EQ(SplitLockValue(v).token, "h|1|ab");
  EXPECT_EQ(SplitLockValue(v).taken_on, "[::1]:6380");
  EXPECT_EQ(SplitLockValue("h|1|ab").token, "h|1|ab");
  EXPECT_EQ(SplitLockValue("h|1|ab").taken_on, "");
  // A token with an @ of its own keeps it.
  EXPECT_EQ(SplitLockValue("a@b@127.0.0.1:1").token, "a@b");
}

// The scripts' owner check, run by a real server: a token holds its bare
// record and its stamped record, never another token's, not even one that
// it is a prefix of.
TEST(RedisLockValueTest, HoldsInLua) {
  auto server = test::StartRedis();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto holds = [&](const std::string& value, const std::string& token) {
    auto out = (*server)->Cli(
        {"EVAL",
         std::string(SK_REDIS_LUA_HOLDS) +
             "if holds(ARGV[1], ARGV[2]) then return 1 end return 0",
         "0", value, token});
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() && *out == "1\n";
  };
  EXPECT_TRUE(holds("h|1|a", "h|1|a"));
  EXPECT_TRUE(holds("h|1|a@127.0.0.1:6380", "h|1|a"));
  EXPECT_FALSE(holds("h|1|ab@127.0.0.1:6380", "h|1|a"));
  EXPECT_FALSE(holds("h|1|a@x@127.0.0.1:6380", "h|1|a"));
  EXPECT_TRUE(holds("h|1|a@x@127.0.0.1:6380", "h|1|a@x"));
  EXPECT_FALSE(holds("h|1|a", "h|1|a@127.0.0.1:6380"));
  EXPECT_FALSE(holds("h|1|b", "h|1|a"));
}

TEST(RedisConnectTest, UnansweredFirstAddressGivesWayToTheNext) {
  FullBacklog silent;
  ASSERT_NE(silent.port(), 0);
  auto hole = test::BlackholeListener::Start();  // accepts: a live server
  SK_ASSERT_OK(hole);
  const std::vector<SocketAddress> addresses = {Loopback(silent.port()),
                                                Loopback((*hole)->port())};
  ConnectOutcome out;
  const int64_t ms = MillisOf([&] { out = ConnectToAny(addresses, In(200)); });
  ASSERT_GE(out.fd, 0) << out.error << (out.timed_out ? " (timed out)" : "");
  EXPECT_EQ(PeerPort(out.fd), (*hole)->port());
  close(out.fd);
  // The first address had half of the 200 ms to itself.
  EXPECT_GE(ms, 90);
  EXPECT_LE(ms, 200);
}

TEST(RedisConnectTest, RefusedAddressGivesWayAtOnce) {
  auto closed = test::ClosedPort::Make();
  SK_ASSERT_OK(closed);
  auto hole = test::BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  const std::vector<SocketAddress> addresses = {Loopback((*closed)->port()),
                                                Loopback((*hole)->port())};
  ConnectOutcome out;
  const int64_t ms = MillisOf([&] { out = ConnectToAny(addresses, In(500)); });
  ASSERT_GE(out.fd, 0) << out.error;
  EXPECT_EQ(PeerPort(out.fd), (*hole)->port());
  close(out.fd);
  EXPECT_LT(ms, 100);
}

TEST(RedisConnectTest, EveryAddressFailingSaysWhatEachDid) {
  FullBacklog silent;
  ASSERT_NE(silent.port(), 0);
  auto closed = test::ClosedPort::Make();
  SK_ASSERT_OK(closed);
  ConnectOutcome out;
  int64_t ms = MillisOf([&] {
    out = ConnectToAny(std::vector<SocketAddress>{Loopback((*closed)->port())},
                       In(500));
  });
  EXPECT_LT(out.fd, 0);
  EXPECT_FALSE(out.timed_out);
  EXPECT_THAT(out.error, HasSubstr("refused"));
  EXPECT_LT(ms, 100);

  ms = MillisOf([&] {
    out = ConnectToAny(std::vector<SocketAddress>{Loopback(silent.port()),
                                                  Loopback((*closed)->port())},
                       In(150));
  });
  EXPECT_LT(out.fd, 0);
  EXPECT_TRUE(out.timed_out);
  EXPECT_THAT(out.error, HasSubstr("127.0.0.1: Connection refused"));
  EXPECT_GE(ms, 145);
  EXPECT_LE(ms, 250);
}

}  // namespace
}  // namespace sessionkit::redis::lock_unit_test
