// The LMDB store's lock table (lock_table.h): waiters served in arrival
// order, processes killed inside a bucket mutex or before they woke to a
// granted lock, a full table, waiters that give up, and the header of the
// file (another boot, a foreign file, another geometry). The forks here
// happen while the test runs no other thread, so they are safe under ASan.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "stores/lmdb/lock_table.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::lock_table_test {
namespace {

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr Duration kLong{600000};

std::string Id(int n) { return PaddedId("tabl", n); }

LockRequest Other(const std::string& name, Duration wait = Duration(0)) {
  return OtherHostRequest(name, wait);
}

int64_t MsSince(SteadyClock::time_point t) {
  return std::chrono::duration_cast<Ms>(SteadyClock::now() - t).count();
}

// Waits (up to 5 s) until `store` has `n` queued waiter records.
bool WaitForQueue(LmdbStore* store, size_t n) {
  const auto start = SteadyClock::now();
  while (MsSince(start) < 5000) {
    if (store->QueuedWaitersForTesting().value_or(0) == n) return true;
    std::this_thread::sleep_for(Ms(1));
  }
  return false;
}

class LmdbLockTableTest : public LmdbFixture {
 protected:
  LmdbOptions Tiny() {
    LmdbOptions o = Options();
    o.lock_table_for_testing = {.buckets = 1, .entries = 2, .waiters = 2};
    return o;
  }

  // A child process holds LMDB's write lock of path_ until ReleaseWrites:
  // the store's writes wait behind it, its reads do not. Fork before any
  // thread starts.
  bool HoldWrites() {
    int ready[2];
    if (pipe(ready) != 0 || pipe(go_) != 0) return false;
    fflush(nullptr);
    writer_ = fork();
    if (writer_ == 0) {
      close(go_[1]);  // its end: the parent's close is the release
      MDB_env* env;
      MDB_txn* txn;
      char c = 'n';
      if (mdb_env_create(&env) == 0 &&
          mdb_env_open(env, path_.c_str(), MDB_NOTLS, 0600) == 0 &&
          mdb_txn_begin(env, nullptr, 0, &txn) == 0) {
        c = 'y';
      }
      (void)!write(ready[1], &c, 1);
      if (c == 'y' && read(go_[0], &c, 1) >= 0) mdb_txn_abort(txn);
      _exit(0);
    }
    close(ready[1]);
    close(go_[0]);
    char c = 0;
    const bool held = writer_ > 0 && read(ready[0], &c, 1) == 1 && c == 'y';
    close(ready[0]);
    return held;
  }
  int ReleaseWrites() {
    close(go_[1]);
    return Reap(writer_);
  }

  int go_[2] = {-1, -1};
  pid_t writer_ = -1;
};

TEST_F(LmdbLockTableTest, WaitersGetTheLockInArrivalOrder) {
  LmdbStore* store = OpenReal();
  const LockRequest holder = Other("holder");
  SK_ASSERT_OK(store->LockAndRead(Id(1), holder));
  constexpr int kWaiters = 6;
  std::mutex mu;
  std::vector<int> order;
  std::vector<int64_t> waited_ms(kWaiters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      const LockRequest r = Other("w" + std::to_string(i), Duration(20000));
      const auto start = SteadyClock::now();
      auto got = store->LockAndRead(Id(1), r);
      waited_ms[i] = MsSince(start);
      if (!got.ok() || !got->acquired()) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      std::this_thread::sleep_for(Ms(5));  // a request's work
      (void)store->WriteAndUnlock(Id(1), "by " + std::to_string(i), kLong,
                                  r.owner);
    });
    // The next one arrives only once this one queues.
    ASSERT_TRUE(WaitForQueue(store, i + 1)) << "waiter " << i;
  }
  SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "first", kLong, holder.owner));
  for (auto& t : threads) t.join();
  ASSERT_EQ(order.size(), size_t{kWaiters});
  for (int i = 0; i < kWaiters; ++i) {
    EXPECT_EQ(order[i], i) << "served out of arrival order";
    RecordProperty("wait_ms_" + std::to_string(i), waited_ms[i]);
  }
  EXPECT_EQ(store->Read(Id(1))->data, "by " + std::to_string(kWaiters - 1));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  EXPECT_EQ(store->QueuedWaitersForTesting().value_or(9), 0u);
}

