// Session locking in the Redis store against real redis-server processes:
// the keys it uses, one round trip and no script per uncontended operation
// (INFO commandstats), the WATCH fast path giving way to the scripts (a
// waiter, a lapsed lease, two locks on one connection), the NOSCRIPT
// fallback, a holder killed with SIGKILL, a
// holder of another host, one release waking one waiter, a lost wake-up
// (a server that goes away: redis_lock_outage_test.cc). The contract itself is
// tested by the conformance suite (redis_conformance_test and the topology
// tests).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/open.h"
#include "sessionkit/session_id.h"
#include "sessionkit/store.h"
#include "stores/redis/redis_store.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::lock_test {
namespace {

using testing::AsRedis;
using testing::CommandCalls;
using ::testing::HasSubstr;
using testing::kHour;
using testing::kMarginMs;
using testing::kServerTimerMs;
using testing::MillisOf;
using ::testing::Not;
using testing::Open;
using testing::OtherHost;
using testing::SharedRedisServerTest;
using testing::TestId;
using testing::UrlFor;

using SteadyClock = std::chrono::steady_clock;

int64_t MsSince(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now() - t)
      .count();
}

// The session's data as `store` reads it now, or the error.
std::string DataOf(Store& store, const std::string& id) {
  Result<SessionRecord> read = store.Read(id);
  return read.ok() ? read->data : read.status().ToString();
}

class RedisLockTest : public SharedRedisServerTest<RedisLockTest> {
 protected:
  friend SharedRedisServerTest<RedisLockTest>;

  static std::unique_ptr<Store> Fresh(std::string_view query = "") {
    return FreshStore("lk", query);
  }
};

TEST_F(RedisLockTest, KeysShareTheHashTag) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const std::string id = TestId(1);
  const std::string tag = "{" + id + "}";
  EXPECT_EQ(redis->LockKey(id), redis->Key(id) + ":lock");
  EXPECT_EQ(redis->WaitersKey(id), redis->Key(id) + ":waiters");
  EXPECT_EQ(redis->WakeKey(id), redis->Key(id) + ":wake");
  EXPECT_EQ(redis->QueueKey(id), redis->Key(id) + ":queue");
  EXPECT_THAT(redis->WaitersKey(id), HasSubstr(tag));
  EXPECT_THAT(redis->WakeKey(id), HasSubstr(tag));
  EXPECT_THAT(redis->QueueKey(id), HasSubstr(tag));

  // The lock key holds the owner's token; its PTTL is the lease plus the
  // record's retention.
  const LockRequest a = OtherHost("a", Duration(0), Duration(30000));
  Result<LockedRead> locked = store->LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  Result<std::string> holder = server_->Cli({"GET", redis->LockKey(id)});
  SK_ASSERT_OK(holder);
  EXPECT_EQ(*holder, a.owner.token + "\n");
  Result<std::string> pttl = server_->Cli({"PTTL", redis->LockKey(id)});
  SK_ASSERT_OK(pttl);
  EXPECT_GT(std::stoll(*pttl), kLockRecordRetention.count() + 29000);
  EXPECT_LE(std::stoll(*pttl), kLockRecordRetention.count() + 30000);

  // A waiter registers with its deadline (server time), and leaves when
  // it gives up on its last try.
  std::thread waiter(
      [&] { (void)store->LockAndRead(id, OtherHost("b", Duration(400))); });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  Result<std::string> waiters =
      server_->Cli({"ZRANGE", redis->WaitersKey(id), "0", "-1"});
  SK_EXPECT_OK(waiters);
  EXPECT_EQ(waiters.value_or(""), "other-host.invalid|1|b\n");
  waiter.join();
  waiters = server_->Cli({"ZCARD", redis->WaitersKey(id)});
  SK_EXPECT_OK(waiters);
  EXPECT_EQ(waiters.value_or(""), "0\n");

  // A release leaves no lock, and grants nothing when nobody waits.
  SK_ASSERT_OK(store->WriteAndUnlock(id, "v", kHour, a.owner));
  Result<std::string> exists =
      server_->Cli({"EXISTS", redis->LockKey(id), redis->WaitersKey(id),
                    redis->WakeKey(id) + ":" + a.owner.token});
  SK_ASSERT_OK(exists);
  EXPECT_EQ(*exists, "0\n");
  Result<std::string> data = server_->Cli({"GET", redis->Key(id)});
  SK_ASSERT_OK(data);
  EXPECT_EQ(*data, "v\n");
}

