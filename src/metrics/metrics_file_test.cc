// The metrics file: what writers add reads back summed, per process slots,
// slots of dead processes reused without losing counts, and files that are
// not metrics files refused by writers and readers alike.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "metrics/metrics_layout.h"
#include "metrics/metrics_read.h"
#include "sessionkit/metrics.h"
#include "support/file_sizes.h"

namespace sessionkit::metrics_internal {
namespace {

using std::chrono::milliseconds;

class MetricsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("SK_TEST_TMPDIR");
    dir_ = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
           ("metrics_test." + std::to_string(getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "metrics").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  MetricsSnapshot Read() {
    auto s = ReadMetricsFile(path_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : MetricsSnapshot{};
  }

  // Runs `body` in a child process and waits for it to exit 0.
  template <typename Body>
  void InChild(Body body) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      body();
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }

  void WriteFile(const std::string& bytes) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  }

  std::filesystem::path dir_;
  std::string path_;
};

constexpr int kRedis = 1;  // kStoreLabels
constexpr int kRead = static_cast<int>(MetricOp::kRead);
constexpr int kOk = static_cast<int>(MetricOutcome::kOk);
constexpr int kMiss = static_cast<int>(MetricOutcome::kMiss);

TEST_F(MetricsFileTest, WhatASinkCountsReadsBack) {
  auto sink = OpenMetricsFile(path_, "redis");
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  (*sink)->Operation(MetricOp::kRead, MetricOutcome::kOk, milliseconds(3));
  (*sink)->Operation(MetricOp::kRead, MetricOutcome::kMiss, milliseconds(20));
  (*sink)->LockWait(std::chrono::microseconds(50));
  (*sink)->Add(MetricCounter::kBytesRead, 1234);
  const MetricsSnapshot s = Read();
  const StoreCells& redis = s.stores[kRedis];
  EXPECT_EQ(redis.operations[kRead][kOk], 1u);
  EXPECT_EQ(redis.operations[kRead][kMiss], 1u);
  // 3 ms is in the bucket of le=5ms (index 8), 20 ms in le=25ms (10).
  EXPECT_EQ(redis.latency[kRead].buckets[8], 1u);
  EXPECT_EQ(redis.latency[kRead].buckets[10], 1u);
  EXPECT_EQ(redis.latency[kRead].sum_ns, 23'000'000u);
  EXPECT_EQ(redis.lock_wait.buckets[2], 1u);  // le=50us: bounds include
  EXPECT_EQ(redis.counters[static_cast<int>(MetricCounter::kBytesRead)], 1234u);
  EXPECT_EQ(s.stores[0].operations[kRead][kOk], 0u);  // lmdb: nothing
  EXPECT_EQ(s.slots_claimed, 1u);
  EXPECT_EQ(s.slots_live, 1u);
}

// The counters are stores into a shared map: the file is allocated on disk
// when made, not left a hole (on a full disk or tmpfs, a store into a hole
// is a SIGBUS in the worker, not an error).
TEST_F(MetricsFileTest, TheFileIsAllocatedOnDiskWhenMade) {
  auto sink = OpenMetricsFile(path_, "redis");
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  const std::optional<test::FileSizes> sizes = test::SizesOf(path_);
  ASSERT_TRUE(sizes.has_value());
  EXPECT_EQ(sizes->size, kFileBytes);
  EXPECT_GE(sizes->allocated, kFileBytes);
}

TEST_F(MetricsFileTest, StoresOfOneProcessShareTheMappingAndTheSlot) {
  auto a = OpenMetricsFile(path_, "lmdb");
  auto b = OpenMetricsFile(path_, "no-such-store");
  ASSERT_TRUE(a.ok() && b.ok());
  (*a)->Add(MetricCounter::kSessionsCreated, 2);
  (*b)->Add(MetricCounter::kSessionsCreated, 5);
  const MetricsSnapshot s = Read();
  const int created = static_cast<int>(MetricCounter::kSessionsCreated);
  EXPECT_EQ(s.stores[0].counters[created], 2u);
  EXPECT_EQ(s.stores[kStores - 1].counters[created], 5u);  // "other"
  EXPECT_EQ(s.slots_claimed, 1u);
}

TEST_F(MetricsFileTest, ProcessesAddUpAndADeadOnesSlotIsReusedWithItsCounts) {
  auto sink = OpenMetricsFile(path_, "lmdb");
  ASSERT_TRUE(sink.ok());
  (*sink)->Add(MetricCounter::kSessionsDestroyed, 1);
  const int destroyed = static_cast<int>(MetricCounter::kSessionsDestroyed);
  // A forked child counts into a slot of its own, as a new process does.
  InChild([&] { (*sink)->Add(MetricCounter::kSessionsDestroyed, 10); });
  MetricsSnapshot s = Read();
  EXPECT_EQ(s.stores[0].counters[destroyed], 11u);
  EXPECT_EQ(s.slots_claimed, 2u);
  EXPECT_EQ(s.slots_live, 1u);  // the child is gone
  InChild([&] {
    auto own = OpenMetricsFile(path_, "lmdb");
    if (!own.ok()) _exit(1);
    (*own)->Add(MetricCounter::kSessionsDestroyed, 100);
  });
  s = Read();
  // The second child took the first one's slot, its 10 kept.
  EXPECT_EQ(s.stores[0].counters[destroyed], 111u);
  EXPECT_EQ(s.slots_claimed, 2u);
}

TEST_F(MetricsFileTest, ConcurrentProcessesLoseNoCount) {
  constexpr int kChildren = 4, kEach = 20000;
  pid_t pids[kChildren];
  for (pid_t& pid : pids) {
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto sink = OpenMetricsFile(path_, "redis");
      if (!sink.ok()) _exit(1);
      for (int i = 0; i < kEach; ++i) {
        (*sink)->Operation(MetricOp::kWrite, MetricOutcome::kOk,
                           std::chrono::microseconds(i % 500));
      }
      _exit(0);
    }
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const MetricsSnapshot s = Read();
  const int write = static_cast<int>(MetricOp::kWrite);
  EXPECT_EQ(s.stores[kRedis].operations[write][kOk],
            uint64_t{kChildren} * kEach);
  uint64_t in_buckets = 0;
  for (uint64_t n : s.stores[kRedis].latency[write].buckets) in_buckets += n;
  EXPECT_EQ(in_buckets, uint64_t{kChildren} * kEach);
}

TEST_F(MetricsFileTest, AForeignFileIsRefusedNamingIt) {
  WriteFile("not metrics at all");
  auto sink = OpenMetricsFile(path_, "lmdb");
  ASSERT_FALSE(sink.ok());
  EXPECT_TRUE(sink.status().IsInvalidArgument());
  EXPECT_NE(sink.status().message().find(path_), std::string::npos);
  auto read = ReadMetricsFile(path_);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find(path_), std::string::npos);
  // Left as it was.
  std::ifstream in(path_, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}),
            "not metrics at all");
}

