// Session locks across a Redis Cluster failover, on a cluster of three
// masters with a replica each: a lock taken before a planned failover
// (CLUSTER FAILOVER) or before a kill -9 of its master is taken over by the
// next request as soon as it reaches the new master, instead of being waited
// for until lock_wait_ms ends (redis_lock.h, "The lock record's value").
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "sessionkit/store.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis {
namespace {

using testing::OtherHost;
using testing::PollUntil;
using testing::TestId;

constexpr char kPassword[] = "cluster-failover-pw";

test::RedisCluster* g_cluster = nullptr;

class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    test::RedisClusterOptions options;
    options.masters = 3;
    options.replicas_per_master = 1;
    options.password = kPassword;
    options.name = "failover-cluster";
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

std::unique_ptr<Store> ClusterStore() {
  return testing::Open(std::string("redis+cluster://:") + kPassword + "@" +
                       g_cluster->SeedList() + "?prefix=cf:");
}

// The running node whose INFO replication contains `field`, or -1.
int NodeWith(const std::string& field, size_t skip = SIZE_MAX) {
  for (size_t i = 0; i < g_cluster->size(); ++i) {
    if (i == skip || !g_cluster->node(i).process().running()) continue;
    auto info = g_cluster->node(i).Cli({"INFO", "replication"});
    if (info.ok() && info->find(field) != std::string::npos) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// The master that holds `key`, and its replica (in sync: WAIT).
struct Shard {
  int master = -1;
  int replica = -1;
};
Shard ShardOf(const std::string& key) {
  Shard shard;
  for (size_t i = 0; i < g_cluster->size(); ++i) {
    if (!g_cluster->node(i).process().running()) continue;
    auto role = g_cluster->node(i).Cli({"INFO", "replication"});
    auto exists = g_cluster->node(i).Cli({"EXISTS", key});
    if (role.ok() && role->find("role:master") != std::string::npos &&
        exists.ok() && *exists == "1\n") {
      shard.master = static_cast<int>(i);
    }
  }
  if (shard.master < 0) return shard;
  const std::string port = std::to_string(g_cluster->node(shard.master).port());
  shard.replica = NodeWith("master_port:" + port + "\r\n");
  return shard;
}

// True once the replica of `master` has everything `master` has (WAIT 1;
// within 30 s: a new cluster's replicas sync after repl-diskless-sync-delay,
// later on a loaded machine).
bool ReplicaHasIt(int master) {
  return PollUntil(std::chrono::seconds(30), [&] {
    auto waited = g_cluster->node(master).Cli({"WAIT", "1", "1000"});
    return waited.ok() && *waited == "1\n";
  });
}

// A request of another process (its own store) locks `id`, waiting up to
// 5 s: it must get the lock within 1 s and name `holder` as broken.
void NextRequestTakesOver(const std::string& id, const LockOwner& holder) {
  auto next_store = ClusterStore();
  ASSERT_NE(next_store, nullptr);
  LockRequest next = OtherHost("cf-next", Duration(5000));
  Result<LockedRead> got = Status::Internal("not run");
  const int64_t ms =
      testing::MillisOf([&] { got = next_store->LockAndRead(id, next); });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->acquired()) << "waited " << ms << " ms";
  EXPECT_LT(ms, 1000);
  EXPECT_EQ(got->broken_owner, holder.token);
  EXPECT_EQ(got->record.data, "before");
  SK_EXPECT_OK(
      next_store->WriteAndUnlock(id, "next", Duration(600000), next.owner));
}

// Two waiters queued on the old master; after a planned failover the first
// takes the old holder's lock over on the new master and releases it there,
// granting it to the second. The grant is stamped with the new master, so
// the second holds it: a third request waits, instead of taking the lock
// over as one from before the failover (two holders, the second's update
// refused).
TEST(RedisClusterFailoverTest, AGrantAfterAFailoverIsNotTakenOver) {
  ASSERT_NE(g_cluster, nullptr);
  auto store = ClusterStore();
  ASSERT_NE(store, nullptr);
  // A session whose shard has its replica (a kill -9 case before this one
  // leaves one shard without).
  std::string id;
  Shard shard;
  for (int n = 100; n < 200 && shard.replica < 0; ++n) {
    id = TestId(n);
    SK_ASSERT_OK(store->Write(id, "before", Duration(600000)));
    shard = ShardOf("cf:{" + id + "}");
  }
  ASSERT_GE(shard.replica, 0);
  const std::string key = "cf:{" + id + "}";
  LockRequest holder = OtherHost("cf-g-holder", Duration(0), Duration(300000));
  Result<LockedRead> held = store->LockAndRead(id, holder);
  ASSERT_TRUE(held.ok() && held->acquired()) << held.status().ToString();

  // Two waiters of other processes, queued in this order on the master.
  struct Waiter {
    std::unique_ptr<Store> store;
    LockRequest request;
    Result<LockedRead> got = Status::Internal("not run");
    std::atomic<bool> done{false};
    std::thread thread;
  };
  Waiter waiters[2];
  const auto queued = [&](const char* n) {
    return PollUntil(std::chrono::seconds(5), [&] {
      auto count =
          g_cluster->node(shard.master).Cli({"ZCARD", key + ":waiters"});
      return count.ok() && *count == std::string(n) + "\n";
    });
  };
  for (int i = 0; i < 2; ++i) {
    Waiter& w = waiters[i];
    w.store = ClusterStore();
    w.request = OtherHost("cf-g-w" + std::to_string(i), Duration(20000),
                          Duration(60000));
    w.thread = std::thread([&w, &id] {
      w.got = w.store->LockAndRead(id, w.request);
      w.done = true;
    });
    ASSERT_TRUE(queued(i == 0 ? "1" : "2"));
  }
  ASSERT_TRUE(ReplicaHasIt(shard.master));
  auto failover = g_cluster->node(shard.replica).Cli({"CLUSTER", "FAILOVER"});
  ASSERT_TRUE(failover.ok()) << failover.status().ToString();
  ASSERT_TRUE(PollUntil(std::chrono::seconds(15), [&] {
    auto info = g_cluster->node(shard.replica).Cli({"INFO", "replication"});
    return info.ok() && info->find("role:master") != std::string::npos;
  })) << "the replica was not promoted";
  SK_ASSERT_OK(g_cluster->WaitHealthy());

  // One waiter takes the old holder's lock over, then releases it.
  ASSERT_TRUE(PollUntil(std::chrono::seconds(10),
                        [&] { return waiters[0].done || waiters[1].done; }));
  Waiter& first = waiters[0].done ? waiters[0] : waiters[1];
  Waiter& second = waiters[0].done ? waiters[1] : waiters[0];
  ASSERT_TRUE(first.got.ok() && first.got->acquired())
      << first.got.status().ToString();
  SK_ASSERT_OK(first.store->WriteAndUnlock(id, "first", Duration(600000),
                                           first.request.owner));
  ASSERT_TRUE(
      PollUntil(std::chrono::seconds(5), [&] { return second.done.load(); }));
  ASSERT_TRUE(second.got.ok() && second.got->acquired())
      << second.got.status().ToString();

  auto third_store = ClusterStore();
  LockRequest third = OtherHost("cf-g-third", Duration(1500));
  auto got = third_store->LockAndRead(id, third);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->acquired())
      << "two holders: the granted lock was taken over from "
      << got->broken_owner;
  if (got->acquired()) {
    SK_EXPECT_OK(third_store->Unlock(id, third.owner));
  }
  SK_EXPECT_OK(second.store->WriteAndUnlock(id, "second", Duration(600000),
                                            second.request.owner));
  EXPECT_EQ(store->Read(id)->data, "second");
  for (Waiter& w : waiters) w.thread.join();
}

// One case for both failovers: the kill -9 leaves the cluster with a
// master fewer, and the planned one needs every shard with its replica.
TEST(RedisClusterFailoverTest, LockFromBeforeAFailoverIsTakenOverAtOnce) {
  ASSERT_NE(g_cluster, nullptr);
  auto store = ClusterStore();
  ASSERT_NE(store, nullptr);

  // Planned: CLUSTER FAILOVER on the replica of the session's master.
  const std::string planned = TestId(1);
  SK_ASSERT_OK(store->Write(planned, "before", Duration(600000)));
  LockRequest holder = OtherHost("cf-holder", Duration(0), Duration(300000));
  Result<LockedRead> held = store->LockAndRead(planned, holder);
  ASSERT_TRUE(held.ok() && held->acquired()) << held.status().ToString();
  Shard shard = ShardOf("cf:{" + planned + "}");
  ASSERT_GE(shard.master, 0);
  ASSERT_GE(shard.replica, 0);
  ASSERT_TRUE(ReplicaHasIt(shard.master));
  auto failover = g_cluster->node(shard.replica).Cli({"CLUSTER", "FAILOVER"});
  ASSERT_TRUE(failover.ok()) << failover.status().ToString();
  test::RedisServer& promoted = g_cluster->node(shard.replica);
  ASSERT_TRUE(PollUntil(std::chrono::seconds(15), [&] {
    auto info = promoted.Cli({"INFO", "replication"});
    return info.ok() && info->find("role:master") != std::string::npos;
  })) << "the replica was not promoted";
  SK_ASSERT_OK(g_cluster->WaitHealthy());
  NextRequestTakesOver(planned, holder.owner);
  Status late =
      store->WriteAndUnlock(planned, "late", Duration(600000), holder.owner);
  EXPECT_TRUE(late.IsLockLost()) << late.ToString();

  // kill -9 of the master of another session's slot, lock held.
  const std::string killed = TestId(2);
  SK_ASSERT_OK(store->Write(killed, "before", Duration(600000)));
  LockRequest holder2 = OtherHost("cf-holder2", Duration(0), Duration(300000));
  held = store->LockAndRead(killed, holder2);
  ASSERT_TRUE(held.ok() && held->acquired()) << held.status().ToString();
  shard = ShardOf("cf:{" + killed + "}");
  ASSERT_GE(shard.master, 0);
  ASSERT_GE(shard.replica, 0);
  ASSERT_TRUE(ReplicaHasIt(shard.master));
  ASSERT_TRUE(g_cluster->node(shard.master).process().Kill().ok());
  // The replica takes over after cluster-node-timeout; its promotion, then
  // "ok" on every running node, is the moment the next request is timed
  // from.
  test::RedisServer& replacement = g_cluster->node(shard.replica);
  ASSERT_TRUE(PollUntil(std::chrono::seconds(30), [&] {
    auto info = replacement.Cli({"INFO", "replication"});
    return info.ok() && info->find("role:master") != std::string::npos;
  })) << "the replica did not take over";
  SK_ASSERT_OK(g_cluster->WaitHealthy(Duration(30000)));
  NextRequestTakesOver(killed, holder2.owner);
}

}  // namespace
}  // namespace sessionkit::redis
