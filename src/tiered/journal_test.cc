// The write-behind journal (journal.h) within one process: coalescing,
// claims and their expiry, version checks of Done and Retry, backoff,
// read-your-writes across tiers, stats, damaged entries and a full map.
#include "tiered/journal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "support/file_sizes.h"
#include "support/test_status.h"
#include "tiered/journal_layout.h"
#include "tiered/journal_test_fixture.h"

namespace sessionkit::tiered {
namespace {

// --- Opening -----------------------------------------------------------

TEST_F(JournalTest, OpenCreatesAPrivateDirectoryAndRefusesAFile) {
  ASSERT_NE(Open(), nullptr);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  JournalOptions file = Options();
  file.path = path_ + "/data.mdb";
  auto r = Journal::Open(file);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();

  JournalOptions tiny = Options();
  tiny.map_size = 4096;
  EXPECT_TRUE(Journal::Open(tiny).status().IsInvalidArgument());
}

// The bytes of `path` allocated on disk.
uint64_t Allocated(const std::string& path) {
  const std::optional<test::FileSizes> sizes = test::SizesOf(path);
  return sizes ? sizes->allocated : 0;
}

// Commits write into the shared map, so what a write may touch is
// allocated on disk before it (a store into a hole of a full disk would be
// a SIGBUS), in steps as the journal grows, not all of the map at once;
// writemap=false leaves a file that grows as it fills. The reader table
// (lock.mdb), which every process writes through a shared map either way,
// is allocated whole.
TEST_F(JournalTest, AMapWrittenToIsAllocatedOnDiskInStepsAsItGrows) {
  JournalOptions mapped = Options();
  mapped.map_size = 256ull << 20;
  Journal* j = Open(mapped);
  ASSERT_NE(j, nullptr);
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  const uint64_t small = Allocated(path_ + "/data.mdb");
  EXPECT_GT(small, 0u);
  EXPECT_LE(small, 8ull << 20);
  const std::string data(256 << 10, 'd');
  for (int i = 0; i < 40; ++i) SK_ASSERT_OK(j->Put(Write(0, Id(i), 2, data)));
  const uint64_t grown = Allocated(path_ + "/data.mdb");
  EXPECT_GE(grown, 10ull << 20);
  EXPECT_LE(grown, 48ull << 20);

  JournalOptions written = Options();
  written.path = path_ + "-written";
  written.writemap = false;
  j = Open(written);
  ASSERT_NE(j, nullptr);
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  EXPECT_EQ(j->Pending(Id(1))->value().version, 1u);
  const std::optional<test::FileSizes> sizes =
      test::SizesOf(written.path + "/data.mdb");
  ASSERT_TRUE(sizes.has_value());
  EXPECT_LT(sizes->size, written.map_size / 4);

  for (const std::string& dir : {path_, written.path}) {
    const std::optional<test::FileSizes> lock =
        test::SizesOf(dir + "/lock.mdb");
    ASSERT_TRUE(lock.has_value()) << dir;
    EXPECT_GE(lock->size, 1024u * 64) << dir;  // a slot for each reader
    EXPECT_GE(lock->allocated, lock->size) << dir;
  }
}

// On a disk with no room left, a Put fails with an error naming it, every
// Put acknowledged before is still there, and no write touched the map
// past what was allocated (the page would have been allocated then, and
// on a really full disk it would have been a SIGBUS).
TEST_F(JournalTest, APutTheDiskHasNoRoomForFailsAndLosesNothing) {
  JournalOptions options = Options();
  options.map_size = 256ull << 20;
  // Room for a few Puts, and then for part of one.
  options.disk_room_for_testing = 52ull << 20;
  Journal* j = Open(options);
  ASSERT_NE(j, nullptr);
  // Larger than the room a write takes besides its data.
  const std::string data(8 << 20, 'd');
  int acknowledged = 0;
  Status refused;
  for (int i = 0; i < 20 && refused.ok(); ++i) {
    refused = j->Put(Write(0, Id(i), 1, data));
    if (refused.ok()) ++acknowledged;
  }
  ASSERT_FALSE(refused.ok()) << "20 Puts of 8MiB fitted in 52MiB";
  EXPECT_TRUE(refused.IsResourceExhausted()) << refused.ToString();
  EXPECT_NE(refused.message().find("disk has no room"), std::string::npos)
      << refused.ToString();
  EXPECT_GE(acknowledged, 4);
  // Give or take the filesystem's own blocks for the file's extents; a
  // write that went past would have taken much of its data's 8MiB.
  EXPECT_LE(Allocated(path_ + "/data.mdb"),
            options.disk_room_for_testing + (64 << 10));
  for (int i = 0; i < acknowledged; ++i) {
    auto pending = j->Pending(Id(i));
    SK_ASSERT_OK(pending);
    ASSERT_TRUE(pending->has_value()) << i;
    EXPECT_EQ(pending->value().data, data);
  }
}

TEST_F(JournalTest, AJournalOfALaterFormatIsRefused) {
  ASSERT_NE(Open(), nullptr);
  journals_.clear();
  ASSERT_EQ(PutRawInChild(path_, std::string(kFormatKey), EncodeFormat(2)), 0);
  auto r = Journal::Open(Options());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotSupported()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(path_), std::string::npos);
}

// --- Put: coalescing ------------------------------------------------------

TEST_F(JournalTest, PutsOfRisingVersionsCoalesceIntoTheNewest) {
  Journal* j = Open();
  const TimePoint first = Now();
  for (uint64_t v = 1; v <= 3; ++v) {
    SK_ASSERT_OK(j->Put(Write(0, Id(1), v)));
    Advance(1000);
  }
  auto stats = j->Stats(Now());
  SK_ASSERT_OK(stats);
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].pending, 1u);

  auto claimed = j->Claim(0, 10, Now(), kClaim);
  SK_ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].version, 3u);
  EXPECT_EQ((*claimed)[0].data, "v3");
  EXPECT_EQ((*claimed)[0].first_pending, first) << "first-pending time lost";
}

