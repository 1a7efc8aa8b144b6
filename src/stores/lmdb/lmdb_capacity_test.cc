// Capacity of the LMDB store: expired sessions leave through the sweep of
// each write (no gc, no cron), the map grows by itself up to its limit,
// other processes follow the growth, and the store tells how full it is.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "sessionkit/store.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_records.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::capacity_test {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1ull << 20;
constexpr Duration kLong{24 * 3600 * 1000};

// Ids spread over the key space as PHP's random ids are (32 characters).
std::string Id(uint64_t n) {
  char buf[40];
  snprintf(buf, sizeof buf, "cap%013llx%016llx",
           static_cast<unsigned long long>(n),
           static_cast<unsigned long long>(n * 0x9e3779b97f4a7c15ull));
  return std::string(buf).substr(0, 32);
}

class LmdbCapacityTest : public LmdbFixture {
 protected:
  uint64_t FileBytes() {
    struct stat st;
    return stat((path_ + "/data.mdb").c_str(), &st) == 0
               ? static_cast<uint64_t>(st.st_size)
               : 0;
  }

  // The stored bytes of the live sessions.
  static uint64_t LiveBytes(LmdbStore* store) {
    uint64_t bytes = 0;
    ScanOptions options;
    for (;;) {
      Result<ScanPage> page = store->Scan(options);
      if (!page.ok()) {
        ADD_FAILURE() << page.status().ToString();
        return 0;
      }
      for (const SessionInfo& info : page->sessions) bytes += info.bytes;
      if (page->next_cursor.empty()) return bytes;
      options.cursor = page->next_cursor;
    }
  }
};

// The case: Debian's gc_probability=0 and no cron, map_size=8MiB, a
// lifetime of 1 s. Ten times the initial map is written in 1 KiB sessions,
// a thousand a second (1 ms of the fake clock each), one in four through
// the locked path PHP takes.
TEST_F(LmdbCapacityTest, ShortLivedSessionsNeverFillTheStore) {
  LmdbStore* store = Open(Options(8 * kMiB));
  const std::string value(1024, 's');
  const uint64_t writes = 80 * kMiB / value.size();
  uint64_t failed = 0, max_file = 0, max_live = 0;
  for (uint64_t n = 0; n < writes; ++n) {
    Status s;
    if (n % 4 == 0) {
      LockRequest request;
      request.owner.token = "capacity-test|" + std::to_string(n);
      Result<LockedRead> locked = store->LockAndRead(Id(n), request);
      s = locked.ok() ? store->WriteAndUnlock(Id(n), value, Duration(1000),
                                              request.owner)
                      : locked.status();
    } else {
      s = store->Write(Id(n), value, Duration(1000));
    }
    if (!s.ok() && failed++ == 0) ADD_FAILURE() << n << ": " << s.ToString();
    Advance(1);
    if (n % 4096 == 0 || n + 1 == writes) {
      max_file = std::max(max_file, FileBytes());
      max_live = std::max(max_live, LiveBytes(store));
    }
  }
  RecordProperty("max_file_bytes", std::to_string(max_file));
  RecordProperty("max_live_bytes", std::to_string(max_live));
  EXPECT_EQ(failed, 0u);
  EXPECT_GT(max_live, 900u * value.size());  // a second of sessions
  EXPECT_LE(max_file, 2 * (max_live + 8 * kMiB))
      << "live data " << max_live << " bytes";
  // The sweeps did it: not the rescue of a full map, nor its growth.
  EXPECT_EQ(store->MapGrowthsForTesting(), 0u);
  EXPECT_GT(store->SweptForTesting(), writes - 2000);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbCapacityTest, EachWriteSweepsAFewExpiredSessions) {
  LmdbStore* store = Open();
  for (int n = 0; n < 100; ++n) {
    SK_ASSERT_OK(store->Write(Id(n), "x", Duration(1000)));
  }
  EXPECT_EQ(store->SweptForTesting(), 0u);
  Advance(1000);
  SK_ASSERT_OK(store->Write(Id(1000), "y", kLong));
  EXPECT_EQ(store->SweptForTesting(), kSweepVisits);
  SK_ASSERT_OK(store->Write(Id(1001), "y", kLong));
  EXPECT_EQ(store->SweptForTesting(), 2 * kSweepVisits);
  SK_EXPECT_OK(store->CheckIndexForTesting());
  Result<GcResult> gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 100 - 2 * kSweepVisits);
}

