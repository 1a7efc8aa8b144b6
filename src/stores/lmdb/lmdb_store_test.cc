#include "stores/lmdb/lmdb_store.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <lmdb.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::store_test {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kStartMs = kFixtureStartMs;

// A session id of the shape ValidateSessionId accepts (26 characters).
std::string Id(int n, std::string_view prefix = "sess") {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*s%022d", static_cast<int>(prefix.size()),
           prefix.data(), n);
  return buf;
}

using LmdbStoreTest = LmdbFixture;

// --- Basic operations ------------------------------------------------------

TEST_F(LmdbStoreTest, WriteThenReadReturnsDataAndExpiry) {
  LmdbStore* store = Open();
  EXPECT_EQ(store->name(), "lmdb://" + path_);
  SK_ASSERT_OK(store->Write(Id(1), "hello", Duration(1500)));
  auto r = store->Read(Id(1));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, "hello");
  EXPECT_EQ(ToUnixMillis(r->expires_at), kStartMs + 1500);
  EXPECT_TRUE(fs::is_directory(path_));
  EXPECT_TRUE(fs::exists(path_ + "/data.mdb"));
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, ReadOfUnknownIdIsNotFound) {
  LmdbStore* store = Open();
  auto r = store->Read(Id(7));
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(store->name()));
  // Never the whole id in a message.
  EXPECT_THAT(r.status().message(), Not(HasSubstr(Id(7))));
}

TEST_F(LmdbStoreTest, BinaryDataEmptyDataAndOneMegabyteRoundTrip) {
  LmdbStore* store = Open();
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  binary += std::string("\0\0a\0", 4);
  std::string big(1 << 20, '\0');
  std::mt19937 rng(42);
  for (char& c : big) c = static_cast<char>(rng());

  SK_ASSERT_OK(store->Write(Id(1), binary, Duration(60000)));
  SK_ASSERT_OK(store->Write(Id(2), "", Duration(60000)));
  SK_ASSERT_OK(store->Write(Id(3), big, Duration(60000)));
  auto r1 = store->Read(Id(1));
  auto r2 = store->Read(Id(2));
  auto r3 = store->Read(Id(3));
  SK_ASSERT_OK(r1);
  SK_ASSERT_OK(r2);
  SK_ASSERT_OK(r3);
  EXPECT_EQ(r1->data, binary);
  EXPECT_EQ(r1->data.size(), 260u);
  EXPECT_EQ(r2->data, "");
  EXPECT_TRUE(r3->data == big);
}

TEST_F(LmdbStoreTest, OverwriteReplacesDataAndExpiry) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "first", Duration(1000)));
  Advance(10);
  SK_ASSERT_OK(store->Write(Id(1), "second, longer", Duration(5000)));
  auto r = store->Read(Id(1));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, "second, longer");
  EXPECT_EQ(ToUnixMillis(r->expires_at), kStartMs + 10 + 5000);
  // The old expiry's index entry is gone: the session survives its old
  // expiry, and gc at that time removes nothing.
  Advance(2000);
  SK_EXPECT_OK(store->Read(Id(1)));
  auto gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 0u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
  // Same expiry again: data changes, index stays valid.
  SK_ASSERT_OK(store->Write(Id(1), "third", Duration(3000)));
  SK_ASSERT_OK(store->Write(Id(1), "fourth", Duration(3000)));
  EXPECT_EQ(store->Read(Id(1))->data, "fourth");
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, ExpiredSessionIsNeverReturned) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "data", Duration(1000)));
  Advance(999);
  SK_EXPECT_OK(store->Read(Id(1)));
  EXPECT_TRUE(store->Exists(Id(1)).value_or(false));
  Advance(1);  // expiry == now: expired
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
  auto exists = store->Exists(Id(1));
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
  EXPECT_TRUE(store->Touch(Id(1), Duration(1000)).IsNotFound());
  // Still in the store until gc, and listed only with include_expired.
  auto live = store->Scan(ScanOptions{});
  SK_ASSERT_OK(live);
  EXPECT_TRUE(live->sessions.empty());
  ScanOptions all;
  all.include_expired = true;
  auto listed = store->Scan(all);
  SK_ASSERT_OK(listed);
  ASSERT_EQ(listed->sessions.size(), 1u);
  EXPECT_EQ(listed->sessions[0].id, Id(1));
}

