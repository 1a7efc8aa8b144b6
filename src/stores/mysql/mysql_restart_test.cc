// The MariaDB/MySQL store when its server goes away: a restart under load
// fails cleanly and recovers, and the lock of a process killed while
// holding it is taken at once (the server ends the connection and the
// lock with it). The fixture and the server: mysql_store_test_fixture.h.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "stores/mysql/mysql_store_test_fixture.h"
#include "support/test_status.h"

namespace sessionkit::mysql_test {
namespace {

// --- Restart and killed holders ---------------------------------------------

TEST_F(MysqlStoreTest, RestartUnderLoadFailsCleanlyAndRecovers) {
  auto store = Open("&read_timeout=500ms");
  SK_ASSERT_OK(store);
  SK_ASSERT_OK((*store)->Write("restart", "0", kLong));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, other{0};
  std::atomic<int64_t> slowest_ms{0};
  std::atomic<int64_t> last_ok_ms{0};
  std::atomic<int64_t> last_failed_ms{0};
  const auto start = SteadyClock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      const std::string id = "restart" + std::to_string(w);
      for (int i = 0; !stop.load(); ++i) {
        const auto t0 = SteadyClock::now();
        Status st = (*store)->Write(id, std::to_string(i), kLong);
        if (st.ok()) st = (*store)->Read(id).status();
        const int64_t took = MsSince(t0);
        int64_t seen = slowest_ms.load();
        while (took > seen && !slowest_ms.compare_exchange_weak(seen, took)) {
        }
        if (st.ok()) {
          ok++;
          last_ok_ms = MsSince(start);
        } else if (st.IsUnavailable()) {
          failed++;
          last_failed_ms = MsSince(start);
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else {
          other++;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int ok_before = ok.load();
  SK_ASSERT_OK(g_server->process().Restart());
  const int64_t restarted_ms = MsSince(start);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  stop = true;
  for (auto& t : workers) t.join();
  EXPECT_GT(ok_before, 0);
  EXPECT_GT(failed.load(), 0) << "no request saw the server down";
  EXPECT_EQ(other.load(), 0) << "errors other than Unavailable";
  // Once the server is back, idle connections of before are replaced and
  // requests succeed again. A server that has just started may still miss
  // a 100 ms connect_timeout on a loaded machine (1.6 s after the restart
  // once, under ASan with two tests at a time): failures stop within
  // 2.5 s, and requests succeed after the last one.
  EXPECT_LT(last_failed_ms.load(), restarted_ms + 2500);
  EXPECT_GT(last_ok_ms.load(), last_failed_ms.load())
      << "nothing succeeded after the last failure";
  // No request hung: a write and a read, each bounded by connect + read
  // timeouts (600 ms), and slack for a 2-core machine starting mariadbd.
  EXPECT_LT(slowest_ms.load(), 2500);
  Result<SessionRecord> read = (*store)->Read("restart");
  SK_EXPECT_OK(read);
}

// A process that holds a session lock is killed with SIGKILL: the server
// ends its connection and with it the lock; the next request gets it at
// once and learns whose lock it broke.
TEST_F(MysqlStoreTest, LockOfAKilledProcessIsTakenInUnderASecond) {
  auto store = Open();
  SK_ASSERT_OK(store);
  SK_ASSERT_OK((*store)->Write("killed", "before", kLong));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    auto mine = OpenStore(g_server->Url("table=" + table_));
    LockRequest request;
    request.owner = LockOwner::Generate();
    request.lease = Duration(60000);
    bool held = false;
    if (mine.ok()) {
      auto locked = (*mine)->LockAndRead("killed", request);
      held = locked.ok() && locked->acquired();
    }
    const std::string token = held ? request.owner.token : "";
    (void)!write(fds[1], token.data(), token.size());
    close(fds[1]);
    pause();
    _exit(0);
  }
  close(fds[1]);
  std::string token;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) {
    token.append(buf, n);
  }
  close(fds[0]);
  ASSERT_FALSE(token.empty()) << "the child did not take the lock";
  // Held: another request waits.
  LockRequest request;
  request.owner = LockOwner::Generate();
  request.wait = Duration(0);
  auto locked = (*store)->LockAndRead("killed", request);
  SK_ASSERT_OK(locked);
  EXPECT_FALSE(locked->acquired());

  ASSERT_EQ(kill(child, SIGKILL), 0);
  const auto start = SteadyClock::now();
  request.wait = Duration(5000);
  locked = (*store)->LockAndRead("killed", request);
  const int64_t took = MsSince(start);
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_LT(took, 1000);
  EXPECT_EQ(locked->broken_owner, token);
  EXPECT_EQ(locked->record.data, "before");
  RecordProperty("killed_holder_handoff_ms", static_cast<int>(took));
  std::printf("lock of a SIGKILLed holder taken after %lld ms\n",
              static_cast<long long>(took));
  SK_EXPECT_OK(
      (*store)->WriteAndUnlock("killed", "after", kLong, request.owner));
}

// The median hand-off from a release to a waiter of another connection.
// The server wakes the waiter: a waiter that polled would take its poll
// interval (100 ms and more). The 2 ms target is make bench-stack's
// hand-off, on an idle machine; this bound holds under ASan and a loaded CI.
TEST_F(MysqlStoreTest, LockHandOffIsWokenByTheServer) {
  auto store = Open();
  SK_ASSERT_OK(store);
  constexpr int kRounds = 31;
  std::vector<int64_t> us;
  for (int i = 0; i < kRounds; ++i) {
    const std::string id = "handoff" + std::to_string(i);
    LockRequest a;
    a.owner = LockOwner::Generate();
    auto held = (*store)->LockAndRead(id, a);
    SK_ASSERT_OK(held);
    ASSERT_TRUE(held->acquired());
    LockRequest b;
    b.owner = LockOwner::Generate();
    SteadyClock::time_point got;
    Result<LockedRead> waited = Status::Internal("not run");
    std::thread waiter([&] {
      waited = (*store)->LockAndRead(id, b);
      got = SteadyClock::now();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto released = SteadyClock::now();
    SK_ASSERT_OK((*store)->WriteAndUnlock(id, "x", kLong, a.owner));
    waiter.join();
    SK_ASSERT_OK(waited);
    ASSERT_TRUE(waited->acquired());
    us.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(got - released)
            .count());
    SK_ASSERT_OK((*store)->Unlock(id, b.owner));
  }
  std::sort(us.begin(), us.end());
  const int64_t median = us[kRounds / 2];
  RecordProperty("handoff_median_us", static_cast<int>(median));
  std::printf("lock hand-off median %lld us (min %lld, max %lld)\n",
              static_cast<long long>(median), static_cast<long long>(us[0]),
              static_cast<long long>(us.back()));
  EXPECT_LT(median, 20000);
}

}  // namespace
}  // namespace sessionkit::mysql_test