TEST_F(LmdbLockTableTest, AProcessKilledInsideABucketMutexIsRepairedAfter) {
  LmdbStore* store = OpenReal();
  SK_ASSERT_OK(store->Write(Id(1), "v", kLong));
  // The child dies while it rewrites the entry's holder, the bucket mutex
  // held: its lock is half written.
  const int code = RunInChild([&] {
    LmdbStore own(Options());
    g_lock_table_mid_update_for_testing = [] { _exit(42); };
    LockRequest r;
    r.owner = LockOwner::Generate();
    (void)own.LockAndRead(Id(1), r);
    return 1;
  });
  ASSERT_EQ(code, 42);
  const auto start = SteadyClock::now();
  auto got = store->LockAndRead(Id(1), Other("next"));
  SK_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired()) << "the half-written lock was kept";
  EXPECT_EQ(got->record.data, "v");
  EXPECT_LT(MsSince(start), 1000);
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 1u);
  SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "w", kLong, Other("next").owner));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  // The bucket works on: another process locks and releases in it.
  EXPECT_EQ(RunInChild([&] {
              LmdbStore own(Options());
              auto r = own.LockAndRead(Id(1), Other("child"));
              if (!r.ok() || !r->acquired()) return 1;
              return own.Unlock(Id(1), Other("child").owner).ok() ? 0 : 2;
            }),
            0);
}

TEST_F(LmdbLockTableTest, AGranteeKilledBeforeItWakesIsTakenOverAtOnce) {
  LmdbStore* store = OpenReal();
  SK_ASSERT_OK(store->Write(Id(1), "v", kLong));
  const LockRequest holder = Other("holder");
  SK_ASSERT_OK(store->LockAndRead(Id(1), holder));
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    LmdbStore own(Options());
    LockRequest r;
    r.owner = LockOwner::Generate();
    r.wait = Duration(60000);
    r.lease = Duration(60000);
    (void)!write(pipe_fds[1], r.owner.token.data(), r.owner.token.size());
    close(pipe_fds[1]);
    (void)own.LockAndRead(Id(1), r);
    _exit(0);
  }
  close(pipe_fds[1]);
  char buf[256];
  const ssize_t n = read(pipe_fds[0], buf, sizeof buf);
  close(pipe_fds[0]);
  ASSERT_GT(n, 0);
  const std::string child_token(buf, static_cast<size_t>(n));
  ASSERT_TRUE(WaitForQueue(store, 1)) << "the child never queued";
  // The child cannot wake: the release grants it the lock all the same.
  ASSERT_EQ(kill(child, SIGSTOP), 0);
  SK_ASSERT_OK(store->Unlock(Id(1), holder.owner));
  Result<LockedRead> got = Status::Internal("not run");
  SteadyClock::time_point acquired_at;
  std::thread waiter([&] {
    got = store->LockAndRead(Id(1), Other("next", Duration(10000)));
    acquired_at = SteadyClock::now();
  });
  ASSERT_TRUE(WaitForQueue(store, 2));  // the granted record, and this one
  const auto killed_at = SteadyClock::now();
  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_EQ(Reap(child), 128 + SIGKILL);
  waiter.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->broken_owner, child_token);
  EXPECT_EQ(got->record.data, "v");
  EXPECT_LT(std::chrono::duration_cast<Ms>(acquired_at - killed_at).count(),
            1000);
  // The dead grantee's record went with it.
  SK_ASSERT_OK(store->Unlock(Id(1), Other("next").owner));
  EXPECT_EQ(store->QueuedWaitersForTesting().value_or(9), 0u);
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
}