TEST_F(LmdbStoreTest, NonPositiveTtlStoresAnExpiredSession) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "data", Duration(0)));
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
  SK_ASSERT_OK(store->Write(Id(2), "data", Duration(-5000)));
  EXPECT_TRUE(store->Read(Id(2)).status().IsNotFound());
  auto gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  // The sweeps of the writes removed what the gc did not.
  EXPECT_EQ(gc->removed + store->SweptForTesting(), 2u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, HugeTtlIsClampedNotOverflowed) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "data", Duration::max()));
  auto r = store->Read(Id(1));
  SK_ASSERT_OK(r);
  EXPECT_GT(r->expires_at, Now() + std::chrono::hours(24 * 365 * 100));
  SK_EXPECT_OK(store->Touch(Id(1), Duration::max()));
}

TEST_F(LmdbStoreTest, SystemClockExpiresSessions) {
  auto store = std::make_unique<LmdbStore>(Options());  // real clock
  const TimePoint before = Clock::now();
  SK_ASSERT_OK(store->Write(Id(1), "data", Duration(300)));
  auto r = store->Read(Id(1));
  const TimePoint after = Clock::now();
  if (after - before < std::chrono::milliseconds(250)) {  // not too loaded
    SK_ASSERT_OK(r);
    EXPECT_GE(r->expires_at, before + Duration(300) - Duration(1));
    EXPECT_LE(r->expires_at, after + Duration(300));
  }
  std::this_thread::sleep_until(after + Duration(320));
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
}

TEST_F(LmdbStoreTest, TouchExtendsLifeWithoutChangingData) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(
      store->Write(Id(1), std::string("pay\0load", 8), Duration(1000)));
  Advance(800);
  SK_ASSERT_OK(store->Touch(Id(1), Duration(1000)));
  Advance(800);  // past the first expiry
  auto r = store->Read(Id(1));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, std::string("pay\0load", 8));
  EXPECT_EQ(ToUnixMillis(r->expires_at), kStartMs + 1800);
  SK_EXPECT_OK(store->CheckIndexForTesting());
  // Touch to the same expiry is a no-op that succeeds.
  SK_ASSERT_OK(store->Touch(Id(1), Duration(200)));
  // A gc at the old expiry must not remove the touched session.
  auto gc = store->Gc(FromUnixMillis(kStartMs + 1000));
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 0u);
  Advance(200);
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
  EXPECT_TRUE(store->Touch(Id(1), Duration(1000)).IsNotFound());
  Status missing = store->Touch(Id(99), Duration(1000));
  EXPECT_TRUE(missing.IsNotFound()) << missing.ToString();
  EXPECT_THAT(missing.message(), HasSubstr("touch"));
}

TEST_F(LmdbStoreTest, DestroyIsIdempotent) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "a", Duration(1000)));
  SK_ASSERT_OK(store->Write(Id(2), "b", Duration(1000)));
  SK_EXPECT_OK(store->Destroy(Id(1)));
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
  SK_EXPECT_OK(store->Destroy(Id(1)));
  SK_EXPECT_OK(store->Destroy(Id(3)));  // never existed
  SK_EXPECT_OK(store->Read(Id(2)));
  SK_EXPECT_OK(store->CheckIndexForTesting());
  ScanOptions all;
  all.include_expired = true;
  EXPECT_EQ(store->Scan(all)->sessions.size(), 1u);
}

TEST_F(LmdbStoreTest, ExistsReportsLiveSessionsOnly) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "a", Duration(1000)));
  EXPECT_TRUE(store->Exists(Id(1)).value_or(false));
  EXPECT_FALSE(store->Exists(Id(2)).value_or(true));
  SK_ASSERT_OK(store->Destroy(Id(1)));
  EXPECT_FALSE(store->Exists(Id(1)).value_or(true));
}

TEST_F(LmdbStoreTest, BadIdsAreRefused) {
  LmdbStore* store = Open();
  EXPECT_TRUE(store->Write("", "x", Duration(1000)).IsInvalidArgument());
  EXPECT_TRUE(store->Read(std::string(600, 'a')).status().IsInvalidArgument());
}

// --- Scan -------------------------------------------------------------------

