// The LMDB store under the lock contract of issue #10 (store.h): lock
// records kept past their lease (kLockRecordRetention), Destroy ending the
// lock, ids of 1..256 characters, the lease clock (CLOCK_BOOTTIME and the
// boot id), the default sync mode, and the pid namespace guard.
#include <errno.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "sessionkit/store.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_lock_record.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "stores/lmdb/pid_namespace_guard.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::contract_test {
namespace {

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr Duration kLong{600000};
constexpr int64_t kRetentionMs = kLockRecordRetention.count();

std::string Id(int n) {
  char buf[64];
  snprintf(buf, sizeof buf, "cont%022d", n);
  return buf;
}

// A request of another host: never taken over before its lease runs out.
LockRequest Other(const std::string& name, Duration lease = Duration(60000),
                  Duration wait = Duration(0)) {
  LockRequest r;
  r.owner.token = "other-host.invalid|1|" + name;
  r.lease = lease;
  r.wait = wait;
  r.max_waiters = 0;
  return r;
}

using LmdbContractTest = LmdbFixture;

// --- Item 3: Destroy ends the lock ----------------------------------------

TEST_F(LmdbContractTest, DestroyEndsTheLockAndTheHoldersWriteIsRefused) {
  LmdbStore* store = Open();
  const LockRequest a = Other("a");
  SK_ASSERT_OK(store->Write(Id(1), "alice", kLong));
  auto locked = store->LockAndRead(Id(1), a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  SK_ASSERT_OK(store->Destroy(Id(1)));  // the logout
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);

  Status s = store->WriteAndUnlock(Id(1), "alice+cart", kLong, a.owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound())
      << "the destroyed session came back";
  s = store->TouchAndUnlock(Id(1), kLong, a.owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  SK_EXPECT_OK(store->Unlock(Id(1), a.owner));
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbContractTest, DestroyOfASessionNeverWrittenEndsItsLock) {
  LmdbStore* store = Open();
  const LockRequest a = Other("a");
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  SK_ASSERT_OK(store->Destroy(Id(1)));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  Status s = store->WriteAndUnlock(Id(1), "new", kLong, a.owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
}

TEST_F(LmdbContractTest, DestroyWakesAWaiterAtOnce) {
  LmdbStore* store = OpenReal();
  const LockRequest a = Other("a");
  SK_ASSERT_OK(store->Write(Id(1), "alice", kLong));
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  Result<LockedRead> got = Status::Internal("not run");
  SteadyClock::time_point acquired_at;
  std::thread waiter([&] {
    got =
        store->LockAndRead(Id(1), Other("w", Duration(60000), Duration(5000)));
    acquired_at = SteadyClock::now();
  });
  std::this_thread::sleep_for(Ms(200));  // the waiter sleeps by now
  const auto destroyed_at = SteadyClock::now();
  SK_ASSERT_OK(store->Destroy(Id(1)));
  waiter.join();
  SK_ASSERT_OK(got);
  ASSERT_TRUE(got->acquired()) << "the waiter was not given the lock";
  EXPECT_FALSE(got->found);
  EXPECT_EQ(got->broken_owner, "");
  EXPECT_LT(std::chrono::duration_cast<Ms>(acquired_at - destroyed_at).count(),
            100)
      << "the waiter was not woken by the destroy";
  Status s = store->WriteAndUnlock(Id(1), "late", kLong, a.owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  SK_EXPECT_OK(store->Unlock(Id(1), Other("w").owner));
}

// --- Item 10: a lease that ran out with nobody waiting loses nothing -----

TEST_F(LmdbContractTest, OwnerWritesAfterItsLeaseRanOutWhenNobodyTookOver) {
  LmdbStore* store = Open();
  const LockRequest a = Other("a", Duration(1000));
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  Advance(40000);  // a request waiting on an external API
  SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "written late", kLong, a.owner));
  EXPECT_EQ(store->Read(Id(1))->data, "written late");
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);

  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  Advance(40000);
  SK_ASSERT_OK(store->TouchAndUnlock(Id(1), kLong, a.owner));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbContractTest, LateOwnerIsRefusedOnceAnotherOwnerCameAndWent) {
  LmdbStore* store = Open();
  const LockRequest a = Other("a", Duration(1000));
  SK_ASSERT_OK(store->Write(Id(1), "v0", kLong));
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  Advance(1000);
  const LockRequest b = Other("b");
  auto taken = store->LockAndRead(Id(1), b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired());
  EXPECT_EQ(taken->broken_owner, a.owner.token);
  Status s = store->WriteAndUnlock(Id(1), "a", kLong, a.owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "b", kLong, b.owner));
  s = store->WriteAndUnlock(Id(1), "a", kLong, a.owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  EXPECT_EQ(store->Read(Id(1))->data, "b");
}

TEST_F(LmdbContractTest, GcKeepsAnEndedLeaseWithinTheRetentionOnly) {
  LmdbStore* store = Open();
  const LockRequest a = Other("a", Duration(1000));
  const LockRequest c = Other("c", Duration(1000));
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  SK_ASSERT_OK(store->LockAndRead(Id(2), c));
  Advance(1000 + kRetentionMs - 1);  // both leases ended, retention not
  SK_ASSERT_OK(store->Gc(Now()));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 2u)
      << "gc removed lock records within their retention";
  SK_ASSERT_OK(store->WriteAndUnlock(Id(1), "late", kLong, a.owner));

