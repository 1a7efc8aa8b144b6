// The Redis store on Redis Cluster (redis+cluster://): the store
// conformance suite (tests/conformance/redis_cluster_conformance.cc) on a
// 3-master cluster, key slots, the spread of sessions over the masters, and
// a slot migration under load.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance/redis_topology_factories.h"
#include "conformance/store_conformance.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "stores/redis/cluster_topology.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "cluster-test-pw";

test::RedisCluster* g_cluster = nullptr;

class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    test::RedisClusterOptions options;
    options.masters = 3;
    options.password = kPassword;
    options.name = "store-cluster";
    auto cluster = test::StartRedisCluster(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    g_cluster = std::move(*cluster).release();
  }
  void TearDown() override {
    delete g_cluster;
    g_cluster = nullptr;
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new ClusterEnvironment);

std::string ClusterUrl(std::string_view query) {
  std::string url = std::string("redis+cluster://:") + kPassword + "@" +
                    g_cluster->SeedList();
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

}  // namespace

// The conformance suite's instance on these servers:
// tests/conformance/redis_cluster_conformance.cc.
conformance::StoreFactory ClusterFactory() {
  conformance::StoreFactory factory;
  factory.name = "cluster";
  factory.make_fresh = []() -> Result<std::unique_ptr<Store>> {
    if (g_cluster == nullptr) return Status::Unavailable("no cluster");
    static int n = 0;
    // A prefix of its own per test: Scan sees only that test's sessions.
    return OpenStore(ClusterUrl("prefix=ccf" + std::to_string(++n) + ":"));
  };
  factory.gc_reports_removed = false;
  factory.secrets = {kPassword};
  return factory;
}

namespace {

// Keys with `prefix` on node `i` (redis-cli --scan).
int KeysOnNode(size_t i, const std::string& prefix) {
  auto out = g_cluster->node(i).Cli({"--scan", "--pattern", prefix + "*"});
  if (!out.ok()) return -1;
  int n = 0;
  for (char c : *out) n += c == '\n';
  return n;
}

int64_t CountInSlot(size_t node, int slot) {
  auto out = g_cluster->node(node).Cli(
      {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok()) return -1;
  return std::stoll(*out);
}

std::string NodeId(size_t node) {
  auto out = g_cluster->node(node).Cli({"CLUSTER", "MYID"});
  if (!out.ok()) return "";
  return out->substr(0, out->find('\n'));
}

TEST(ClusterKeySlotTest, MatchesRedis) {
  // The reference values of the Redis Cluster specification.
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("{user1000}.followers"));
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("user1000"));
  // An empty tag hashes the whole key; only the first tag counts.
  EXPECT_EQ(KeySlot("foo{}{bar}"), Crc16("foo{}{bar}") % 16384);
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), KeySlot("{bar"));
  EXPECT_EQ(KeySlot("sk:{abc}"), KeySlot("abc"));
  EXPECT_EQ(KeySlot("sk:{abc}:lock"), KeySlot("abc"));
}

TEST(ClusterKeySlotTest, AgreesWithTheServer) {
  ASSERT_NE(g_cluster, nullptr);
  for (int i = 0; i < 20; ++i) {
    const std::string key = "sk:{" + testing::TestId(i) + "}";
    auto out = g_cluster->node(0).Cli({"CLUSTER", "KEYSLOT", key});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(std::stoi(*out), KeySlot(key)) << key;
  }
}

