// The Memcached store against real memcached servers (started per test on
// free loopback ports), for what the conformance suite does not cover:
// round trips, a pool that loses a server, servers that refuse or never
// answer, values too large for the server, the fence of a takeover.
#include "stores/memcached/memcached_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/open.h"
#include "sessionkit/stores/memcached.h"
#include "stores/memcached/ketama.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::memcached {
namespace {

using ::testing::HasSubstr;

constexpr Duration kLong{600 * 1000};

class MemcachedStoreTest : public ::testing::Test {
 protected:
  // Starts `count` memcached servers.
  void StartServers(int count, const std::string& max_item = "2m") {
    for (int i = 0; i < count; ++i) {
      test::MemcachedOptions options;
      options.max_item_size = max_item;
      options.name = "memcached-store-" + std::to_string(i);
      auto server = test::StartMemcached(options);
      ASSERT_TRUE(server.ok()) << server.status().ToString();
      servers_.push_back(std::move(*server));
    }
  }

  std::string Url(const std::string& query = "") const {
    std::string url = "memcached://";
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (i > 0) url += ",";
      url += "127.0.0.1:" + std::to_string(servers_[i]->port(0));
    }
    return url + (query.empty() ? "" : "?" + query);
  }

  std::unique_ptr<MemcachedStore> Open(const std::string& query = "") {
    Result<StoreUrl> url = ParseStoreUrl(Url(query));
    EXPECT_TRUE(url.ok()) << url.status().ToString();
    Result<MemcachedOptions> options = MemcachedOptions::FromUrl(*url);
    EXPECT_TRUE(options.ok()) << options.status().ToString();
    Result<std::unique_ptr<Store>> store = OpenMemcachedStore(*options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::unique_ptr<MemcachedStore>(
        static_cast<MemcachedStore*>(store->release()));
  }

  static LockRequest Request(const std::string& name,
                             Duration wait = Duration(0)) {
    LockRequest request;
    request.owner.token = "other-host.invalid|1|" + name;
    request.wait = wait;
    request.lease = Duration(30000);
    return request;
  }

  static std::string Id(int i) { return "sess" + std::to_string(i) + "x"; }

  std::vector<std::unique_ptr<test::TestServer>> servers_;
};

// A locked cycle is two round trips: lock and read, write and release.
TEST_F(MemcachedStoreTest, LockedCycleIsTwoRoundTrips) {
  StartServers(1);
  auto store = Open();
  SK_ASSERT_OK(store->Write("cycle1", "v0", kLong));
  const uint64_t before = store->servers_for_testing().stats().round_trips;
  for (int i = 0; i < 10; ++i) {
    Result<LockedRead> locked = store->LockAndRead("cycle1", Request("a"));
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->acquired());
    SK_ASSERT_OK(store->WriteAndUnlock("cycle1", "v" + std::to_string(i + 1),
                                       kLong, Request("a").owner));
  }
  EXPECT_EQ(store->servers_for_testing().stats().round_trips - before, 20u);
  Result<SessionRecord> read = store->Read("cycle1");
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "v10");
}

// With replicas=1 a pool of three loses no session when a server dies, and
// requests keep succeeding.
TEST_F(MemcachedStoreTest, ReplicasLoseNoSessionWhenAServerDies) {
  StartServers(3);
  auto store = Open("replicas=1&read_timeout=200ms&down_time=5s");
  constexpr int kSessions = 300;
  for (int i = 0; i < kSessions; ++i) {
    SK_ASSERT_OK(store->Write(Id(i), "data" + std::to_string(i), kLong));
  }
  SK_ASSERT_OK(servers_[1]->Kill());
  int lost = 0;
  for (int i = 0; i < kSessions; ++i) {
    Result<SessionRecord> read = store->Read(Id(i));
    if (!read.ok()) {
      ASSERT_TRUE(read.status().IsNotFound()) << read.status().ToString();
      ++lost;
      continue;
    }
    EXPECT_EQ(read->data, "data" + std::to_string(i));
  }
  EXPECT_EQ(lost, 0);
  // Locked cycles go on, on the servers left.
  for (int i = 0; i < kSessions; i += 7) {
    Result<LockedRead> locked = store->LockAndRead(Id(i), Request("w"));
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->acquired());
    ASSERT_TRUE(locked->found) << Id(i);
    SK_ASSERT_OK(
        store->WriteAndUnlock(Id(i), "new", kLong, Request("w").owner));
  }
}