TEST_F(MetricsFileTest, ATruncatedFileIsRefused) {
  ASSERT_TRUE(OpenMetricsFile(path_, "lmdb").ok());
  std::filesystem::resize_file(path_, kFileBytes / 2);
  auto read = ReadMetricsFile(path_);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("damaged"), std::string::npos)
      << read.status().message();
}

TEST_F(MetricsFileTest, AnotherLayoutIsRefused) {
  FileHeader h = ExpectedHeader();
  h.slots = kMetricsSlots * 2;
  std::string bytes(kFileBytes, '\0');
  std::memcpy(bytes.data(), &h, sizeof h);
  auto parsed = ParseMetrics(bytes, "f");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("geometry"), std::string::npos);
  h = ExpectedHeader();
  h.version = kVersion + 1;
  std::memcpy(bytes.data(), &h, sizeof h);
  parsed = ParseMetrics(bytes, "f");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("version"), std::string::npos);
}

TEST_F(MetricsFileTest, ADirectoryIsRefused) {
  auto sink = OpenMetricsFile(dir_.string(), "lmdb");
  EXPECT_FALSE(sink.ok());
  EXPECT_NE(sink.status().message().find(dir_.string()), std::string::npos);
}

TEST_F(MetricsFileTest, ASymbolicLinkIsRefusedAndItsTargetLeftAlone) {
  const std::string target = (dir_ / "target").string();
  WriteFile("");
  std::filesystem::rename(path_, target);  // an empty file: one to size
  std::filesystem::create_symlink(target, path_);
  auto sink = OpenMetricsFile(path_, "lmdb");
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.status().message().find("symbolic link"), std::string::npos)
      << sink.status().message();
  EXPECT_EQ(std::filesystem::file_size(target), 0u);
}

// Another user's file is refused, and left as it is: its owner could cut
// it under the workers' mappings.
TEST_F(MetricsFileTest, AnotherUsersFileIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a file away";
  WriteFile("");
  ASSERT_EQ(chown(path_.c_str(), 65534, 65534), 0);
  auto sink = OpenMetricsFile(path_, "lmdb");
  ASSERT_FALSE(sink.ok());
  EXPECT_TRUE(sink.status().IsInvalidArgument());
  EXPECT_NE(sink.status().message().find("owned by uid 65534"),
            std::string::npos)
      << sink.status().message();
  EXPECT_EQ(std::filesystem::file_size(path_), 0u);
  // Root's own file is used.
  ASSERT_EQ(chown(path_.c_str(), 0, 0), 0);
  EXPECT_TRUE(OpenMetricsFile(path_, "lmdb").ok());
}

TEST_F(MetricsFileTest, AMissingFileReadsAsNotFound) {
  auto read = ReadMetricsFile(path_);
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(read.status().IsNotFound());
}

TEST(MetricsStoreLabelTest, SchemesMapToTheirFamily) {
  EXPECT_EQ(MetricsStoreLabel("lmdb:///var/lib/sk"), "lmdb");
  EXPECT_EQ(MetricsStoreLabel("redis+sentinel://h:26379/m"), "redis");
  EXPECT_EQ(MetricsStoreLabel("memcached://h:11211"), "memcached");
  EXPECT_EQ(MetricsStoreLabel("redis://h|lmdb:///x"), "tiered");
  EXPECT_EQ(MetricsStoreLabel("nonsense"), "other");
}

}  // namespace
}  // namespace sessionkit::metrics_internal
