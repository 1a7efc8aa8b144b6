// The Redis store's side of the lock contract of store.h (issue 10, items
// 3, 9, 10, 14): lock records that outlive their lease, Destroy ending a
// lock, a lock reply that never came, and servers too old to lock on.
// Against real redis-server processes, plus two misbehaving peers of this
// file's own: a proxy that swallows the replies of its first connection,
// and a fake Redis 5.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/store.h"
#include "stores/redis/redis_store.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::lock_contract_test {
namespace {

using testing::AsRedis;
using testing::CommandCalls;
using ::testing::HasSubstr;
using testing::kHour;
using testing::Open;
using testing::OtherHost;
using testing::SharedRedisServerTest;
using testing::TestId;
using testing::UrlFor;

const int64_t kRetentionMs = kLockRecordRetention.count();

// A loopback listener; its port in *port. -1 on failure.
int Listen(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Accepts connections on a loopback port and serves each with `serve` on a
// thread of its own (argument: the socket, the connection's number from 0)
// until destroyed. Thread safety: port() from any thread.
class Peer {
 public:
  explicit Peer(std::function<void(int fd, int n)> serve)
      : serve_(std::move(serve)) {
    listen_fd_ = Listen(&port_);
    if (listen_fd_ >= 0) thread_ = std::thread([this] { Accept(); });
  }
  ~Peer() {
    stop_ = true;
    if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    for (std::thread& t : workers_) t.join();
    for (int fd : fds_) close(fd);
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  int port() const { return port_; }
  bool stopping() const { return stop_; }

 private:
  void Accept() {
    for (int n = 0; !stop_; ++n) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd, n] { serve_(fd, n); });
    }
  }

  std::function<void(int, int)> serve_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> workers_;
};

// Forwards to 127.0.0.1:`target`, but swallows every reply on its first
// connection: commands reach the server, their replies never come back.
class ReplySwallowingProxy {
 public:
  explicit ReplySwallowingProxy(int target)
      : peer_([this, target](int fd, int n) { Serve(fd, n, target); }) {}
  int port() const { return peer_.port(); }

 private:
  void Serve(int client, int n, int target) {
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target));
    if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(server);
      return;
    }
    char buf[16384];
    while (!peer_.stopping()) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(p, 2, 50) <= 0) continue;
      if (p[0].revents != 0) {
        ssize_t r = read(client, buf, sizeof buf);
        if (r <= 0 || write(server, buf, static_cast<size_t>(r)) != r) break;
      }
      if (p[1].revents != 0) {
        ssize_t r = read(server, buf, sizeof buf);
        if (r <= 0) break;
        if (n != 0 && write(client, buf, static_cast<size_t>(r)) != r) break;
      }
    }
    close(server);
  }

  Peer peer_;
};

// Speaks just enough RESP to pass for Redis 5.0.7: INFO names that version,
// SET and WATCH say OK, GET is nil, PTTL -2, EXEC aborted (nil), EVALSHA
// NOSCRIPT, EVAL 1.
// Counts the commands it got, by upper-case name.
class FakeRedis5 {
 public:
  FakeRedis5() : peer_([this](int fd, int) { Serve(fd); }) {}
  int port() const { return peer_.port(); }
  int calls(const std::string& command) {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_[command];
  }

 private:
  void Serve(int fd) {
    std::string in;
    char buf[4096];
    while (!peer_.stopping()) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) return;
      in.append(buf, static_cast<size_t>(r));
      std::string out;
      while (true) {
        std::vector<std::string> args;
        size_t used = Parse(in, &args);
        if (used == 0) break;
        in.erase(0, used);
        out += Answer(args);
      }
      if (!out.empty() && write(fd, out.data(), out.size()) !=
                              static_cast<ssize_t>(out.size())) {
        return;
      }
    }
  }
  // One RESP array of bulk strings from the front of `in`: the bytes it
  // took, 0 when incomplete.
  static size_t Parse(const std::string& in, std::vector<std::string>* args) {
    if (in.empty() || in[0] != '*') return 0;
    size_t at = in.find("\r\n");
    if (at == std::string::npos) return 0;
    const int n = std::stoi(in.substr(1, at - 1));
    at += 2;
    for (int i = 0; i < n; ++i) {
      size_t eol = in.find("\r\n", at);
      if (eol == std::string::npos || in[at] != '$') return 0;
      const size_t len = std::stoul(in.substr(at + 1, eol - at - 1));
      if (in.size() < eol + 2 + len + 2) return 0;
      args->push_back(in.substr(eol + 2, len));
      at = eol + 2 + len + 2;
    }
    return at;
  }
  std::string Answer(const std::vector<std::string>& args) {
    std::string name = args.empty() ? "" : args[0];
    for (char& c : name) c = static_cast<char>(toupper(c));
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_[name];
    }
    if (name == "INFO") {
      const std::string info = "# Server\r\nredis_version:5.0.7\r\n";
      return "$" + std::to_string(info.size()) + "\r\n" + info + "\r\n";
    }
    if (name == "GET") return "$-1\r\n";
    if (name == "PTTL") return ":-2\r\n";
    if (name == "EVALSHA") return "-NOSCRIPT No matching script.\r\n";
    if (name == "EVAL") return ":1\r\n";
    if (name == "EXEC") return "*-1\r\n";
    return "+OK\r\n";
  }

  std::mutex mu_;
  std::map<std::string, int> calls_;
  Peer peer_;  // last: its threads use the members above
};