// Uncontended, each step is one round trip and runs no script: LockAndRead
// is SET NX PX, GET, PTTL, WATCH; the release is a MULTI/EXEC on
// the connection that WATCHes the lock. On a fresh connection too.
TEST_F(RedisLockTest, UncontendedLockingIsOneRoundTripPerStepWithoutScripts) {
  auto store = Fresh();  // a prefix, and so a pool, of its own
  ASSERT_NE(store, nullptr);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  ASSERT_EQ(stats.connects.load(), 0u);
  const std::string id = TestId(3);
  const LockRequest a = OtherHost("a", Duration(5000));

  const int64_t evalsha = Calls("evalsha");
  const int64_t eval = Calls("eval");
  const int64_t exec = Calls("exec");
  Result<LockedRead> locked = store->LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_FALSE(locked->found);
  EXPECT_EQ(stats.round_trips.load(), 1u);
  // INFO server (the version check, once per connection), SET NX, GET,
  // PTTL, WATCH (UNWATCH only on a connection that may watch something).
  EXPECT_EQ(stats.commands.load(), 5u);
  SK_ASSERT_OK(store->WriteAndUnlock(id, "data", kHour, a.owner));
  EXPECT_EQ(stats.connects.load(), 1u);
  EXPECT_EQ(stats.round_trips.load(), 2u);
  EXPECT_EQ(stats.commands.load(), 9u);  // + MULTI, SET, DEL, EXEC
  EXPECT_EQ(Calls("exec") - exec, 1);
  Result<SessionRecord> written = store->Read(id);
  SK_ASSERT_OK(written);
  EXPECT_EQ(written->data, "data");
  EXPECT_GT(written->expires_at, Clock::now() + kHour - Duration(5000));
  Result<std::string> lock =
      server_->Cli({"EXISTS", AsRedis(store.get())->LockKey(id)});
  SK_ASSERT_OK(lock);
  EXPECT_EQ(*lock, "0\n");

  // Read and locked read see the same data.
  locked = store->LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_EQ(locked->record.data, "data");
  EXPECT_GT(locked->record.expires_at, Clock::now() + kHour - Duration(5000));

  // Touch-and-unlock and unlock: one each as well.
  uint64_t trips = stats.round_trips.load();
  SK_ASSERT_OK(store->TouchAndUnlock(id, kHour * 2, a.owner));
  SK_ASSERT_OK(store->LockAndRead(id, a));
  SK_ASSERT_OK(store->Unlock(id, a.owner));
  EXPECT_EQ(stats.round_trips.load() - trips, 3u);
  EXPECT_EQ(Calls("exec") - exec, 3);
  written = store->Read(id);
  SK_ASSERT_OK(written);
  EXPECT_GT(written->expires_at, Clock::now() + kHour * 2 - Duration(5000));

  // A session gone under a held lock (expired; a Destroy would end the
  // lock too): touch-and-unlock says so and releases all the same; a write
  // with ttl 0 deletes the session.
  SK_ASSERT_OK(store->LockAndRead(id, a));
  SK_ASSERT_OK(store->Write(id, "", Duration(0)));
  EXPECT_TRUE(store->TouchAndUnlock(id, kHour, a.owner).IsNotFound());
  SK_ASSERT_OK(store->Write(id, "again", kHour));
  SK_ASSERT_OK(store->LockAndRead(id, a));
  SK_ASSERT_OK(store->WriteAndUnlock(id, "ignored", Duration(0), a.owner));
  EXPECT_TRUE(store->Read(id).status().IsNotFound());
  lock = server_->Cli({"EXISTS", AsRedis(store.get())->LockKey(id)});
  SK_ASSERT_OK(lock);
  EXPECT_EQ(*lock, "0\n");
  EXPECT_EQ(Calls("evalsha") - evalsha, 0);
  EXPECT_EQ(Calls("eval") - eval, 0);

  // A write of an owner that holds nothing goes to the script, which
  // refuses it and leaves no staging key: one round trip once the server
  // has the script (the first may meet NOSCRIPT).
  const LockOwner intruder = OtherHost("intruder", Duration(0)).owner;
  EXPECT_TRUE(
      store->WriteAndUnlock(id, "intruder", kHour, intruder).IsLockLost());
  trips = stats.round_trips.load();
  const int64_t scripts = Calls("evalsha");
  EXPECT_TRUE(
      store->WriteAndUnlock(id, "intruder", kHour, intruder).IsLockLost());
  EXPECT_EQ(stats.round_trips.load() - trips, 1u);
  EXPECT_EQ(Calls("evalsha") - scripts, 1);
  Result<std::string> staging = server_->Cli({"KEYS", "*:w:*"});
  SK_ASSERT_OK(staging);
  EXPECT_EQ(staging->find(":w:"), std::string::npos)
      << "a refused write left its staging key: " << *staging;
  EXPECT_TRUE(store->Read(id).status().IsNotFound());
}