TEST_F(JournalTest, AnOlderPutAfterANewerOneChangesNothing) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 5)));
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 4, "older")));
  auto p = j->Pending(Id(1));
  SK_ASSERT_OK(p);
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->version, 5u);
  EXPECT_EQ((*p)->data, "v5");
  // The same version again replaces (a rewrite of equal content).
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 5, "again")));
  EXPECT_EQ(j->Pending(Id(1))->value().data, "again");
  // Version 0 (no version to order by) replaces whatever is pending.
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 0, "unversioned")));
  EXPECT_EQ(j->Pending(Id(1))->value().data, "unversioned");
}

TEST_F(JournalTest, APutOnlyIfPendingReplacesOnlyWhatIsPending) {
  Journal* j = Open();
  JournalEntry destroy;
  destroy.tier = 0;
  destroy.id = Id(1);
  destroy.op = JournalOp::kDestroy;
  destroy.version = 9;
  SK_ASSERT_OK(j->Put(destroy, /*only_if_pending=*/true));
  EXPECT_FALSE(j->Pending(Id(1))->has_value()) << "nothing was pending";
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 5)));
  SK_ASSERT_OK(j->Put(destroy, /*only_if_pending=*/true));
  auto p = j->Pending(Id(1));
  SK_ASSERT_OK(p);
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->op, JournalOp::kDestroy);
  EXPECT_EQ((*p)->version, 9u);
}

TEST_F(JournalTest, PutRefusesBadIdsAndADestroyWithData) {
  Journal* j = Open();
  EXPECT_TRUE(j->Put(Write(0, "bad id!", 1)).IsInvalidArgument());
  JournalEntry destroy = Write(0, Id(1), 1);
  destroy.op = JournalOp::kDestroy;
  EXPECT_TRUE(j->Put(destroy).IsInvalidArgument());
  destroy.data.clear();
  SK_EXPECT_OK(j->Put(destroy));
  EXPECT_EQ(j->Pending(Id(1))->value().op, JournalOp::kDestroy);
}

// --- Claim ------------------------------------------------------------------