TEST(RedisClusterStoreTest, SessionsSpreadOverAllMasters) {
  ASSERT_NE(g_cluster, nullptr);
  auto store = OpenStore(ClusterUrl("prefix=spread:"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  constexpr int kSessions = 300;
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE(
        (*store)->Write(testing::TestId(i), "x", Duration(600000)).ok());
  }
  int total = 0;
  for (size_t n = 0; n < 3; ++n) {
    int here = KeysOnNode(n, "spread:");
    EXPECT_GT(here, kSessions / 10) << "master " << n;
    total += here;
  }
  EXPECT_EQ(total, kSessions);
  // A full Scan walks every master.
  std::set<std::string> listed;
  ScanOptions options;
  options.limit = 70;
  do {
    auto page = (*store)->Scan(options);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_LE(page->sessions.size(), 70u);
    for (const SessionInfo& s : page->sessions) {
      EXPECT_TRUE(listed.insert(s.id).second) << s.id;
    }
    options.cursor = page->next_cursor;
  } while (!options.cursor.empty());
  EXPECT_EQ(listed.size(), static_cast<size_t>(kSessions));
}

TEST(RedisClusterStoreTest, NoNodeAnswersIsUnavailable) {
  auto closed1 = test::ClosedPort::Make();
  auto closed2 = test::ClosedPort::Make();
  ASSERT_TRUE(closed1.ok() && closed2.ok());
  auto store = OpenStore("redis+cluster://:topsecret@127.0.0.1:" +
                         std::to_string((*closed1)->port()) +
                         ",127.0.0.1:" + std::to_string((*closed2)->port()));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Status st;
  int64_t ms = testing::MillisOf(
      [&] { st = (*store)->Read(testing::TestId(1)).status(); });
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("cannot load the cluster slot map"));
  EXPECT_THAT(st.message(), HasSubstr(std::to_string((*closed2)->port())));
  EXPECT_THAT(st.message(), Not(HasSubstr("topsecret")));
  EXPECT_LT(ms, 500);
}

// A fake cluster node on 127.0.0.1: CLUSTER SLOTS gives it every slot, and
// every other command is answered "MOVED 1234 <itself>", a redirect loop
// that only a bound on redirects ends; or, after RedirectTo(port), "MOVED
// 1234 <that port>"; or, after RedirectTo(0), "+OK".
class MovedLoopNode {
 public:
  MovedLoopNode() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~MovedLoopNode() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int moved() const { return moved_.load(); }
  void RedirectTo(int port) { redirect_to_ = port; }

 private:
  // The complete commands at the front of `buf` (RESP arrays of bulk
  // strings), removed from it.
  static std::vector<std::vector<std::string>> Parse(std::string* buf) {
    std::vector<std::vector<std::string>> out;
    size_t pos = 0;
    while (true) {
      size_t at = pos;
      auto line = [&](std::string* text) {
        size_t eol = buf->find("\r\n", at);
        if (eol == std::string::npos) return false;
        *text = buf->substr(at, eol - at);
        at = eol + 2;
        return true;
      };
      std::string head;
      if (!line(&head) || head.empty() || head[0] != '*') break;
      const int n = std::stoi(head.substr(1));
      std::vector<std::string> args;
      bool complete = true;
      for (int i = 0; i < n && complete; ++i) {
        std::string bulk;
        if (!line(&bulk) || bulk.empty() || bulk[0] != '$') {
          complete = false;
          break;
        }
        const size_t size = std::stoul(bulk.substr(1));
        if (buf->size() < at + size + 2) {
          complete = false;
          break;
        }
        args.push_back(buf->substr(at, size));
        at += size + 2;
      }
      if (!complete) break;
      out.push_back(std::move(args));
      pos = at;
    }
    buf->erase(0, pos);
    return out;
  }

