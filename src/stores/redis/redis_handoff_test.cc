// The Redis lock hand-off against a real redis-server: a release grants the
// lock to the first waiter in arrival order, and the waiter needs no round
// trip more (INFO commandstats and the pool's counters); a
// waiter that gave up is skipped, a grant that races a waiter's last try is
// taken, a grantee killed before it reads is taken over, no update is lost
// between processes; and a locked read that does not ask for the expiry
// sends no PTTL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "stores/redis/redis_store.h"
#include "support/redis_test_util.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::redis::handoff_test {
namespace {

using testing::AsRedis;
using ::testing::HasSubstr;
using testing::kHour;
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

class RedisHandoffTest : public SharedRedisServerTest<RedisHandoffTest> {
 protected:
  friend SharedRedisServerTest<RedisHandoffTest>;

  static std::unique_ptr<Store> Fresh(std::string_view query = "") {
    return FreshStore("ho", query);
  }

  // Waits (up to 2 s) until `n` requests wait for `id`'s lock.
  static bool WaitForWaiters(Store* store, const std::string& id, int n) {
    const std::string key = AsRedis(store)->WaitersKey(id);
    for (int i = 0; i < 200; ++i) {
      Result<std::string> got = server_->Cli({"ZCARD", key});
      if (got.ok() && *got == std::to_string(n) + "\n") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Has the server cache the lock and write scripts (a fresh server, or
  // another test's SCRIPT FLUSH, answers NOSCRIPT once: a round trip more).
  static void WarmScripts(Store* store) {
    const std::string id = TestId(299);
    const LockRequest a = OtherHost("warm", Duration(0));
    SK_ASSERT_OK(store->LockAndRead(id, a));
    SK_ASSERT_OK(store->LockAndRead(id, a));  // held: the lock script
    SK_ASSERT_OK(store->WriteAndUnlock(id, "", kHour, a.owner));  // script
  }

  static std::string Get(const std::string& key) {
    Result<std::string> got = server_->Cli({"GET", key});
    return got.ok() ? *got : got.status().ToString();
  }
};

// Waiters that arrive in a known order get the lock in that order, whatever
// their deadlines (the waiters set is ordered by deadline, the queue by
// arrival). The release itself writes the next waiter's record, so a
// newcomer right after it finds the lock held and cannot barge in.
TEST_F(RedisHandoffTest, WaitersGetTheLockInArrivalOrder) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const std::string id = TestId(201);
  const LockRequest holder = OtherHost("holder", Duration(0));
  SK_ASSERT_OK(store->LockAndRead(id, holder));
  constexpr int kWaiters = 4;
  // Deadlines out of arrival order: a deadline-ordered grant would differ.
  const int wait_ms[kWaiters] = {8000, 6000, 9000, 7000};
  std::mutex mu;
  std::vector<int> order;  // under mu
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      const LockRequest w =
          OtherHost("w" + std::to_string(i), Duration(wait_ms[i]));
      Result<LockedRead> got = store->LockAndRead(id, w);
      if (!got.ok() || !got->acquired()) {
        ++failures;
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      // Held long enough for the test to look at the record.
      std::this_thread::sleep_for(std::chrono::milliseconds(60));
      const std::string data = got->found ? got->record.data : "";
      if (!store->WriteAndUnlock(id, data + std::to_string(i), kHour, w.owner)
               .ok()) {
        ++failures;
      }
    });
    ASSERT_TRUE(WaitForWaiters(store.get(), id, i + 1)) << "waiter " << i;
  }
  SK_ASSERT_OK(store->WriteAndUnlock(id, "", kHour, holder.owner));
  // Granted by the release: the record already names the first waiter.
  EXPECT_EQ(Get(redis->LockKey(id)), OtherHost("w0", {}).owner.token + "\n");
  Result<LockedRead> newcomer =
      store->LockAndRead(id, OtherHost("newcomer", Duration(0)));
  SK_ASSERT_OK(newcomer);
  EXPECT_FALSE(newcomer->acquired()) << "a newcomer barged past the queue";
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  Result<SessionRecord> final_data = store->Read(id);
  SK_ASSERT_OK(final_data);
  EXPECT_EQ(final_data->data, "0123");
  // Nothing left behind: no lock, no waiters, no queue, no wake lists.
  Result<std::string> left =
      server_->Cli({"EXISTS", redis->LockKey(id), redis->WaitersKey(id),
                    redis->QueueKey(id)});
  SK_ASSERT_OK(left);
  EXPECT_EQ(*left, "0\n");
  Result<std::string> wakes = server_->Cli({"KEYS", redis->WakeKey(id) + ":*"});
  SK_ASSERT_OK(wakes);
  EXPECT_THAT(*wakes, Not(HasSubstr(":wake:"))) << "wake lists left";
}

// The round trips of a hand-off. A holder that took a free lock (the fast
// path: it WATCHes the lock key) finds its EXEC aborted by the waiter that
// queued behind it, and releases through the write script, which grants
// the lock: 2 round trips. A holder that got the lock by a grant (every
// holder after the first, while the session stays contended) releases
// through that script at once: 1 round trip. Either way the waiter needs
// no round trip after the release: the BLPOP it is in returns the grant
// and the GET pipelined behind it reads the data; no lock script runs.
TEST_F(RedisHandoffTest, AHandOffCostsTheWaiterNoRoundTrip) {
  const std::string prefix = "prefix=ho-trips:";
  // Pools (and counters) of their own: the settings differ.
  auto first_store = Open(UrlFor(server_->port(), prefix));
  auto second_store =
      Open(UrlFor(server_->port(), prefix + "&read_timeout=249ms"));
  auto third_store =
      Open(UrlFor(server_->port(), prefix + "&read_timeout=248ms"));
  ASSERT_NE(first_store, nullptr);
  ASSERT_NE(second_store, nullptr);
  ASSERT_NE(third_store, nullptr);
  WarmScripts(first_store.get());
  const std::string id = TestId(202);
  const LockRequest first = OtherHost("first", Duration(0));
  SK_ASSERT_OK(first_store->LockAndRead(id, first));
  // The second releases only when the test says so.
  std::atomic<bool> release_second{false};
  Result<LockedRead> second = Status::Internal("not run");
  Result<LockedRead> third = Status::Internal("not run");
  std::atomic<bool> second_got{false};
  std::atomic<bool> third_got{false};
  const LockRequest second_request = OtherHost("second", Duration(8000));
  std::thread second_thread([&] {
    second = second_store->LockAndRead(id, second_request);
    second_got = true;
    while (!release_second) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  ASSERT_TRUE(WaitForWaiters(first_store.get(), id, 1));
  std::thread third_thread([&] {
    third = third_store->LockAndRead(id, OtherHost("third", Duration(8000)));
    third_got = true;
  });
  ASSERT_TRUE(WaitForWaiters(first_store.get(), id, 2));
  // Both in BLPOP by now (their slices are a second: the holders are of
  // another host).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const ConnectionStats& s1 = AsRedis(first_store.get())->StatsForTesting();
  const ConnectionStats& s2 = AsRedis(second_store.get())->StatsForTesting();
  const ConnectionStats& s3 = AsRedis(third_store.get())->StatsForTesting();
  uint64_t trips1 = s1.round_trips.load();
  uint64_t trips2 = s2.round_trips.load();
  const uint64_t trips3 = s3.round_trips.load();
  int64_t evalsha = Calls("evalsha");
  const int64_t eval = Calls("eval");
  SK_ASSERT_OK(first_store->WriteAndUnlock(id, "1", kHour, first.owner));
  EXPECT_EQ(s1.round_trips.load() - trips1, 2u);  // EXEC aborted, script
  EXPECT_EQ(Calls("evalsha") - evalsha, 1);
  for (int i = 0; i < 200 && !second_got; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(second_got) << "the grant did not wake the second";
  SK_ASSERT_OK(second);
  ASSERT_TRUE(second->acquired());
  EXPECT_EQ(second->record.data, "1");
  // The BLPOP in flight is the second's only round trip since.
  EXPECT_LE(s2.round_trips.load() - trips2, 1u);
  EXPECT_EQ(Calls("evalsha") - evalsha, 1) << "a lock script ran";

  // The second, a grantee, releases through the script at once.
  trips2 = s2.round_trips.load();
  evalsha = Calls("evalsha");
  const int64_t exec = Calls("exec");
  SK_ASSERT_OK(
      second_store->WriteAndUnlock(id, "2", kHour, second_request.owner));
  EXPECT_EQ(s2.round_trips.load() - trips2, 1u);
  release_second = true;
  second_thread.join();
  third_thread.join();
  SK_ASSERT_OK(third);
  ASSERT_TRUE(third->acquired());
  EXPECT_EQ(third->record.data, "2");
  EXPECT_LE(s3.round_trips.load() - trips3, 1u);
  EXPECT_EQ(Calls("evalsha") - evalsha, 1);  // the second's write only
  EXPECT_EQ(Calls("exec") - exec, 0);
  EXPECT_EQ(Calls("eval") - eval, 0);
  SK_ASSERT_OK(third_store->Unlock(id, OtherHost("third", {}).owner));
}

// A waiter that gave up (its last try left the waiters) is skipped by the
// release, which then leaves the lock free; one whose deadline passed
// without a last try (a process that stopped waiting) is skipped as well.
TEST_F(RedisHandoffTest, AWaiterThatGaveUpIsNotGranted) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const std::string id = TestId(203);
  const LockRequest holder = OtherHost("holder", Duration(0));
  SK_ASSERT_OK(store->LockAndRead(id, holder));
  Result<LockedRead> gave_up =
      store->LockAndRead(id, OtherHost("gave-up", Duration(200)));
  SK_ASSERT_OK(gave_up);
  EXPECT_EQ(gave_up->outcome, LockOutcome::kTimedOut);
  // A queue entry whose waiter's deadline has passed (as a waiter killed
  // while waiting leaves it).
  const std::string ghost = "other-host.invalid|1|ghost";
  SK_ASSERT_OK(server_->Cli({"ZADD", redis->WaitersKey(id), "1", ghost}));
  SK_ASSERT_OK(server_->Cli(
      {"RPUSH", redis->QueueKey(id),
       "60000 " + std::to_string(ghost.size()) + " " + ghost + ghost}));
  SK_ASSERT_OK(store->WriteAndUnlock(id, "v", kHour, holder.owner));
  Result<std::string> lock = server_->Cli({"EXISTS", redis->LockKey(id)});
  SK_ASSERT_OK(lock);
  EXPECT_EQ(*lock, "0\n") << "granted to " << Get(redis->LockKey(id));
  Result<LockedRead> next =
      store->LockAndRead(id, OtherHost("next", Duration(0)));
  SK_ASSERT_OK(next);
  EXPECT_TRUE(next->acquired());
  SK_EXPECT_OK(store->Unlock(id, OtherHost("next", {}).owner));
}

// A grant that comes while the waiter is between looks, without a wake-up
// (here written by hand, as a release racing the waiter's last BLPOP would
// leave it), is found by the waiter's next look, even its last try: the
// waiter takes the lock instead of timing out and stranding it.
TEST_F(RedisHandoffTest, AGrantFoundOnTheLastTryIsTaken) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const std::string id = TestId(204);
  SK_ASSERT_OK(store->Write(id, "data", kHour));
  SK_ASSERT_OK(store->LockAndRead(id, OtherHost("holder", Duration(0))));
  const LockRequest late = OtherHost("late", Duration(400));
  Result<LockedRead> got = Status::Internal("not run");
  std::thread waiter([&] { got = store->LockAndRead(id, late); });
  ASSERT_TRUE(WaitForWaiters(store.get(), id, 1));
  SK_ASSERT_OK(server_->Cli(
      {"SET", redis->LockKey(id), late.owner.token, "PX", "3660000"}));
  waiter.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired()) << "the waiter gave up a lock granted to it";
  EXPECT_EQ(got->record.data, "data");
  SK_ASSERT_OK(store->Unlock(id, late.owner));
  Result<std::string> lock = server_->Cli({"EXISTS", redis->LockKey(id)});
  SK_ASSERT_OK(lock);
  EXPECT_EQ(*lock, "0\n");
}

// A waiter process of this host that is granted the lock but killed before
// it reads the grant holds a lock nobody uses: the next waiter sees its
// process gone and takes it over within a second, with the data the
// release wrote.
// A grant made to a waiter between two of its looks and then taken from it
// (a Destroy granting the next waiter, a takeover after a failover) leaves
// its token on the waiter's wake list: the waiter's next BLPOP must not
// take it for the lock another owner holds.
TEST_F(RedisHandoffTest, AStaleGrantTokenIsNotTakenForTheLock) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const std::string id = TestId(206);
  const LockRequest holder = OtherHost("holder", Duration(0));
  SK_ASSERT_OK(store->LockAndRead(id, holder));
  const LockRequest late = OtherHost("late", Duration(400));
  SK_ASSERT_OK(server_->Cli(
      {"RPUSH", redis->WakeKey(id) + ":" + late.owner.token, "1"}));
  Result<LockedRead> got = store->LockAndRead(id, late);
  SK_ASSERT_OK(got);
  EXPECT_FALSE(got->acquired()) << "two requests hold the lock";
  SK_EXPECT_OK(store->WriteAndUnlock(id, "holder's", kHour, holder.owner));
  EXPECT_EQ(Get(redis->Key(id)), "holder's\n");
}

