// TLS on the Redis topologies, on servers that listen with TLS only (no
// plain port) and require client certificates (tls-auth-clients yes):
//
// - Sentinel: a master, a replica and three sentinels. The replica
//   replicates over TLS (tls-replication yes) and the sentinels talk TLS to
//   the data nodes and to each other (tls-replication yes in sentinel.conf).
// - Cluster: three masters with a replica each, cluster bus and replication
//   over TLS (tls-cluster yes); the nodes announce their TLS ports.
//
// The store reaches both through one set of tls_ca / tls_cert / tls_key
// parameters: it finds the master through the sentinels, follows a planned
// failover, routes over the cluster's slot map and its redirects, and
// locks. Without a client certificate, or with the wrong CA, it is refused
// with a message that says why and shows no secret.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/store.h"
#include "stores/redis/cluster_topology.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::PollUntil;
using testing::TestId;

constexpr char kPassword[] = "tls-topology-pw";
constexpr char kMasterName[] = "tlsmaster";
constexpr Duration kTtl{600000};

struct Topologies {
  std::string certs;     // the CA and certificates of every server
  std::string other_ca;  // another CA's (MakeTestCertificates) files
  std::unique_ptr<test::RedisServer> a;  // the first master
  std::unique_ptr<test::RedisServer> b;  // its replica at first
  std::vector<std::unique_ptr<test::RedisServer>> sentinels;
  std::unique_ptr<test::RedisCluster> cluster;  // nodes 0-2: the masters

  test::RedisServer* ByPort(int port) {
    if (a && a->tls_port() == port) return a.get();
    if (b && b->tls_port() == port) return b.get();
    return nullptr;
  }
  test::RedisServer* Other(const test::RedisServer* server) {
    return server == a.get() ? b.get() : a.get();
  }
};
Topologies* g = nullptr;

class TlsTopologyEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto setup = std::make_unique<Topologies>();
    for (std::string* dir : {&setup->certs, &setup->other_ca}) {
      auto made = test::MakeTempDir("tls-topology-ca");
      ASSERT_TRUE(made.ok()) << made.status().ToString();
      *dir = *made;
      Status st = test::MakeTestCertificates(*dir);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
    test::RedisServerOptions data;
    data.password = kPassword;
    data.tls = data.tls_only = data.tls_auth_clients = true;
    data.tls_dir = setup->certs;
    // masterauth: it becomes a replica after a failover. No delay before a
    // full sync, so the replica is in sync within a second.
    data.extra_config = {std::string("masterauth ") + kPassword,
                         "repl-diskless-sync-delay 0"};
    data.name = "tls-sentinel-a";
    auto a = test::StartRedis(data);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    setup->a = std::move(*a);
    data.name = "tls-sentinel-b";
    data.extra_config.push_back("replicaof 127.0.0.1 " +
                                std::to_string(setup->a->tls_port()));
    auto b = test::StartRedis(data);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    setup->b = std::move(*b);
    for (int i = 0; i < 3; ++i) {
      test::RedisSentinelOptions so;
      so.master_name = kMasterName;
      so.master_port = setup->a->tls_port();
      so.master_password = kPassword;
      so.tls = so.tls_auth_clients = true;
      so.tls_dir = setup->certs;
      so.name = "tls-sentinel-" + std::to_string(i);
      auto s = test::StartRedisSentinel(so);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      setup->sentinels.push_back(std::move(*s));
    }
    test::RedisClusterOptions co;
    co.masters = 3;
    co.replicas_per_master = 1;
    co.password = kPassword;
    co.tls = co.tls_auth_clients = true;
    co.tls_dir = setup->certs;
    co.extra_config = {"repl-diskless-sync-delay 0"};
    co.name = "tls-cluster";
    auto cluster = test::StartRedisCluster(co);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    setup->cluster = std::move(*cluster);
    g = setup.release();
  }
  void TearDown() override {
    if (g == nullptr) return;
    const std::string certs = g->certs, other_ca = g->other_ca;
    delete g;
    g = nullptr;
    test::RemoveTempDirUnlessFailed(certs);
    test::RemoveTempDirUnlessFailed(other_ca);
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new TlsTopologyEnvironment);

