// The meta protocol codec against a real memcached (Debian's 1.6) on a free
// loopback port: pipelines of encoded requests over a plain blocking
// socket, and the server's real replies parsed.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "stores/memcached/meta.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::memcached::meta_server_test {
namespace {

using ::testing::AllOf;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Le;

constexpr size_t kLimit = 4 << 20;

// One blocking connection that sends a pipeline and parses its replies.
class MetaClient {
 public:
  ~MetaClient() {
    if (fd_ >= 0) close(fd_);
  }

  Status Connect(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Status::Unavailable(std::strerror(errno));
    timeval tv{.tv_sec = 5, .tv_usec = 0};  // a hang fails, never blocks
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      return Status::Unavailable(std::string("connect: ") +
                                 std::strerror(errno));
    }
    return Status::OK();
  }

  // Writes `wire` at once, then reads until `count` replies are parsed.
  Result<std::vector<Response>> RoundTrip(const std::string& wire,
                                          size_t count) {
    for (size_t sent = 0; sent < wire.size();) {
      const ssize_t n =
          send(fd_, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return Status::Unavailable("send failed");
      sent += static_cast<size_t>(n);
    }
    std::vector<Response> replies;
    while (replies.size() < count) {
      Response r;
      Result<size_t> used = ParseResponse(buffer_, kLimit, &r);
      if (!used.ok()) return used.status();
      if (*used > 0) {
        buffer_.erase(0, *used);
        replies.push_back(std::move(r));
        continue;
      }
      char chunk[16384];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        return Status::Unavailable("recv: closed or timed out after " +
                                   std::to_string(replies.size()) + " of " +
                                   std::to_string(count) + " replies");
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    if (!buffer_.empty()) {
      return Status::Internal("unexpected bytes after the replies: " + buffer_);
    }
    return replies;
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

class MetaServerTest : public ::testing::Test {
 protected:
  void Start(test::MemcachedOptions options = {}) {
    Result<std::unique_ptr<test::TestServer>> server =
        test::StartMemcached(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    SK_ASSERT_OK(client_.Connect(server_->port()));
  }
  void SetUp() override { Start(); }

  std::vector<Response> Run(const std::string& wire, size_t count) {
    Result<std::vector<Response>> replies = client_.RoundTrip(wire, count);
    EXPECT_TRUE(replies.ok()) << replies.status().ToString();
    return replies.ok() ? *replies : std::vector<Response>(count);
  }

  std::unique_ptr<test::TestServer> server_;
  MetaClient client_;
};

TEST_F(MetaServerTest, SetThenGetReturnsValueCasTtlAndFlags) {
  const std::string value("bin\0\r\nary", 9);
  std::string wire;
  SetRequest set;
  set.ttl = 300;
  set.client_flags = 42;
  set.return_cas = true;
  SK_ASSERT_OK(AppendSet("s:one", value, set, &wire));
  SK_ASSERT_OK(AppendSet("s:forever", "x", {}, &wire));
  GetRequest get;
  get.echo = {.key = true, .opaque = "g1"};
  SK_ASSERT_OK(AppendGet("s:one", get, &wire));
  SK_ASSERT_OK(AppendGet("s:forever", {}, &wire));
  SK_ASSERT_OK(AppendGet("s:missing", {}, &wire));
  AppendNoop(&wire);
  const std::vector<Response> r = Run(wire, 6);

  EXPECT_EQ(r[0].code, ResponseCode::kHeader);
  ASSERT_TRUE(r[0].cas.has_value());
  EXPECT_EQ(r[1].code, ResponseCode::kHeader);

  EXPECT_EQ(r[2].code, ResponseCode::kValue);
  EXPECT_EQ(r[2].value, value);
  EXPECT_EQ(r[2].cas, r[0].cas);
  EXPECT_THAT(r[2].ttl.value_or(-2), AllOf(Ge(298), Le(300)));
  EXPECT_EQ(r[2].client_flags, 42u);
  EXPECT_EQ(r[2].key, "s:one");
  EXPECT_EQ(r[2].opaque, "g1");

  EXPECT_EQ(r[3].code, ResponseCode::kValue);
  EXPECT_EQ(r[3].ttl, -1);  // no expiry
  EXPECT_EQ(r[3].client_flags, 0u);

  EXPECT_EQ(r[4].code, ResponseCode::kMiss);
  EXPECT_EQ(r[5].code, ResponseCode::kNoop);
}

TEST_F(MetaServerTest, AddFailsWhenPresent) {
  SetRequest add;
  add.mode = SetMode::kAdd;
  add.ttl = 30;
  std::string wire;
  SK_ASSERT_OK(AppendSet("lock:a", "owner1", add, &wire));
  SK_ASSERT_OK(AppendSet("lock:a", "owner2", add, &wire));
  SK_ASSERT_OK(AppendGet("lock:a", {}, &wire));
  const std::vector<Response> r = Run(wire, 3);
  EXPECT_EQ(r[0].code, ResponseCode::kHeader);
  EXPECT_EQ(r[1].code, ResponseCode::kNotStored);
  EXPECT_EQ(r[2].value, "owner1");
}

TEST_F(MetaServerTest, CasCheckedSetAndDelete) {
  std::string wire;
  SetRequest set;
  set.return_cas = true;
  SK_ASSERT_OK(AppendSet("lock:b", "me", set, &wire));
  const std::vector<Response> first = Run(wire, 1);
  ASSERT_TRUE(first[0].cas.has_value());
  const uint64_t cas = *first[0].cas;

  wire.clear();
  DeleteRequest wrong;
  wrong.compare_cas = cas + 1;
  SK_ASSERT_OK(AppendDelete("lock:b", wrong, &wire));  // EX
  SetRequest cas_set;
  cas_set.compare_cas = cas + 1;
  SK_ASSERT_OK(AppendSet("lock:b", "thief", cas_set, &wire));  // EX
  SK_ASSERT_OK(AppendSet("lock:none", "x", cas_set, &wire));   // NF
  GetRequest get;
  SK_ASSERT_OK(AppendGet("lock:b", get, &wire));  // still "me"
  DeleteRequest right;
  right.compare_cas = cas;
  SK_ASSERT_OK(AppendDelete("lock:b", right, &wire));  // HD
  SK_ASSERT_OK(AppendDelete("lock:b", right, &wire));  // NF
  SK_ASSERT_OK(AppendGet("lock:b", get, &wire));       // EN
  const std::vector<Response> r = Run(wire, 7);
  EXPECT_EQ(r[0].code, ResponseCode::kExists);
  EXPECT_EQ(r[1].code, ResponseCode::kExists);
  EXPECT_EQ(r[2].code, ResponseCode::kNotFound);
  EXPECT_EQ(r[3].value, "me");
  EXPECT_EQ(r[3].cas, cas);
  EXPECT_EQ(r[4].code, ResponseCode::kHeader);
  EXPECT_EQ(r[5].code, ResponseCode::kNotFound);
  EXPECT_EQ(r[6].code, ResponseCode::kMiss);
}

// Quiet requests answer only when they fail; mn ends the pipeline.
TEST_F(MetaServerTest, QuietPipelineEndsWithNoop) {
  std::string wire;
  SetRequest quiet_set;
  quiet_set.quiet = true;
  quiet_set.echo.opaque = "1";
  SK_ASSERT_OK(AppendSet("q:data", "v", quiet_set, &wire));  // HD hidden
  SetRequest quiet_add = quiet_set;
  quiet_add.mode = SetMode::kAdd;
  quiet_add.echo.opaque = "2";
  SK_ASSERT_OK(AppendSet("q:data", "v", quiet_add, &wire));  // NS shown
  GetRequest quiet_get;
  quiet_get.quiet = true;
  quiet_get.echo.opaque = "3";
  SK_ASSERT_OK(AppendGet("q:missing", quiet_get, &wire));  // EN hidden
  quiet_get.echo.opaque = "4";
  SK_ASSERT_OK(AppendGet("q:data", quiet_get, &wire));  // VA shown
  DeleteRequest quiet_delete;
  quiet_delete.quiet = true;
  quiet_delete.echo.opaque = "5";
  SK_ASSERT_OK(AppendDelete("q:data", quiet_delete, &wire));  // HD hidden
  quiet_delete.echo.opaque = "6";
  SK_ASSERT_OK(AppendDelete("q:data", quiet_delete, &wire));  // NF shown
  AppendNoop(&wire);
  const std::vector<Response> r = Run(wire, 4);
  EXPECT_EQ(r[0].code, ResponseCode::kNotStored);
  EXPECT_EQ(r[0].opaque, "2");
  EXPECT_EQ(r[1].code, ResponseCode::kValue);
  EXPECT_EQ(r[1].opaque, "4");
  EXPECT_EQ(r[2].code, ResponseCode::kNotFound);
  EXPECT_EQ(r[2].opaque, "6");
  EXPECT_EQ(r[3].code, ResponseCode::kNoop);
}

TEST_F(MetaServerTest, ArithmeticCreatesAndCounts) {
  std::string wire;
  ArithmeticRequest create;
  create.create_ttl = 60;
  create.initial = 10;
  create.return_ttl = true;
  SK_ASSERT_OK(AppendArithmetic("n:c", create, &wire));
  ArithmeticRequest add;
  add.delta = 5;
  SK_ASSERT_OK(AppendArithmetic("n:c", add, &wire));
  ArithmeticRequest down;
  down.decrement = true;
  down.delta = 100;  // stops at 0
  SK_ASSERT_OK(AppendArithmetic("n:c", down, &wire));
  SK_ASSERT_OK(AppendArithmetic("n:missing", add, &wire));
  const std::vector<Response> r = Run(wire, 4);
  EXPECT_EQ(r[0].value, "10");
  EXPECT_THAT(r[0].ttl.value_or(-2), AllOf(Ge(58), Le(60)));
  EXPECT_EQ(r[1].value, "15");
  EXPECT_EQ(r[2].value, "0");
  EXPECT_EQ(r[3].code, ResponseCode::kNotFound);
}

class MetaSmallItemTest : public MetaServerTest {
 protected:
  // memcached's smallest item size max is 1 KiB (-I 1k); it needs the slab
  // chunk max no larger (given in bytes, whatever memcached -h says).
  void SetUp() override {
    test::MemcachedOptions options;
    options.max_item_size = "1k";
    options.extra_args = {"-o", "slab_chunk_max=1024"};
    Start(options);
  }
};

TEST_F(MetaSmallItemTest, TooLargeIsTheServersErrorAndTheLineGoesOn) {
  std::string wire;
  SK_ASSERT_OK(AppendSet("big", "small", {}, &wire));
  SK_ASSERT_OK(AppendSet("big", std::string(2000, 'x'), {}, &wire));
  SK_ASSERT_OK(AppendGet("big", {}, &wire));
  SK_ASSERT_OK(AppendSet("ok", std::string(500, 'y'), {}, &wire));
  // The limit counts the item's header and key too: 1000 bytes do not fit.
  SK_ASSERT_OK(AppendSet("near", std::string(1000, 'z'), {}, &wire));
  const std::vector<Response> r = Run(wire, 5);
  EXPECT_EQ(r[0].code, ResponseCode::kHeader);
  EXPECT_EQ(r[1].code, ResponseCode::kServerError);
  EXPECT_EQ(r[1].message, "object too large for cache");
  EXPECT_TRUE(r[1].is_too_large());
  EXPECT_TRUE(ErrorStatus(r[1], "ms").IsResourceExhausted());
  // The refused set removed the older value (memcached does so on purpose:
  // no stale data), and swallowed its data block: the next request parses.
  EXPECT_EQ(r[2].code, ResponseCode::kMiss);
  EXPECT_EQ(r[3].code, ResponseCode::kHeader);
  EXPECT_TRUE(r[4].is_too_large());
}

TEST_F(MetaServerTest, ErrorRepliesComeBackParsed) {
  // Requests this codec refuses to build, written by hand.
  const std::vector<Response> r =
      Run("mz k\r\nmg k v v\r\nms k 1 MZ\r\nx\r\nmn\r\n", 4);
  EXPECT_EQ(r[0].code, ResponseCode::kError);
  EXPECT_EQ(r[1].code, ResponseCode::kClientError);
  EXPECT_THAT(r[1].message, HasSubstr("duplicate flag"));
  EXPECT_EQ(r[2].code, ResponseCode::kClientError);
  EXPECT_THAT(r[2].message, HasSubstr("invalid mode"));
  EXPECT_EQ(r[3].code, ResponseCode::kNoop);
}

}  // namespace
}  // namespace sessionkit::memcached::meta_server_test