TEST_F(LmdbStoreTest, ScanPagesWithCursorInIdOrder) {
  LmdbStore* store = Open();
  std::set<std::string> live, all;
  for (int i = 0; i < 25; ++i) {
    const bool expired = i % 5 == 0;
    SK_ASSERT_OK(store->Write(Id(i), std::string(i, 'x'),
                              Duration(expired ? 100 : 100000)));
    all.insert(Id(i));
    if (!expired) live.insert(Id(i));
  }
  Advance(100);

  auto collect = [&](bool include_expired, size_t limit, size_t* pages) {
    std::vector<std::string> ids;
    ScanOptions options;
    options.limit = limit;
    options.include_expired = include_expired;
    *pages = 0;
    for (;;) {
      auto page = store->Scan(options);
      SK_EXPECT_OK(page);
      if (!page.ok()) break;
      ++*pages;
      EXPECT_LE(page->sessions.size(), limit);
      for (const SessionInfo& s : page->sessions) {
        ids.push_back(s.id);
        const int n = std::stoi(s.id.substr(4));
        EXPECT_EQ(s.bytes, static_cast<uint64_t>(n));
        EXPECT_EQ(ToUnixMillis(s.expires_at),
                  kStartMs + (n % 5 == 0 ? 100 : 100000));
      }
      if (page->next_cursor.empty()) break;
      EXPECT_EQ(page->next_cursor, page->sessions.back().id);
      options.cursor = page->next_cursor;
      if (*pages > 100) break;
    }
    return ids;
  };

  size_t pages = 0;
  std::vector<std::string> ids = collect(false, 7, &pages);
  EXPECT_EQ(std::vector<std::string>(live.begin(), live.end()), ids);
  EXPECT_EQ(pages, 3u);  // 20 live: 7 + 7 + 6, the last without a cursor
  ids = collect(true, 5, &pages);
  EXPECT_EQ(std::vector<std::string>(all.begin(), all.end()), ids);
  EXPECT_EQ(pages, 5u);
  ids = collect(false, 20, &pages);  // exactly one full page
  EXPECT_EQ(ids.size(), 20u);
  EXPECT_EQ(pages, 1u);
}

TEST_F(LmdbStoreTest, ScanCursorSurvivesDeletionOfTheCursorSession) {
  LmdbStore* store = Open();
  for (int i = 0; i < 10; ++i) {
    SK_ASSERT_OK(store->Write(Id(i), "x", Duration(10000)));
  }
  ScanOptions options;
  options.limit = 4;
  auto first = store->Scan(options);
  SK_ASSERT_OK(first);
  ASSERT_EQ(first->next_cursor, Id(3));
  SK_ASSERT_OK(store->Destroy(Id(3)));
  options.cursor = first->next_cursor;
  auto second = store->Scan(options);
  SK_ASSERT_OK(second);
  ASSERT_EQ(second->sessions.size(), 4u);
  EXPECT_EQ(second->sessions[0].id, Id(4));
}

// --- Gc
// -----------------------------------------------------------------------

TEST_F(LmdbStoreTest, GcRemovesOnlyExpiredSessionsFromBothDatabases) {
  LmdbStore* store = Open();
  constexpr int kSessions = 6000;
  uint64_t expired_bytes = 0, expired = 0;
  for (int i = 0; i < kSessions; ++i) {
    // Every third session expires by kStartMs + 1000: more than one gc batch.
    const bool dies = i % 3 == 0;
    const std::string data(100 + i % 50, 'd');
    SK_ASSERT_OK(
        store->Write(Id(i), data, Duration(dies ? 200 + i % 800 : 5000 + i)));
    if (dies) {
      ++expired;
      expired_bytes += data.size();
    }
  }
  // One touched out of its expiry, one rewritten out of it, one destroyed.
  SK_ASSERT_OK(store->Touch(Id(0), Duration(10000)));
  SK_ASSERT_OK(store->Write(Id(3), "rewritten", Duration(10000)));
  SK_ASSERT_OK(store->Destroy(Id(6)));
  expired -= 3;
  expired_bytes -= 100 + 0 + 100 + 3 + 100 + 6;

  Advance(1000);
  // The running totals of each batch, for the CLI's progress display.
  std::vector<GcResult> totals;
  auto gc = store->GcWithProgress(
      Now(), [&](const GcResult& so_far) { totals.push_back(so_far); });
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, expired);
  EXPECT_EQ(gc->bytes_removed, expired_bytes);
  SK_EXPECT_OK(store->CheckIndexForTesting());
  ASSERT_GE(totals.size(), 2u) << "one report per batch of the walk";
  for (size_t i = 1; i < totals.size(); ++i) {
    EXPECT_GE(totals[i].removed, totals[i - 1].removed);
  }
  EXPECT_EQ(totals.back().removed, gc->removed);
  EXPECT_EQ(totals.back().bytes_removed, gc->bytes_removed);

  ScanOptions all;
  all.include_expired = true;
  all.limit = 100000;
  auto listed = store->Scan(all);
  SK_ASSERT_OK(listed);
  EXPECT_EQ(listed->sessions.size(), kSessions - expired - 1);
  for (int i = 0; i < kSessions; ++i) {
    auto r = store->Read(Id(i));
    if (i % 3 != 0 || i == 0 || i == 3) {
      SK_EXPECT_OK(r) << i;
    } else {
      EXPECT_TRUE(r.status().IsNotFound()) << i;
    }
  }
  auto again = store->Gc(Now());
  SK_ASSERT_OK(again);
  EXPECT_EQ(again->removed, 0u);
}