// "tls_ca=<ca>&tls_cert=<client.crt>&tls_key=<client.key>" of `dir`.
std::string TlsQuery(const std::string& dir) {
  return "tls_ca=" + dir + "/ca.crt&tls_cert=" + dir +
         "/client.crt&tls_key=" + dir + "/client.key";
}

// "redis+sentinel://:pw@s1,s2,s3/tlsmaster?<query>".
std::string SentinelUrl(std::string_view query) {
  std::string url = std::string("redis+sentinel://:") + kPassword + "@";
  for (size_t i = 0; i < g->sentinels.size(); ++i) {
    if (i > 0) url += ",";
    url += "127.0.0.1:" + std::to_string(g->sentinels[i]->tls_port());
  }
  return url + "/" + kMasterName + "?" + std::string(query);
}

std::string ClusterUrl(std::string_view query) {
  return std::string("redis+cluster://:") + kPassword + "@" +
         g->cluster->SeedList() + "?" + std::string(query);
}

// The master port the first sentinel reports, or 0.
int SentinelMasterPort() {
  return testing::SentinelMasterPort(*g->sentinels[0], kMasterName);
}

// True once `replica` is linked to its master (over TLS: there is no other
// port) and every sentinel lists it, so that a failover can pick it.
bool Settled(test::RedisServer* replica) {
  return testing::ReplicaSettled(*replica, replica->tls_port(), g->sentinels,
                                 kMasterName);
}

// What a refusal for want of a client certificate says.
constexpr char kNoCertificate[] =
    "the server asked for a client certificate in the TLS handshake and none "
    "was given: it requires one (tls-auth-clients yes); give it with "
    "tls_cert=";

// The line after "-----BEGIN ... KEY-----" of the client key: key material
// no message may quote.
std::string ClientKeyLine() {
  std::ifstream in(g->certs + "/client.key");
  std::string line;
  std::getline(in, line);
  std::getline(in, line);
  return line;
}

// A refusal that says `why` and shows neither the password nor the key.
void ExpectClearRefusal(const Status& st, std::string_view why) {
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr(std::string(why)));
  EXPECT_THAT(st.message(), Not(HasSubstr(kPassword)));
  EXPECT_THAT(st.message(), Not(HasSubstr("PRIVATE KEY")));
  const std::string key_line = ClientKeyLine();
  ASSERT_GT(key_line.size(), 20u);
  EXPECT_THAT(st.message(), Not(HasSubstr(key_line)));
}

// The holder takes the lock of `id`, another owner cannot, the holder's
// WriteAndUnlock writes `data` and frees it, and the other owner then gets
// it with that data.
void LockCycle(Store& store, const std::string& id, const std::string& data) {
  LockRequest holder = testing::OtherHost("holder-" + id, Duration(0));
  Result<LockedRead> held = store.LockAndRead(id, holder);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_TRUE(held->acquired());
  LockRequest other = testing::OtherHost("other-" + id, Duration(0));
  Result<LockedRead> refused = store.LockAndRead(id, other);
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_FALSE(refused->acquired());
  SK_ASSERT_OK(store.WriteAndUnlock(id, data, kTtl, holder.owner));
  Result<LockedRead> got = store.LockAndRead(id, other);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->record.data, data);
  SK_EXPECT_OK(store.Unlock(id, other.owner));
}

// --- The servers ----------------------------------------------------------

