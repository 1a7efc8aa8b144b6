// The Memcached store against real memcached servers (started per test on
// free loopback ports), for what the conformance suite does not cover:
// round trips, a pool that loses a server, servers that refuse or never
// answer, values too large for the server, the fence of a takeover, the
// wake-ups of waiters of this host.
#include "stores/memcached/memcached_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/open.h"
#include "sessionkit/stores/memcached.h"
#include "stores/lock_wake.h"
#include "stores/memcached/connection.h"
#include "stores/memcached/ketama.h"
#include "stores/memcached/meta.h"
#include "stores/memcached/record.h"
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
    // No wake file unless the test names one: the default lives outside
    // the build tree (the conformance suite runs with one).
    if (query.find("wake_file=") == std::string::npos) {
      return url + "?wake_file=off" + (query.empty() ? "" : "&" + query);
    }
    return url + "?" + query;
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

// failover=0 (how a store of tiers opens its Memcached tier): a process
// that left a server out does not move that server's sessions to the next
// one, where another process, which reaches the server, would not look.
// Its calls for them fail instead, and every write that succeeded is what
// the other process reads.
TEST_F(MemcachedStoreTest, WithoutFailoverProcessesAgreeWhereSessionsLive) {
  StartServers(3);
  const std::string query = "read_timeout=100ms&down_time=10s&failover=0";
  auto a = Open(query);
  auto b = Open(query);
  constexpr int kSessions = 60;
  for (int i = 0; i < kSessions; ++i) {
    SK_ASSERT_OK(a->Write(Id(i), "old", kLong));
  }
  SK_ASSERT_OK(servers_[0]->Pause());
  for (int i = 0; i < kSessions; ++i) (void)a->Read(Id(i));  // a leaves it out
  SK_ASSERT_OK(servers_[0]->Resume());
  int refused = 0;
  for (int i = 0; i < kSessions; ++i) {
    Status wrote = a->Write(Id(i), "new", kLong);
    if (!wrote.ok()) {
      EXPECT_TRUE(wrote.IsUnavailable()) << wrote.ToString();
      ++refused;
      auto lock = a->LockAndRead(Id(i), Request("a"));
      EXPECT_TRUE(lock.status().IsUnavailable()) << lock.status().ToString();
      continue;
    }
    Result<SessionRecord> seen = b->Read(Id(i));
    SK_ASSERT_OK(seen);
    EXPECT_EQ(seen->data, "new")
        << "session " << i << ": the write went where the other process "
        << "does not read";
  }
  EXPECT_GT(refused, kSessions / 6) << "the server's share was moved";
  EXPECT_LT(refused, kSessions);
}

// A server that accepts and never answers fails the request within the
// timeouts, naming it; it is then left out for down_time.
TEST_F(MemcachedStoreTest, SilentServerTimesOutOnceThenIsLeftOut) {
  auto listener = test::BlackholeListener::Start();
  ASSERT_TRUE(listener.ok());
  const std::string url =
      "memcached://127.0.0.1:" + std::to_string((*listener)->port()) +
      "?read_timeout=100ms&down_time=10s&wake_file=off";
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
        "memcached://127.0.0.1:" + std::to_string(servers_[i]->port(0)) +
        "?wake_file=off");
    SK_ASSERT_OK(one);
    Result<SessionRecord> read = (*one)->Read("fence1");
    SK_ASSERT_OK(read) << "server " << i;
    EXPECT_EQ(read->data, "v0") << "server " << i;
  }
  SK_ASSERT_OK(
      store->WriteAndUnlock("fence1", "v1", kLong, Request("b").owner));
}