// A waiter that registers touches the lock key, so the holder's EXEC is
// aborted and its release goes through the script, which grants the lock
// to the waiter (no script runs on the waiter's side after it) at once (with
// the holder's lease of a minute and another host's token, nothing else would
// end the waiter's sleep before a second). The data is written all the same.
TEST_F(RedisLockTest, AWaiterSendsTheReleaseThroughTheScript) {
  const std::string prefix = "prefix=wake-exec:";
  auto holder_store = Open(UrlFor(server_->port(), prefix));
  // Another pool, so another connection: the holder's keeps its WATCH.
  auto waiter_store =
      Open(UrlFor(server_->port(), prefix + "&read_timeout=249ms"));
  ASSERT_NE(holder_store, nullptr);
  ASSERT_NE(waiter_store, nullptr);
  const std::string id = TestId(12);
  const LockRequest holder = OtherHost("holder", Duration(0));
  SK_ASSERT_OK(holder_store->LockAndRead(id, holder));
  Result<LockedRead> got = Status::Internal("not run");
  SteadyClock::time_point acquired_at;
  std::thread waiter([&] {
    got = waiter_store->LockAndRead(id, OtherHost("waiter", Duration(5000)));
    acquired_at = SteadyClock::now();
  });
  const std::string waiters = AsRedis(holder_store.get())->WaitersKey(id);
  for (int i = 0; i < 100; ++i) {
    Result<std::string> n = server_->Cli({"ZCARD", waiters});
    if (n.ok() && *n == "1\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int64_t evalsha = Calls("evalsha");
  const auto released = SteadyClock::now();
  SK_ASSERT_OK(
      holder_store->WriteAndUnlock(id, "from the holder", kHour, holder.owner));
  waiter.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->record.data, "from the holder");
  EXPECT_EQ(Calls("evalsha") - evalsha, 1);  // the write; the grant is in it
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(acquired_at -
                                                                  released)
                .count(),
            500);
}

// A WATCHed lock whose lease runs out is not lost while nobody takes it
// (the record outlives the lease, untouched: the EXEC runs); once another
// owner took it over, the EXEC is aborted and the script refuses.
TEST_F(RedisLockTest, ALapsedLeaseAbortsTheTransactionOnlyWhenTakenOver) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(13);
  SK_ASSERT_OK(store->Write(id, "before", kHour));
  const LockRequest a = OtherHost("a", Duration(0), Duration(100));
  SK_ASSERT_OK(store->LockAndRead(id, a));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int64_t exec = Calls("exec");
  SK_ASSERT_OK(store->WriteAndUnlock(id, "late", kHour, a.owner));
  EXPECT_EQ(Calls("exec") - exec, 1);
  EXPECT_EQ(DataOf(*store, id), "late");

  SK_ASSERT_OK(store->LockAndRead(id, a));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const LockRequest b = OtherHost("b", Duration(0));
  Result<LockedRead> taken = store->LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired());
  EXPECT_EQ(taken->broken_owner, a.owner.token);
  EXPECT_TRUE(store->WriteAndUnlock(id, "stale", kHour, a.owner).IsLockLost());
  EXPECT_TRUE(store->TouchAndUnlock(id, kHour, a.owner).IsLockLost());
  SK_EXPECT_OK(store->Unlock(id, a.owner));  // not the holder: no effect
  Result<std::string> holder =
      server_->Cli({"GET", AsRedis(store.get())->LockKey(id)});
  SK_ASSERT_OK(holder);
  EXPECT_EQ(*holder, b.owner.token + "\n");
  SK_ASSERT_OK(store->WriteAndUnlock(id, "from b", kHour, b.owner));
  EXPECT_EQ(DataOf(*store, id), "from b");
}