TEST_F(LmdbCapacityTest, SweepSkipsLiveSessionsOfTheCurrentBucket) {
  LmdbStore* store = Open();
  // Expiries in one bucket: live ones sorted between expired ones.
  SetNowMs(Bucket(NowMs()) + 1000);
  for (int n = 0; n < 40; ++n) {
    SK_ASSERT_OK(store->Write(Id(n), "x", Duration(n % 2 == 0 ? 100 : 50000)));
  }
  Advance(200);  // the even ones expired; the bucket has not ended
  const uint64_t before = store->SweptForTesting();
  for (int n = 0; n < 20; ++n) {
    SK_ASSERT_OK(store->Write(Id(100), "y", kLong));
  }
  EXPECT_EQ(store->SweptForTesting() - before, 20u);
  for (int n = 1; n < 40; n += 2) SK_EXPECT_OK(store->Read(Id(n)));
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

// The failure: a map full of sessions that all expired since. A
// full map cannot even delete (LMDB copies the pages it changes): the write
// grows the map, the rescue removes the expired sessions, and the writes
// after it reuse their space.
TEST_F(LmdbCapacityTest, FullMapOfExpiredSessionsAcceptsEveryNewLogin) {
  LmdbStore* store = Open(Options(8 * kMiB));
  const std::string value(1024, 'o');
  int old = 0;
  while (store->MapGrowthsForTesting() == 0 && old < 20000) {
    SK_ASSERT_OK(store->Write(Id(old++), value, Duration(1000)));
  }
  ASSERT_EQ(store->MapGrowthsForTesting(), 1u);
  Advance(2000);
  for (int n = 0; n < 300; ++n) {
    SK_EXPECT_OK(store->Write(Id(100000 + n), value, Duration(1000))) << n;
  }
  EXPECT_EQ(store->MapGrowthsForTesting(), 1u);
  EXPECT_LE(FileBytes(), 16 * kMiB);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

// The same with a map that may not grow (map_max=map_size): the rescue of
// the first write after the expiry removes the expired sessions in a map
// too full to delete anything in one go.
TEST_F(LmdbCapacityTest, FullFixedMapOfExpiredSessionsAcceptsNewLogins) {
  LmdbStore* store = Open(FixedMapOptions(8 * kMiB));
  const std::string value(1024, 'f');
  Status full;
  int old = 0;
  for (; old < 20000 && full.ok(); ++old) {
    full = store->Write(Id(old), value, Duration(1000));
  }
  ASSERT_TRUE(full.IsResourceExhausted()) << full.ToString();
  Advance(2000);
  for (int n = 0; n < 300; ++n) {
    SK_EXPECT_OK(store->Write(Id(100000 + n), value, Duration(1000))) << n;
  }
  EXPECT_LE(FileBytes(), 9 * kMiB);  // at most kGcSlackBytes past the limit
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

// 100 MB of live sessions from map_size=8MiB: the map grows, nothing fails,
// and the store reports what it holds against what the disk can hold.
TEST_F(LmdbCapacityTest, LiveSessionsGrowTheMap) {
  LmdbStore* store = Open(Options(8 * kMiB));
  const std::string value(4000, 'l');  // one overflow page each
  const int writes = 100'000'000 / static_cast<int>(value.size());
  int failed = 0;
  for (int n = 0; n < writes; ++n) {
    Status s = store->Write(Id(n), value, kLong);
    if (!s.ok() && failed++ == 0) ADD_FAILURE() << n << ": " << s.ToString();
  }
  EXPECT_EQ(failed, 0);
  EXPECT_GE(store->MapGrowthsForTesting(), 4u);  // 8 MiB to 128 MiB
  Result<StoreUsage> usage = store->Usage();
  SK_ASSERT_OK(usage);
  EXPECT_GE(usage->used_bytes, 100'000'000u);
  EXPECT_LE(usage->used_bytes, 110'000'000u);
  EXPECT_LE(usage->used_bytes, usage->file_bytes);
  EXPECT_EQ(usage->file_bytes, FileBytes());
  struct statvfs vfs;
  ASSERT_EQ(statvfs(path_.c_str(), &vfs), 0);
  const uint64_t free_now = vfs.f_bavail * vfs.f_frsize;
  // The limit was taken when the store opened: what is free now plus
  // about what the file took since, give or take what other writers of the
  // disk took or gave back meanwhile (tests running beside this one start
  // servers and open journals of tiers).
  constexpr uint64_t kOthers = 256 * kMiB;
  EXPECT_GT(usage->limit_bytes + kOthers, free_now);
  EXPECT_LT(usage->limit_bytes,
            free_now + 2 * usage->file_bytes + 64 * kMiB + kOthers);
  EXPECT_THAT(usage->limit_from, HasSubstr("disk"));
  EXPECT_EQ(store->FillWarning(), "");
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

// A limit set with map_max: the store warns once past 90% of it, and a
// write that finds it full says which setting to raise.
TEST_F(LmdbCapacityTest, MapMaxLimitsGrowthAndWarnsPastNinetyPercent) {
  LmdbOptions options = Options(8 * kMiB);
  options.map_max = 16 * kMiB;
  LmdbStore* store = Open(options);
  const std::string value(4000, 'w');
  Status full;
  int n = 0;
  bool warned_early = false;
  for (; n < 10000 && full.ok(); ++n) {
    full = store->Write(Id(n), value, kLong);
    Result<StoreUsage> usage = store->Usage();
    SK_ASSERT_OK(usage);
    EXPECT_EQ(usage->limit_bytes, 16 * kMiB);
    if (usage->used_bytes < 14 * kMiB && !store->FillWarning().empty()) {
      warned_early = true;
    }
  }
  EXPECT_FALSE(warned_early) << store->FillWarning();
  ASSERT_TRUE(full.IsResourceExhausted()) << full.ToString();
  EXPECT_THAT(full.message(), HasSubstr("map_max=16MiB"));
  EXPECT_THAT(full.message(), HasSubstr("raise map_max"));
  EXPECT_EQ(store->MapGrowthsForTesting(), 1u);
  EXPECT_THAT(store->FillWarning(),
              HasSubstr("more than 90% of its limit of 16MiB (map_max=16MiB)"));
  EXPECT_THAT(store->FillWarning(), HasSubstr(store->name()));
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

// A process that opened the store before another grew the map writes and
// reads past its own, smaller map: it takes the new size (MDB_MAP_RESIZED)
// rather than growing the map again.
TEST_F(LmdbCapacityTest, GrowthIsSeenByAnotherProcess) {
  LmdbStore* store = Open(Options(8 * kMiB));
  const std::string value(4000, 'g');
  SK_ASSERT_OK(store->Write(Id(0), value, kLong));
  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(go[1]);
    close(done[0]);
    LmdbStore other(WithFakeClock(Options(8 * kMiB)));
    char c = 0;
    const bool opened = other.Read(Id(0)).ok();  // maps its 8 MiB now
    if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(2);
    if (!opened) _exit(3);
    // The parent's sessions reach past this process's map.
    Result<SessionRecord> last = other.Read(Id(5000));
    if (!last.ok() || last->data != value) _exit(4);
    for (int n = 10000; n < 11000; ++n) {
      if (!other.Write(Id(n), value, kLong).ok()) _exit(5);
    }
    _exit(other.MapGrowthsForTesting() == 0 ? 0 : 6);
  }
  // Whatever fails here, the child is let go (or ends: EOF) and reaped.
  struct ChildGuard {
    int go;
    pid_t pid;
    int code = -1;
    int Finish() {
      if (go >= 0) close(go);
      go = -1;
      if (pid > 0) code = Reap(pid);
      pid = 0;
      return code;
    }
    ~ChildGuard() { Finish(); }
  } guard{go[1], child};
  close(go[0]);
  close(done[1]);
  char c = 0;
  const ssize_t ready = read(done[0], &c, 1);
  close(done[0]);
  ASSERT_EQ(ready, 1);
  for (int n = 1; n <= 5000; ++n) {
    SK_ASSERT_OK(store->Write(Id(n), value, kLong)) << n;
  }
  ASSERT_GE(store->MapGrowthsForTesting(), 2u);
  ASSERT_EQ(write(guard.go, &c, 1), 1);
  EXPECT_EQ(guard.Finish(), 0);
  Result<SessionRecord> read_back = store->Read(Id(10999));
  SK_ASSERT_OK(read_back);
  EXPECT_EQ(read_back->data, value);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::capacity_test