// What the other cases rely on: a plain connection gets no answer, nor does
// a TLS connection without a client certificate, anywhere.
TEST(TlsTopologyServersTest, AcceptOnlyTlsWithAClientCertificate) {
  ASSERT_NE(g, nullptr);
  std::vector<test::RedisServer*> servers = {g->a.get(), g->b.get()};
  for (auto& s : g->sentinels) servers.push_back(s.get());
  for (size_t i = 0; i < g->cluster->size(); ++i) {
    servers.push_back(&g->cluster->node(i));
  }
  for (test::RedisServer* s : servers) {
    EXPECT_EQ(s->port(), 0);
    ASSERT_GT(s->tls_port(), 0);
    EXPECT_FALSE(
        test::Probe(s->tls_port(), "PING\r\n", "+PONG", Duration(1000)).ok())
        << s->tls_port();
    auto no_cert = test::RunCommand({"redis-cli", "--tls", "--cacert",
                                     s->ca_file(), "-h", "127.0.0.1", "-p",
                                     std::to_string(s->tls_port()), "PING"});
    ASSERT_TRUE(no_cert.ok()) << no_cert.status().ToString();
    EXPECT_THAT(no_cert->output, Not(HasSubstr("PONG"))) << s->tls_port();
  }
}

// --- Sentinel -------------------------------------------------------------

TEST(SentinelTlsTest, FindsTheMasterWritesReadsAndLocks) {
  ASSERT_NE(g, nullptr);
  auto store = testing::Open(SentinelUrl(TlsQuery(g->certs) + "&prefix=tsw:"));
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(1);
  SK_ASSERT_OK(store->Write(id, "over tls", kTtl));
  Result<SessionRecord> read = store->Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "over tls");
  // It landed on the master the sentinels name.
  test::RedisServer* master = g->ByPort(SentinelMasterPort());
  ASSERT_NE(master, nullptr);
  auto on_master = master->Cli({"GET", "tsw:{" + id + "}"});
  ASSERT_TRUE(on_master.ok()) << on_master.status().ToString();
  EXPECT_EQ(*on_master, "over tls\n");
  LockCycle(*store, id, "locked write");
}

// A planned failover: the store follows it (writes land on the new master),
// a lock held across it is taken over at once by the next request, and the
// old master becomes a replica of the new one over TLS.
TEST(SentinelTlsTest, FollowsAPlannedFailover) {
  ASSERT_NE(g, nullptr);
  test::RedisServer* old_master = nullptr;
  test::RedisServer* new_master = nullptr;
  ASSERT_TRUE(PollUntil(std::chrono::seconds(20), [&] {
    old_master = g->ByPort(SentinelMasterPort());
    if (old_master == nullptr) return false;
    new_master = g->Other(old_master);
    return Settled(new_master);
  })) << "the replica or the sentinels did not settle";
  const std::string query = TlsQuery(g->certs) + "&prefix=tsf:";
  auto store = testing::Open(SentinelUrl(query));
  ASSERT_NE(store, nullptr);
  constexpr int kSessions = 20;
  for (int i = 0; i < kSessions; ++i) {
    SK_ASSERT_OK(store->Write(TestId(i), "data-" + std::to_string(i), kTtl));
  }
  const std::string locked_id = TestId(3000);
  LockRequest holder =
      testing::OtherHost("tsf-holder", Duration(0), Duration(300000));
  Result<LockedRead> held = store->LockAndRead(locked_id, holder);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_TRUE(held->acquired());
  auto waited = old_master->Cli({"WAIT", "1", "5000"});
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  ASSERT_EQ(*waited, "1\n");

  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::ForceSentinelFailover(
      *g->sentinels[0], kMasterName,
      [&] { return SentinelMasterPort() == new_master->tls_port(); },
      [&] { start = std::chrono::steady_clock::now(); }))
      << "the sentinels did not promote the replica";

  const std::string fresh = TestId(1000);
  Status last;
  ASSERT_TRUE(PollUntil(std::chrono::seconds(8), [&] {
    last = store->Write(fresh, "after", kTtl);
    if (!last.ok()) return false;
    auto on_new = testing::GetAfterFailover(*new_master, "tsf:{" + fresh + "}");
    return on_new.ok() && *on_new == "after\n";
  })) << last.ToString();
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start)
                .count(),
            10000);
  for (int i = 0; i < kSessions; ++i) {
    Result<SessionRecord> r = store->Read(TestId(i));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
    EXPECT_EQ(r->data, "data-" + std::to_string(i));
  }

  // The next request (a store of its own, as a new process has) takes the
  // lock from before the failover over at once.
  auto next_store = testing::Open(SentinelUrl(query));
  ASSERT_NE(next_store, nullptr);
  LockRequest next = testing::OtherHost("tsf-next", Duration(5000));
  Result<LockedRead> got = Status::Internal("not run");
  const int64_t ms = testing::MillisOf(
      [&] { got = next_store->LockAndRead(locked_id, next); });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->acquired()) << "waited " << ms << " ms";
  EXPECT_LT(ms, 1000);
  EXPECT_EQ(got->broken_owner, holder.owner.token);
  SK_ASSERT_OK(next_store->WriteAndUnlock(locked_id, "next", kTtl, next.owner));
  auto on_new =
      testing::GetAfterFailover(*new_master, "tsf:{" + locked_id + "}");
  ASSERT_TRUE(on_new.ok()) << on_new.status().ToString();
  EXPECT_EQ(*on_new, "next\n");
  Status late = store->WriteAndUnlock(locked_id, "late", kTtl, holder.owner);
  EXPECT_TRUE(late.IsLockLost()) << late.ToString();

  // The sentinels turn the old master into a replica of the new one, which
  // it reaches over TLS only.
  EXPECT_TRUE(PollUntil(std::chrono::seconds(15), [&] {
    auto info = old_master->Cli({"INFO", "replication"});
    return info.ok() &&
           info->find("master_port:" +
                      std::to_string(new_master->tls_port())) !=
               std::string::npos &&
           info->find("master_link_status:up") != std::string::npos;
  })) << "the old master did not replicate from the new one";
}