TEST_F(LmdbStoreTest, GcAtTheExactExpiryRemovesTheSession) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "a", Duration(1000)));
  SK_ASSERT_OK(store->Write(Id(2), "b", Duration(1001)));
  auto early = store->Gc(FromUnixMillis(kStartMs + 999));
  SK_ASSERT_OK(early);
  EXPECT_EQ(early->removed, 0u);
  auto gc = store->Gc(FromUnixMillis(kStartMs + 1000));
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 1u);
  EXPECT_EQ(gc->bytes_removed, 1u);
  Advance(999);
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
  SK_EXPECT_OK(store->Read(Id(2)));
}

// --- Expiry index buckets ------------------------------------------------

// Start of the index bucket of an expiry.
int64_t BucketOf(int64_t expiry_ms) {
  return expiry_ms - expiry_ms % kIndexBucketMs;
}

TEST_F(LmdbStoreTest, GcKeepsLiveSessionsOfTheCurrentBucket) {
  LmdbStore* store = Open();
  // Three sessions whose expiries share the next bucket, one in the bucket
  // after it.
  const int64_t next = BucketOf(kStartMs) + kIndexBucketMs;
  const int64_t expiries[] = {next + 5000, next + 20000,
                              next + kIndexBucketMs - 1,
                              next + kIndexBucketMs + 100};
  for (int i = 0; i < 4; ++i) {
    SK_ASSERT_OK(store->Write(Id(i), "s" + std::to_string(i),
                              Duration(expiries[i] - kStartMs)));
  }
  // The bucket has begun but only its first session has expired.
  auto gc = store->Gc(FromUnixMillis(next + 10000));
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 1u);
  EXPECT_EQ(gc->bytes_removed, 2u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
  SetNowMs(next + 10000);
  EXPECT_TRUE(store->Read(Id(0)).status().IsNotFound());
  for (int i = 1; i < 4; ++i) SK_EXPECT_OK(store->Read(Id(i))) << i;
  ScanOptions all;
  all.include_expired = true;
  EXPECT_EQ(store->Scan(all)->sessions.size(), 3u);

  // Each remaining session goes exactly at its own expiry.
  for (int i = 1; i < 4; ++i) {
    auto early = store->Gc(FromUnixMillis(expiries[i] - 1));
    SK_ASSERT_OK(early);
    EXPECT_EQ(early->removed, 0u) << i;
    auto on_time = store->Gc(FromUnixMillis(expiries[i]));
    SK_ASSERT_OK(on_time);
    EXPECT_EQ(on_time->removed, 1u) << i;
    SK_EXPECT_OK(store->CheckIndexForTesting());
  }
  EXPECT_TRUE(store->Scan(all)->sessions.empty());
}

