// memcached::Connection against a real memcached (Debian's 1.6, built with
// TLS) started per test on a free loopback port, and against misbehaving
// peers: a port where nothing listens, a listener that never answers, and a
// fake server that answers with bytes of its choosing.
#include "stores/memcached/connection.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::memcached {
namespace {

using ::testing::HasSubstr;

template <typename Fn>
int64_t MillisOf(Fn&& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// A request of type R with q, and with an opaque when one is given.
template <typename R>
R Quiet(std::string_view opaque = "") {
  R r;
  r.quiet = true;
  r.echo.opaque = opaque;
  return r;
}

SetRequest SetFor(SetMode mode, uint32_t ttl) {
  SetRequest r;
  r.mode = mode;
  r.ttl = ttl;
  return r;
}

ConnectionOptions OptionsFor(int port, ConnectionStats* stats = nullptr) {
  ConnectionOptions o;
  o.endpoint = Endpoint{"127.0.0.1", static_cast<uint16_t>(port)};
  o.store_name = "memcached://127.0.0.1";
  o.connect_timeout = Duration(500);
  o.read_timeout = Duration(2000);
  o.stats = stats;
  return o;
}

// A loopback listener that accepts one connection, reads a request and
// answers `reply`, then keeps the connection open until destroyed.
class FakeServer {
 public:
  explicit FakeServer(std::string reply) : reply_(std::move(reply)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 ||
        bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 4) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
            0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (conn_fd_ >= 0) close(conn_fd_);
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  int port() const { return port_; }

 private:
  void Serve() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return;
    conn_fd_ = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn_fd_ < 0) return;
    char buf[4096];
    if (recv(conn_fd_, buf, sizeof buf, 0) <= 0) return;
    (void)send(conn_fd_, reply_.data(), reply_.size(), MSG_NOSIGNAL);
  }

  std::string reply_;
  int listen_fd_ = -1;
  int conn_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// --- Pipeline, without a server ----------------------------------------------

TEST(MemcachedPipelineTest, CountsRequestsAndRefusesUnclosedQuietRuns) {
  Pipeline p;
  EXPECT_TRUE(p.empty());
  SK_ASSERT_OK(p.Get("a", {}));
  SK_ASSERT_OK(p.Set("b", "v", Quiet<SetRequest>()));
  EXPECT_TRUE(p.quiet_run_open());
  // A reply without q after a quiet run could not be told from its replies.
  Status st = p.Get("c", {});
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  SK_ASSERT_OK(p.Delete("c", Quiet<DeleteRequest>()));
  p.Noop();
  EXPECT_FALSE(p.quiet_run_open());
  SK_ASSERT_OK(p.Arithmetic("n", {}));
  EXPECT_EQ(p.requests(), 5u);
  // A bad key leaves the pipeline as it was.
  const std::string before = p.wire();
  EXPECT_TRUE(p.Get("has space", {}).IsInvalidArgument());
  EXPECT_EQ(p.wire(), before);
  EXPECT_EQ(p.requests(), 5u);
}

TEST(MemcachedPipelineTest, OpenQuietRunIsRefusedWithoutConnecting) {
  ConnectionStats stats;
  Connection conn(OptionsFor(1, &stats));
  Pipeline p;
  SK_ASSERT_OK(p.Set("k", "v", Quiet<SetRequest>()));
  std::vector<Response> replies;
  Status st = conn.Execute(p, &replies);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_TRUE(conn.usable());
  EXPECT_FALSE(conn.connected());
  EXPECT_EQ(stats.connects.load(), 0u);
  SK_EXPECT_OK(conn.Execute(Pipeline(), &replies));  // empty: nothing sent
  EXPECT_FALSE(conn.connected());
}

// --- Against a real memcached ------------------------------------------------

class MemcachedConnectionTest : public ::testing::Test {
 protected:
  // memcached with -I 2m (test::MemcachedOptions' default).
  void SetUp() override {
    auto server = test::StartMemcached();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  ConnectionOptions Options() { return OptionsFor(server_->port(), &stats_); }

  ConnectionStats stats_;
  std::unique_ptr<test::TestServer> server_;
};

// The lock step: an add-only ms of the lock key and an mg of the data key,
// in one write and one round trip.
TEST_F(MemcachedConnectionTest, PipelinedAddAndGetInOneRoundTrip) {
  Connection conn(Options());
  Pipeline seed;
  SK_ASSERT_OK(seed.Set("data:s1", "payload", SetFor(SetMode::kSet, 60)));
  std::vector<Response> replies;
  SK_ASSERT_OK(conn.Execute(seed, &replies));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, ResponseCode::kHeader);
  const uint64_t trips = stats_.round_trips.load();