TEST(SentinelTlsTest, NoClientCertificateIsRefusedClearly) {
  ASSERT_NE(g, nullptr);
  // Through the sentinels: each refuses the connection.
  auto store =
      testing::Open(SentinelUrl("tls_ca=" + g->certs + "/ca.crt&prefix=tsn:"));
  ASSERT_NE(store, nullptr);
  Status st = store->Write(TestId(1), "v", kTtl);
  ExpectClearRefusal(st, std::string("no master found for '") + kMasterName);
  ExpectClearRefusal(st, kNoCertificate);
  EXPECT_THAT(st.message(),
              HasSubstr(std::to_string(g->sentinels[0]->tls_port())));
  // A data node straight away: the same.
  auto direct = testing::Open("rediss://:" + std::string(kPassword) +
                              "@127.0.0.1:" + std::to_string(g->a->tls_port()) +
                              "?tls_ca=" + g->certs + "/ca.crt");
  ASSERT_NE(direct, nullptr);
  ExpectClearRefusal(direct->Health(), kNoCertificate);
  // A certificate of a CA the servers do not trust.
  auto foreign = testing::Open(SentinelUrl(
      "tls_ca=" + g->certs + "/ca.crt&tls_cert=" + g->other_ca +
      "/client.crt&tls_key=" + g->other_ca + "/client.key&prefix=tsn:"));
  ASSERT_NE(foreign, nullptr);
  ExpectClearRefusal(foreign->Write(TestId(1), "v", kTtl),
                     "it does not accept tls_cert=" + g->other_ca +
                         "/client.crt; the certificate must be signed by a "
                         "CA the server trusts");
}

TEST(SentinelTlsTest, WrongCaFailsVerificationClearly) {
  ASSERT_NE(g, nullptr);
  // The right client certificate, but a CA that signed no server.
  const std::string query =
      "tls_ca=" + g->other_ca + "/ca.crt&tls_cert=" + g->certs +
      "/client.crt&tls_key=" + g->certs + "/client.key&prefix=tsc:";
  auto store = testing::Open(SentinelUrl(query));
  ASSERT_NE(store, nullptr);
  Status st = store->Write(TestId(1), "v", kTtl);
  ExpectClearRefusal(st, "certificate verify failed");
  EXPECT_THAT(st.message(), HasSubstr("no master found"));
  EXPECT_THAT(st.message(), HasSubstr("tls_ca"));
  // This side refused the server: nothing about the client certificate.
  EXPECT_THAT(st.message(), Not(HasSubstr("client certificate")));
}