  void Run() {
    std::vector<int> conns;
    std::map<int, std::string> bufs;
    const std::string self = "127.0.0.1:" + std::to_string(port_);
    while (!stop_) {
      std::vector<pollfd> fds{{fd_, POLLIN, 0}};
      for (int c : conns) fds.push_back({c, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) conns.push_back(c);
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const int c = fds[i].fd;
        char chunk[4096];
        ssize_t n = recv(c, chunk, sizeof(chunk), 0);
        if (n <= 0) {
          close(c);
          conns.erase(std::find(conns.begin(), conns.end(), c));
          bufs.erase(c);
          continue;
        }
        bufs[c].append(chunk, static_cast<size_t>(n));
        std::string reply;
        for (const auto& args : Parse(&bufs[c])) {
          if (!args.empty() && args[0] == "CLUSTER") {
            reply += "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:" +
                     std::to_string(port_) + "\r\n";
          } else if (redirect_to_ == 0) {
            reply += "+OK\r\n";
          } else {
            ++moved_;
            reply += "-MOVED 1234 " +
                     (redirect_to_ < 0
                          ? self
                          : "127.0.0.1:" + std::to_string(redirect_to_)) +
                     "\r\n";
          }
        }
        if (!reply.empty()) send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
    }
    for (int c : conns) close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> moved_{0};
  std::atomic<int> redirect_to_{-1};  // -1: itself; 0: none, +OK
  std::thread thread_;
};

TEST(RedisClusterStoreTest, RedirectsAreBounded) {
  MovedLoopNode node;
  ASSERT_NE(node.port(), 0);
  auto store =
      OpenStore("redis+cluster://127.0.0.1:" + std::to_string(node.port()));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Status st = (*store)->Write(testing::TestId(1), "v", Duration(1000));
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("still redirected after 5 retries"));
  EXPECT_THAT(st.message(), HasSubstr("MOVED 1234"));
  EXPECT_THAT(st.message(), HasSubstr("write of session"));
  // The first try and 5 redirects.
  EXPECT_EQ(node.moved(), 1 + ClusterTopology::kMaxRedirects);
}

// Right after a failover the old master answers MOVED to the new one, but
// its own CLUSTER SLOTS (like that of every node that has not heard yet)
// still gives it the slot. The store loads the map from the node MOVED
// named, so the write goes there instead of back to the old master until
// the redirects run out.
TEST(RedisClusterStoreTest, MapAfterMovedComesFromTheNodeItNamed) {
  MovedLoopNode promoted;
  MovedLoopNode old_master;
  ASSERT_NE(promoted.port(), 0);
  ASSERT_NE(old_master.port(), 0);
  promoted.RedirectTo(0);
  old_master.RedirectTo(promoted.port());
  auto store = OpenStore("redis+cluster://127.0.0.1:" +
                         std::to_string(old_master.port()));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (int i = 0; i < 3; ++i) {
    SK_EXPECT_OK((*store)->Write(testing::TestId(i), "v", Duration(1000)));
  }
  EXPECT_EQ(old_master.moved(), 1);
}

TEST(RedisClusterStoreTest, SeedThatIsNoClusterNodeIsUnavailable) {
  auto plain = test::StartRedis({});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  auto store = OpenStore("redis+cluster://127.0.0.1:" +
                         std::to_string((*plain)->port()));
  ASSERT_TRUE(store.ok());
  Status st = (*store)->Write(testing::TestId(1), "v", Duration(1000));
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("cannot load the cluster slot map"));
  EXPECT_THAT(st.message(), HasSubstr("cluster support disabled"));
}

TEST(RedisClusterStoreTest, WrongPasswordIsABadSetting) {
  ASSERT_NE(g_cluster, nullptr);
  auto store =
      OpenStore("redis+cluster://:not-the-pw@" + g_cluster->SeedList());
  ASSERT_TRUE(store.ok());
  Status st = (*store)->Write(testing::TestId(1), "v", Duration(1000));
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(), Not(HasSubstr("not-the-pw")));
}