TEST_F(JournalTest, ClaimTakesTheOldestFirstUpToMaxAndOnlyOnce) {
  Journal* j = Open();
  for (int n : {3, 1, 2}) {  // pending in this order
    SK_ASSERT_OK(j->Put(Write(0, Id(n), 1)));
    Advance(10);
  }
  SK_ASSERT_OK(j->Put(Write(1, Id(9), 1)));  // another tier
  SK_ASSERT_OK(j->Put(Write(0, Id(3), 2)));  // keeps its place

  const TimePoint now = Now();
  auto first = j->Claim(0, 2, now, kClaim);
  SK_ASSERT_OK(first);
  EXPECT_EQ(Ids(first), (std::vector<std::string>{Id(3), Id(1)}));
  EXPECT_EQ(Ids(j->Claim(0, 10, now, kClaim)), std::vector<std::string>{Id(2)});
  EXPECT_TRUE(Ids(j->Claim(0, 10, now, kClaim)).empty()) << "claimed twice";
  EXPECT_TRUE(Ids(j->Claim(0, 0, now, kClaim)).empty());
  EXPECT_TRUE(j->Claim(0, 1, now, Duration(0)).status().IsInvalidArgument());

  // A drainer that died: the claims run out, and the entries come back in
  // the order they became due again.
  EXPECT_TRUE(Ids(j->Claim(0, 10, now + kClaim - Duration(1), kClaim)).empty());
  EXPECT_EQ(Ids(j->Claim(0, 10, now + kClaim, kClaim)),
            (std::vector<std::string>{Id(3), Id(1), Id(2)}));
}

TEST_F(JournalTest, EntriesPutInTheFutureOfNowAreNotDue) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  EXPECT_TRUE(Ids(j->Claim(0, 10, Now() - Duration(1), kClaim)).empty());
  EXPECT_EQ(Ids(j->Claim(0, 10, Now(), kClaim)).size(), 1u);
  EXPECT_TRUE(j->Claim(0, 1, Now(), kMaxClaim + Duration(1))
                  .status()
                  .IsInvalidArgument());
}

// The wall clock stepped back by more than the longest claim: entries due
// that far ahead are due now (after those due by the clock), so the
// backlog is not held back for the length of the step.
TEST_F(JournalTest, ClaimAfterTheWallClockSteppedBackTakesTheBacklog) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  SK_ASSERT_OK(j->Put(Write(0, Id(2), 1)));
  SK_ASSERT_OK(j->Retry(0, Id(2), 1, Now()));  // due within 100ms
  const TimePoint before = Now();
  env_.SetWallNow(before - std::chrono::hours(1));
  SK_ASSERT_OK(j->Put(Write(0, Id(3), 1)));  // first pending an hour earlier
  // Id(2)'s retry is more than kMaxClaim ahead too: due as well.
  EXPECT_EQ(Ids(j->Claim(0, 10, Now(), kClaim)),
            (std::vector<std::string>{Id(3), Id(1), Id(2)}));
  // A claim made at the stepped clock holds as usual.
  EXPECT_TRUE(Ids(j->Claim(0, 10, Now(), kClaim)).empty());
  // Within kMaxClaim of now, a due time is believed.
  SK_ASSERT_OK(j->Put(Write(1, Id(4), 1)));
  EXPECT_TRUE(
      Ids(j->Claim(1, 10, Now() - kMaxClaim + Duration(1), kClaim)).empty());
  EXPECT_EQ(Ids(j->Claim(1, 10, Now() - kMaxClaim - Duration(1), kClaim)),
            std::vector<std::string>{Id(4)});
}

// --- Done and Retry ---------------------------------------------------------

TEST_F(JournalTest, DoneRemovesOnlyTheClaimedVersion) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  auto claimed = j->Claim(0, 10, Now(), kClaim);
  SK_ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  const TimePoint until = claimed->front().not_before;
  EXPECT_EQ(until, Now() + kClaim) << "Claim returns the claim's end";
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 2)));  // while it is being applied
  SK_ASSERT_OK(j->Done(0, Id(1), 1, until));
  auto p = j->Pending(Id(1));
  SK_ASSERT_OK(p);
  ASSERT_TRUE(p->has_value()) << "the newer version was dropped";
  EXPECT_EQ((*p)->version, 2u);
  // The newer Put made it due at once, not after the claim.
  auto again = j->Claim(0, 10, Now(), kClaim);
  SK_ASSERT_OK(again);
  ASSERT_EQ(again->size(), 1u);
  SK_ASSERT_OK(j->Done(0, Id(1), 2, again->front().not_before));
  EXPECT_FALSE(j->Pending(Id(1))->has_value());
  SK_EXPECT_OK(j->Done(0, Id(1), 2, again->front().not_before))
      << "a second Done is no error";
}