// --- Cluster --------------------------------------------------------------

// The masters as created (no case fails a cluster node over).
constexpr size_t kMasters = 3;

std::string NodeId(size_t node) {
  auto out = g->cluster->node(node).Cli({"CLUSTER", "MYID"});
  return out.ok() ? out->substr(0, out->find('\n')) : "";
}

// The keys of `prefix` on node `i`, one a line (redis-cli --scan).
std::vector<std::string> KeysOnNode(size_t i, const std::string& prefix) {
  std::vector<std::string> keys;
  auto out = g->cluster->node(i).Cli({"--scan", "--pattern", prefix + "*"});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok()) return keys;
  size_t at = 0;
  for (size_t nl; (nl = out->find('\n', at)) != std::string::npos;
       at = nl + 1) {
    keys.push_back(out->substr(at, nl - at));
  }
  return keys;
}

// Redis 7.0 with tls-cluster yes announces TLS ports to a TLS client, in
// CLUSTER SLOTS and in MOVED: the ports the store dials.
TEST(ClusterTlsTest, SlotMapAndRedirectsNameTlsPorts) {
  ASSERT_NE(g, nullptr);
  std::set<int> tls_ports;
  for (size_t i = 0; i < g->cluster->size(); ++i) {
    tls_ports.insert(g->cluster->node(i).tls_port());
  }
  auto slots = g->cluster->node(0).Cli({"CLUSTER", "SLOTS"});
  ASSERT_TRUE(slots.ok()) << slots.status().ToString();
  // redis-cli prints the nested reply one element a line: an address, then
  // its port.
  std::set<int> announced;
  size_t at = 0;
  while ((at = slots->find("127.0.0.1\n", at)) != std::string::npos) {
    at += 10;
    announced.insert(std::stoi(slots->substr(at, slots->find('\n', at) - at)));
  }
  // Every master; the replicas as the node sees them in sync.
  for (size_t n = 0; n < kMasters; ++n) {
    EXPECT_TRUE(announced.count(g->cluster->node(n).tls_port())) << *slots;
  }
  for (int port : announced) EXPECT_TRUE(tls_ports.count(port)) << *slots;

  const std::string key = "tcm:{" + TestId(7) + "}";
  int owner = 0;
  for (size_t n = 0; n < kMasters; ++n) {
    auto got = g->cluster->node(n).Cli({"GET", key});
    if (got.ok()) {
      owner = g->cluster->node(n).tls_port();
      continue;
    }
    EXPECT_THAT(
        got.status().message(),
        HasSubstr("MOVED " + std::to_string(KeySlot(key)) + " 127.0.0.1:"));
    const std::string text = got.status().message();
    const size_t port_at = text.find("127.0.0.1:") + 10;
    int port = std::stoi(text.substr(port_at));
    EXPECT_TRUE(tls_ports.count(port)) << text;
    EXPECT_TRUE(owner == 0 || owner == port) << text;
    owner = port;
  }
  EXPECT_NE(owner, 0);
}