// Moves the slot of a set of sessions from its master to another one,
// key by key (SETSLOT IMPORTING / MIGRATING, MIGRATE, SETSLOT NODE),
// while another thread reads and writes those sessions and adds new ones
// in the same slot. Every operation must succeed and nothing may be lost.
TEST(RedisClusterStoreTest, SlotMigrationUnderLoadLosesNothing) {
  ASSERT_NE(g_cluster, nullptr);
  auto opened = OpenStore(ClusterUrl("prefix=mig:"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store* store = opened->get();

  // 30 ids that share one slot: 15 written before, 15 during the move.
  const int slot = KeySlot("mig:{" + testing::TestId(0) + "}");
  std::vector<std::string> ids;
  for (int n = 0; ids.size() < 30 && n < 2000000; ++n) {
    std::string id = testing::TestId(n);
    if (KeySlot("mig:{" + id + "}") == slot) ids.push_back(id);
  }
  ASSERT_EQ(ids.size(), 30u);
  std::map<std::string, std::string> expected;
  for (size_t i = 0; i < 15; ++i) {
    ASSERT_TRUE(store->Write(ids[i], "v0", Duration(600000)).ok());
    expected[ids[i]] = "v0";
  }

  size_t source = 3, target = 3;
  // Other tests may have keys in this slot too (the slot depends on the
  // id only): the source is the one master with keys there.
  std::string counts;
  int64_t before = 0;
  for (size_t n = 0; n < 3; ++n) {
    const int64_t count = CountInSlot(n, slot);
    counts += " " + std::to_string(count);
    if (count >= 15) {
      source = n;
      before = count;
    }
  }
  ASSERT_LT(source, 3u) << "keys in slot " << slot << " per node:" << counts;
  target = (source + 1) % 3;
  const std::string source_id = NodeId(source);
  const std::string target_id = NodeId(target);
  ASSERT_FALSE(source_id.empty());
  ASSERT_FALSE(target_id.empty());

  std::atomic<bool> stop{false};
  std::atomic<int> ops{0};
  std::vector<std::string> failures;
  std::thread load([&] {
    size_t added = 15;
    for (int round = 1; !stop.load(); ++round) {
      for (size_t i = 0; i < added; ++i) {
        Result<SessionRecord> r = store->Read(ids[i]);
        if (!r.ok()) {
          failures.push_back("read " + ids[i] + ": " + r.status().ToString());
        } else if (r->data != expected[ids[i]]) {
          failures.push_back("read " + ids[i] + ": got " + r->data + ", want " +
                             expected[ids[i]]);
        }
        const std::string value = "v" + std::to_string(round);
        Status st = store->Write(ids[i], value, Duration(600000));
        if (!st.ok()) {
          failures.push_back("write " + ids[i] + ": " + st.ToString());
        } else {
          expected[ids[i]] = value;
        }
        ops += 2;
      }
      if (added < ids.size() && round % 2 == 0) {
        Status st = store->Write(ids[added], "new", Duration(600000));
        if (!st.ok()) {
          failures.push_back("add " + ids[added] + ": " + st.ToString());
        } else {
          expected[ids[added]] = "new";
          ++added;
        }
      }
      if (failures.size() > 20) return;
    }
  });

  auto cli = [&](size_t node, const std::vector<std::string>& args) {
    auto out = g_cluster->node(node).Cli(args);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? *out : std::string();
  };
  const std::string s = std::to_string(slot);
  cli(target, {"CLUSTER", "SETSLOT", s, "IMPORTING", source_id});
  cli(source, {"CLUSTER", "SETSLOT", s, "MIGRATING", target_id});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // One key at a time, so that the load sees the slot half moved.
  for (int guard = 0; guard < 200; ++guard) {
    std::string keys = cli(source, {"CLUSTER", "GETKEYSINSLOT", s, "1"});
    if (keys.empty() || keys == "\n") break;
    const std::string key = keys.substr(0, keys.find('\n'));
    cli(source,
        {"MIGRATE", "127.0.0.1", std::to_string(g_cluster->node(target).port()),
         "", "0", "5000", "AUTH", kPassword, "KEYS", key});
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  cli(target, {"CLUSTER", "SETSLOT", s, "NODE", target_id});
  cli(source, {"CLUSTER", "SETSLOT", s, "NODE", target_id});
  cli((target + 1) % 3, {"CLUSTER", "SETSLOT", s, "NODE", target_id});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  load.join();

  EXPECT_TRUE(failures.empty())
      << failures.size() << " failures, first: " << failures.front();
  EXPECT_GT(ops.load(), 100);
  // The load met the half-moved slot: ASK redirects, sent with ASKING.
  auto asking = testing::CommandCalls(g_cluster->node(target), "asking");
  ASSERT_TRUE(asking.ok()) << asking.status().ToString();
  EXPECT_GT(*asking, 0);
  // Every session is on the new master, with its last value.
  EXPECT_EQ(CountInSlot(source, slot), 0);
  EXPECT_EQ(CountInSlot(target, slot),
            before + static_cast<int64_t>(expected.size()) - 15);
  EXPECT_GT(expected.size(), 15u);
  for (const auto& [id, value] : expected) {
    Result<SessionRecord> r = store->Read(id);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->data, value);
  }
  EXPECT_TRUE(g_cluster->WaitHealthy(Duration(10000)).ok());
}

// The locking scripts touch several keys of one slot, and the lock keys
// mostly do not exist: while that slot is half migrated, Cluster answers
// them TRYAGAIN (the source when it holds some of the keys, the target
// after ASK). The store pauses and retries for up to a second: long enough
// for a slot move to complete, not forever.
TEST(RedisClusterStoreTest, LockingWaitsOutASlotMigration) {
  ASSERT_NE(g_cluster, nullptr);
  auto opened = OpenStore(ClusterUrl("prefix=lmig:"));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store* store = opened->get();
  const std::string id = testing::TestId(4242);
  const std::string key = "lmig:{" + id + "}";
  const int slot = KeySlot(key);
  ASSERT_TRUE(store->Write(id, "before", Duration(600000)).ok());
  size_t source = 3;
  for (size_t n = 0; n < 3; ++n) {
    if (CountInSlot(n, slot) > 0) source = n;
  }
  ASSERT_LT(source, 3u);
  const size_t target = (source + 1) % 3;
  const std::string source_id = NodeId(source);
  const std::string target_id = NodeId(target);
  auto cli = [&](size_t node, const std::vector<std::string>& args) {
    auto out = g_cluster->node(node).Cli(args);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
  };
  const std::string s = std::to_string(slot);
  cli(target, {"CLUSTER", "SETSLOT", s, "IMPORTING", source_id});
  cli(source, {"CLUSTER", "SETSLOT", s, "MIGRATING", target_id});

  LockRequest request;
  request.owner.token = "other-host.invalid|1|mig";
  request.wait = Duration(0);
  // Stuck half way (the data key still on the source): Unavailable after
  // the retries, quoting the server.
  Result<LockedRead> got = Status::Internal("not run");
  int64_t ms =
      testing::MillisOf([&] { got = store->LockAndRead(id, request); });
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().IsUnavailable()) << got.status().ToString();
  EXPECT_THAT(got.status().message(), HasSubstr("TRYAGAIN"));
  EXPECT_GE(ms, 950);
  EXPECT_LE(ms, 2000);

  // The key moves, and the slot follows 300 ms later: the lock waits it out.
  cli(source,
      {"MIGRATE", "127.0.0.1", std::to_string(g_cluster->node(target).port()),
       "", "0", "5000", "AUTH", kPassword, "KEYS", key});
  std::thread finish([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    for (size_t n : {target, source, (target + 1) % 3}) {
      cli(n, {"CLUSTER", "SETSLOT", s, "NODE", target_id});
    }
  });
  ms = testing::MillisOf([&] { got = store->LockAndRead(id, request); });
  finish.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->record.data, "before");
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 1000);
  ASSERT_TRUE(
      store->WriteAndUnlock(id, "after", Duration(600000), request.owner).ok());
  Result<SessionRecord> read = store->Read(id);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->data, "after");
  EXPECT_EQ(CountInSlot(source, slot), 0);
  EXPECT_TRUE(g_cluster->WaitHealthy(Duration(10000)).ok());
}

}  // namespace
}  // namespace sessionkit::redis
