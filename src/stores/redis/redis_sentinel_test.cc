// The Redis store through Sentinel (redis+sentinel://): the store
// conformance suite (tests/conformance/redis_sentinel_conformance.cc) on
// 1 master + 1 replica + 3 sentinels, a forced failover that must lose no
// session, and the errors of discovery.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "conformance/redis_topology_factories.h"
#include "conformance/store_conformance.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "stores/redis/connection.h"
#include "stores/redis/sentinel_watch.h"
#include "support/fake_env.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMasterPassword[] = "sentinel-data-pw";
constexpr char kMasterName[] = "mymaster";

struct SentinelSetup {
  std::unique_ptr<test::RedisServer> a;  // the first master
  std::unique_ptr<test::RedisServer> b;  // its replica at first
  std::vector<std::unique_ptr<test::RedisServer>> sentinels;

  test::RedisServer* ByPort(int port) {
    if (a && a->port() == port) return a.get();
    if (b && b->port() == port) return b.get();
    return nullptr;
  }
};
SentinelSetup* g_setup = nullptr;

// Another host's lock owner named `name`.
LockOwner Owner(const std::string& name) {
  LockOwner owner;
  owner.token = "other-host.invalid|1|" + name;
  return owner;
}

// The master port the first sentinel reports, or 0.
int SentinelMasterPort() {
  return testing::SentinelMasterPort(*g_setup->sentinels[0], kMasterName);
}

using testing::PollUntil;

// True once `replica` is linked to its master and every sentinel knows
// about the replica, so that a failover can pick it.
bool Settled(test::RedisServer* replica) {
  return testing::ReplicaSettled(*replica, replica->port(), g_setup->sentinels,
                                 kMasterName);
}

// The master the sentinels name and the other data server, once that one
// replicates it and every sentinel knows it (within 30 s: after a failover
// the sentinels turn the old master into a replica some 10 s later, more
// on a loaded machine).
bool SettledRoles(test::RedisServer** master, test::RedisServer** replica) {
  return PollUntil(std::chrono::seconds(30), [&] {
    *master = g_setup->ByPort(SentinelMasterPort());
    if (*master == nullptr) return false;
    *replica =
        *master == g_setup->a.get() ? g_setup->b.get() : g_setup->a.get();
    return Settled(*replica);
  });
}

class SentinelEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto setup = std::make_unique<SentinelSetup>();
    test::RedisServerOptions master;
    master.password = kMasterPassword;
    // It becomes a replica after a failover.
    master.extra_config = {std::string("masterauth ") + kMasterPassword};
    master.name = "sentinel-a";
    auto a = test::StartRedis(master);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    setup->a = std::move(*a);
    test::RedisServerOptions replica = master;
    replica.name = "sentinel-b";
    replica.extra_config.push_back("replicaof 127.0.0.1 " +
                                   std::to_string(setup->a->port()));
    auto b = test::StartRedis(replica);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    setup->b = std::move(*b);
    for (int i = 0; i < 3; ++i) {
      test::RedisSentinelOptions so;
      so.master_name = kMasterName;
      so.master_port = setup->a->port();
      so.master_password = kMasterPassword;
      so.name = "sentinel-" + std::to_string(i);
      auto s = test::StartRedisSentinel(so);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      setup->sentinels.push_back(std::move(*s));
    }
    g_setup = setup.release();
  }
  void TearDown() override {
    delete g_setup;
    g_setup = nullptr;
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SentinelEnvironment);

// "redis+sentinel://:pw@s1,s2,s3/mymaster?prefix=...".
std::string SentinelUrl(std::string_view query) {
  std::string url = std::string("redis+sentinel://:") + kMasterPassword + "@";
  for (size_t i = 0; i < g_setup->sentinels.size(); ++i) {
    if (i > 0) url += ",";
    url += "127.0.0.1:" + std::to_string(g_setup->sentinels[i]->port());
  }
  url += std::string("/") + kMasterName;
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

}  // namespace

// The conformance suite's instance on these servers:
// tests/conformance/redis_sentinel_conformance.cc.
conformance::StoreFactory SentinelFactory() {
  conformance::StoreFactory factory;
  factory.name = "sentinel";
  factory.make_fresh = []() -> Result<std::unique_ptr<Store>> {
    if (g_setup == nullptr) return Status::Unavailable("no sentinel setup");
    static int n = 0;
    // A prefix of its own per test: Scan sees only that test's sessions.
    return OpenStore(SentinelUrl("prefix=scf" + std::to_string(++n) + ":"));
  };
  factory.gc_reports_removed = false;
  factory.secrets = {kMasterPassword};
  return factory;
}

