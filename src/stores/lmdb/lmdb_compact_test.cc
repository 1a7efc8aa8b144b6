// CompactLmdb (lmdb_compact.h): the copy shrinks the file and keeps every
// record, and processes that had the store open before the swap neither
// lose a write nor read the old file after it.
//
// LMDB allows one opening per process, and CompactLmdb is one: the stores
// run in forked children, the test process compacts, and opens the store
// itself only once the compaction is over.
#include "stores/lmdb/lmdb_compact.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "stores/lmdb/lmdb_check.h"
#include "stores/lmdb/lmdb_test_fixture.h"

namespace sessionkit::lmdb_internal::compact_test {
namespace {

using std::chrono::milliseconds;

constexpr Duration kHour = std::chrono::hours(1);

std::string Id(const char* prefix, int n) { return prefix + std::to_string(n); }

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Runs `fn` in a forked child and returns its exit code.
template <typename Fn>
int InChild(Fn fn) {
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) _exit(fn());
  return Reap(pid);
}

// Shared with the children: what the writer was told was saved, and what
// the reader is asked to read.
struct Shared {
  std::atomic<int> written{0};  // ids w0 .. w(written-1) were acknowledged
  std::atomic<bool> stop{false};
  std::atomic<int> read_request{-1};  // the reader reads w<read_request>
  std::atomic<int> read_result{0};    // 1 found, 2 not found, 3 error
  char error[256] = {};
};

class LmdbCompactTest : public LmdbFixture {
 protected:
  // In a child: writes `n` sessions of `bytes`, then destroys all but
  // every `keep_every`-th one.
  void SeedThenDelete(int n, size_t bytes, int keep_every) {
    const LmdbOptions options = Options();
    ASSERT_EQ(InChild([&] {
                LmdbStore store(options);
                const std::string value(bytes, 'v');
                for (int i = 0; i < n; ++i) {
                  if (!store.Write(Id("s", i), value, kHour).ok()) return 1;
                }
                for (int i = 0; i < n; ++i) {
                  if (i % keep_every == 0) continue;
                  if (!store.Destroy(Id("s", i)).ok()) return 2;
                }
                return 0;
              }),
              0);
  }

