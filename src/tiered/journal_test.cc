// The write-behind journal (journal.h): coalescing, claims and their
// expiry, version checks of Done and Retry, backoff, read-your-writes
// across tiers, stats, durability against kill -9, fork, damaged entries
// and a full map. Time is a FakeEnv's (its randomness is seeded too).
#include "tiered/journal.h"

#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stores/lmdb/lmdb_test_fixture.h"
#include "support/fake_env.h"
#include "support/test_server.h"
#include "support/test_status.h"
#include "tiered/journal_layout.h"

namespace sessionkit::tiered {
namespace {

using lmdb_internal::Reap;
using lmdb_internal::RunInChild;
using std::chrono::milliseconds;

// A valid session id (26 characters).
std::string Id(int n) {
  char buf[32];
  snprintf(buf, sizeof buf, "sess%022d", n);
  return buf;
}

JournalEntry Write(uint32_t tier, const std::string& id, uint64_t version,
                   std::string data = "") {
  JournalEntry e;
  e.tier = tier;
  e.id = id;
  e.version = version;
  e.data = data.empty() ? "v" + std::to_string(version) : std::move(data);
  e.expires_at = FromUnixMillis(test::FakeEnv::kStartWallMs + 3'600'000);
  return e;
}

// In a child, with the plain LMDB API (a second environment must not be
// opened in this process): stores `value` under `key` in the journal at
// `dir`, as a damaged file or another release might hold it.
int PutRawInChild(const std::string& dir, const std::string& key,
                  const std::string& value) {
  return RunInChild([&] {
    MDB_env* env;
    MDB_txn* txn;
    MDB_dbi db;
    if (mdb_env_create(&env) != 0) return 2;
    mdb_env_set_maxreaders(env, 1024);
    if (mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0600) != 0) return 3;
    if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) return 4;
    if (mdb_dbi_open(txn, nullptr, 0, &db) != 0) return 5;
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    if (mdb_put(txn, db, &k, &v, 0) != 0) return 6;
    return mdb_txn_commit(txn) == 0 ? 0 : 7;
  });
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> dir = test::MakeTempDir("journal");
    SK_ASSERT_OK(dir);
    dir_ = *dir;
    path_ = dir_ + "/j";
  }
  void TearDown() override {
    journals_.clear();
    test::RemoveTempDirUnlessFailed(dir_);
  }

  JournalOptions Options() {
    JournalOptions o;
    o.path = path_;
    o.map_size = 16ull << 20;
    o.env = &env_;
    return o;
  }
  Journal* Open(JournalOptions options) {
    auto j = Journal::Open(options);
    if (!j.ok()) {
      ADD_FAILURE() << j.status().ToString();
      return nullptr;
    }
    journals_.push_back(std::move(j).value());
    return journals_.back().get();
  }
  Journal* Open() { return Open(Options()); }

  TimePoint Now() { return env_.WallNow(); }
  void Advance(int64_t ms) { env_.Advance(milliseconds(ms)); }

  // The ids Claim returned, in order.
  static std::vector<std::string> Ids(
      const Result<std::vector<JournalEntry>>& r) {
    std::vector<std::string> ids;
    if (r.ok()) {
      for (const JournalEntry& e : *r) ids.push_back(e.id);
    }
    return ids;
  }

  std::string dir_;
  std::string path_;
  test::FakeEnv env_;
  std::vector<std::unique_ptr<Journal>> journals_;
};

const Duration kClaim{10'000};

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
}

TEST_F(JournalTest, TwoJournalsOnOnePathNeverClaimTheSameEntry) {
  Journal* a = Open();
  Journal* b = Open();
  for (int n = 0; n < 10; ++n) SK_ASSERT_OK(a->Put(Write(0, Id(n), 1)));
  const TimePoint now = Now();
  std::vector<std::string> ids = Ids(a->Claim(0, 4, now, kClaim));
  std::vector<std::string> more = Ids(b->Claim(0, 4, now, kClaim));
  ASSERT_EQ(ids.size(), 4u);
  ASSERT_EQ(more.size(), 4u);
  ids.insert(ids.end(), more.begin(), more.end());

  // Another process claims the rest, and nothing more.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const std::string path = path_;
  const int rc = RunInChild([&] {
    close(pipefd[0]);
    JournalOptions o;
    o.path = path;
    auto j = Journal::Open(o);
    if (!j.ok()) return 2;
    auto got = (*j)->Claim(0, 100, now, kClaim);
    if (!got.ok()) return 3;
    for (const JournalEntry& e : *got) {
      const std::string line = e.id + "\n";
      if (write(pipefd[1], line.data(), line.size()) < 0) return 4;
    }
    return 0;
  });
  close(pipefd[1]);
  ASSERT_EQ(rc, 0);
  std::string text;
  char buf[256];
  for (ssize_t r; (r = read(pipefd[0], buf, sizeof buf)) > 0;) {
    text.append(buf, r);
  }
  close(pipefd[0]);
  for (size_t pos = 0, end; (end = text.find('\n', pos)) != std::string::npos;
       pos = end + 1) {
    ids.push_back(text.substr(pos, end - pos));
  }
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> all;
  for (int n = 0; n < 10; ++n) all.push_back(Id(n));
  EXPECT_EQ(ids, all) << "an entry was claimed twice, or not at all";
  EXPECT_TRUE(Ids(a->Claim(0, 100, now, kClaim)).empty());
}

// --- Done and Retry ---------------------------------------------------------