  Pipeline lock;
  SK_ASSERT_OK(lock.Set("lock:s1", "owner-a", SetFor(SetMode::kAdd, 30)));
  SK_ASSERT_OK(lock.Get("data:s1", {}));
  SK_ASSERT_OK(conn.Execute(lock, &replies));
  EXPECT_EQ(stats_.round_trips.load(), trips + 1);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, ResponseCode::kHeader);  // lock taken
  EXPECT_EQ(replies[1].code, ResponseCode::kValue);
  EXPECT_EQ(replies[1].value, "payload");
  EXPECT_TRUE(replies[1].cas.has_value());

  // Taken already: NS, and the data still comes back.
  SK_ASSERT_OK(conn.Execute(lock, &replies));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, ResponseCode::kNotStored);
  EXPECT_EQ(replies[1].value, "payload");
  EXPECT_EQ(stats_.connects.load(), 1u);
  EXPECT_EQ(stats_.round_trips.load(), trips + 2);
  EXPECT_EQ(stats_.requests.load(), 5u);
  EXPECT_TRUE(conn.usable());
}

// Quiet requests answer only on a miss or failure; the MN ends their run.
TEST_F(MemcachedConnectionTest, QuietRequestsEndWithNoop) {
  Connection conn(Options());
  Pipeline p;
  SK_ASSERT_OK(p.Get("q:missing", {}));                  // not quiet: EN
  SK_ASSERT_OK(p.Set("q:a", "1", Quiet<SetRequest>()));  // stored: silent
  SK_ASSERT_OK(p.Delete("q:none", Quiet<DeleteRequest>("d1")));  // NF
  SK_ASSERT_OK(p.Get("q:none", Quiet<GetRequest>()));            // miss: silent
  SK_ASSERT_OK(p.Get("q:a", Quiet<GetRequest>("g1")));
  p.Noop();
  std::vector<Response> replies;
  SK_ASSERT_OK(conn.Execute(p, &replies));
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0].code, ResponseCode::kMiss);
  EXPECT_EQ(replies[1].code, ResponseCode::kNotFound);
  EXPECT_EQ(replies[1].opaque, "d1");
  EXPECT_EQ(replies[2].code, ResponseCode::kValue);
  EXPECT_EQ(replies[2].opaque, "g1");
  EXPECT_EQ(replies[2].value, "1");
  EXPECT_EQ(replies[3].code, ResponseCode::kNoop);
  EXPECT_EQ(stats_.round_trips.load(), 1u);

  // All silent: only the MN.
  Pipeline silent;
  SK_ASSERT_OK(silent.Set("q:b", "2", Quiet<SetRequest>()));
  silent.Noop();
  SK_ASSERT_OK(conn.Execute(silent, &replies));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, ResponseCode::kNoop);
  EXPECT_TRUE(conn.usable());
}

// A server restart closes idle connections: the next Execute fails as
// stale (safe to retry), and a new connection works.
TEST_F(MemcachedConnectionTest, ServerRestartMakesAStaleFailure) {
  Connection conn(Options());
  Pipeline p;
  SK_ASSERT_OK(p.Get("r:k", {}));
  std::vector<Response> replies;
  SK_ASSERT_OK(conn.Execute(p, &replies));
  SK_ASSERT_OK(server_->Restart());
  Status st = conn.Execute(p, &replies);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(),
              HasSubstr("127.0.0.1:" + std::to_string(server_->port())));
  EXPECT_TRUE(conn.last_failure_was_stale());
  EXPECT_TRUE(conn.request_sent());
  EXPECT_FALSE(conn.usable());
  EXPECT_TRUE(replies.empty());
  // Broken for good: refused without a new connection.
  st = conn.Execute(p, &replies);
  EXPECT_THAT(st.message(), HasSubstr("closed after an error"));
  EXPECT_FALSE(conn.last_failure_was_stale());

  Connection fresh(Options());
  SK_ASSERT_OK(fresh.Execute(p, &replies));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, ResponseCode::kMiss);
  EXPECT_EQ(stats_.connects.load(), 2u);
}

TEST_F(MemcachedConnectionTest, ServerClosingAnIdleConnectionIsSeen) {
  Connection conn(Options());
  Pipeline p;
  SK_ASSERT_OK(p.Get("i:k", {}));
  std::vector<Response> replies;
  SK_ASSERT_OK(conn.Execute(p, &replies));
  const auto used = std::chrono::steady_clock::now();
  EXPECT_TRUE(conn.CheckIdle());
  SK_ASSERT_OK(server_->Restart());
  std::this_thread::sleep_until(used + std::chrono::milliseconds(1010));
  EXPECT_FALSE(conn.CheckIdle());
  EXPECT_FALSE(conn.usable());
}