TEST_F(LmdbLockTableTest, AGrantTakenOverWhileItsWaiterSleptIsNotTaken) {
  LmdbStore* store = OpenReal();
  const LockRequest holder = Other("holder");
  SK_ASSERT_OK(store->LockAndRead(Id(1), holder));
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    LmdbStore own(Options());
    LockRequest r;
    r.owner = LockOwner::Generate();
    r.wait = Duration(20000);
    r.lease = Duration(200);
    auto got = own.LockAndRead(Id(1), r);
    if (!got.ok() || !got->acquired()) _exit(2);
    // Refused if another request held the lock when this one thought it
    // had it.
    _exit(own.WriteAndUnlock(Id(1), "child", kLong, r.owner).ok() ? 0 : 3);
  }
  ASSERT_TRUE(WaitForQueue(store, 1)) << "the child never queued";
  ASSERT_EQ(kill(child, SIGSTOP), 0);
  SK_ASSERT_OK(store->Unlock(Id(1), holder.owner));  // granted, asleep
  // The child's lease (200 ms) runs out while it sleeps: taken over.
  const LockRequest next = Other("next", Duration(5000));
  auto got = store->LockAndRead(Id(1), next);
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_THAT(got->broken_owner, HasSubstr("|" + std::to_string(child) + "|"));
  ASSERT_EQ(kill(child, SIGCONT), 0);
  std::this_thread::sleep_for(Ms(100));  // the child queues again
  SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "next", kLong, next.owner));
  EXPECT_EQ(Reap(child), 0) << "the child took a grant that was taken over";
  EXPECT_EQ(store->Read(Id(1))->data, "child");
}

TEST_F(LmdbLockTableTest, AFullTableWaitsThenSaysSoAndLocksOnceAnEntryFrees) {
  LmdbStore* store = OpenReal(Tiny());
  SK_ASSERT_OK(store->LockAndRead(Id(1), Other("a")));
  SK_ASSERT_OK(store->LockAndRead(Id(2), Other("b")));
  const auto start = SteadyClock::now();
  auto full = store->LockAndRead(Id(3), Other("c", Duration(60)));
  EXPECT_GE(MsSince(start), 60) << "a full table did not wait";
  ASSERT_TRUE(full.status().IsUnavailable()) << full.status().ToString();
  EXPECT_THAT(full.status().message(), HasSubstr(path_ + "/lock-table"));
  EXPECT_THAT(full.status().message(), HasSubstr("B)"));
  EXPECT_THAT(full.status().message(), HasSubstr("no free entry"));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 2u);

  Result<LockedRead> got = Status::Internal("not run");
  SteadyClock::time_point acquired_at;
  std::thread waiter([&] {
    got = store->LockAndRead(Id(3), Other("c", Duration(5000)));
    acquired_at = SteadyClock::now();
  });
  std::this_thread::sleep_for(Ms(50));
  const auto freed_at = SteadyClock::now();
  SK_ASSERT_OK(store->Unlock(Id(1), Other("a").owner));
  waiter.join();
  SK_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired());
  EXPECT_LT(std::chrono::duration_cast<Ms>(acquired_at - freed_at).count(),
            100);
  // The others' locks stood throughout.
  auto b = store->LockAndRead(Id(2), Other("x"));
  SK_ASSERT_OK(b);
  EXPECT_FALSE(b->acquired());
}

// Destroy takes over a commit it waited on for too long (its holder may be
// dead, its pid another process's): were that writer alive, its write is
// refused all the same, by the owner check under LMDB's write lock, be it
// before or after the destroy's delete.
TEST_F(LmdbLockTableTest, AWriteWhoseCommitDestroyTookOverIsRefused) {
  LmdbStore* store = Open(Options());  // the fake boot clock: leases, waits
  SK_ASSERT_OK(store->Write(Id(1), "logged-in", kLong));
  const LockRequest holder = Other("holder");  // never seen dead
  SK_ASSERT_OK(store->LockAndRead(Id(1), holder));
  ASSERT_TRUE(HoldWrites());
  Status wrote = Status::Internal("not run");
  Status destroyed = Status::Internal("not run");
  std::thread writing([&] {
    wrote = store->WriteAndUnlock(Id(1), "back", kLong, holder.owner);
  });
  std::this_thread::sleep_for(Ms(200));  // committing, waits for LMDB
  std::thread destroying([&] { destroyed = store->Destroy(Id(1)); });
  std::this_thread::sleep_for(Ms(100));  // the destroy waits for the commit
  Advance(6000);                         // for long enough: takes it over
  std::this_thread::sleep_for(Ms(100));
  EXPECT_EQ(ReleaseWrites(), 0);
  writing.join();
  destroying.join();
  SK_EXPECT_OK(destroyed);
  EXPECT_TRUE(wrote.IsLockLost()) << wrote.ToString();
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound()) << "it came back";
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
}