namespace {

TEST(RedisSentinelStoreTest, FindsTheMasterAndVerifiesItsRole) {
  ASSERT_NE(g_setup, nullptr);
  auto store = OpenStore(SentinelUrl("prefix=role:"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Write(testing::TestId(1), "v", Duration(60000)).ok());
  // The write landed on the master the sentinels name.
  test::RedisServer* master = g_setup->ByPort(SentinelMasterPort());
  ASSERT_NE(master, nullptr);
  auto got = master->Cli({"GET", "role:{" + testing::TestId(1) + "}"});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "v\n");
}

TEST(RedisSentinelStoreTest, SkipsSentinelsThatAreDown) {
  ASSERT_NE(g_setup, nullptr);
  auto closed = test::ClosedPort::Make();
  ASSERT_TRUE(closed.ok());
  std::string url =
      std::string("redis+sentinel://:") + kMasterPassword +
      "@127.0.0.1:" + std::to_string((*closed)->port()) +
      ",127.0.0.1:" + std::to_string(g_setup->sentinels[1]->port()) + "/" +
      kMasterName + "?prefix=skip:";
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE((*store)->Write(testing::TestId(2), "v", Duration(60000)).ok());
  EXPECT_TRUE((*store)->Read(testing::TestId(2)).ok());
}

TEST(RedisSentinelStoreTest, NoSentinelAnswersIsUnavailableWithinTheTimeouts) {
  auto closed = test::ClosedPort::Make();
  ASSERT_TRUE(closed.ok());
  auto hole = test::BlackholeListener::Start();
  ASSERT_TRUE(hole.ok());
  std::string url = "redis+sentinel://:topsecret@127.0.0.1:" +
                    std::to_string((*closed)->port()) +
                    ",127.0.0.1:" + std::to_string((*hole)->port()) +
                    "/mymaster?read_timeout=100ms";
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Status st;
  int64_t ms = testing::MillisOf(
      [&] { st = (*store)->Write(testing::TestId(3), "v", Duration(1000)); });
  EXPECT_TRUE(st.IsUnavailable()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("no master found for 'mymaster'"));
  EXPECT_THAT(st.message(), HasSubstr(std::to_string((*closed)->port())));
  EXPECT_THAT(st.message(), HasSubstr("timed out"));
  EXPECT_THAT(st.message(), Not(HasSubstr("topsecret")));
  // One refused connect plus one read timeout; a retry may double it, and
  // a loaded machine under sanitizers adds to it. A call that waited for
  // the silent sentinel beyond read_timeout would take seconds.
  EXPECT_LT(ms, 2 * (100 + 100) + 600);
}

TEST(RedisSentinelStoreTest, UnknownMasterNameIsABadSetting) {
  ASSERT_NE(g_setup, nullptr);
  std::string url =
      std::string("redis+sentinel://:") + kMasterPassword +
      "@127.0.0.1:" + std::to_string(g_setup->sentinels[0]->port()) +
      "/othermaster";
  auto store = OpenStore(url);
  ASSERT_TRUE(store.ok());
  Result<SessionRecord> r = (*store)->Read(testing::TestId(4));
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_THAT(r.status().message(),
              HasSubstr("does not monitor a master named 'othermaster'"));
}

TEST(RedisSentinelStoreTest, SentinelPassword) {
  ASSERT_NE(g_setup, nullptr);
  test::RedisSentinelOptions so;
  so.master_name = kMasterName;
  so.master_port = SentinelMasterPort();
  so.master_password = kMasterPassword;
  so.password = "sentinel-own-pw";
  so.name = "sentinel-pw";
  auto s = test::StartRedisSentinel(so);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string base = std::string("redis+sentinel://:") + kMasterPassword +
                           "@127.0.0.1:" + std::to_string((*s)->port()) + "/" +
                           kMasterName + "?prefix=spw:";
  auto good = OpenStore(base + "&sentinel_password=sentinel-own-pw");
  ASSERT_TRUE(good.ok());
  Status st = (*good)->Write(testing::TestId(5), "v", Duration(60000));
  EXPECT_TRUE(st.ok()) << st.ToString();

  auto bad = OpenStore(base + "&sentinel_password=wrong-pw");
  ASSERT_TRUE(bad.ok());
  st = (*bad)->Write(testing::TestId(5), "v", Duration(60000));
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("wrong password"));
  EXPECT_THAT(st.message(), Not(HasSubstr("wrong-pw")));
}

