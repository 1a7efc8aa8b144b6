// Helpers shared by the Redis store's tests (not part of the library).
#ifndef SESSIONKIT_TESTS_SUPPORT_REDIS_TEST_UTIL_H_
#define SESSIONKIT_TESTS_SUPPORT_REDIS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sessionkit/open.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "stores/redis/redis_store.h"
#include "support/test_server.h"

namespace sessionkit::redis::testing {

// The ttl of sessions meant to stay.
inline constexpr Duration kHour{3600000};
// Redis ends a BLPOP timeout on its timer tick (100 ms at hz 10), so a
// wait may end this much after its deadline.
inline constexpr int64_t kServerTimerMs = 100;
// Scheduling slack on top of a bound.
inline constexpr int64_t kMarginMs = 150;

// Base of the fixtures whose test suite shares one redis-server: started with
// Derived::ServerOptions() before the suite's first test, then handed to
// Derived::Prepare(); stopped after the suite's last test.
//
// Thread safety: used from gtest's main thread only.
template <typename Derived>
class SharedRedisServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = test::StartRedis(Derived::ServerOptions());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server).release();
    Derived::Prepare();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  static test::RedisServerOptions ServerOptions() { return {}; }
  static void Prepare() {}

  // A store on the shared server with a key prefix of its own
  // ("<stem><n>:", unless `query` names a prefix), so tests do not see each
  // other's keys; `query` may add settings. A query no other store uses
  // gives the store a pool, and so connections, of its own.
  static std::unique_ptr<Store> FreshStore(std::string_view stem,
                                           std::string_view query = "");

  // How many times the shared server ran `command` (see CommandCalls); -1
  // (and a test failure) when INFO cannot be read.
  static int64_t Calls(std::string_view command);

  static inline test::RedisServer* server_ = nullptr;
};

