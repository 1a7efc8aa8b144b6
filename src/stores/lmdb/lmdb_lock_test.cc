// Session locks of the LMDB store beyond the conformance suite: lock records
// versus Scan and Gc, several processes, killed holders and waiters, the
// shared wake-up file.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "stores/lock_wake.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::lock_test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using SteadyClock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr int64_t kStartMs = kFixtureStartMs;
constexpr Duration kLong{600000};

std::string Id(int n) { return PaddedId("lock", n); }

LockRequest Other(const std::string& name, Duration wait = Duration(0)) {
  return OtherHostRequest(name, wait);  // no waiter cap (the default)
}

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

int64_t MsSince(SteadyClock::time_point t) {
  return std::chrono::duration_cast<Ms>(SteadyClock::now() - t).count();
}

// Reads from `fd` until EOF or '\n'.
std::string ReadLine(int fd) {
  std::string out;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') out += c;
  return out;
}

void WriteLine(int fd, const std::string& line) {
  const std::string s = line + "\n";
  if (write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size())) {
    _exit(99);
  }
}

using LmdbLockTest = LmdbFixture;

// --- Lock records in the tree --------------------------------------------

TEST_F(LmdbLockTest, LockRecordsAreNotListedAndGcRemovesThemPastRetention) {
  LmdbStore* store = Open();
  const int64_t retention_ms = kLockRecordRetention.count();
  SK_ASSERT_OK(store->Write(Id(1), "s", Duration(2 * retention_ms)));
  LockRequest short_lease = Other("a");
  short_lease.lease = Duration(1000);
  LockRequest long_lease = Other("b");
  long_lease.lease = Duration(5000);
  for (int n : {1, 2}) {  // Id(2) has no session: a lock all the same
    auto locked = store->LockAndRead(Id(n), short_lease);
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->acquired());
  }
  auto locked = store->LockAndRead(Id(3), long_lease);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 3u);

  ScanOptions all;
  all.include_expired = true;
  auto listed = store->Scan(all);
  SK_ASSERT_OK(listed);
  ASSERT_EQ(listed->sessions.size(), 1u);
  EXPECT_EQ(listed->sessions[0].id, Id(1));
  // Also from a cursor inside the lock records.
  all.cursor = std::string("\0\x7f\xff\xff\xff\xff\xff\xff\xff", 9) + Id(2);
  listed = store->Scan(all);
  SK_ASSERT_OK(listed);
  ASSERT_EQ(listed->sessions.size(), 1u);
  EXPECT_EQ(listed->sessions[0].id, Id(1));
  SK_EXPECT_OK(store->CheckIndexForTesting());

  auto gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 0u);
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 3u);

  Advance(1000);  // the short leases end; their records are kept
  gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 3u);

  Advance(retention_ms);  // the retention of the short leases ends
  gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 0u) << "lock records counted as sessions";
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 1u);
  SK_EXPECT_OK(store->Read(Id(1)));
  Status lost = store->WriteAndUnlock(Id(1), "late", kLong, short_lease.owner);
  EXPECT_TRUE(lost.IsLockLost()) << lost.ToString();
  EXPECT_THAT(lost.message(), HasSubstr("not locked"));

  Advance(retention_ms);  // the session and the long lease's record end
  gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 1u);
  EXPECT_EQ(gc->bytes_removed, 1u);
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbLockTest, LockedWritesAndTouchesKeepTheIndexExact) {
  LmdbStore* store = Open();
  const LockRequest a = Other("a");
  for (int round = 0; round < 3; ++round) {
    auto locked = store->LockAndRead(Id(1), a);
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->acquired());
    // Each ttl lands in another index bucket.
    SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "v" + std::to_string(round),
                                       Duration(kIndexBucketMs * (round + 2)),
                                       a.owner));
    SK_ASSERT_OK(store->CheckIndexForTesting()) << round;
    locked = store->LockAndRead(Id(1), a);
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->found);
    EXPECT_EQ(locked->record.data, "v" + std::to_string(round));
    SK_ASSERT_OK(store->TouchAndUnlock(
        Id(1), Duration(kIndexBucketMs * (round + 10)), a.owner));
    SK_ASSERT_OK(store->CheckIndexForTesting()) << round;
    EXPECT_EQ(ToUnixMillis(store->Read(Id(1))->expires_at),
              kStartMs + kIndexBucketMs * (round + 10));
  }
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
}