// Leaves the roles swapped: the cases after it, whichever they are, run on
// the promoted master.
TEST(RedisSentinelStoreTest, FailoverLosesNoSession) {
  ASSERT_NE(g_setup, nullptr);
  auto store = OpenStore(SentinelUrl("prefix=fo:"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  constexpr int kSessions = 50;
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE((*store)
                    ->Write(testing::TestId(i), "data-" + std::to_string(i),
                            Duration(600000))
                    .ok());
  }
  // A failover needs a replica in sync that every sentinel knows.
  test::RedisServer* old_master = nullptr;
  test::RedisServer* new_master = nullptr;
  ASSERT_TRUE(SettledRoles(&old_master, &new_master))
      << "the replica or the sentinels did not settle";
  // A session locked by another host's request, and a request waiting for
  // it (blocked in BLPOP on the old master) through the failover.
  const std::string locked_id = testing::TestId(3000);
  LockRequest holder;
  holder.owner.token = "other-host.invalid|1|fo-holder";
  holder.wait = Duration(0);
  Result<LockedRead> held = (*store)->LockAndRead(locked_id, holder);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_TRUE(held->acquired());
  Result<LockedRead> waiter_got = Status::Internal("not run");
  std::thread waiter([&] {
    LockRequest request;
    request.owner = Owner("fo-waiter");
    request.wait = Duration(20000);
    waiter_got = (*store)->LockAndRead(locked_id, request);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // What the replica has not received can be lost by any failover: make
  // sure it has everything first.
  auto waited = old_master->Cli({"WAIT", "1", "5000"});
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  ASSERT_EQ(*waited, "1\n");

  // `start`: when the failover that ran was asked for.
  auto start = std::chrono::steady_clock::now();
  const bool promoted = testing::ForceSentinelFailover(
      *g_setup->sentinels[0], kMasterName,
      [&] { return SentinelMasterPort() == new_master->port(); },
      [&] { start = std::chrono::steady_clock::now(); });
  ASSERT_TRUE(promoted) << "the sentinels did not promote the replica";

  // New writes succeed within a few seconds, and land on the new master.
  const std::string fresh = testing::TestId(1000);
  Status last;
  bool wrote = PollUntil(std::chrono::seconds(8), [&] {
    last = (*store)->Write(fresh, "after", Duration(600000));
    if (!last.ok()) return false;
    auto on_new = testing::GetAfterFailover(*new_master, "fo:{" + fresh + "}");
    return on_new.ok() && *on_new == "after\n";
  });
  if (!wrote) {
    // The waiter could still wait 20 s: release it before failing.
    (void)(*store)->Unlock(locked_id, holder.owner);
    waiter.join();
  }
  ASSERT_TRUE(wrote) << last.ToString();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  EXPECT_LT(took.count(), 10000);

  // The lock moved with the data, naming the old master. The waiter,
  // blocked in BLPOP there, reaches the new master (UNBLOCKED, or the end
  // of its wait slice, at most 1 s) and takes the lock over: it was taken
  // before the failover, and its holder may have released it where nobody
  // looks. The holder's late write is refused, never silently lost.
  waiter.join();
  const auto waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(waiter_got.ok()) << waiter_got.status().ToString();
  ASSERT_TRUE(waiter_got->acquired());
  EXPECT_EQ(waiter_got->broken_owner, holder.owner.token);
  EXPECT_LT(waited_ms.count(), 12000) << "the waiter waited out its wait";
  Status late = (*store)->WriteAndUnlock(locked_id, "late", Duration(600000),
                                         holder.owner);
  EXPECT_TRUE(late.IsLockLost()) << late.ToString();
  SK_EXPECT_OK((*store)->WriteAndUnlock(locked_id, "locked-after",
                                        Duration(600000), Owner("fo-waiter")));
  Result<SessionRecord> locked = (*store)->Read(locked_id);
  ASSERT_TRUE(locked.ok()) << locked.status().ToString();
  EXPECT_EQ(locked->data, "locked-after");

  for (int i = 0; i < kSessions; ++i) {
    Result<SessionRecord> r = (*store)->Read(testing::TestId(i));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
    EXPECT_EQ(r->data, "data-" + std::to_string(i));
  }
  Result<SessionRecord> r = (*store)->Read(fresh);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, "after");
}

// A request holds a lock across a planned failover and does not release it
// (its release went to the old master, or it is still running). The next
// request, on the new master, takes the lock over at once instead of
// waiting out lock_wait_ms, and names the holder it broke; the holder's
// late write is refused and reported, never silently lost.
TEST(RedisSentinelStoreTest, LockFromBeforeAFailoverIsTakenOverAtOnce) {
  ASSERT_NE(g_setup, nullptr);
  test::RedisServer* old_master = nullptr;
  test::RedisServer* new_master = nullptr;
  ASSERT_TRUE(SettledRoles(&old_master, &new_master))
      << "the replica or the sentinels did not settle";
  auto store = OpenStore(SentinelUrl("prefix=tk:"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string id = testing::TestId(4000);
  ASSERT_TRUE((*store)->Write(id, "before", Duration(600000)).ok());
  LockRequest holder;
  holder.owner.token = "other-host.invalid|1|tk-holder";
  holder.wait = Duration(0);
  holder.lease = Duration(300000);  // the CLI's: nothing ends it soon
  Result<LockedRead> held = (*store)->LockAndRead(id, holder);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_TRUE(held->acquired());
  auto waited = old_master->Cli({"WAIT", "1", "5000"});
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  ASSERT_EQ(*waited, "1\n");
  ASSERT_TRUE(testing::ForceSentinelFailover(
      *g_setup->sentinels[0], kMasterName,
      [&] { return SentinelMasterPort() == new_master->port(); }))
      << "the sentinels did not promote the replica";
  // The record came along with the data.
  auto record = testing::GetAfterFailover(*new_master, "tk:{" + id + "}:lock");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(*record, holder.owner.token + "@127.0.0.1:" +
                         std::to_string(old_master->port()) + "\n");

  // A new process's request (its own store), as PHP would make it.
  auto next_store = OpenStore(SentinelUrl("prefix=tk:"));
  ASSERT_TRUE(next_store.ok()) << next_store.status().ToString();
  LockRequest next;
  next.owner.token = "other-host.invalid|2|tk-next";
  next.wait = Duration(5000);
  Result<LockedRead> got = Status::Internal("not run");
  const int64_t ms =
      testing::MillisOf([&] { got = (*next_store)->LockAndRead(id, next); });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->acquired()) << "waited " << ms << " ms";
  // Far below the 5 s wait a request that waited for the record would
  // take; the rest is a new store's discovery on a loaded machine.
  EXPECT_LT(ms, 2500);
  EXPECT_EQ(got->broken_owner, holder.owner.token);
  EXPECT_EQ(got->record.data, "before");
  Status late =
      (*store)->WriteAndUnlock(id, "late", Duration(600000), holder.owner);
  EXPECT_TRUE(late.IsLockLost()) << late.ToString();
  SK_ASSERT_OK(
      (*next_store)->WriteAndUnlock(id, "next", Duration(600000), next.owner));
  Result<SessionRecord> r = (*store)->Read(id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, "next");
}

// The master dies outright (after the forced failover above, or before
// it: the cases run in any order). Calls fail
// with Unavailable, each within its time bounds, until the sentinels
// promote the replica; then everything written before is there.
TEST(RedisSentinelStoreTest, CrashedMasterIsReplaced) {
  ASSERT_NE(g_setup, nullptr);
  test::RedisServer* master = nullptr;
  test::RedisServer* replica = nullptr;
  ASSERT_TRUE(SettledRoles(&master, &replica))
      << "the replica or the sentinels did not settle";

  auto store = OpenStore(SentinelUrl("prefix=crash:"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  constexpr int kSessions = 30;
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_TRUE((*store)
                    ->Write(testing::TestId(i), "c-" + std::to_string(i),
                            Duration(600000))
                    .ok());
  }
  // A lock held when the master dies, by a request that never gets to
  // release it.
  const std::string locked_id = testing::TestId(2001);
  LockRequest holder;
  holder.owner.token = "other-host.invalid|1|crash-holder";
  holder.wait = Duration(0);
  holder.lease = Duration(300000);
  Result<LockedRead> held = (*store)->LockAndRead(locked_id, holder);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  ASSERT_TRUE(held->acquired());
  auto waited = master->Cli({"WAIT", "1", "5000"});
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  ASSERT_EQ(*waited, "1\n");

  ASSERT_TRUE(master->process().Kill().ok());
  int64_t slowest = 0;
  Status last;
  const std::string fresh = testing::TestId(2000);
  bool recovered = PollUntil(std::chrono::seconds(20), [&] {
    int64_t ms = testing::MillisOf([&] {
      last = (*store)->Write(fresh, "after-crash", Duration(600000));
    });
    slowest = std::max(slowest, ms);
    if (!last.ok()) {
      EXPECT_TRUE(last.IsUnavailable()) << last.ToString();
      EXPECT_THAT(last.message(), Not(HasSubstr(kMasterPassword)));
    }
    return last.ok();
  });
  ASSERT_TRUE(recovered) << last.ToString();
  // A failed call: the dead master, a new lookup (3 sentinels, each one
  // connect + one exchange, plus ROLE on the address named), one retry.
  EXPECT_LT(slowest, 3000);
  // The first sentinel may learn of the promotion a moment after the others.
  EXPECT_TRUE(PollUntil(std::chrono::seconds(5), [&] {
    return SentinelMasterPort() == replica->port();
  }));
  for (int i = 0; i < kSessions; ++i) {
    Result<SessionRecord> r = (*store)->Read(testing::TestId(i));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().ToString();
    EXPECT_EQ(r->data, "c-" + std::to_string(i));
  }
  auto on_new = testing::GetAfterFailover(*replica, "crash:{" + fresh + "}");
  ASSERT_TRUE(on_new.ok()) << on_new.status().ToString();
  EXPECT_EQ(*on_new, "after-crash\n");
  // The next request on the locked session takes the lock over at once.
  auto next_store = OpenStore(SentinelUrl("prefix=crash:"));
  ASSERT_TRUE(next_store.ok()) << next_store.status().ToString();
  LockRequest next;
  next.owner.token = "other-host.invalid|2|crash-next";
  next.wait = Duration(5000);
  Result<LockedRead> got = Status::Internal("not run");
  const int64_t ms = testing::MillisOf(
      [&] { got = (*next_store)->LockAndRead(locked_id, next); });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->acquired()) << "waited " << ms << " ms";
  // Far below the 5 s wait a request that waited for the record would
  // take; the rest is a new store's discovery on a loaded machine.
  EXPECT_LT(ms, 2500);
  EXPECT_EQ(got->broken_owner, holder.owner.token);
  SK_EXPECT_OK((*next_store)->Unlock(locked_id, next.owner));

  // Back to a master and a replica in sync, so that the cases of this
  // binary pass in any order (they run shuffled): the sentinels turn the
  // old master, started again, into a replica of the new one, or, when
  // they see the new master down for a moment on a loaded machine, fail
  // over once more to the old one and make the new one its replica.
  // Either pair will do for the cases after this one.
  ASSERT_TRUE(master->process().Restart().ok());
  test::RedisServer* settled_master = nullptr;
  test::RedisServer* settled_replica = nullptr;
  EXPECT_TRUE(SettledRoles(&settled_master, &settled_replica))
      << "the servers did not settle into a master and its replica";
}

// Subscriptions of the test to every sentinel's two channels, heard as the
// store hears them.
struct Listeners {
  Listeners() {
    for (auto& sentinel : g_setup->sentinels) {
      ConnectionOptions options;
      options.endpoint =
          Endpoint{"127.0.0.1", static_cast<uint16_t>(sentinel->port())};
      options.store_name = "listener";
      auto conn = std::make_unique<Connection>(options);
      const Command subscribe[] = {{{"SUBSCRIBE", kSwitchMasterChannel}},
                                   {{"SUBSCRIBE", kPromotionChannels[0]}},
                                   {{"SUBSCRIBE", kPromotionChannels[1]}}};
      std::vector<Reply> replies;
      EXPECT_TRUE(conn->Execute(subscribe, &replies, true).ok());
      conns.push_back(std::move(conn));
    }
  }
  // Reads what arrived, without waiting.
  void Read() {
    for (auto& conn : conns) {
      std::vector<Reply> pushed;
      EXPECT_TRUE(conn->ReadPushed(&pushed).ok());
      for (const Reply& m : pushed) {
        if (m.elements.size() != 3) continue;
        const std::string& text = m.elements[2].str;
        if (m.elements[1].Is(kSwitchMasterChannel)) {
          switched = ParseSwitchMaster(text, kMasterName);
        } else if (m.elements[1].Is(kPromotionChannels[0]) ||
                   m.elements[1].Is(kPromotionChannels[1])) {
          promoting = ParsePromotion(text, kMasterName);
        }
      }
    }
  }
  std::vector<std::unique_ptr<Connection>> conns;
  std::optional<Endpoint> switched;   // by +switch-master
  std::optional<Endpoint> promoting;  // by the failover's leader
};

// A failover the sentinels announce is followed at the store's next
// command: a write right after the announcement lands on the new master,
// not on the old one, which accepts writes until the sentinels reconfigure
// it and then discards them. (Before, the store asked a sentinel once a
// second, and writes went to the old master meanwhile.) Leaves the roles
// swapped, as FailoverLosesNoSession does.
TEST(RedisSentinelStoreTest, AnnouncedSwitchIsFollowedAtTheNextCommand) {
  ASSERT_NE(g_setup, nullptr);
  test::RedisServer* master = nullptr;
  test::RedisServer* replica = nullptr;
  ASSERT_TRUE(SettledRoles(&master, &replica))
      << "the replica or the sentinels did not settle";
  // The store's clock stands still: its once-a-second check never comes,
  // so only the announcement can move it to the new master.
  test::FakeEnv frozen;
  auto store = OpenStore(SentinelUrl("prefix=sw:"), &frozen);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // Finds the master through sentinel 0, the one asked for the failover
  // below (so the leader of it), and subscribes to it.
  ASSERT_TRUE((*store)->Write(testing::TestId(1), "x", Duration(60000)).ok());
  // The test hears the announcements as the store does.
  Listeners listeners;
  auto waited = master->Cli({"WAIT", "1", "5000"});
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  std::optional<Endpoint> announced;
  testing::ForceSentinelFailover(*g_setup->sentinels[0], kMasterName, [&] {
    listeners.Read();
    announced = listeners.switched;
    return announced.has_value();
  });
  ASSERT_TRUE(announced.has_value()) << "no sentinel announced the switch";
  EXPECT_EQ(announced->port, replica->port());

  // The old master, still a master, would take this write and lose it
  // when the sentinels make it a replica.
  const std::string fresh = testing::TestId(500);
  Status wrote = (*store)->Write(fresh, "after-switch", Duration(60000));
  ASSERT_TRUE(wrote.ok()) << wrote.ToString();
  auto on_new = testing::GetAfterFailover(*replica, "sw:{" + fresh + "}");
  ASSERT_TRUE(on_new.ok()) << on_new.status().ToString();
  EXPECT_EQ(*on_new, "after-switch\n")
      << "the write after the announcement went to the old master";
}

// The leader of a planned failover says when it tells the replica to stop
// replicating; from then on the old master's writes are lost when it is
// demoted, a second or more later. The store hears it and moves to the
// replica as soon as that reports itself master, before +switch-master.
// Leaves the roles swapped, as FailoverLosesNoSession does.
TEST(RedisSentinelStoreTest, PromotionIsFollowedBeforeItsAnnouncement) {
  ASSERT_NE(g_setup, nullptr);
  test::RedisServer* master = nullptr;
  test::RedisServer* replica = nullptr;
  ASSERT_TRUE(SettledRoles(&master, &replica))
      << "the replica or the sentinels did not settle";
  // A frozen clock: no once-a-second check moves the store.
  test::FakeEnv frozen;
  auto store = OpenStore(SentinelUrl("prefix=pr:"), &frozen);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // Subscribes to sentinel 0, the leader of the failover below.
  SK_ASSERT_OK((*store)->Write(testing::TestId(1), "x", Duration(60000)));
  Listeners listeners;
  auto waited = master->Cli({"WAIT", "1", "5000"});
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  testing::ForceSentinelFailover(*g_setup->sentinels[0], kMasterName, [&] {
    listeners.Read();
    return listeners.promoting.has_value();
  });
  ASSERT_TRUE(listeners.promoting.has_value()) << "no promotion was heard";
  EXPECT_EQ(listeners.promoting->port, replica->port());
  const std::string fresh = testing::TestId(600);
  SK_ASSERT_OK((*store)->Write(fresh, "after-promotion", Duration(60000)));
  listeners.Read();
  EXPECT_FALSE(listeners.switched.has_value())
      << "announced already: this run does not tell the two apart";
  auto on_new = testing::GetAfterFailover(*replica, "pr:{" + fresh + "}");
  ASSERT_TRUE(on_new.ok()) << on_new.status().ToString();
  EXPECT_EQ(*on_new, "after-promotion\n")
      << "the write during the promotion went to the old master";
  // Back to a settled pair for the cases after this one.
  EXPECT_TRUE(PollUntil(std::chrono::seconds(20), [&] {
    return SentinelMasterPort() == replica->port() && Settled(master);
  }));
}

}  // namespace
}  // namespace sessionkit::redis