// A Put of the same version while the claimed one is applied (a touch: the
// same data, a later expiry) is not lost to the Done of the claimed one.
TEST_F(JournalTest, DoneKeepsAPutOfTheSameVersionSinceTheClaim) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 7)));
  auto claimed = j->Claim(0, 10, Now(), kClaim);
  SK_ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  JournalEntry touched = Write(0, Id(1), 7);
  touched.expires_at = Now() + std::chrono::hours(2);
  SK_ASSERT_OK(j->Put(touched));
  SK_ASSERT_OK(j->Done(0, Id(1), 7, claimed->front().not_before));
  auto p = j->Pending(Id(1));
  SK_ASSERT_OK(p);
  ASSERT_TRUE(p->has_value()) << "the touch was dropped";
  EXPECT_EQ((*p)->expires_at, touched.expires_at);
}

TEST_F(JournalTest, RetryBacksOffOnlyTheClaimedVersion) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  ASSERT_EQ(Ids(j->Claim(0, 10, Now(), kClaim)).size(), 1u);
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 2)));
  SK_ASSERT_OK(j->Retry(0, Id(1), 1, Now()));
  EXPECT_EQ(j->Pending(Id(1))->value().attempts, 0u) << "stale Retry counted";

  const TimePoint now = Now();
  SK_ASSERT_OK(j->Retry(0, Id(1), 2, now));
  JournalEntry e = j->Pending(Id(1))->value();
  EXPECT_EQ(e.attempts, 1u);
  EXPECT_GE(e.not_before, now + kRetryBase / 2);
  EXPECT_LE(e.not_before, now + kRetryBase);
  EXPECT_TRUE(Ids(j->Claim(0, 10, e.not_before - Duration(1), kClaim)).empty());
  EXPECT_EQ(Ids(j->Claim(0, 10, e.not_before, kClaim)).size(), 1u);
  EXPECT_EQ(j->Stats(now)->at(0).in_backoff, 1u);

  // A new Put resets the attempts and makes it due at once.
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 3)));
  e = j->Pending(Id(1))->value();
  EXPECT_EQ(e.attempts, 0u);
  EXPECT_EQ(e.not_before, TimePoint());
}

TEST_F(JournalTest, BackoffDoublesWithinItsJitterUpToTheCap) {
  int64_t previous = 0;
  for (uint32_t attempts = 1; attempts <= 40; ++attempts) {
    const int64_t d = std::min<int64_t>(
        kRetryBase.count() << std::min<uint32_t>(attempts - 1, 20),
        kRetryCap.count());
    EXPECT_EQ(RetryDelay(attempts, 0).count(), d) << attempts;
    EXPECT_EQ(RetryDelay(attempts, ~uint64_t{0} - 7).count() >= d - d / 2,
              true);
    for (uint64_t r : {1ull, 77ull, 123456789ull, ~0ull}) {
      const int64_t got = RetryDelay(attempts, r).count();
      EXPECT_GE(got, d - d / 2) << attempts;
      EXPECT_LE(got, d) << attempts;
    }
    EXPECT_GE(d, previous);
    previous = d;
  }
  EXPECT_EQ(RetryDelay(10, 0), kRetryCap);  // 100ms * 2^9 > 30s
  EXPECT_EQ(RetryDelay(9, 0).count(), 25'600);

  // Through the journal: each failure waits longer, never past the cap.
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  Duration last{0};
  for (uint32_t n = 1; n <= 15; ++n) {
    const TimePoint now = Now();
    SK_ASSERT_OK(j->Retry(0, Id(1), 1, now));
    JournalEntry e = j->Pending(Id(1))->value();
    EXPECT_EQ(e.attempts, n);
    const auto wait = std::chrono::duration_cast<Duration>(e.not_before - now);
    EXPECT_LE(wait, kRetryCap);
    EXPECT_GE(wait, std::min(last, kRetryCap / 2)) << n;
    last = wait;
    Advance(1);
  }
  EXPECT_GE(last, kRetryCap / 2);
}

// --- Pending and Stats ------------------------------------------------------

TEST_F(JournalTest, PendingIsTheHighestVersionAmongTiers) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 5)));
  SK_ASSERT_OK(j->Put(Write(1, Id(1), 7)));
  SK_ASSERT_OK(j->Put(Write(3, Id(1), 6)));
  SK_ASSERT_OK(j->Put(Write(2, Id(2), 9)));
  SK_ASSERT_OK(j->Put(Write(0xffffffffu, Id(3), 1)));
  auto p = j->Pending(Id(1));
  SK_ASSERT_OK(p);
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->version, 7u);
  EXPECT_EQ((*p)->tier, 1u);
  EXPECT_EQ((*p)->data, "v7");
  EXPECT_EQ(j->Pending(Id(3))->value().tier, 0xffffffffu);
  EXPECT_FALSE(j->Pending(Id(4))->has_value());
}