TEST_F(LmdbStoreTest, RewriteWithinABucketLeavesTheIndexAlone) {
  LmdbStore* store = Open();
  // Expiry at the start of a bucket, so that the rewrites below stay in it.
  const int64_t ttl = BucketOf(kStartMs) + 10 * kIndexBucketMs - kStartMs;
  SK_ASSERT_OK(store->Write(Id(1), "v1", Duration(ttl)));
  EXPECT_EQ(store->IndexWritesForTesting(), 1u);
  for (int i = 2; i <= 10; ++i) {
    Advance(1000);
    SK_ASSERT_OK(store->Write(Id(1), "v" + std::to_string(i), Duration(ttl)));
    Advance(1000);
    SK_ASSERT_OK(store->Touch(Id(1), Duration(ttl)));
  }
  EXPECT_EQ(store->IndexWritesForTesting(), 1u);
  // The stored expiry is exact even though the index entry did not move.
  auto r = store->Read(Id(1));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, "v10");
  EXPECT_EQ(ToUnixMillis(r->expires_at), NowMs() + ttl);
  SK_EXPECT_OK(store->CheckIndexForTesting());

  // A new session and a destroyed one do touch the index.
  SK_ASSERT_OK(store->Write(Id(2), "other", Duration(ttl)));
  EXPECT_EQ(store->IndexWritesForTesting(), 2u);
  SK_ASSERT_OK(store->Destroy(Id(2)));
  EXPECT_EQ(store->IndexWritesForTesting(), 3u);
  SK_ASSERT_OK(store->Destroy(Id(2)));  // nothing left to remove
  EXPECT_EQ(store->IndexWritesForTesting(), 3u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, ExpiryMovedToAnotherBucketMovesTheEntry) {
  LmdbStore* store = Open();
  const int64_t first = BucketOf(kStartMs) + 2 * kIndexBucketMs;
  SK_ASSERT_OK(store->Write(Id(1), "data", Duration(first - kStartMs)));
  SK_ASSERT_OK(store->Write(Id(2), "data", Duration(first - kStartMs)));
  EXPECT_EQ(store->IndexWritesForTesting(), 2u);
  // Later by three buckets: by a touch and by a rewrite.
  SK_ASSERT_OK(
      store->Touch(Id(1), Duration(first + 3 * kIndexBucketMs - kStartMs)));
  SK_ASSERT_OK(store->Write(Id(2), "new",
                            Duration(first + 3 * kIndexBucketMs - kStartMs)));
  EXPECT_EQ(store->IndexWritesForTesting(), 4u);
  SK_EXPECT_OK(
      store->CheckIndexForTesting());  // one entry each, in the new bucket
  // Nothing is collected when the old bucket ends.
  auto gc = store->Gc(FromUnixMillis(first + kIndexBucketMs));
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 0u);
  SetNowMs(first + kIndexBucketMs);
  EXPECT_EQ(store->Read(Id(1))->data, "data");
  EXPECT_EQ(store->Read(Id(2))->data, "new");
  gc = store->Gc(FromUnixMillis(first + 3 * kIndexBucketMs));
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 2u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, ShorterTtlIsCollectedOnTime) {
  LmdbStore* store = Open();
  const int64_t bucket = BucketOf(kStartMs) + kIndexBucketMs;
  // Backward into an earlier bucket (the entry moves) ...
  SK_ASSERT_OK(store->Write(Id(1), "a",
                            Duration(bucket + 5 * kIndexBucketMs - kStartMs)));
  SK_ASSERT_OK(store->Write(Id(1), "a", Duration(bucket + 1000 - kStartMs)));
  // ... and backward within one bucket (the entry stays), by write and touch.
  SK_ASSERT_OK(store->Write(Id(2), "b", Duration(bucket + 50000 - kStartMs)));
  SK_ASSERT_OK(store->Write(Id(2), "b", Duration(bucket + 2000 - kStartMs)));
  SK_ASSERT_OK(store->Write(Id(3), "c", Duration(bucket + 50000 - kStartMs)));
  SK_ASSERT_OK(store->Touch(Id(3), Duration(bucket + 3000 - kStartMs)));
  EXPECT_EQ(store->IndexWritesForTesting(), 4u);  // not the in-bucket ones
  SK_EXPECT_OK(store->CheckIndexForTesting());

  for (int i = 1; i <= 3; ++i) {
    const int64_t expiry = bucket + i * 1000;
    auto early = store->Gc(FromUnixMillis(expiry - 1));
    SK_ASSERT_OK(early);
    EXPECT_EQ(early->removed, 0u) << i;
    SetNowMs(expiry);
    EXPECT_TRUE(store->Read(Id(i)).status().IsNotFound()) << i;
    auto gc = store->Gc(Now());
    SK_ASSERT_OK(gc);
    EXPECT_EQ(gc->removed, 1u) << i;
  }
  SK_EXPECT_OK(store->CheckIndexForTesting());
  ScanOptions all;
  all.include_expired = true;
  EXPECT_TRUE(store->Scan(all)->sessions.empty());
}