TEST_F(LmdbLockTest, ExpiredSessionIsNotFoundButStillLocked) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "old", Duration(1000)));
  Advance(1000);
  auto locked = store->LockAndRead(Id(1), Other("a"));
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_FALSE(locked->found);
  auto other = store->LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(other);
  EXPECT_EQ(other->outcome, LockOutcome::kTimedOut);
}

TEST_F(LmdbLockTest, RelockRenewsTheLease) {
  LmdbStore* store = Open();
  LockRequest a = Other("a");
  a.lease = Duration(1000);
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  Advance(800);
  auto again = store->LockAndRead(Id(1), a);
  SK_ASSERT_OK(again);
  ASSERT_TRUE(again->acquired());
  EXPECT_EQ(again->broken_owner, "");
  Advance(800);  // 1600 ms after the first lock, 800 after the renewal
  auto b = store->LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(b);
  EXPECT_FALSE(b->acquired()) << "the renewal did not extend the lease";
  Advance(200);
  b = store->LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired());
  EXPECT_EQ(b->broken_owner, a.owner.token);
}

TEST_F(LmdbLockTest, LockLostMessagesNameTheStoreAndOnlyAnIdPrefix) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "kept", kLong));
  SK_ASSERT_OK(store->LockAndRead(Id(1), Other("a")));
  Status s = store->WriteAndUnlock(Id(1), "x", kLong, Other("b").owner);
  ASSERT_TRUE(s.IsLockLost()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(store->name()));
  EXPECT_THAT(s.message(), HasSubstr("another owner holds the lock"));
  EXPECT_THAT(s.message(), HasSubstr(Id(1).substr(0, 6) + "..."));
  EXPECT_THAT(s.message(), Not(HasSubstr(Id(1))));
  EXPECT_THAT(s.message(), Not(HasSubstr("other-host.invalid")));
  s = store->TouchAndUnlock(Id(1), kLong, Other("b").owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  EXPECT_EQ(store->Read(Id(1))->data, "kept");

  LockRequest c = Other("c");
  c.owner.token.clear();
  EXPECT_TRUE(store->LockAndRead(Id(2), c).status().IsInvalidArgument());
  EXPECT_TRUE(store->Unlock(Id(2), c.owner).IsInvalidArgument());
  c.owner.token.assign(2000, 'x');
  EXPECT_TRUE(store->LockAndRead(Id(2), c).status().IsInvalidArgument());
}