TEST_F(JournalTest, StatsCountPendingAgeAndBackoffPerTier) {
  Journal* j = Open();
  EXPECT_TRUE(j->Stats(Now())->empty());
  const TimePoint t0 = Now();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  Advance(5000);
  SK_ASSERT_OK(j->Put(Write(0, Id(2), 1)));
  SK_ASSERT_OK(j->Put(Write(2, Id(1), 1)));
  SK_ASSERT_OK(j->Retry(0, Id(2), 1, Now()));
  auto stats = j->Stats(Now());
  SK_ASSERT_OK(stats);
  ASSERT_EQ(stats->size(), 2u);
  EXPECT_EQ((*stats)[0].tier, 0u);
  EXPECT_EQ((*stats)[0].pending, 2u);
  EXPECT_EQ((*stats)[0].oldest_pending, t0);
  EXPECT_EQ((*stats)[0].in_backoff, 1u);
  EXPECT_EQ((*stats)[1].tier, 2u);
  EXPECT_EQ((*stats)[1].pending, 1u);
  EXPECT_EQ((*stats)[1].oldest_pending, t0 + Duration(5000));
  EXPECT_EQ((*stats)[1].in_backoff, 0u);
  // Once its retry time passed it is no longer backing off.
  EXPECT_EQ(j->Stats(Now() + kRetryCap)->at(0).in_backoff, 0u);
}

// --- Damage and limits ------------------------------------------------------

TEST_F(JournalTest, ADamagedEntryIsReportedNamingThePathNeverACrash) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(2), 1)));
  Advance(10);
  SK_ASSERT_OK(j->Put(Write(0, Id(3), 1)));
  // Id(1): damaged, and due before the others.
  ASSERT_EQ(PutRawInChild(path_, EntryKey(0, Id(1)), "\x07garbage"), 0);
  ASSERT_EQ(PutRawInChild(path_, DueKey(0, 1, 1, Id(1)), ""), 0);

  auto p = j->Pending(Id(1));
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.status().IsCorrupt());
  EXPECT_NE(p.status().message().find(j->path()), std::string::npos)
      << p.status().ToString();
  EXPECT_TRUE(j->Done(0, Id(1), 1, Now()).IsCorrupt());
  EXPECT_TRUE(j->Retry(0, Id(1), 1, Now()).IsCorrupt());
  EXPECT_EQ(j->Stats(Now())->at(0).corrupt, 1u);

  auto claimed = j->Claim(0, 10, Now(), kClaim);
  ASSERT_FALSE(claimed.ok());
  EXPECT_TRUE(claimed.status().IsCorrupt());
  EXPECT_NE(claimed.status().message().find(j->path()), std::string::npos);
  // Removed: the next Claim goes on.
  EXPECT_EQ(Ids(j->Claim(0, 10, Now(), kClaim)),
            (std::vector<std::string>{Id(2), Id(3)}));
  EXPECT_EQ(j->Stats(Now())->at(0).corrupt, 0u);

  // A Put over a damaged entry replaces it.
  ASSERT_EQ(PutRawInChild(path_, EntryKey(0, Id(4)), "x"), 0);
  SK_ASSERT_OK(j->Put(Write(0, Id(4), 1)));
  EXPECT_EQ(j->Pending(Id(4))->value().version, 1u);
}