  Advance(1);  // the retention of Id(2)'s record ends
  SK_ASSERT_OK(store->Gc(Now()));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(9), 0u);
  Status s = store->WriteAndUnlock(Id(2), "too late", kLong, c.owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  EXPECT_TRUE(store->Read(Id(2)).status().IsNotFound());
}

TEST_F(LmdbContractTest, RecordPastItsRetentionCountsAsGoneBeforeGc) {
  LmdbStore* store = Open();
  const LockRequest a = Other("a", Duration(1000));
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));
  Advance(1000 + kRetentionMs);
  Status s = store->WriteAndUnlock(Id(1), "too late", kLong, a.owner);
  EXPECT_TRUE(s.IsLockLost()) << s.ToString();
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
}

// --- Ids: what PHP accepts, bounded only by LMDB's key size ---------------

TEST_F(LmdbContractTest, EveryIdOfOneTo256CharactersOfPhpsCharsetWorks) {
  LmdbStore* store = Open();
  static constexpr char kCharset[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,-";
  for (size_t len = 1; len <= 256; ++len) {
    std::string id;
    for (size_t i = 0; i < len; ++i) {
      id += kCharset[(i + len) % (sizeof kCharset - 1)];
    }
    SK_ASSERT_OK(store->Write(id, "w", kLong)) << len;
    EXPECT_EQ(store->Read(id).value_or(SessionRecord{}).data, "w") << len;
    const LockRequest a = Other("a");
    auto locked = store->LockAndRead(id, a);
    SK_ASSERT_OK(locked) << len;
    ASSERT_TRUE(locked->acquired()) << len;
    SK_ASSERT_OK(store->WriteAndUnlock(id, "l", kLong, a.owner)) << len;
    EXPECT_TRUE(store->Exists(id).value_or(false)) << len;
    if (len % 2 == 0) {
      SK_ASSERT_OK(store->Destroy(id)) << len;
    }
  }
  ScanOptions all;
  auto page = store->Scan(all);
  SK_ASSERT_OK(page);
  EXPECT_EQ(page->sessions.size(), 128u);
  SK_ASSERT_OK(store->Gc(Now()));
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbContractTest, IdLengthIsBoundOnlyByTheLmdbKeySize) {
  LmdbStore* store = Open();
  const std::string longest(511 - 9, 'x');  // an index key adds 9 bytes
  SK_ASSERT_OK(store->Write(longest, "v", kLong));
  const LockRequest a = Other("a");
  SK_ASSERT_OK(store->LockAndRead(longest, a));
  SK_ASSERT_OK(store->WriteAndUnlock(longest, "w", kLong, a.owner));
  EXPECT_EQ(store->Read(longest)->data, "w");
  SK_EXPECT_OK(store->CheckIndexForTesting());
  Status s = store->Write(longest + "x", "v", kLong);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("key"));
}

// --- Item 11: the default sync mode, documented ------------------------------

// sync=off stays the default (a flush per commit made a lock + write cycle
// 140x slower); what it risks is documented (docs/lmdb.md) and recovered
// from by the once-per-boot check (lmdb_check_test.cc).
TEST_F(LmdbContractTest, DefaultUrlDoesNotSyncAndMetaAndFullStayAvailable) {
  auto parsed = ParseStoreUrl("lmdb://" + path_);
  SK_ASSERT_OK(parsed);
  auto options = LmdbOptions::FromUrl(*parsed);
  SK_ASSERT_OK(options);
  EXPECT_EQ(options->sync, LmdbSync::kOff);
  auto flags = OpenReal(*options)->EnvFlagsForTesting();
  SK_ASSERT_OK(flags);
  EXPECT_NE(*flags & MDB_NOSYNC, 0u) << "the default flushes every commit";
  EXPECT_EQ(LmdbOptions().sync, LmdbSync::kOff);
}