class RedisLockContractTest
    : public SharedRedisServerTest<RedisLockContractTest> {
 protected:
  friend SharedRedisServerTest<RedisLockContractTest>;

  static std::unique_ptr<Store> Fresh(std::string_view query = "") {
    return FreshStore("lc", query);
  }
  static int64_t Pttl(const std::string& key) {
    Result<std::string> pttl = server_->Cli({"PTTL", key});
    EXPECT_TRUE(pttl.ok()) << pttl.status().ToString();
    return pttl.ok() ? std::stoll(*pttl) : -3;
  }
  static std::string Get(const std::string& key) {
    Result<std::string> got = server_->Cli({"GET", key});
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.value_or("error");
  }
};

// The lock key lives for lease + retention; the lease ending leaves the
// record (and the holder's WATCH) in place, so the holder's late write goes
// through the fast path's MULTI/EXEC, no script.
TEST_F(RedisLockContractTest, EndedLeaseKeepsTheRecordAndTheFastPathWrites) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const std::string id = TestId(101);
  // A lease of 1 s: long enough that a loaded machine (ASan, two cores)
  // reads the record before it ends.
  const LockRequest a = OtherHost("a", Duration(0), Duration(1000));
  Result<LockedRead> locked = store->LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  int64_t pttl = Pttl(redis->LockKey(id));
  EXPECT_GT(pttl, kRetentionMs);  // the lease has not run out yet
  EXPECT_LE(pttl, kRetentionMs + 1000);

  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  pttl = Pttl(redis->LockKey(id));
  EXPECT_GT(pttl, kRetentionMs - 10000) << "the record went with the lease";
  EXPECT_LE(pttl, kRetentionMs);
  EXPECT_EQ(Get(redis->LockKey(id)), a.owner.token + "\n");

  const int64_t exec = Calls("exec");
  const int64_t evalsha = Calls("evalsha");
  SK_ASSERT_OK(store->WriteAndUnlock(id, "late", kHour, a.owner));
  EXPECT_EQ(Calls("exec") - exec, 1);
  EXPECT_EQ(Calls("evalsha") - evalsha, 0);
  EXPECT_EQ(Get(redis->Key(id)), "late\n");
  EXPECT_EQ(Pttl(redis->LockKey(id)), -2);
}

// A record whose lease ran out fails the fast path's SET NX; the script
// takes it over, names the old holder, and renews the record.
TEST_F(RedisLockContractTest, StaleRecordIsTakenOverNamingItsHolder) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const std::string id = TestId(102);
  SK_ASSERT_OK(store->Write(id, "before", kHour));
  const LockRequest a = OtherHost("a", Duration(0), Duration(100));
  SK_ASSERT_OK(store->LockAndRead(id, a));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  const LockRequest b = OtherHost("b", Duration(0), Duration(30000));
  const int64_t evalsha = Calls("evalsha");
  Result<LockedRead> taken = store->LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired());
  EXPECT_GE(Calls("evalsha") - evalsha, 1);
  EXPECT_EQ(taken->broken_owner, a.owner.token);
  EXPECT_EQ(taken->record.data, "before");
  EXPECT_EQ(Get(redis->LockKey(id)), b.owner.token + "\n");
  EXPECT_GT(Pttl(redis->LockKey(id)), kRetentionMs + 29000);

  EXPECT_TRUE(store->WriteAndUnlock(id, "stale", kHour, a.owner).IsLockLost());
  SK_EXPECT_OK(store->Unlock(id, a.owner));  // not the holder: no effect
  EXPECT_EQ(Get(redis->LockKey(id)), b.owner.token + "\n");
  SK_ASSERT_OK(store->WriteAndUnlock(id, "from b", kHour, b.owner));
  EXPECT_EQ(Get(redis->Key(id)), "from b\n");
}