// A server restarted empty: the next read finds the session on the replica
// and gives the server a copy. A locked write and a touch that follow must
// land on that copy (compared against its CAS), not be refused by it.
TEST_F(MemcachedStoreTest, AServerRestartedEmptyTakesTheNextWriteAndTouch) {
  StartServers(2);
  auto store = Open("replicas=1");
  auto each_alone = [&](const std::string& id) {
    std::vector<Result<SessionRecord>> reads;
    for (size_t i = 0; i < servers_.size(); ++i) {
      Result<std::unique_ptr<Store>> one = OpenStore(
          "memcached://127.0.0.1:" + std::to_string(servers_[i]->port(0)) +
          "?wake_file=off");
      EXPECT_TRUE(one.ok());
      reads.push_back(one.ok() ? (*one)->Read(id)
                               : Result<SessionRecord>(one.status()));
    }
    return reads;
  };
  for (size_t restarted = 0; restarted < servers_.size(); ++restarted) {
    SCOPED_TRACE("server " + std::to_string(restarted) + " restarted");
    const std::string id = Id(700 + static_cast<int>(restarted));
    SK_ASSERT_OK(store->Write(id, "v0", kLong));
    SK_ASSERT_OK(servers_[restarted]->Restart());
    (void)store->Health();  // the connections to the old process go
    Result<LockedRead> held = store->LockAndRead(id, Request("a"));
    SK_ASSERT_OK(held);
    ASSERT_TRUE(held->acquired());
    EXPECT_EQ(held->record.data, "v0");
    SK_EXPECT_OK(store->WriteAndUnlock(id, "v1", kLong, Request("a").owner));
    for (Result<SessionRecord>& read : each_alone(id)) {
      SK_ASSERT_OK(read);
      EXPECT_EQ(read->data, "v1");
    }

    const std::string touched = Id(710 + static_cast<int>(restarted));
    SK_ASSERT_OK(store->Write(touched, "t", Duration(60000)));
    SK_ASSERT_OK(servers_[restarted]->Restart());
    (void)store->Health();
    const TimePoint before = Clock::now();
    SK_EXPECT_OK(store->Touch(touched, kLong));
    for (Result<SessionRecord>& read : each_alone(touched)) {
      SK_ASSERT_OK(read);
      EXPECT_GE(read->expires_at, before + kLong - Duration(2000))
          << "a server kept the expiry from before the touch";
    }
  }
}

}  // namespace
}  // namespace sessionkit::memcached

namespace sessionkit::memcached {
namespace {

// A session whose key is hashed (an id too long for memcached's keys) is
// listed by the id in its value, but only when that id's key is the one
// the value was read from: a damaged or foreign value under such a key
// lists nothing and fails no scan.
TEST_F(MemcachedStoreTest, AScanListsHashedKeysOnlyByTheirOwnIds) {
  StartServers(1);
  auto store = Open();
  const std::string genuine = std::string(250, 'g');
  const std::string spoofed = std::string(250, 's');
  SK_ASSERT_OK(store->Write(genuine, "real", kLong));
  const std::string genuine_key = KeysFor("sk:", genuine).data;
  ASSERT_EQ(genuine_key.substr(0, 4), "sk:#");
  // A value that names another session, and one that names no session,
  // each under a hashed key of its own.
  const int64_t later = ToUnixMillis(Env::Default()->WallNow()) + kLong.count();
  Connection raw([&] {
    ConnectionOptions o;
    o.endpoint =
        Endpoint{"127.0.0.1", static_cast<uint16_t>(servers_[0]->port(0))};
    o.store_name = "raw";
    return o;
  }());
  Pipeline put;
  SetRequest set;
  set.ttl = 600;
  SK_ASSERT_OK(put.Set(KeysFor("sk:", spoofed).data,
                       EncodeData(genuine, "forged", later), set));
  SK_ASSERT_OK(put.Set("sk:#" + std::string(43, 'x'),
                       EncodeData("not an id!", "junk", later), set));
  std::vector<Response> replies;
  SK_ASSERT_OK(raw.Execute(put, &replies));

  Result<ScanPage> page = store->Scan(ScanOptions{});
  SK_ASSERT_OK(page);
  ASSERT_EQ(page->sessions.size(), 1u);
  EXPECT_EQ(page->sessions[0].id, genuine);
  EXPECT_EQ(page->sessions[0].bytes, 4u);  // "real"
  EXPECT_EQ(store->Read(genuine)->data, "real");
}

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
      "memcached://127.0.0.1:" + std::to_string(servers_[1]->port(0)) +
      "?wake_file=off");
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

// A process that takes locks and never releases them keeps at most
// kMaxHeld; past that the one whose lease ends first is forgotten, and its
// release is refused (LockLost) rather than written unchecked. The others
// still release.
TEST_F(MemcachedStoreTest, LocksNeverReleasedAreBoundedInMemory) {
  StartServers(1);
  auto store = Open();
  LockRequest first = Request("first");
  first.lease = Duration(10 * 1000);  // ends before every other (30 s)
  SK_ASSERT_OK(store->LockAndRead("held0", first));
  for (size_t i = 1; i <= MemcachedStore::kMaxHeld; ++i) {
    Result<LockedRead> locked =
        store->LockAndRead("held" + std::to_string(i), Request("a"));
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->acquired());
  }
  EXPECT_TRUE(
      store->WriteAndUnlock("held0", "late", kLong, first.owner).IsLockLost());
  SK_EXPECT_OK(store->WriteAndUnlock("held1", "v", kLong, Request("a").owner));
  SK_EXPECT_OK(
      store->WriteAndUnlock("held" + std::to_string(MemcachedStore::kMaxHeld),
                            "v", kLong, Request("a").owner));
}

}  // namespace
}  // namespace sessionkit::memcached