// A Destroy that finds the session's bucket full deletes without its lock.
// A request that locks the session meanwhile (an entry was freed) read it
// before the delete: its write must not bring the logged-out session back.
TEST_F(LmdbLockTableTest, DestroyInAFullBucketEndsALockTakenDuringIt) {
  LmdbStore* store = OpenReal(Tiny());
  SK_ASSERT_OK(store->Write(Id(1), "logged-in", kLong));
  SK_ASSERT_OK(store->LockAndRead(Id(2), Other("a")));
  SK_ASSERT_OK(store->LockAndRead(Id(3), Other("b")));  // the bucket is full
  ASSERT_TRUE(HoldWrites());
  Status destroyed = Status::Internal("not run");
  std::thread destroying([&] { destroyed = store->Destroy(Id(1)); });
  std::this_thread::sleep_for(Ms(200));  // found it full; the delete waits
  SK_EXPECT_OK(store->Unlock(Id(2), Other("a").owner));
  const LockRequest request = Other("request");
  Result<LockedRead> got = store->LockAndRead(Id(1), request);
  EXPECT_EQ(ReleaseWrites(), 0);
  destroying.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->record.data, "logged-in");  // read before the delete
  SK_EXPECT_OK(destroyed);
  const Status back =
      store->WriteAndUnlock(Id(1), got->record.data, kLong, request.owner);
  EXPECT_TRUE(back.IsLockLost()) << back.ToString();
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound()) << "it came back";
  // The other session's lock stood throughout.
  EXPECT_FALSE(store->LockAndRead(Id(3), Other("x"))->acquired());
}

// Workers killed while they held sessions nobody asks for again: their
// entries are free at once, not after their lease and an hour, so the
// bucket they filled does not refuse every other session meanwhile.
TEST_F(LmdbLockTableTest, EntriesOfDeadHoldersAreFreeForOtherSessions) {
  LmdbStore* store = OpenReal(Tiny());
  for (int n = 1; n <= 2; ++n) {
    fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      LmdbStore own(Tiny());
      LockRequest r;
      r.owner = LockOwner::Generate();
      r.wait = Duration(1000);
      r.lease = Duration(600000);
      auto held = own.LockAndRead(Id(n), r);
      _exit(held.ok() && held->acquired() ? 0 : 1);  // dies holding it
    }
    ASSERT_EQ(Reap(child), 0);
  }
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 2u);
  auto got = store->LockAndRead(Id(3), Other("c", Duration(500)));
  SK_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired());
  // And a gc frees the other one.
  SK_ASSERT_OK(store->Gc(Clock::now()).status());
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 1u);
}

// A process that cannot read the boot id (no /proc) would take every other
// process's lock for one of another boot: it is refused, naming the file.
TEST_F(LmdbLockTableTest, AProcessWithoutTheBootIdIsRefused) {
  env_.SetBootId("");
  LmdbStore* store = Open(Options());
  auto r = store->Read(Id(1));
  ASSERT_TRUE(r.status().IsUnavailable()) << r.status().ToString();
  EXPECT_THAT(r.status().message(),
              HasSubstr("/proc/sys/kernel/random/boot_id"));
}

TEST_F(LmdbLockTableTest, WaitersPastThePoolWaitForAnEmptyQueue) {
  LmdbStore* store = OpenReal(Tiny());
  const LockRequest holder = Other("holder");
  SK_ASSERT_OK(store->LockAndRead(Id(1), holder));
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::string> order;
  for (const std::string name : {"q0", "q1", "extra"}) {
    threads.emplace_back([&, name] {
      const LockRequest r = Other(name, Duration(10000));
      auto got = store->LockAndRead(Id(1), r);
      if (!got.ok() || !got->acquired()) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(name);
      }
      std::this_thread::sleep_for(Ms(5));
      (void)store->Unlock(Id(1), r.owner);
    });
    if (name != "extra") {
      ASSERT_TRUE(WaitForQueue(store, threads.size()));
    }
  }
  std::this_thread::sleep_for(Ms(50));  // "extra" waits on lock-wake
  EXPECT_EQ(store->QueuedWaitersForTesting().value_or(0), 2u);
  SK_ASSERT_OK(store->Unlock(Id(1), holder.owner));
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<std::string>{"q0", "q1", "extra"}));
}