TEST_F(LmdbContractTest, EachSyncSettingGetsItsFlags) {
  const struct {
    const char* param;
    unsigned set, clear;
  } kCases[] = {
      {"off", MDB_NOSYNC, MDB_NOMETASYNC},
      {"meta", MDB_NOMETASYNC, MDB_NOSYNC},
      {"full", 0, MDB_NOSYNC | MDB_NOMETASYNC},
  };
  int n = 0;
  for (const auto& c : kCases) {
    auto parsed = ParseStoreUrl("lmdb://" + path_ + std::to_string(n++) +
                                "?sync=" + c.param);
    SK_ASSERT_OK(parsed);
    auto options = LmdbOptions::FromUrl(*parsed);
    SK_ASSERT_OK(options);
    auto flags = OpenReal(*options)->EnvFlagsForTesting();
    SK_ASSERT_OK(flags);
    EXPECT_EQ(*flags & c.set, c.set) << c.param;
    EXPECT_EQ(*flags & c.clear, 0u) << c.param;
  }
}

// --- Item 14: leases run on a clock wall-clock steps do not move -----------

// Stores whose wall clock (session expiry) and lease clock (the boot clock)
// the test moves apart, on the fake clocks of boot A or of boot B.
class LmdbLeaseClockTest : public LmdbFixture {
 protected:
  void SetUp() override {
    LmdbFixture::SetUp();
    boot_a_.SetBootId(kBootA);
    boot_b_.SetBootId(kBootB);
  }

  LmdbStore* OpenSplit(test::FakeEnv* boot) {
    LmdbOptions options = Options();
    options.env = boot;
    return OpenReal(std::move(options));
  }
  LmdbStore* OpenSplit() { return OpenSplit(&boot_a_); }

  // The wall clock of boot A alone moves by `ms` (NTP steps it).
  void StepWall(int64_t ms) {
    boot_a_.SetWallNow(boot_a_.WallNow() + Duration(ms));
  }

  static constexpr char kBootA[] = "0b7a1e8d-2f4c-4d2a-9c1e-5f6a7b8c9d0e";
  static constexpr char kBootB[] = "6f1d2c3b-4a5e-4f60-8a71-92b3c4d5e6f7";
  test::FakeEnv boot_a_{test::FakeEnv::Scope::kRecordClocks};
  test::FakeEnv boot_b_{test::FakeEnv::Scope::kRecordClocks};
};

TEST_F(LmdbLeaseClockTest, WallClockStepNeitherEndsNorExtendsALease) {
  LmdbStore* store = OpenSplit();
  const LockRequest a = Other("a", Duration(10000));
  SK_ASSERT_OK(store->Write(Id(1), "v", Duration(24 * 3600 * 1000)));
  SK_ASSERT_OK(store->LockAndRead(Id(1), a));

  StepWall(3600 * 1000);  // NTP steps the clock an hour forward
  auto b = store->LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(b);
  EXPECT_FALSE(b->acquired()) << "a wall-clock step ended a lease";
  SK_ASSERT_OK(store->Gc(boot_a_.WallNow()));
  EXPECT_EQ(store->HeldLocksForTesting().value_or(0), 1u);

  StepWall(-2 * 3600 * 1000);  // and an hour back from where it was
  boot_a_.SetBootClockMs(boot_a_.BootClockMs() + 10000);  // the lease ran out
  b = store->LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "a wall-clock step extended a lease";
  EXPECT_EQ(b->broken_owner, a.owner.token);
}

TEST_F(LmdbLeaseClockTest, LockOfAnotherBootIsGone) {
  LmdbStore* before = OpenSplit(&boot_a_);
  const LockRequest a = Other("a", Duration(3600 * 1000));
  SK_ASSERT_OK(before->LockAndRead(Id(1), a));
  // After a reboot the boot clock starts again, below the old lease end.
  LmdbStore* after = OpenSplit(&boot_b_);
  boot_b_.SetBootClockMs(5000);
  auto b = after->LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "a lock of the previous boot looked held";
  EXPECT_EQ(b->broken_owner, a.owner.token);
  SK_ASSERT_OK(after->Unlock(Id(1), Other("b").owner));

  SK_ASSERT_OK(before->LockAndRead(Id(2), a));
  SK_ASSERT_OK(after->Gc(boot_b_.WallNow()));
  EXPECT_EQ(after->HeldLocksForTesting().value_or(9), 0u)
      << "gc kept a lock record of another boot";
}