// A damaged entry of one tier hides nothing another tier's entry of the
// session tells: read-your-writes still sees it.
TEST_F(JournalTest, ADamagedEntryLeavesTheSessionsOtherEntriesPending) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(1, Id(1), 5)));
  ASSERT_EQ(PutRawInChild(path_, EntryKey(0, Id(1)), "\x07garbage"), 0);
  auto p = j->Pending(Id(1));
  SK_ASSERT_OK(p);
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->version, 5u);
  EXPECT_EQ((*p)->tier, 1u);
}

// Good entries due before a damaged one are not claimed with it: the next
// claim (at once) gets them, not one a whole claim later.
TEST_F(JournalTest, EntriesDueBeforeADamagedOneAreClaimedNext) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  SK_ASSERT_OK(j->Put(Write(0, Id(2), 1)));
  Advance(10);
  const int64_t now_ms = ToUnixMillis(Now());
  ASSERT_EQ(PutRawInChild(path_, EntryKey(0, Id(3)), "\x07garbage"), 0);
  ASSERT_EQ(PutRawInChild(path_, DueKey(0, now_ms, now_ms, Id(3)), ""), 0);

  auto claimed = j->Claim(0, 10, Now(), kClaim);
  ASSERT_FALSE(claimed.ok());
  EXPECT_TRUE(claimed.status().IsCorrupt());
  EXPECT_EQ(Ids(j->Claim(0, 10, Now(), kClaim)),
            (std::vector<std::string>{Id(1), Id(2)}));
}

TEST_F(JournalTest, AFullJournalSaysWhichPathAndMapSize) {
  JournalOptions o = Options();
  o.map_size = 1ull << 20;
  Journal* j = Open(o);
  Status s;
  for (int n = 0; n < 1000 && s.ok(); ++n) {
    s = j->Put(Write(0, Id(n), 1, std::string(16 << 10, 'x')));
  }
  ASSERT_TRUE(s.IsResourceExhausted()) << s.ToString();
  EXPECT_NE(s.message().find(j->path()), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("map_size=1MiB"), std::string::npos)
      << s.ToString();
  // Draining makes room again.
  auto claimed = j->Claim(0, 1000, Now(), kClaim);
  SK_ASSERT_OK(claimed);
  for (const JournalEntry& e : *claimed) {
    SK_ASSERT_OK(j->Done(0, e.id, 1, e.not_before));
  }
  SK_EXPECT_OK(j->Put(Write(0, Id(5000), 1)));
}

// Timings of Put, printed (make no claim): run with
// --gtest_also_run_disabled_tests.
TEST_F(JournalTest, DISABLED_PutTimings) {
  for (bool sync : {false, true}) {
    for (bool writemap : {true, false}) {
      if (sync && writemap) continue;  // with sync, through write calls
      JournalOptions o = Options();
      o.path = path_ + (sync ? "-sync" : "-nosync") + (writemap ? "-map" : "");
      o.env = nullptr;
      o.map_size = JournalOptions().map_size;
      o.sync = sync;
      o.writemap = writemap;
      auto opened = Journal::Open(o);
      SK_ASSERT_OK(opened);
      Journal* j = opened->get();
      const int n = sync ? 300 : 5000;
      const std::string data(1000, 'x');
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) {
        SK_ASSERT_OK(j->Put(Write(0, Id(i), 1, data)));
      }
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
      printf("Put sync=%s writemap=%s: %d puts of 1000 bytes, %.1f us each\n",
             sync ? "true" : "false", writemap ? "true" : "false", n,
             static_cast<double>(us) / n);
    }
  }
}

}  // namespace
}  // namespace sessionkit::tiered