TEST_F(LmdbLockTest, FullMapStillLocks) {
  LmdbStore* store = Open(FixedMapOptions(1 << 20));
  const std::string value(4096, 'v');
  const int written = FillMap(store, value, kLong, [](int n) { return Id(n); });
  ASSERT_GE(written, 0);
  // Locks live in the lock table: taking one needs no room in the map.
  for (int n = 0; n < 100; ++n) {
    auto locked = store->LockAndRead(Id(10000 + n), Other(std::to_string(n)));
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->acquired()) << n;
  }
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 100u);
  for (int n = 0; n < 100; ++n) {
    SK_ASSERT_OK(store->Unlock(Id(10000 + n), Other(std::to_string(n)).owner));
  }
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbLockTest, FullMapWriteAndUnlockIsRescuedByGc) {
  LmdbStore* store = Open(FixedMapOptions(1 << 20));
  const LockRequest a = Other("a");
  auto locked = store->LockAndRead(Id(5000), a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  const std::string value(4096, 'v');
  const int written =
      FillMap(store, value, Duration(1000), [](int n) { return Id(n); });
  ASSERT_GE(written, 0);
  Advance(1000);  // every session written so far has expired
  SK_ASSERT_OK(store->WriteAndUnlock(Id(5000), value, kLong, a.owner));
  EXPECT_EQ(store->Read(Id(5000))->data, value);
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  ScanOptions all;
  all.include_expired = true;
  EXPECT_EQ(store->Scan(all)->sessions.size(), 1u) << "no rescue gc ran";
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbLockTest, WakeFileIsCreatedWithTheStoreMode) {
  LmdbOptions options = Options();
  options.file_mode = 0640;
  const mode_t old = umask(0);
  LmdbStore* store = Open(options);
  Status s = store->Health();
  umask(old);
  SK_ASSERT_OK(s);
  struct stat st;
  ASSERT_EQ(stat((path_ + "/lock-wake").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(static_cast<size_t>(st.st_size), kLockWakeSlots * 4);
}

TEST_F(LmdbLockTest, ReleaseOfAnotherSessionOnTheSameWakeSlotDoesNotGrant) {
  LmdbStore* store = OpenReal();
  const std::string a = Id(0);
  std::string b;
  for (int n = 1; n < 1000000 && b.empty(); ++n) {
    if (LockHash(Id(n)) % kLockWakeSlots == LockHash(a) % kLockWakeSlots) {
      b = Id(n);
    }
  }
  ASSERT_FALSE(b.empty());
  SK_ASSERT_OK(store->LockAndRead(a, Other("ha")));
  SK_ASSERT_OK(store->LockAndRead(b, Other("hb")));
  std::atomic<bool> done{false};
  Result<LockedRead> got = Status::Internal("not run");
  std::thread waiter([&] {
    got = store->LockAndRead(a, Other("w", Duration(5000)));
    done = true;
  });
  std::this_thread::sleep_for(Ms(100));
  SK_ASSERT_OK(store->Unlock(b, Other("hb").owner));  // wakes the waiter
  std::this_thread::sleep_for(Ms(100));
  EXPECT_FALSE(done.load()) << "the waiter gave up or took a held lock";
  const auto released = SteadyClock::now();
  SK_ASSERT_OK(store->Unlock(a, Other("ha").owner));
  waiter.join();
  SK_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired());
  EXPECT_LT(MsSince(released), 100);
}

// --- Processes -------------------------------------------------------------

TEST_F(LmdbLockTest, ProcessesIncrementOneSessionExactly) {
  LmdbStore* store = OpenReal();
  SK_ASSERT_OK(store->Health());
  constexpr int kProcs = 6, kIters = 100;
  const std::string id = Id(1);
  int gate[2];  // closed by the parent once every child runs: all start
  ASSERT_EQ(pipe(gate), 0);
  std::vector<pid_t> children;
  fflush(nullptr);
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(gate[1]);
      LmdbStore own(Options());  // each process opens the directory itself
      if (!own.Health().ok()) _exit(19);
      ReadLine(gate[0]);
      for (int i = 0; i < kIters; ++i) {
        LockRequest r;
        r.owner = LockOwner::Generate();
        r.wait = Duration(30000);
        r.max_waiters = 0;
        auto got = own.LockAndRead(id, r);
        if (!got.ok()) _exit(20);
        if (!got->acquired()) _exit(21);
        const int n = got->found ? std::stoi(got->record.data) : 0;
        if (!own.WriteAndUnlock(id, std::to_string(n + 1), kLong, r.owner)
                 .ok()) {
          _exit(22);
        }
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  close(gate[0]);
  close(gate[1]);
  for (pid_t pid : children) EXPECT_EQ(Reap(pid), 0);
  auto r = store->Read(id);
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, std::to_string(kProcs * kIters));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbLockTest, StoreUsedBeforeForkLocksInTheChild) {
  LmdbStore* store = OpenReal();
  const LockRequest a = Other("a");
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "parent", kLong, a.owner));
  fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const LockRequest b = Other("b");
    auto got = store->LockAndRead(Id(1), b);
    if (!got.ok() || !got->acquired() || got->record.data != "parent") {
      _exit(10);
    }
    if (store->EnvPidForTesting() != getpid()) _exit(11);
    if (!store->WriteAndUnlock(Id(1), "child", kLong, b.owner).ok()) _exit(12);
    _exit(0);
  }
  ASSERT_EQ(Reap(pid), 0);
  auto got = store->LockAndRead(Id(1), a);
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->record.data, "child");
  SK_EXPECT_OK(store->Unlock(Id(1), a.owner));
}

TEST_F(LmdbLockTest, WaiterInAnotherProcessIsWokenAtOnce) {
  LmdbStore* store = OpenReal();
  const LockRequest a = Other("a");
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(nullptr);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    LmdbStore own(Options());
    auto got = own.LockAndRead(Id(1), Other("b", Duration(5000)));
    const int64_t at = SteadyNs();
    if (!got.ok() || !got->acquired()) _exit(10);
    if (got->record.data != "from parent") _exit(11);
    WriteLine(fds[1], std::to_string(at));
    _exit(0);
  }
  close(fds[1]);
  std::this_thread::sleep_for(Ms(300));  // the child waits by now
  const int64_t released = SteadyNs();
  SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "from parent", kLong, a.owner));
  const std::string line = ReadLine(fds[0]);
  close(fds[0]);
  ASSERT_EQ(Reap(pid), 0);
  ASSERT_FALSE(line.empty());
  const int64_t handoff_ms = (std::stoll(line) - released) / 1'000'000;
  EXPECT_LT(handoff_ms, 100) << "the other process was not woken";
}