TEST_F(LmdbLeaseClockTest, LegacyLockRecordLocksNothingAndGcRemovesIt) {
  // A record as versions before the lease clock wrote it: lease end (Unix
  // ms, big-endian), then the token.
  {
    ASSERT_EQ(mkdir(path_.c_str(), 0700), 0);
    MDB_env* env;
    MDB_txn* txn;
    MDB_dbi dbi;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_open(env, path_.c_str(), MDB_NOTLS, 0600), 0);
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
    std::string key("\0\x7f\xff\xff\xff\xff\xff\xff\xff", 9);
    key += Id(1);
    std::string value(8, '\0');
    uint64_t end = static_cast<uint64_t>(kFixtureStartMs + 5000);
    for (int i = 7; i >= 0; --i, end >>= 8) value[i] = static_cast<char>(end);
    value += "old-host.invalid|7|0123456789abcdef";
    MDB_val k{key.size(), key.data()}, v{value.size(), value.data()};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  LmdbStore* store = OpenSplit();
  EXPECT_EQ(store->LockRecordsForTesting().value_or(0), 1u);
  // Locks live in the lock table now: the record of an earlier version
  // holds nothing.
  auto b = store->LockAndRead(Id(1), Other("b"));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired());
  EXPECT_EQ(b->broken_owner, "");
  SK_ASSERT_OK(store->Unlock(Id(1), Other("b").owner));
  // Gc keeps it within its retention (by the wall clock, as it was
  // written), and removes it after.
  SK_ASSERT_OK(store->Gc(boot_a_.WallNow()));
  EXPECT_EQ(store->LockRecordsForTesting().value_or(0), 1u);
  StepWall(5000 + kLockRecordRetention.count());
  SK_ASSERT_OK(store->Gc(boot_a_.WallNow()));
  EXPECT_EQ(store->LockRecordsForTesting().value_or(9), 0u);
}

TEST(LmdbLockRecord, EncodesAndParsesBothClocks) {
  LockNow now;
  now.wall_ms = 1'700'000'000'000;
  now.boot_ms = 42'000;
  ASSERT_TRUE(ParseBootId("0b7a1e8d-2f4c-4d2a-9c1e-5f6a7b8c9d0e\n", &now.boot));
  const std::string token = "host|12|00ff";
  std::string value(LockRecordBytes(token), '?');
  EncodeLockRecord(value.data(), now, Duration(30000), token);
  const LockRecord lock = ParseLockRecord(value);
  EXPECT_FALSE(lock.legacy);
  EXPECT_EQ(lock.token, token);
  EXPECT_EQ(lock.wall_lease_end_ms, now.wall_ms + 30000);
  EXPECT_EQ(lock.boot_lease_end_ms, now.boot_ms + 30000);
  EXPECT_EQ(lock.boot, now.boot);
  EXPECT_EQ(StateOf(lock, now), LockState::kHeld);
  EXPECT_EQ(LeaseLeftMs(lock, now), 30000);
  LockNow later = now;
  later.wall_ms -= 1'000'000;  // the wall clock does not count
  later.boot_ms += 30000;
  EXPECT_EQ(StateOf(lock, later), LockState::kEnded);
  later.boot_ms += kRetentionMs;
  EXPECT_EQ(StateOf(lock, later), LockState::kGone);
  BootId other = now.boot;
  other[0] ^= 1;
  later = now;
  later.boot = other;
  EXPECT_EQ(StateOf(lock, later), LockState::kGone);
  EXPECT_FALSE(ParseBootId("not-a-uuid", &other));
  EXPECT_FALSE(CurrentBootId() == BootId{}) << "no boot id in /proc";
}

TEST(LmdbLockRecord, LegacyValuesParseAsWallClockRecords) {
  std::string value(8, '\0');
  value[7] = 100;
  value += "host|1|ab";
  const LockRecord lock = ParseLockRecord(value);
  EXPECT_TRUE(lock.legacy);
  EXPECT_EQ(lock.wall_lease_end_ms, 100);
  EXPECT_EQ(lock.token, "host|1|ab");
  LockNow now;
  now.wall_ms = 99;
  EXPECT_EQ(StateOf(lock, now), LockState::kHeld);
  now.wall_ms = 100;
  EXPECT_EQ(StateOf(lock, now), LockState::kEnded);
  EXPECT_TRUE(ParseLockRecord("short").legacy);
}