// One connection WATCHes one lock: a second lock taken on it (here two
// sessions locked by one thread) drops the first's WATCH, whose release
// then goes through the script; the second's is a MULTI/EXEC.
TEST_F(RedisLockTest, TwoLocksOnOneConnection) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const std::string one = TestId(14);
  const std::string two = TestId(15);
  const LockRequest a = OtherHost("a", Duration(0));
  SK_ASSERT_OK(store->LockAndRead(one, a));
  SK_ASSERT_OK(store->LockAndRead(two, a));
  const int64_t evalsha = Calls("evalsha");
  const int64_t exec = Calls("exec");
  SK_ASSERT_OK(store->WriteAndUnlock(one, "1", kHour, a.owner));
  EXPECT_EQ(Calls("evalsha") - evalsha, 1);
  EXPECT_EQ(Calls("exec") - exec, 0);
  SK_ASSERT_OK(store->WriteAndUnlock(two, "2", kHour, a.owner));
  EXPECT_EQ(Calls("evalsha") - evalsha, 1);
  EXPECT_EQ(Calls("exec") - exec, 1);
  EXPECT_EQ(DataOf(*store, one), "1");
  EXPECT_EQ(DataOf(*store, two), "2");
}

TEST_F(RedisLockTest, NoscriptFallsBackToEvalOnce) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  const std::string id = TestId(4);
  SK_ASSERT_OK(store->Write(id, "before", kHour));
  const LockRequest a = OtherHost("a", Duration(0));
  // Taking a lock this owner already holds goes through the script.
  SK_ASSERT_OK(store->LockAndRead(id, a));
  SK_ASSERT_OK(server_->Cli({"SCRIPT", "FLUSH"}));

  int64_t evalsha = Calls("evalsha");
  int64_t eval = Calls("eval");
  uint64_t trips = stats.round_trips.load();
  Result<LockedRead> locked = store->LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_EQ(locked->record.data, "before");
  EXPECT_EQ(Calls("evalsha") - evalsha, 1);  // answered NOSCRIPT
  EXPECT_EQ(Calls("eval") - eval, 1);
  EXPECT_EQ(stats.round_trips.load() - trips, 3u);  // SET NX, EVALSHA, EVAL

  // Cached now: EVALSHA alone again.
  evalsha = Calls("evalsha");
  eval = Calls("eval");
  trips = stats.round_trips.load();
  locked = store->LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  EXPECT_TRUE(locked->acquired());
  EXPECT_EQ(Calls("evalsha") - evalsha, 1);
  EXPECT_EQ(Calls("eval") - eval, 0);
  EXPECT_EQ(stats.round_trips.load() - trips, 2u);

  // Each script falls back on its own. (The lock, taken by the script,
  // is not WATCHed: the write goes through its script too.)
  SK_ASSERT_OK(server_->Cli({"SCRIPT", "FLUSH"}));
  eval = Calls("eval");
  SK_ASSERT_OK(store->WriteAndUnlock(id, "after", kHour, a.owner));
  EXPECT_EQ(Calls("eval") - eval, 1);
  EXPECT_EQ(DataOf(*store, id), "after");
}