TEST_F(RedisHandoffTest, AGranteeKilledBeforeItReadsIsTakenOver) {
  const std::string url = UrlFor(server_->port(), "prefix=ho-kill:");
  const std::string id = TestId(205);
  auto store = Open(url);
  ASSERT_NE(store, nullptr);
  RedisStore* redis = AsRedis(store.get());
  const LockRequest holder = OtherHost("holder", Duration(0));
  SK_ASSERT_OK(store->LockAndRead(id, holder));
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto own = OpenStore(url);
    if (!own.ok()) _exit(1);
    LockRequest request;
    request.owner = LockOwner::Generate();
    request.wait = Duration(20000);
    (void)(*own)->LockAndRead(id, request);
    _exit(0);
  }
  if (!WaitForWaiters(store.get(), id, 1)) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    FAIL() << "the child did not wait";
  }
  // Stopped: it cannot read the grant.
  ASSERT_EQ(kill(child, SIGSTOP), 0);
  Result<LockedRead> got = Status::Internal("not run");
  std::atomic<int64_t> done_at_ms{-1};
  const auto start = SteadyClock::now();
  std::thread second([&] {
    LockRequest request;
    request.owner = LockOwner::Generate();
    request.wait = Duration(8000);
    got = store->LockAndRead(id, request);
    done_at_ms = MsSince(start);
  });
  ASSERT_TRUE(WaitForWaiters(store.get(), id, 2));
  SK_ASSERT_OK(store->WriteAndUnlock(id, "released", kHour, holder.owner));
  const std::string grantee = Get(redis->LockKey(id));
  EXPECT_THAT(grantee, HasSubstr("|" + std::to_string(child) + "|"))
      << "not granted to the first waiter";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(done_at_ms.load(), -1) << "a live grantee's lock was taken";
  ASSERT_EQ(kill(child, SIGKILL), 0);
  const int64_t killed_at_ms = MsSince(start);
  EXPECT_EQ(waitpid(child, nullptr, 0), child);
  second.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->broken_owner + "\n", grantee);
  EXPECT_EQ(got->record.data, "released");
  EXPECT_LT(done_at_ms.load() - killed_at_ms, 1000)
      << "the grantee's death was noticed late";
}