  // Reads every kept seed session (in this process).
  void ExpectSeedsKept(LmdbStore* store, int n, size_t bytes, int keep_every) {
    for (int i = 0; i < n; ++i) {
      auto r = store->Read(Id("s", i));
      if (i % keep_every == 0) {
        ASSERT_TRUE(r.ok()) << Id("s", i) << ": " << r.status().ToString();
        EXPECT_EQ(r->data.size(), bytes);
      } else {
        EXPECT_TRUE(r.status().IsNotFound()) << Id("s", i);
      }
    }
  }
};

TEST_F(LmdbCompactTest, ShrinksAndKeepsEveryRecord) {
  SeedThenDelete(3000, 2000, 20);
  const uint64_t before = FileSize(path_ + "/data.mdb");
  auto stats = CompactLmdb(Options());
  SK_ASSERT_OK(stats.status());
  EXPECT_EQ(stats->bytes_before, before);
  EXPECT_EQ(stats->bytes_after, FileSize(path_ + "/data.mdb"));
  // 150 sessions of 2 KB left of 3000: well under a quarter.
  EXPECT_LT(stats->bytes_after * 4, before)
      << before << " -> " << stats->bytes_after;
  // Each session has its record and its expiry index entry.
  EXPECT_EQ(stats->entries, 300u);
  EXPECT_FALSE(std::filesystem::exists(path_ + "/data.mdb.compact-" +
                                       std::to_string(getpid())));

  LmdbStore* store = OpenReal();
  ExpectSeedsKept(store, 3000, 2000, 20);
  SK_EXPECT_OK(store->CheckIndexForTesting());
  // The compact file takes new writes.
  SK_ASSERT_OK(store->Write("after", "x", kHour));
  SK_EXPECT_OK(store->Read("after").status());
  const LmdbCheckResult check = CheckLmdb(path_);
  EXPECT_TRUE(check.ok()) << check.Summary();
}

TEST_F(LmdbCompactTest, NothingToCompactWithoutDataFile) {
  std::filesystem::create_directories(path_);
  auto stats = CompactLmdb(Options());
  EXPECT_TRUE(stats.status().IsNotFound()) << stats.status().ToString();
  EXPECT_NE(stats.status().message().find("nothing to compact"),
            std::string::npos);
}

// The test of `sessionkit compact` under load: a writer process keeps
// writing new sessions (distinct ids, counted when acknowledged) while the
// store is compacted; a reader process that opened the store before the
// swap then reads a session written after it. Without the reopening on a
// new data generation, the writer's commits after the swap land in the
// replaced file and are lost, and the reader does not find the session.
TEST_F(LmdbCompactTest, WriterLosesNothingWhileCompacting) {
  constexpr int kSeeds = 4000;
  constexpr size_t kBytes = 1500;
  SeedThenDelete(kSeeds, kBytes, 40);
  const uint64_t before = FileSize(path_ + "/data.mdb");

  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  Shared* shared = new (mem) Shared;
  const LmdbOptions options = Options();
  fflush(nullptr);
  const pid_t writer = fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    LmdbStore store(options);
    const std::string value(kBytes, 'w');
    for (int n = 0; !shared->stop.load(); ++n) {
      Status s = store.Write(Id("w", n), value, kHour);
      if (s.ok() && n % 10 == 0) s = store.Read(Id("w", n)).status();
      if (!s.ok()) {
        snprintf(shared->error, sizeof shared->error, "w%d: %s", n,
                 s.ToString().c_str());
        _exit(1);
      }
      shared->written.store(n + 1);
      // A steady stream, not a flood: the file must still shrink.
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    _exit(0);
  }
  const pid_t reader = fork();
  ASSERT_GE(reader, 0);
  if (reader == 0) {
    LmdbStore store(options);
    if (!store.Read(Id("s", 0)).ok()) _exit(1);  // opened before the swap
    int id;
    while ((id = shared->read_request.load()) < 0) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    auto r = store.Read(Id("w", id));
    shared->read_result.store(r.ok() ? 1 : r.status().IsNotFound() ? 2 : 3);
    _exit(0);
  }

  const auto wait_for_writes = [&](int n) {
    const auto deadline =
        std::chrono::steady_clock::now() + milliseconds(20000);
    while (shared->written.load() < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    return shared->written.load() >= n;
  };
  EXPECT_TRUE(wait_for_writes(200)) << shared->error;
  const int before_compaction = shared->written.load();
  auto stats = CompactLmdb(options);
  const int after_compaction = shared->written.load();
  // The writer goes on past the swap: in the new file.
  EXPECT_TRUE(wait_for_writes(after_compaction + 200)) << shared->error;
  const int written_after_swap = shared->written.load() - 1;
  shared->read_request.store(written_after_swap);
  EXPECT_EQ(Reap(reader), 0);
  shared->stop.store(true);
  EXPECT_EQ(Reap(writer), 0) << shared->error;
  const int written = shared->written.load();
  SK_ASSERT_OK(stats.status());
  EXPECT_EQ(shared->read_result.load(), 1)
      << "a process opened before the swap did not read w" << written_after_swap
      << " (2: not found, 3: error)";

  // Every acknowledged write is there, and the seeds that were kept.
  LmdbStore* store = OpenReal();
  int missing = 0;
  for (int n = 0; n < written; ++n) {
    if (!store->Read(Id("w", n)).ok()) ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << written << " acknowledged writes ("
                        << before_compaction << " before the compaction, "
                        << after_compaction << " when it ended)";
  ExpectSeedsKept(store, kSeeds, kBytes, 40);
  SK_EXPECT_OK(store->CheckIndexForTesting());
  // Smaller although the writer added sessions meanwhile.
  EXPECT_LT(stats->bytes_after, before / 2)
      << before << " -> " << stats->bytes_after << " with " << written
      << " sessions written meanwhile";
  std::cout << "data.mdb " << before << " -> " << stats->bytes_after
            << " bytes; " << written << " sessions written ("
            << before_compaction << " before, " << after_compaction
            << " when the compaction ended); writers paused "
            << stats->writers_paused.count() << " ms\n";
  munmap(mem, sizeof(Shared));
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::compact_test