TEST_F(RedisLockTest, LockLostNamesTheStoreAndOnlyAnIdPrefix) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(5);
  const LockRequest a = OtherHost("a", Duration(0));
  SK_ASSERT_OK(store->LockAndRead(id, a));
  for (const Status& st :
       {store->WriteAndUnlock(id, "x", kHour, OtherHost("b", {}).owner),
        store->TouchAndUnlock(id, kHour, OtherHost("b", {}).owner)}) {
    EXPECT_TRUE(st.IsLockLost()) << st.ToString();
    EXPECT_THAT(st.message(),
                HasSubstr(store->name() + ": session " + SessionIdPrefix(id) +
                          ": lock is no "
                          "longer held"));
    EXPECT_THAT(st.message(), Not(HasSubstr(id)));
  }
  SK_EXPECT_OK(store->Unlock(id, a.owner));

  // An owner without a token cannot lock.
  LockRequest empty = a;
  empty.owner.token.clear();
  EXPECT_TRUE(store->LockAndRead(id, empty).status().IsInvalidArgument());
}

// A holder of another host is never taken over before its lease ends, and
// right after it. read_timeout is shorter than the wait: the blocking
// BLPOP must not count as a hung server.
TEST_F(RedisLockTest, OtherHostHolderIsWaitedForUntilItsLeaseEnds) {
  auto store = Fresh("read_timeout=100ms");
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(6);
  const auto start = SteadyClock::now();
  const LockRequest holder =
      OtherHost("x", Duration(0), /*lease=*/Duration(500));
  SK_ASSERT_OK(store->LockAndRead(id, holder));
  LockRequest waiter;
  waiter.owner = LockOwner::Generate();
  waiter.wait = Duration(5000);
  Result<LockedRead> got = store->LockAndRead(id, waiter);
  const int64_t ms = MsSince(start);
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  // The record outlives the lease, so the store knows whom it broke.
  EXPECT_EQ(got->broken_owner, holder.owner.token);
  EXPECT_GE(ms, 490) << "taken before the lease ended";
  EXPECT_LE(ms, 500 + kServerTimerMs + kMarginMs) << "slept past the lease";
  SK_EXPECT_OK(store->Unlock(id, waiter.owner));
}

// Several waiters on one session: each release wakes one of them, which
// takes the lock; none waits for its wait to run out, nor for a poll: the
// median hand-off (a release to the next waiter's acquire) stays far below
// the 25 ms that polling every 50 ms would give. The holders are of another
// host with long leases, so only wake-ups end a waiter's sleep.
TEST_F(RedisLockTest, EachReleaseWakesOneWaiter) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(7);
  const LockRequest first = OtherHost("first", Duration(0));
  SK_ASSERT_OK(store->LockAndRead(id, first));
  constexpr int kWaiters = 4;
  std::vector<std::thread> threads;
  std::atomic<int> acquired{0};
  std::atomic<int> failures{0};
  std::mutex mu;
  // Under `mu`: when the lock was last released, and each hand-off.
  SteadyClock::time_point last_release;
  std::vector<int64_t> handoff_us;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      const LockRequest w = OtherHost("w" + std::to_string(i), Duration(8000));
      Result<LockedRead> got = store->LockAndRead(id, w);
      const SteadyClock::time_point now = SteadyClock::now();
      if (!got.ok() || !got->acquired()) {
        ++failures;
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        handoff_us.push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(now -
                                                                  last_release)
                .count());
      }
      ++acquired;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const int n = got->found ? std::stoi(got->record.data) : 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        last_release = SteadyClock::now();
      }
      if (!store->WriteAndUnlock(id, std::to_string(n + 1), kHour, w.owner)
               .ok()) {
        ++failures;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(acquired.load(), 0);
  const auto released = SteadyClock::now();
  {
    std::lock_guard<std::mutex> lock(mu);
    last_release = released;
  }
  SK_ASSERT_OK(store->WriteAndUnlock(id, "0", kHour, first.owner));
  for (auto& t : threads) t.join();
  // A lost wake-up would leave a waiter asleep for its 8 s wait.
  EXPECT_LT(MsSince(released), 3000);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(acquired.load(), kWaiters);
  EXPECT_EQ(DataOf(*store, id), std::to_string(kWaiters));
  ASSERT_EQ(handoff_us.size(), static_cast<size_t>(kWaiters));
  std::sort(handoff_us.begin(), handoff_us.end());
  EXPECT_LT(handoff_us[kWaiters / 2], 10000)
      << "median hand-off " << handoff_us[kWaiters / 2] / 1000.0
      << " ms: waiters were not woken by the releases";
}