// n = n + 1 from several processes at once, each through its own store and
// connections: every increment lands.
TEST_F(RedisHandoffTest, NoLostUpdateBetweenProcesses) {
  const std::string url = UrlFor(server_->port(), "prefix=ho-count:");
  const std::string id = TestId(206);
  constexpr int kProcesses = 4;
  constexpr int kIncrements = 40;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      auto store = OpenStore(url);
      if (!store.ok()) _exit(1);
      for (int i = 0; i < kIncrements; ++i) {
        LockRequest request;
        request.owner = LockOwner::Generate();
        request.wait = Duration(20000);
        request.want_expiry = (i % 2) == 0;
        Result<LockedRead> got = (*store)->LockAndRead(id, request);
        if (!got.ok() || !got->acquired()) _exit(2);
        const int n = got->found ? std::stoi(got->record.data) : 0;
        if (!(*store)
                 ->WriteAndUnlock(id, std::to_string(n + 1), kHour,
                                  request.owner)
                 .ok()) {
          _exit(3);
        }
      }
      _exit(0);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child exit status " << status;
  }
  auto store = Open(url);
  ASSERT_NE(store, nullptr);
  Result<SessionRecord> n = store->Read(id);
  SK_ASSERT_OK(n);
  EXPECT_EQ(n->data, std::to_string(kProcesses * kIncrements));
}