TEST(LmdbLockRecord, DamagedLeaseEndsLeaveNothing) {
  // Lease ends no version writes (negative: the top bit set), as a damaged
  // record may hold them: ended long ago, 0 ms left, never an overflow.
  std::string value(8, '\0');
  value[0] = '\x80';
  value += "host|1|ab";
  LockNow now;
  now.wall_ms = 1'700'000'000'000;
  const LockRecord legacy = ParseLockRecord(value);
  EXPECT_EQ(legacy.wall_lease_end_ms, INT64_MIN);
  EXPECT_EQ(LeaseLeftMs(legacy, now), 0);
  EXPECT_EQ(StateOf(legacy, now), LockState::kGone);
  value.push_back('\0');
  value.append(1, '\x80').append(7, '\0');  // the boot lease end, likewise
  value.append(sizeof(BootId), '\0');
  const LockRecord current = ParseLockRecord(value);
  ASSERT_FALSE(current.legacy);
  now.boot_ms = 42'000;
  EXPECT_EQ(LeaseLeftMs(current, now), 0);
  EXPECT_EQ(StateOf(current, now), LockState::kGone);
}

TEST_F(LmdbContractTest, TokenWithAZeroByteIsRefused) {
  LmdbStore* store = Open();
  LockRequest r = Other("a");
  r.owner.token += std::string("\0x", 2);
  EXPECT_TRUE(store->LockAndRead(Id(1), r).status().IsInvalidArgument());
}

// --- Item 12: one pid namespace per directory ------------------------------

TEST_F(LmdbContractTest, OtherPidNamespaceIsRefusedWhileTheDirectoryIsInUse) {
  LmdbStore* store = OpenReal();
  SK_ASSERT_OK(store->Health());
  const std::string path = path_;
  const LmdbOptions options = Options();
  // 1: refused; 2: opened; 3: refused without the reason.
  const int refused = RunInChild([&] {
    SetPidNamespaceForTesting(4'000'000'001);
    LmdbStore other(options);
    Status s = other.Health();
    if (s.ok()) return 2;
    fprintf(stderr, "%s\n", s.ToString().c_str());
    if (s.message().find(path) == std::string::npos ||
        s.message().find("another pid namespace") == std::string::npos) {
      return 3;
    }
    return 1;
  });
  EXPECT_EQ(refused, 1) << "2: a process of another pid namespace opened it";

  // Once nobody uses it, another namespace may take the directory over, and
  // this one is refused while that one uses it.
  stores_.clear();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    SetPidNamespaceForTesting(4'000'000'001);
    LmdbStore other(options);
    const char ok = other.Health().ok() ? 'y' : 'n';
    if (write(fds[1], &ok, 1) != 1) _exit(9);
    pause();  // holds the directory until killed
    _exit(0);
  }
  close(fds[1]);
  char ok = 0;
  ASSERT_EQ(read(fds[0], &ok, 1), 1);
  close(fds[0]);
  EXPECT_EQ(ok, 'y') << "a free directory was not taken over";
  LmdbStore* back = OpenReal();
  Status s = back->Health();
  EXPECT_FALSE(s.ok()) << "both namespaces use the directory";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  stores_.clear();
  SK_EXPECT_OK(OpenReal()->Health()) << "not taken back after the exit";
}

TEST_F(LmdbContractTest, ProcessInANewPidNamespaceIsRefused) {
  LmdbStore* store = OpenReal();
  SK_ASSERT_OK(store->Health());
  const LmdbOptions options = Options();
  // 77: no new pid namespace here; 1: refused; 2: opened.
  const int rc = RunInChild([&] {
    if (unshare(CLONE_NEWPID) != 0) return 77;
    fflush(nullptr);
    const pid_t pid = fork();  // pid 1 of the new namespace
    if (pid < 0) return 5;
    if (pid == 0) {
      LmdbStore other(options);
      Status s = other.Health();
      if (s.ok()) _exit(2);
      if (s.message().find("another pid namespace") == std::string::npos) {
        fprintf(stderr, "%s\n", s.ToString().c_str());
        _exit(3);
      }
      _exit(1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 6;
    return WEXITSTATUS(status);
  });
  if (rc == 77) GTEST_SKIP() << "unshare(CLONE_NEWPID) is not permitted";
  EXPECT_EQ(rc, 1) << "2: a process of a new pid namespace opened it";
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::contract_test