// Without replicas the dead server's share is lost (about a third), and
// only that: the rest reads back, and new writes of the lost sessions land
// on the next server of the ring.
TEST_F(MemcachedStoreTest, WithoutReplicasOnlyTheDeadServersShareIsLost) {
  StartServers(3);
  auto store = Open("read_timeout=200ms&down_time=5s");
  constexpr int kSessions = 300;
  for (int i = 0; i < kSessions; ++i) {
    SK_ASSERT_OK(store->Write(Id(i), "d", kLong));
  }
  SK_ASSERT_OK(servers_[0]->Kill());
  int lost = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kSessions; ++i) {
    Result<SessionRecord> read = store->Read(Id(i));
    if (read.ok()) continue;
    ASSERT_TRUE(read.status().IsNotFound() || read.status().IsUnavailable())
        << read.status().ToString();
    ++lost;
    SK_ASSERT_OK(store->Write(Id(i), "again", kLong));
    Result<SessionRecord> again = store->Read(Id(i));
    SK_ASSERT_OK(again);
    EXPECT_EQ(again->data, "again");
  }
  EXPECT_GT(lost, kSessions / 6);
  EXPECT_LT(lost, kSessions / 2);
  // The dead server cost one failed exchange, not one per request: all
  // these requests together took far less than one read_timeout each.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// A server that accepts and never answers fails the request within the
// timeouts, naming it; it is then left out for down_time.
TEST_F(MemcachedStoreTest, SilentServerTimesOutOnceThenIsLeftOut) {
  auto listener = test::BlackholeListener::Start();
  ASSERT_TRUE(listener.ok());
  const std::string url =
      "memcached://127.0.0.1:" + std::to_string((*listener)->port()) +
      "?read_timeout=100ms&down_time=10s";
  Result<std::unique_ptr<Store>> store = OpenStore(url);
  SK_ASSERT_OK(store);
  auto start = std::chrono::steady_clock::now();
  Result<SessionRecord> read = (*store)->Read("silent1");
  EXPECT_TRUE(read.status().IsUnavailable());
  EXPECT_THAT(read.status().message(),
              HasSubstr("timed out after 100 ms waiting for a reply from "
                        "127.0.0.1:" +
                        std::to_string((*listener)->port())));
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(1000));
  start = std::chrono::steady_clock::now();
  read = (*store)->Read("silent1");
  EXPECT_TRUE(read.status().IsUnavailable());
  EXPECT_THAT(read.status().message(), HasSubstr("down_time"));
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(50));
}

// A session larger than the server's item size is refused before it is
// sent (memcached would delete the item it has): the last value stays, and
// the lock is released.
TEST_F(MemcachedStoreTest, TooLargeValueKeepsTheLastOneAndReleases) {
  StartServers(1, "1m");
  auto store = Open();
  SK_ASSERT_OK(store->Write("big1", "small", kLong));
  const std::string big(1100 * 1024, 'x');
  Status s = store->Write("big1", big, kLong);
  EXPECT_TRUE(s.IsResourceExhausted()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("keeps items of at most 1048576 bytes"));
  Result<LockedRead> locked = store->LockAndRead("big1", Request("a"));
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  s = store->WriteAndUnlock("big1", big, kLong, Request("a").owner);
  EXPECT_TRUE(s.IsResourceExhausted()) << s.ToString();
  Result<SessionRecord> read = store->Read("big1");
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "small");
  // Released: another owner takes the lock at once.
  locked = store->LockAndRead("big1", Request("b"));
  SK_ASSERT_OK(locked);
  EXPECT_TRUE(locked->acquired());
}