TEST_F(JournalTest, DoneRemovesOnlyTheClaimedVersion) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  auto claimed = j->Claim(0, 10, Now(), kClaim);
  SK_ASSERT_OK(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 2)));  // while it is being applied
  SK_ASSERT_OK(j->Done(0, Id(1), 1));
  auto p = j->Pending(Id(1));
  SK_ASSERT_OK(p);
  ASSERT_TRUE(p->has_value()) << "the newer version was dropped";
  EXPECT_EQ((*p)->version, 2u);
  // The newer Put made it due at once, not after the claim.
  EXPECT_EQ(Ids(j->Claim(0, 10, Now(), kClaim)).size(), 1u);
  SK_ASSERT_OK(j->Done(0, Id(1), 2));
  EXPECT_FALSE(j->Pending(Id(1))->has_value());
  SK_EXPECT_OK(j->Done(0, Id(1), 2)) << "a second Done is no error";
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

// --- Processes --------------------------------------------------------------

// A writer killed with SIGKILL mid-way: every Put it acknowledged (a byte
// written to the pipe after the commit) is in the journal, with sync=false.
TEST_F(JournalTest, AcknowledgedPutsSurviveKillNine) {
  ASSERT_NE(Open(), nullptr);  // creates it; the child opens its own
  journals_.clear();
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipefd[0]);
    JournalOptions o;
    o.path = path_;
    auto j = Journal::Open(o);
    if (!j.ok()) _exit(2);
    for (int n = 0; n < 100000; ++n) {
      if (!(*j)->Put(Write(n % 3, Id(n), n + 1, std::string(200, 'x'))).ok()) {
        _exit(3);
      }
      const char ack = 1;
      if (write(pipefd[1], &ack, 1) != 1) _exit(4);
    }
    _exit(0);
  }
  close(pipefd[1]);
  int acked = 0;
  char buf[64];
  while (acked < 500) {
    const ssize_t r = read(pipefd[0], buf, sizeof buf);
    ASSERT_GT(r, 0) << "the writer stopped early: " << Reap(child);
    acked += static_cast<int>(r);
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_EQ(Reap(child), 128 + SIGKILL);
  for (ssize_t r; (r = read(pipefd[0], buf, sizeof buf)) > 0;) {
    acked += static_cast<int>(r);
  }
  close(pipefd[0]);

  Journal* j = Open();
  ASSERT_NE(j, nullptr);
  for (int n = 0; n < acked; ++n) {
    auto p = j->Pending(Id(n));
    SK_ASSERT_OK(p);
    ASSERT_TRUE(p->has_value())
        << "acknowledged Put " << n << " of " << acked << " lost";
    EXPECT_EQ((*p)->version, static_cast<uint64_t>(n + 1));
  }
  // And the journal still works for writers (the dead one's lock is gone).
  SK_EXPECT_OK(j->Put(Write(0, Id(acked + 1000), 1)));
}

// A journal opened before fork() works in the child on an environment of
// its own, and the parent's keeps working after the child ended.
TEST_F(JournalTest, AJournalInheritedAcrossForkOpensItsOwnEnvironment) {
  Journal* j = Open();
  SK_ASSERT_OK(j->Put(Write(0, Id(1), 1)));
  ASSERT_EQ(j->Pending(Id(1))->value().version, 1u);  // a reader slot used
  const int rc = RunInChild([&] {
    if (!j->Put(Write(0, Id(2), 1)).ok()) return 2;
    auto p = j->Pending(Id(1));
    if (!p.ok() || !p->has_value()) return 3;
    auto claimed = j->Claim(0, 10, Now(), kClaim);
    if (!claimed.ok() || claimed->size() != 2) return 4;
    journals_.clear();  // closing in the child leaves the parent's alone
    return 0;
  });
  EXPECT_EQ(rc, 0);
  auto p = j->Pending(Id(2));
  SK_ASSERT_OK(p);
  EXPECT_TRUE(p->has_value()) << "the child's Put is not seen";
  EXPECT_TRUE(Ids(j->Claim(0, 10, Now(), kClaim)).empty())
      << "the child's claims are not seen";
  SK_EXPECT_OK(j->Put(Write(0, Id(3), 1)));
  EXPECT_EQ(j->Stats(Now())->at(0).pending, 3u);
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
  EXPECT_TRUE(j->Done(0, Id(1), 1).IsCorrupt());
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
  for (const JournalEntry& e : *claimed) SK_ASSERT_OK(j->Done(0, e.id, 1));
  SK_EXPECT_OK(j->Put(Write(0, Id(5000), 1)));
}

// Timings of Put, printed (make no claim): run with
// --gtest_also_run_disabled_tests.
TEST_F(JournalTest, DISABLED_PutTimings) {
  for (bool sync : {false, true}) {
    JournalOptions o = Options();
    o.path = path_ + (sync ? "-sync" : "-nosync");
    o.env = nullptr;
    o.map_size = JournalOptions().map_size;
    o.sync = sync;
    auto opened = Journal::Open(o);
    SK_ASSERT_OK(opened);
    Journal* j = opened->get();
    const int n = sync ? 300 : 5000;
    const std::string data(1000, 'x');
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) SK_ASSERT_OK(j->Put(Write(0, Id(i), 1, data)));
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    printf("Put sync=%s: %d puts of 1000 bytes, %.1f us each\n",
           sync ? "true" : "false", n, static_cast<double>(us) / n);
  }
}

}  // namespace
}  // namespace sessionkit::tiered