// Destroy deletes the session and the lock record in one round trip; a
// waiter blocked in BLPOP is woken at once and finds no session.
TEST_F(RedisLockContractTest, DestroyEndsTheLockAndWakesABlockedWaiter) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const std::string id = TestId(103);
  SK_ASSERT_OK(store->Write(id, "user=alice", kHour));
  const LockRequest holder = OtherHost("holder", Duration(0));
  SK_ASSERT_OK(store->LockAndRead(id, holder));

  Result<LockedRead> got = Status::Internal("not run");
  std::atomic<int64_t> acquired_at_us{0};
  auto now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  std::thread waiter([&] {
    got = store->LockAndRead(id, OtherHost("waiter", Duration(5000)));
    acquired_at_us = now_us();
  });
  for (int i = 0; i < 100; ++i) {
    Result<std::string> n = server_->Cli({"ZCARD", redis->WaitersKey(id)});
    if (n.ok() && *n == "1\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // In BLPOP by now (its slice is a second: the holder is of another host).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int64_t destroyed_at_us = now_us();
  SK_ASSERT_OK(store->Destroy(id));
  waiter.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_FALSE(got->found);
  EXPECT_EQ(got->broken_owner, "");
  EXPECT_LT((acquired_at_us - destroyed_at_us) / 1000, 100)
      << "the waiter was not woken by the destroy";
  EXPECT_TRUE(
      store->WriteAndUnlock(id, "back", kHour, holder.owner).IsLockLost());
  SK_ASSERT_OK(store->Unlock(id, OtherHost("waiter", {}).owner));

  // One round trip once the server has the script; nothing left behind.
  SK_ASSERT_OK(store->LockAndRead(id, holder));
  const ConnectionStats& stats = redis->StatsForTesting();
  const uint64_t trips = stats.round_trips.load();
  SK_ASSERT_OK(store->Destroy(id));
  EXPECT_EQ(stats.round_trips.load() - trips, 1u);
  Result<std::string> left = server_->Cli(
      {"EXISTS", redis->Key(id), redis->LockKey(id), redis->WakeKey(id)});
  SK_ASSERT_OK(left);
  EXPECT_EQ(*left, "0\n");
  EXPECT_TRUE(store->TouchAndUnlock(id, kHour, holder.owner).IsLockLost());
}

// The reply to SET NX never comes (the proxy swallows it) although the
// server took the lock: LockAndRead fails after its read timeout. The
// release of what it may have taken goes out with this process's next lock
// call, not at once (a server that did not answer in time would cost the
// request a second timeout), so the next request of the session gets the
// lock then, not after the lease.
TEST_F(RedisLockContractTest, LockWhoseReplyWasLostIsReleasedByTheNextLock) {
  ReplySwallowingProxy proxy(server_->port());
  ASSERT_NE(proxy.port(), 0);
  auto through = Open(UrlFor(proxy.port(), "prefix=lost:&read_timeout=100ms"));
  auto direct = Open(UrlFor(server_->port(), "prefix=lost:"));
  ASSERT_NE(through, nullptr);
  ASSERT_NE(direct, nullptr);
  const std::string id = TestId(104);
  const LockRequest a = OtherHost("a", Duration(0));
  Result<LockedRead> lost = through->LockAndRead(id, a);
  ASSERT_FALSE(lost.ok());
  EXPECT_TRUE(lost.status().IsUnavailable()) << lost.status().ToString();
  Result<LockedRead> held =
      direct->LockAndRead(id, OtherHost("b", Duration(0)));
  SK_ASSERT_OK(held);
  EXPECT_FALSE(held->acquired()) << "the lost SET took no lock";

  // The next lock of that process, of any session, sends the release first
  // (on a new connection: the proxy swallows the first one's replies only).
  const std::string other_id = TestId(106);
  Result<LockedRead> next = through->LockAndRead(other_id, a);
  SK_ASSERT_OK(next);
  EXPECT_TRUE(next->acquired());
  SK_EXPECT_OK(through->Unlock(other_id, a.owner));

  Result<LockedRead> b = direct->LockAndRead(id, OtherHost("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "the lock taken by the lost SET was kept";
  EXPECT_EQ(b->broken_owner, "");
  SK_EXPECT_OK(direct->Unlock(id, OtherHost("b", {}).owner));
}

// A server older than Redis 6 cannot run the lock's BLPOP: the first lock
// says so (the version, and how to turn locking off) and releases what
// its pipelined SET NX took; later ones on that connection send nothing.
TEST(RedisLockVersionTest, Redis5IsRefusedWithAClearError) {
  FakeRedis5 fake;
  ASSERT_NE(fake.port(), 0);
  auto store = Open(UrlFor(fake.port(), "read_timeout=500ms"));
  ASSERT_NE(store, nullptr);
  Result<LockedRead> got =
      store->LockAndRead(TestId(105), OtherHost("a", Duration(1000)));
  ASSERT_FALSE(got.ok()) << "locked on Redis 5";
  EXPECT_TRUE(got.status().IsNotSupported()) << got.status().ToString();
  EXPECT_THAT(got.status().message(), HasSubstr("Redis 5.0.7"));
  EXPECT_THAT(got.status().message(), HasSubstr("Redis 6 or later"));
  EXPECT_THAT(got.status().message(), HasSubstr("setting locking = 0"));
  EXPECT_THAT(got.status().message(), HasSubstr(store->name()));
  EXPECT_EQ(fake.calls("SET"), 1);
  EXPECT_GE(fake.calls("EVAL"), 1) << "the SET NX's lock was not released";

  got = store->LockAndRead(TestId(105), OtherHost("a", Duration(1000)));
  EXPECT_TRUE(got.status().IsNotSupported()) << got.status().ToString();
  EXPECT_EQ(fake.calls("SET"), 1);
  EXPECT_EQ(fake.calls("INFO"), 1);
  // Storing without locking works on Redis 5.
  SK_EXPECT_OK(store->Write(TestId(105), "x", kHour));
}

}  // namespace
}  // namespace sessionkit::redis::lock_contract_test