// Runs `fn(txn, main_db)` on the environment at `path` with the plain LMDB
// API in a child process (one process must not open an environment twice)
// and commits. Returns the child's exit code: 0 on success.
int RawWrite(const std::string& path,
             const std::function<int(MDB_txn*, MDB_dbi)>& fn) {
  return RunInChild([&] {
    std::error_code ec;
    fs::create_directories(path, ec);
    MDB_env* env;
    MDB_txn* txn;
    MDB_dbi db;
    if (mdb_env_create(&env) != 0) return 2;
    if (mdb_env_open(env, path.c_str(), MDB_NOTLS, 0600) != 0) return 3;
    if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) return 4;
    if (mdb_dbi_open(txn, nullptr, 0, &db) != 0) return 5;
    if (int rc = fn(txn, db); rc != 0) return rc;
    if (mdb_txn_commit(txn) != 0) return 7;
    mdb_env_close(env);
    return 0;
  });
}

int RawPut(MDB_txn* txn, MDB_dbi dbi, const std::string& key,
           const std::string& value) {
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  return mdb_put(txn, dbi, &k, &v, 0) == 0 ? 0 : 6;
}

// 8-byte big-endian `ms` followed by `rest`: a stored value.
std::string WithTime(int64_t ms, std::string_view rest) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, ms >>= 8) out[i] = static_cast<char>(ms & 0xff);
  return out.append(rest);
}

// An index key of the current layout.
std::string IndexKeyOf(int64_t bucket, std::string_view id) {
  return std::string(1, '\0') + WithTime(bucket, id);
}

TEST_F(LmdbStoreTest, GcDropsStaleIndexEntriesAndKeepsTheirSessions) {
  LmdbStore* store = Open();
  const int64_t live = kStartMs + 10 * kIndexBucketMs;
  SK_ASSERT_OK(store->Write(Id(1), "live", Duration(live - kStartMs)));
  SK_ASSERT_OK(store->Write(Id(2), "dies", Duration(1000)));
  // Plant entries the store never writes: in the wrong (past) bucket for a
  // live session, for a session that does not exist, for an expired session
  // (whose own entry is in a later bucket), and one too short to be a key
  // (sorted first).
  const int64_t past = BucketOf(kStartMs) - kIndexBucketMs;
  ASSERT_EQ(RawWrite(path_,
                     [&](MDB_txn* txn, MDB_dbi index) {
                       int rc = RawPut(txn, index, IndexKeyOf(past, Id(1)), "");
                       if (rc == 0)
                         rc = RawPut(txn, index, IndexKeyOf(past, Id(9)), "");
                       if (rc == 0)
                         rc = RawPut(txn, index, IndexKeyOf(past, Id(2)), "");
                       if (rc == 0)
                         rc = RawPut(txn, index, std::string(3, '\0'), "");
                       return rc;
                     }),
            0);
  EXPECT_FALSE(store->CheckIndexForTesting().ok());
  Advance(1000);
  auto gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 1u);  // Id(2) only, once
  EXPECT_EQ(store->Read(Id(1))->data, "live");
  EXPECT_TRUE(store->Read(Id(2)).status().IsNotFound());
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, IndexKeysAreNotSessionIds) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "x", Duration(1000)));
  // Index keys begin with a zero byte, which no session id has.
  Status s = store->Write(std::string(1, '\0') + Id(2), "x", Duration(1000));
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("position 1 (byte 0x00)"));
  // The index is not listed, also from a cursor inside it.
  ScanOptions all;
  all.include_expired = true;
  auto listed = store->Scan(all);
  SK_ASSERT_OK(listed);
  ASSERT_EQ(listed->sessions.size(), 1u);
  EXPECT_EQ(listed->sessions[0].id, Id(1));
  all.cursor = std::string(1, '\0');
  auto from_index = store->Scan(all);
  SK_ASSERT_OK(from_index);
  ASSERT_EQ(from_index->sessions.size(), 1u);
  EXPECT_EQ(from_index->sessions[0].id, Id(1));
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::store_test