// A takeover fences the old holder on every server: its late write is
// refused on the replica too, so the replica never holds it.
TEST_F(MemcachedStoreTest, TakeoverFencesTheOldHolderOnEveryServer) {
  StartServers(2);
  auto store = Open("replicas=1");
  SK_ASSERT_OK(store->Write("fence1", "v0", kLong));
  LockRequest a = Request("a");
  a.lease = Duration(50);
  Result<LockedRead> held = store->LockAndRead("fence1", a);
  SK_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired());
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  Result<LockedRead> taken = store->LockAndRead("fence1", Request("b"));
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired());
  EXPECT_EQ(taken->broken_owner, a.owner.token);
  EXPECT_TRUE(
      store->WriteAndUnlock("fence1", "late", kLong, a.owner).IsLockLost());
  // Both servers still hold v0: read each alone.
  for (size_t i = 0; i < servers_.size(); ++i) {
    Result<std::unique_ptr<Store>> one = OpenStore(
        "memcached://127.0.0.1:" + std::to_string(servers_[i]->port(0)));
    SK_ASSERT_OK(one);
    Result<SessionRecord> read = (*one)->Read("fence1");
    SK_ASSERT_OK(read) << "server " << i;
    EXPECT_EQ(read->data, "v0") << "server " << i;
  }
  SK_ASSERT_OK(
      store->WriteAndUnlock("fence1", "v1", kLong, Request("b").owner));
}

}  // namespace
}  // namespace sessionkit::memcached

namespace sessionkit::memcached {
namespace {

// A replica that was out of the pool during a Destroy keeps the session's
// old copy; the tombstone on the session's first server wins over it, so
// the logout is not undone when the replica comes back.
TEST_F(MemcachedStoreTest, DestroyIsNotUndoneByAReplicaThatMissedIt) {
  StartServers(2);
  auto store = Open("replicas=1&read_timeout=100ms&down_time=1s");
  // A session whose first server is servers_[0] (placed as the store
  // places it), its replica servers_[1].
  std::vector<KetamaServer> pool;
  for (const auto& server : servers_) {
    pool.push_back({"127.0.0.1", server->port(0), 1});
  }
  Result<KetamaRing> ring = KetamaRing::Create(pool, KetamaMode::kKetama);
  SK_ASSERT_OK(ring);
  std::string id;
  for (int i = 0; i < 100 && id.empty(); ++i) {
    if (ring->ServerFor(Id(i)) == 0) id = Id(i);
  }
  ASSERT_FALSE(id.empty());
  SK_ASSERT_OK(store->Write(id, "secret", kLong));
  // The replica stops answering: the next request marks it down (its
  // request, queued in the paused server, is a harmless read).
  SK_ASSERT_OK(servers_[1]->Pause());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  SK_ASSERT_OK(store->Read(id));
  SK_ASSERT_OK(servers_[1]->Resume());
  SK_ASSERT_OK(store->Destroy(id));  // left out: the replica misses it
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // back in
  Result<std::unique_ptr<Store>> replica = OpenStore(
      "memcached://127.0.0.1:" + std::to_string(servers_[1]->port(0)));
  SK_ASSERT_OK(replica);
  Result<SessionRecord> stale = (*replica)->Read(id);
  SK_ASSERT_OK(stale);  // the replica still has the old copy
  EXPECT_EQ(stale->data, "secret");
  EXPECT_TRUE(store->Read(id).status().IsNotFound());
  Result<LockedRead> locked = store->LockAndRead(id, Request("after"));
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_FALSE(locked->found);
  SK_ASSERT_OK(store->Unlock(id, Request("after").owner));
}

}  // namespace
}  // namespace sessionkit::memcached