// An item above the server's item size max: SERVER_ERROR for that request
// (its data swallowed by the server), the rest of the pipeline served, and
// the connection still usable.
TEST_F(MemcachedConnectionTest, TooLargeValueIsAnErrorReply) {
  Connection conn(Options());  // the server's -I is 2m
  Pipeline p;
  SK_ASSERT_OK(p.Set("big", std::string(3 << 20, 'x'), {}));
  SK_ASSERT_OK(p.Get("big", {}));
  std::vector<Response> replies;
  SK_ASSERT_OK(conn.Execute(p, &replies));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, ResponseCode::kServerError);
  EXPECT_TRUE(replies[0].is_too_large()) << replies[0].message;
  EXPECT_EQ(replies[1].code, ResponseCode::kMiss);
  EXPECT_TRUE(conn.usable());
  Pipeline small;
  SK_ASSERT_OK(small.Set("big", "fits", {}));
  SK_ASSERT_OK(small.Get("big", {}));
  SK_ASSERT_OK(conn.Execute(small, &replies));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].value, "fits");
  EXPECT_EQ(stats_.connects.load(), 1u);
}

// A value above the connection's max_value_size is refused at its header.
TEST_F(MemcachedConnectionTest, ValueAboveMaxValueSizeBreaksTheConnection) {
  ConnectionOptions o = Options();
  o.max_value_size = 10;
  Connection conn(o);
  Pipeline p;
  SK_ASSERT_OK(p.Set("m:k", std::string(100, 'v'), {}));
  SK_ASSERT_OK(p.Get("m:k", {}));
  std::vector<Response> replies;
  Status st = conn.Execute(p, &replies);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("protocol error"));
  EXPECT_THAT(st.message(), HasSubstr("above the limit of 10 bytes"));
  EXPECT_FALSE(conn.usable());
  EXPECT_FALSE(conn.last_failure_was_stale());
}

// --- Misbehaving peers -------------------------------------------------------

// One mg on `conn`; `*ms` is how long it took.
Status TimedGet(Connection* conn, int64_t* ms) {
  Pipeline p;
  Status st = p.Get("k", {});
  if (!st.ok()) return st;
  std::vector<Response> replies;
  *ms = MillisOf([&] { st = conn->Execute(p, &replies); });
  return st;
}

TEST(MemcachedConnectionFailureTest, RefusedPortIsUnavailableAtOnce) {
  auto closed = test::ClosedPort::Make();
  SK_ASSERT_OK(closed);
  Connection conn(OptionsFor((*closed)->port()));
  int64_t ms = 0;
  const Status st = TimedGet(&conn, &ms);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(),
              HasSubstr("memcached://127.0.0.1: cannot connect to 127.0.0.1:" +
                        std::to_string((*closed)->port())));
  EXPECT_THAT(st.message(), HasSubstr("refused"));
  EXPECT_LT(ms, 100);
  EXPECT_FALSE(conn.request_sent());
  EXPECT_FALSE(conn.usable());
}

TEST(MemcachedConnectionFailureTest, SilentServerTimesOutAfterReadTimeout) {
  auto hole = test::BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  ConnectionOptions o = OptionsFor((*hole)->port());
  o.read_timeout = Duration(150);
  Connection conn(o);
  int64_t ms = 0;
  const Status st = TimedGet(&conn, &ms);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(),
              HasSubstr("timed out after 150 ms waiting for a reply from "
                        "127.0.0.1:" +
                        std::to_string((*hole)->port()) + " (read_timeout)"));
  EXPECT_GE(ms, 145);
  EXPECT_LE(ms, 400);
  EXPECT_TRUE(conn.request_sent());
  EXPECT_FALSE(conn.last_failure_was_stale());
  EXPECT_FALSE(conn.usable());
}

// What one Execute of `pipeline` did against a FakeServer answering `reply`.
struct FakeOutcome {
  int port = 0;
  Status status;
  bool usable = true;
  bool connected = true;
  size_t replies = 0;
};

FakeOutcome AgainstFake(std::string reply, const Pipeline& pipeline) {
  FakeServer fake(std::move(reply));
  FakeOutcome out;
  out.port = fake.port();
  Connection conn(OptionsFor(fake.port()));
  std::vector<Response> replies;
  out.status = conn.Execute(pipeline, &replies);
  out.usable = conn.usable();
  out.connected = conn.connected();
  out.replies = replies.size();
  return out;
}