// "redis://[:password@]127.0.0.1:<port>[/db][?query]".
inline std::string UrlFor(int port, std::string_view query = "",
                          std::string_view password = "",
                          std::string_view path = "",
                          std::string_view scheme = "redis") {
  std::string url = std::string(scheme) + "://";
  if (!password.empty()) url += ":" + std::string(password) + "@";
  url += "127.0.0.1:" + std::to_string(port);
  if (!path.empty()) url += "/" + std::string(path);
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

// A valid session id (22+ characters of PHP's charset), distinct per `n`.
inline std::string TestId(int n) {
  return "rt-" + std::to_string(n) + "-abcdefghijklmnopqrstuv";
}

// Opens `url` through the public API; null (and a test failure) when that
// fails.
inline std::unique_ptr<Store> Open(const std::string& url) {
  auto store = OpenStore(url);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

// A lock request of another host: never taken over before its lease runs
// out.
inline LockRequest OtherHost(const std::string& name, Duration wait,
                             Duration lease = Duration(60000)) {
  LockRequest request;
  request.owner.token = "other-host.invalid|1|" + name;
  request.lease = lease;
  request.wait = wait;
  request.max_waiters = 0;
  return request;
}

// The RedisStore behind a store opened through the public API.
inline RedisStore* AsRedis(Store* store) {
  return dynamic_cast<RedisStore*>(store);
}

// How many times the server ran `command` (lower case, e.g. "get"), from
// INFO commandstats; 0 when it never ran.
inline Result<int64_t> CommandCalls(const test::RedisServer& server,
                                    std::string_view command) {
  Result<std::string> info = server.Cli({"INFO", "commandstats"});
  if (!info.ok()) return info.status();
  const std::string needle = "cmdstat_" + std::string(command) + ":calls=";
  size_t at = info->find(needle);
  if (at == std::string::npos) return int64_t{0};
  return static_cast<int64_t>(std::stoll(info->substr(at + needle.size(), 20)));
}

template <typename Derived>
std::unique_ptr<Store> SharedRedisServerTest<Derived>::FreshStore(
    std::string_view stem, std::string_view query) {
  static int n = 0;
  std::string q;
  if (query.find("prefix=") == std::string_view::npos) {
    q = "prefix=" + std::string(stem) + std::to_string(++n) + ":";
  }
  if (!query.empty()) q += (q.empty() ? "" : "&") + std::string(query);
  return Open(UrlFor(server_->port(), q));
}

template <typename Derived>
int64_t SharedRedisServerTest<Derived>::Calls(std::string_view command) {
  Result<int64_t> calls = CommandCalls(*server_, command);
  EXPECT_TRUE(calls.ok()) << calls.status().ToString();
  return calls.value_or(-1);
}

// A listener whose accept queue is full: the kernel drops further SYNs, so a
// connect neither succeeds nor fails until the client gives up.
//
// Thread safety: not thread-safe.
class FullBacklog {
 public:
  FullBacklog() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(fd_, 0) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    for (int i = 0; i < 3; ++i) {
      int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
      fillers_.push_back(c);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ~FullBacklog() {
    for (int c : fillers_) close(c);
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

// Milliseconds that `fn` took.
template <typename Fn>
int64_t MillisOf(Fn&& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// Calls `fn` every 50 ms until it returns true (true) or `timeout` passes
// (false).
template <typename Fn>
bool PollUntil(std::chrono::milliseconds timeout, Fn&& fn) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (fn()) return true;
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// GET of `key` on `server` by redis-cli, for reads right after a failover.
// redis-cli prints "I/O error" (and tries again) when the server closes its
// connection, which a server may do to its clients while it turns from
// replica into master or back: such a reply is asked again (a GET changes
// nothing).
inline Result<std::string> GetAfterFailover(const test::RedisServer& server,
                                            const std::string& key) {
  Result<std::string> got = Status::Unavailable("not asked");
  for (int attempt = 0; attempt < 5; ++attempt) {
    got = server.Cli({"GET", key});
    if (got.ok() && got->find("I/O error") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return got;
}

// The port of the master that `sentinel` names for `master_name`, or 0.
inline int SentinelMasterPort(const test::RedisServer& sentinel,
                              const std::string& master_name) {
  auto out = sentinel.Cli({"SENTINEL", "get-master-addr-by-name", master_name});
  if (!out.ok()) return 0;
  size_t nl = out->find('\n');
  if (nl == std::string::npos) return 0;
  try {
    return std::stoi(out->substr(nl + 1));
  } catch (...) {
    return 0;
  }
}

// True once `replica`, which the sentinels know as 127.0.0.1:`port`, is
// linked to its master and every one of `sentinels` lists it, so that a
// failover can pick it.
inline bool ReplicaSettled(
    const test::RedisServer& replica, int port,
    const std::vector<std::unique_ptr<test::RedisServer>>& sentinels,
    const std::string& master_name) {
  auto info = replica.Cli({"INFO", "replication"});
  if (!info.ok() || info->find("master_link_status:up") == std::string::npos) {
    return false;
  }
  for (const auto& s : sentinels) {
    auto replicas = s->Cli({"SENTINEL", "replicas", master_name});
    if (!replicas.ok() || replicas->find("127.0.0.1:" + std::to_string(port)) ==
                              std::string::npos) {
      return false;
    }
  }
  return true;
}

// Asks `sentinel` for a forced failover of `master_name` until `done`
// (polled for 6 s after each request) says it happened, at most 4 times:
// a sentinel aborts a forced failover when the replicas' last INFO is more
// than 5 s old by the time it picks one (it asks replicas every 10 s
// outside a failover). `before_each` runs before each request (e.g. to
// note when it was made). True once `done` returned true.
template <typename Done, typename Before>
bool ForceSentinelFailover(const test::RedisServer& sentinel,
                           const std::string& master_name, Done&& done,
                           Before&& before_each) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    before_each();
    auto failover = sentinel.Cli({"SENTINEL", "FAILOVER", master_name});
    EXPECT_TRUE(failover.ok()) << failover.status().ToString();
    if (PollUntil(std::chrono::seconds(6), done)) return true;
  }
  return false;
}

template <typename Done>
bool ForceSentinelFailover(const test::RedisServer& sentinel,
                           const std::string& master_name, Done&& done) {
  return ForceSentinelFailover(sentinel, master_name, done, [] {});
}

}  // namespace sessionkit::redis::testing

#endif  // SESSIONKIT_TESTS_SUPPORT_REDIS_TEST_UTIL_H_