// A release whose wake-up never comes (here: the lock deleted behind the
// store's back) costs a waiter at most a second: waiters look again at
// least that often, whatever the holder's lease.
TEST_F(RedisLockTest, LostWakeUpCostsAtMostASecond) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const std::string id = TestId(11);
  SK_ASSERT_OK(store->LockAndRead(id, OtherHost("holder", Duration(0))));
  Result<LockedRead> got = Status::Internal("not run");
  int64_t ms = 0;
  std::thread waiter([&] {
    ms = MillisOf(
        [&] { got = store->LockAndRead(id, OtherHost("w", Duration(5000))); });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  SK_EXPECT_OK(server_->Cli({"DEL", AsRedis(store.get())->LockKey(id)}));
  waiter.join();
  SK_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired());
  EXPECT_LE(ms, 1000 + kServerTimerMs + kMarginMs);
}

// Reads a line from `fd` within `timeout`; empty on timeout or EOF.
std::string ReadLine(int fd, Duration timeout) {
  std::string line;
  const auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char c;
    if (read(fd, &c, 1) != 1) return "";
    if (c == '\n') return line;
    line += c;
  }
  return "";
}

// A holder process of this host killed with SIGKILL never releases; a
// waiter sees that its process is gone and takes the lock within a second.
TEST_F(RedisLockTest, HolderKilledWithSigkillIsTakenOverWithinASecond) {
  const std::string url = UrlFor(server_->port(), "prefix=kill9:");
  const std::string id = TestId(8);
  {
    auto store = Open(url);
    ASSERT_NE(store, nullptr);
    SK_ASSERT_OK(store->Write(id, "from before", kHour));
  }
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The holder: its own store, a lock with a long lease, then it hangs.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(pipe_fds[0]);
    auto store = OpenStore(url);
    if (!store.ok()) _exit(1);
    LockRequest request;
    request.owner = LockOwner::Generate();
    request.lease = Duration(60000);
    request.wait = Duration(0);
    Result<LockedRead> locked = (*store)->LockAndRead(id, request);
    if (!locked.ok() || !locked->acquired()) _exit(2);
    const std::string line = request.owner.token + "\n";
    if (write(pipe_fds[1], line.data(), line.size()) !=
        static_cast<ssize_t>(line.size())) {
      _exit(3);
    }
    for (;;) pause();
  }
  close(pipe_fds[1]);
  const std::string token = ReadLine(pipe_fds[0], Duration(5000));
  close(pipe_fds[0]);
  if (token.empty()) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    FAIL() << "the child did not take the lock";
  }
  EXPECT_THAT(token, HasSubstr("|" + std::to_string(child) + "|"));

  auto store = Open(url);
  ASSERT_NE(store, nullptr);
  Result<LockedRead> got = Status::Internal("not run");
  std::atomic<int64_t> done_at_ms{-1};
  const auto start = SteadyClock::now();
  std::thread waiter([&] {
    LockRequest request;
    request.owner = LockOwner::Generate();
    request.wait = Duration(5000);
    got = store->LockAndRead(id, request);
    done_at_ms = MsSince(start);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(done_at_ms.load(), -1) << "a live holder's lock was taken";
  ASSERT_EQ(kill(child, SIGKILL), 0);
  const int64_t killed_at_ms = MsSince(start);
  int wstatus = 0;
  EXPECT_EQ(waitpid(child, &wstatus, 0), child);  // reaped: the pid is gone
  waiter.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->broken_owner, token);
  EXPECT_EQ(got->record.data, "from before");
  EXPECT_LT(done_at_ms.load() - killed_at_ms, 1000)
      << "the holder's death was noticed late";
}

}  // namespace
}  // namespace sessionkit::redis::lock_test