TEST_F(LmdbLockTest, ChildForkedDuringAWaitDoesNotKeepTheWaiterPlace) {
  LmdbStore* store = OpenReal();
  const LockRequest a = Other("a");
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  LockRequest w = Other("w", Duration(400));
  w.max_waiters = 1;
  Result<LockedRead> got = Status::Internal("not run");
  std::thread waiter([&] { got = store->LockAndRead(Id(1), w); });
  std::this_thread::sleep_for(Ms(100));  // the waiter holds the place
  fflush(nullptr);
  const pid_t child = fork();  // lives on while the waiter returns
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) pause();
  }
  waiter.join();
  SK_ASSERT_OK(got);
  EXPECT_EQ(got->outcome, LockOutcome::kTimedOut);
  LockRequest next = Other("next", Duration(100));
  next.max_waiters = 1;
  got = store->LockAndRead(Id(1), next);
  kill(child, SIGKILL);
  Reap(child);
  SK_ASSERT_OK(got);
  EXPECT_EQ(got->outcome, LockOutcome::kTimedOut)
      << "the child's copy of the descriptor kept the place";
}

TEST_F(LmdbLockTest, KilledHolderIsTakenOverWithinASecond) {
  LmdbStore* store = OpenReal();
  SK_ASSERT_OK(store->Write(Id(1), "v", kLong));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    LmdbStore own(Options());
    LockRequest r;
    r.owner = LockOwner::Generate();
    r.lease = Duration(60000);
    auto got = own.LockAndRead(Id(1), r);
    if (!got.ok() || !got->acquired()) _exit(10);
    WriteLine(fds[1], r.owner.token);
    for (;;) pause();  // holds the lock until killed
  }
  close(fds[1]);
  const std::string token = ReadLine(fds[0]);
  close(fds[0]);
  ASSERT_FALSE(token.empty());

  // The waiter starts while the holder lives.
  Result<LockedRead> got = Status::Internal("not run");
  SteadyClock::time_point acquired_at;
  std::thread waiter([&] {
    LockRequest r;
    r.owner = LockOwner::Generate();
    r.wait = Duration(5000);
    got = store->LockAndRead(Id(1), r);
    acquired_at = SteadyClock::now();
  });
  std::this_thread::sleep_for(Ms(300));
  const auto killed_at = SteadyClock::now();
  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_EQ(Reap(child), 128 + SIGKILL);
  waiter.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired());
  EXPECT_EQ(got->broken_owner, token);
  EXPECT_EQ(got->record.data, "v");
  EXPECT_LT(std::chrono::duration_cast<Ms>(acquired_at - killed_at).count(),
            1000);
}

TEST_F(LmdbLockTest, KilledWaiterGivesBackItsPlace) {
  LmdbStore* store = OpenReal();
  const LockRequest a = Other("a");
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    LmdbStore own(Options());
    LockRequest w = Other("child", Duration(60000));
    w.max_waiters = 1;
    for (;;) {  // until it waits (a probe of the parent may hold the place)
      auto got = own.LockAndRead(Id(1), w);
      if (!got.ok()) _exit(10);
      if (got->outcome != LockOutcome::kTooManyWaiters) _exit(11);
      usleep(1000);
    }
  }
  // The child's wait fills the cap of one.
  LockRequest probe = Other("probe", Duration(20));
  probe.max_waiters = 1;
  bool full = false;
  const auto start = SteadyClock::now();
  while (!full && MsSince(start) < 5000) {
    auto got = store->LockAndRead(Id(1), probe);
    SK_ASSERT_OK(got);
    full = got->outcome == LockOutcome::kTooManyWaiters;
    // Leave the place free for a while: the child retries every ms.
    if (!full) std::this_thread::sleep_for(Ms(50));
  }
  ASSERT_TRUE(full) << "the child never waited";

  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_EQ(Reap(child), 128 + SIGKILL);
  for (int i = 0; i < 3; ++i) {
    auto got = store->LockAndRead(Id(1), probe);
    SK_ASSERT_OK(got);
    EXPECT_EQ(got->outcome, LockOutcome::kTimedOut) << "round " << i;
  }
  // And a waiter now gets the lock when it is released.
  Result<LockedRead> got = Status::Internal("not run");
  std::thread waiter([&] {
    LockRequest w = Other("w", Duration(5000));
    w.max_waiters = 1;
    got = store->LockAndRead(Id(1), w);
  });
  std::this_thread::sleep_for(Ms(100));
  SK_ASSERT_OK(store->Unlock(Id(1), a.owner));
  waiter.join();
  SK_ASSERT_OK(got);
  EXPECT_TRUE(got->acquired());
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::lock_test