namespace sessionkit::memcached {
namespace {

using Clock = std::chrono::steady_clock;

// Lock hand-offs between requests of this host, which wake each other
// through the wake file, and without one, when they poll memcached.
class MemcachedWakeTest : public MemcachedStoreTest {
 protected:
  void SetUp() override {
    Result<std::string> dir = test::MakeTempDir("memcached-wake");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    StartServers(1);
  }
  void TearDown() override { test::RemoveTempDirUnlessFailed(dir_); }

  // A request of this process (a holder of this host) that waits 5 s and
  // counts in no waiter count (no round trip of its own for it).
  static LockRequest Local() {
    LockRequest request;
    request.owner = LockOwner::Generate();
    request.wait = Duration(5000);
    request.lease = Duration(30000);
    request.max_waiters = 0;
    return request;
  }

  // How one hand-off went: `waiter_store` asks for the lock of `id`, which
  // `holder_store` holds and releases `hold` after the waiter's first try.
  struct HandOff {
    bool acquired = false;
    uint64_t round_trips = 0;         // of the waiter's LockAndRead
    Clock::duration after_release{};  // from the release to the hand-off
  };
  static HandOff MeasureHandOff(MemcachedStore* holder_store,
                                MemcachedStore* waiter_store,
                                const std::string& id, Duration hold) {
    HandOff out;
    const LockRequest holder = Local();
    Result<LockedRead> held = holder_store->LockAndRead(id, holder);
    EXPECT_TRUE(held.ok() && held->acquired());
    const std::atomic<uint64_t>& trips =
        waiter_store->servers_for_testing().stats().round_trips;
    const uint64_t before = trips.load();
    Clock::time_point handed;
    std::thread waiter([&] {
      Result<LockedRead> got = waiter_store->LockAndRead(id, Local());
      handed = Clock::now();
      out.acquired = got.ok() && got->acquired();
      out.round_trips = trips.load() - before;
    });
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(5);
    while (trips.load() == before && Clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(hold);
    const Clock::time_point released = Clock::now();
    EXPECT_TRUE(holder_store->Unlock(id, holder.owner).ok());
    waiter.join();
    out.after_release = handed - released;
    return out;
  }

  std::string dir_;
};

// A waiter whose holder is a process of this host sleeps until the release
// wakes it: one try that finds the lock held, one after the release. Were
// it polling (every 2 ms), it would make about 25 tries in the 50 ms; were
// the release to wake nobody, it would look again only 250 ms after its
// first try, 200 ms after the release.
TEST_F(MemcachedWakeTest, SameHostWaiterIsWokenByTheRelease) {
  const std::string query = "wake_file=" + dir_ + "/wake";
  auto holder_store = Open(query);
  auto waiter_store = Open(query);
  for (int i = 0; i < 3; ++i) {
    const HandOff h = MeasureHandOff(holder_store.get(), waiter_store.get(),
                                     Id(i), Duration(50));
    EXPECT_TRUE(h.acquired) << i;
    EXPECT_GE(h.round_trips, 2u) << i;
    EXPECT_LE(h.round_trips, 3u) << i;
    EXPECT_LT(h.after_release, std::chrono::milliseconds(100)) << i;
  }
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/wake").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<size_t>(st.st_size), kLockWakeSlots * 4);
}

// The wake file's mapping is shared with a php-fpm worker forked after the
// store opened: the parent's release wakes a waiter in the child.
TEST_F(MemcachedWakeTest, WakesAWaiterForkedAfterTheStoreOpened) {
  auto store = Open("wake_file=" + dir_ + "/wake");
  const std::string id = Id(7);
  const LockRequest holder = Local();
  Result<LockedRead> held = store->LockAndRead(id, holder);
  SK_ASSERT_OK(held);
  ASSERT_TRUE(held->acquired());
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Counted among the waiters (the parent looks for the count), so that
    // its first try is known to be over.
    LockRequest waiter = Local();
    waiter.max_waiters = 16;
    const uint64_t before = store->servers_for_testing().stats().round_trips;
    Result<LockedRead> got = store->LockAndRead(id, waiter);
    const uint64_t trips =
        store->servers_for_testing().stats().round_trips - before;
    _exit(got.ok() && got->acquired()
              ? static_cast<int>(std::min<uint64_t>(trips, 100))
              : 200);
  }
  // The child's try, its waiter count: the count item exists.
  const std::string count_key = KeysFor("sk:", id).lock + ".w";
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(5);
  for (bool counted = false; !counted && Clock::now() < give_up;) {
    ServerSet::Call call;
    SK_ASSERT_OK(call.pipeline.Get(count_key, ValueAndCas()));
    store->servers_for_testing().RunAll(std::span<ServerSet::Call>(&call, 1));
    SK_ASSERT_OK(call.status);
    counted = call.replies[0].code == ResponseCode::kValue;
    if (!counted) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Clock::time_point released = Clock::now();
  SK_ASSERT_OK(store->Unlock(id, holder.owner));
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  // Without the wake-up, the child would look again 200 ms from now.
  EXPECT_LT(Clock::now() - released, std::chrono::milliseconds(100));
  ASSERT_TRUE(WIFEXITED(status));
  // Its try, joining the count, the try after the wake, leaving the count
  // (a 2 ms poll would make about 25 tries).
  EXPECT_GE(WEXITSTATUS(status), 4);
  EXPECT_LE(WEXITSTATUS(status), 5);
}

// A wake file that cannot be mapped (here: under a file), or none, fails
// nothing: the waiter polls memcached and still has the lock within a few
// milliseconds of the release.
TEST_F(MemcachedWakeTest, WithoutAWakeFileWaitersPoll) {
  const std::string file = dir_ + "/a-file";
  ASSERT_TRUE(std::ofstream(file).good());
  const std::string wakes[] = {file + "/wake", "off"};
  for (int i = 0; i < 2; ++i) {
    const std::string& wake = wakes[i];
    auto holder_store = Open("wake_file=" + wake);
    auto waiter_store = Open("wake_file=" + wake);
    ASSERT_NE(holder_store, nullptr) << wake;
    const HandOff h = MeasureHandOff(holder_store.get(), waiter_store.get(),
                                     Id(i), Duration(50));
    EXPECT_TRUE(h.acquired) << wake;
    EXPECT_GE(h.round_trips, 10u) << wake;
    EXPECT_LT(h.after_release, std::chrono::milliseconds(100)) << wake;
  }
}

}  // namespace
}  // namespace sessionkit::memcached