TEST_F(LmdbLockTableTest, AWaiterThatTimesOutLeavesTheQueue) {
  LmdbStore* store = OpenReal();
  const LockRequest holder = Other("holder");
  SK_ASSERT_OK(store->LockAndRead(Id(1), holder));
  auto got = store->LockAndRead(Id(1), Other("w", Duration(30)));
  SK_ASSERT_OK(got);
  EXPECT_EQ(got->outcome, LockOutcome::kTimedOut);
  EXPECT_EQ(store->QueuedWaitersForTesting().value_or(9), 0u);
  // The release frees the lock: nobody is granted it.
  SK_ASSERT_OK(store->Unlock(Id(1), holder.owner));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  auto next = store->LockAndRead(Id(1), Other("n"));
  SK_ASSERT_OK(next);
  EXPECT_TRUE(next->acquired());
  EXPECT_EQ(next->broken_owner, "");
}

TEST_F(LmdbLockTableTest, TheTableIsRebuiltInAnotherBoot) {
  test::FakeEnv boot_b(test::FakeEnv::Scope::kRecordClocks);
  {
    LmdbStore before(WithFakeClock(Options()));
    SK_ASSERT_OK(before.LockAndRead(Id(1), Other("a")));
    EXPECT_EQ(before.HeldLocksForTesting().value_or(0), 1u);
  }
  {
    // The same boot maps it as it is.
    LmdbStore again(WithFakeClock(Options()));
    EXPECT_EQ(again.HeldLocksForTesting().value_or(0), 1u);
  }
  boot_b.SetBootId("6f1d2c3b-4a5e-4f60-8a71-92b3c4d5e6f7");
  LmdbOptions o = Options();
  o.env = &boot_b;
  o.lock_table_for_testing = {.buckets = 4, .entries = 2, .waiters = 2};
  LmdbStore after(o);  // another boot: also free to change the geometry
  EXPECT_EQ(after.HeldLocksForTesting().value_or(9), 0u);
  auto b = after.LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired());
  EXPECT_EQ(b->broken_owner, "");
}

TEST_F(LmdbLockTableTest, ATableInUseIsNotRebuiltForAnotherBootId) {
  LmdbStore* store = OpenReal();
  SK_ASSERT_OK(store->LockAndRead(Id(1), Other("a")));
  // A process that reports another boot while this one maps the table.
  EXPECT_EQ(RunInChild([&] {
              test::FakeEnv other(test::FakeEnv::Scope::kRecordClocks);
              other.SetBootId("6f1d2c3b-4a5e-4f60-8a71-92b3c4d5e6f7");
              LmdbOptions o = Options();
              o.env = &other;
              LmdbStore own(o);
              auto held = own.HeldLocksForTesting();
              return held.ok() && *held == 1 ? 0 : 1;
            }),
            0)
      << "the table was rebuilt under a process that maps it";
  auto b = store->LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(b);
  EXPECT_FALSE(b->acquired());
}

TEST_F(LmdbLockTableTest, ADamagedOrForeignHeaderIsAClearError) {
  ASSERT_EQ(mkdir(path_.c_str(), 0700), 0);
  const std::string table = path_ + "/lock-table";
  const int fd = open(table.c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "not a lock table", 16), 16);
  close(fd);
  LmdbStore store(Options());
  Status s = store.LockAndRead(Id(1), Other("a")).status();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(table));
  EXPECT_THAT(s.message(), HasSubstr("foreign or damaged header"));
  EXPECT_FALSE(store.Write(Id(1), "v", kLong).ok()) << "opened regardless";
}

// Another geometry (or format) while a process maps the table is an error
// naming both; once no process maps it, the table is rebuilt (an upgrade
// after the old workers stopped).
TEST_F(LmdbLockTableTest, AnotherGeometryIsAnErrorWhileMappedThenRebuilt) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    LmdbStore tiny(Tiny());
    const char c = tiny.LockAndRead(Id(1), Other("a")).ok() ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  ASSERT_EQ(c, 'y');
  {
    LmdbStore other(Options());
    Status s = other.LockAndRead(Id(1), Other("b")).status();
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr(path_ + "/lock-table"));
    EXPECT_THAT(s.message(), HasSubstr("1 buckets of 2 entries and 2 waiters"));
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_EQ(Reap(child), 128 + SIGKILL);
  LmdbStore after(Options());
  Result<LockedRead> got = after.LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired()) << "the dead child's lock outlived the table";
  SK_EXPECT_OK(after.Unlock(Id(1), Other("b").owner));
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::lock_table_test