TEST(ClusterTlsTest, SessionsSpreadOverAllMastersAndLock) {
  ASSERT_NE(g, nullptr);
  auto store = testing::Open(ClusterUrl(TlsQuery(g->certs) + "&prefix=tcs:"));
  ASSERT_NE(store, nullptr);
  constexpr int kSessions = 60;
  for (int i = 0; i < kSessions; ++i) {
    SK_ASSERT_OK(store->Write(TestId(i), "s-" + std::to_string(i), kTtl));
  }
  for (int i = 0; i < kSessions; ++i) {
    Result<SessionRecord> r = store->Read(TestId(i));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
    EXPECT_EQ(r->data, "s-" + std::to_string(i));
  }
  size_t total = 0;
  for (size_t n = 0; n < kMasters; ++n) {
    std::vector<std::string> keys = KeysOnNode(n, "tcs:");
    ASSERT_FALSE(keys.empty()) << "master " << n << " holds no session";
    total += keys.size();
    // A lock on a session of each master: "tcs:{<id>}".
    const std::string& key = keys.front();
    const std::string id = key.substr(5, key.size() - 6);
    LockCycle(*store, id, "locked on master " + std::to_string(n));
    auto on_node = g->cluster->node(n).Cli({"GET", key});
    ASSERT_TRUE(on_node.ok()) << on_node.status().ToString();
    EXPECT_EQ(*on_node, "locked on master " + std::to_string(n) + "\n");
  }
  EXPECT_EQ(total, static_cast<size_t>(kSessions));
}

// A slot moves (MIGRATE over the TLS cluster bus's settings) after the
// store loaded the map: the store follows the MOVED to the new owner's TLS
// port.
TEST(ClusterTlsTest, FollowsAMovedSlot) {
  ASSERT_NE(g, nullptr);
  auto store = testing::Open(ClusterUrl(TlsQuery(g->certs) + "&prefix=tcv:"));
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(4242);
  const std::string key = "tcv:{" + id + "}";
  SK_ASSERT_OK(store->Write(id, "before the move", kTtl));
  size_t source = kMasters;
  for (size_t n = 0; n < kMasters; ++n) {
    auto exists = g->cluster->node(n).Cli({"EXISTS", key});
    if (exists.ok() && *exists == "1\n") source = n;
  }
  ASSERT_LT(source, kMasters);
  const size_t target = (source + 1) % kMasters;
  const std::string source_id = NodeId(source);
  const std::string target_id = NodeId(target);
  auto cli = [&](size_t node, const std::vector<std::string>& args) {
    auto out = g->cluster->node(node).Cli(args);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
  };
  const std::string s = std::to_string(KeySlot(key));
  cli(target, {"CLUSTER", "SETSLOT", s, "IMPORTING", source_id});
  cli(source, {"CLUSTER", "SETSLOT", s, "MIGRATING", target_id});
  cli(source, {"MIGRATE", "127.0.0.1",
               std::to_string(g->cluster->node(target).tls_port()), "", "0",
               "5000", "AUTH", kPassword, "KEYS", key});
  for (size_t n = 0; n < kMasters; ++n) {
    cli(n, {"CLUSTER", "SETSLOT", s, "NODE", target_id});
  }
  Result<SessionRecord> read = store->Read(id);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->data, "before the move");
  LockCycle(*store, id, "after the move");
  auto on_target = g->cluster->node(target).Cli({"GET", key});
  ASSERT_TRUE(on_target.ok()) << on_target.status().ToString();
  EXPECT_EQ(*on_target, "after the move\n");
  SK_EXPECT_OK(g->cluster->WaitHealthy(Duration(10000)));
}

TEST(ClusterTlsTest, NoClientCertificateIsRefusedClearly) {
  ASSERT_NE(g, nullptr);
  auto store =
      testing::Open(ClusterUrl("tls_ca=" + g->certs + "/ca.crt&prefix=tcn:"));
  ASSERT_NE(store, nullptr);
  Status st = store->Write(TestId(1), "v", kTtl);
  ExpectClearRefusal(st, "cannot load the cluster slot map");
  ExpectClearRefusal(st, kNoCertificate);
  auto wrong_ca = testing::Open(ClusterUrl(
      "tls_ca=" + g->other_ca + "/ca.crt&tls_cert=" + g->certs +
      "/client.crt&tls_key=" + g->certs + "/client.key&prefix=tcn:"));
  ASSERT_NE(wrong_ca, nullptr);
  Status refused = wrong_ca->Write(TestId(1), "v", kTtl);
  ExpectClearRefusal(refused, "certificate verify failed");
  EXPECT_THAT(refused.message(), Not(HasSubstr("client certificate")));
}

}  // namespace
}  // namespace sessionkit::redis