TEST(MemcachedConnectionFailureTest, GarbageReplyIsAProtocolError) {
  Pipeline p;
  SK_ASSERT_OK(p.Get("k", {}));
  const FakeOutcome out = AgainstFake("HELLO there\r\n", p);
  ASSERT_NE(out.port, 0);
  EXPECT_TRUE(out.status.IsUnavailable()) << out.status.ToString();
  EXPECT_THAT(
      out.status.message(),
      HasSubstr("memcached://127.0.0.1: 127.0.0.1:" + std::to_string(out.port) +
                ": memcached protocol error: unknown reply"));
  EXPECT_FALSE(out.usable);
  EXPECT_FALSE(out.connected);
  EXPECT_EQ(out.replies, 0u);
}

// More replies than requests: the two no longer match.
TEST(MemcachedConnectionFailureTest, BytesAfterTheLastReplyBreakIt) {
  Pipeline p;
  SK_ASSERT_OK(p.Set("k", "v", {}));
  const FakeOutcome out = AgainstFake("HD\r\nHD\r\n", p);
  EXPECT_TRUE(out.status.IsUnavailable()) << out.status.ToString();
  EXPECT_THAT(out.status.message(), HasSubstr("4 bytes after the last reply"));
  EXPECT_FALSE(out.usable);
}

// --- TLS ---------------------------------------------------------------------

// memcached -Z with the certificates of MakeTestCertificates: ports(0) is a
// plain listener (for the readiness probe), ports(1) TLS only.
Result<std::unique_ptr<test::TestServer>> StartTlsMemcached(
    const std::string& dir) {
  SK_RETURN_IF_ERROR(test::MakeTestCertificates(dir));
  test::ServerSpec spec;
  spec.name = "memcached-tls";
  spec.binary = "memcached";
  spec.dir = dir;
  spec.port_count = 2;
  spec.args = [dir](const std::vector<int>& ports) {
    std::vector<std::string> args = {
        "-U",
        "0",
        "-m",
        "64",
        "-Z",
        "-o",
        "ssl_chain_cert=" + dir + "/server.crt,ssl_key=" + dir + "/server.key",
        "-l",
        "notls:127.0.0.1:" + std::to_string(ports[0]),
        "-l",
        "127.0.0.1:" + std::to_string(ports[1])};
    if (geteuid() == 0) args.insert(args.end(), {"-u", "root"});
    return args;
  };
  spec.stop_signal = SIGKILL;
  spec.probe_request = "version\r\n";
  spec.probe_reply = "VERSION ";
  return test::TestServer::Start(spec);
}

TEST(MemcachedConnectionTlsTest, PipelineOverTls) {
  Result<std::string> dir = test::MakeTempDir("memcached-tls");
  SK_ASSERT_OK(dir);
  auto server = StartTlsMemcached(*dir);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  TlsOptions tls;
  tls.enabled = true;
  tls.ca_file = *dir + "/ca.crt";
  auto context = TlsContext::Create(tls, "memcached://127.0.0.1");
  SK_ASSERT_OK(context);

  ConnectionStats stats;
  ConnectionOptions o = OptionsFor((*server)->port(1), &stats);
  o.tls = *context;
  Connection conn(o);
  // An ms longer than one TLS record with a request after it in the same
  // write: memcached 1.6.18 stalls on it unless the ms ends a record.
  Pipeline p;
  SK_ASSERT_OK(p.Set("t:k", std::string(100000, 't'), {}));
  SK_ASSERT_OK(p.Get("t:k", {}));
  std::vector<Response> replies;
  SK_ASSERT_OK(conn.Execute(p, &replies));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, ResponseCode::kHeader);
  EXPECT_EQ(replies[1].value.size(), 100000u);
  EXPECT_EQ(stats.round_trips.load(), 1u);
  EXPECT_TRUE(conn.CheckIdle());

  // TLS to the plain port: the handshake fails and says why.
  ConnectionOptions plain = OptionsFor((*server)->port(0));
  plain.tls = *context;
  Connection wrong(plain);
  Status st = wrong.Execute(p, &replies);
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("TLS handshake with 127.0.0.1:" +
                                      std::to_string((*server)->port(0))));
  EXPECT_FALSE(wrong.usable());
  server->reset();
  test::RemoveTempDirUnlessFailed(*dir);
}

}  // namespace
}  // namespace sessionkit::memcached