// A locked read that does not want the expiry sends no PTTL, on the fast
// path and through the lock script (the pool's command counts: the lock
// script's own PTTL of the lock key shows in INFO commandstats); one that
// does gets it.
TEST_F(RedisHandoffTest, NoPttlUnlessTheExpiryIsWanted) {
  auto store = Fresh();
  ASSERT_NE(store, nullptr);
  const ConnectionStats& stats = AsRedis(store.get())->StatsForTesting();
  const std::string id = TestId(208);
  SK_ASSERT_OK(store->Write(id, "data", kHour));
  LockRequest a = OtherHost("a", Duration(0));
  a.want_expiry = false;
  // Twice, so that the connection has sent its INFO and SCRIPT LOAD and
  // the server has the lock script (another test may have flushed it);
  // then the fast path's release: the connection watches nothing.
  SK_ASSERT_OK(store->LockAndRead(id, a));
  SK_ASSERT_OK(store->LockAndRead(id, a));
  SK_ASSERT_OK(store->Unlock(id, a.owner));
  SK_ASSERT_OK(store->LockAndRead(id, a));
  SK_ASSERT_OK(store->TouchAndUnlock(id, kHour, a.owner));
  uint64_t commands = stats.commands.load();
  Result<LockedRead> got = store->LockAndRead(id, a);  // fast path
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->record.data, "data");
  EXPECT_EQ(stats.commands.load() - commands, 3u);  // SET NX, GET, WATCH
  commands = stats.commands.load();
  got = store->LockAndRead(id, a);  // already held: the script
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->record.data, "data");
  // UNWATCH, SET NX (refused), GET, WATCH; then EVALSHA and GET.
  EXPECT_EQ(stats.commands.load() - commands, 6u);
  SK_ASSERT_OK(store->Unlock(id, a.owner));

  a.want_expiry = true;
  commands = stats.commands.load();
  got = store->LockAndRead(id, a);
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  // UNWATCH, SET NX, GET, PTTL, WATCH.
  EXPECT_EQ(stats.commands.load() - commands, 5u);
  EXPECT_GT(got->record.expires_at, Clock::now() + kHour - Duration(5000));
  SK_ASSERT_OK(store->Unlock(id, a.owner));
}

}  // namespace
}  // namespace sessionkit::redis::handoff_test
