// The check of an LMDB directory and the recovery after a new boot
// (lmdb_check.h): issue #10 item 11, sync=off after an OS crash.
#include "stores/lmdb/lmdb_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "sessionkit/store.h"
#include "stores/lmdb/lmdb_corrupt_for_testing.h"
#include "stores/lmdb/lmdb_lock_record.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "support/file_sizes.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::check_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using Outcome = LmdbCheckResult::Outcome;

constexpr int kSessions = 40;
constexpr Duration kHour{3600000};
constexpr char kOtherBootText[] = "0badb007-0000-4000-8000-00000000c0de";

std::string Id(int n) {
  char buf[64];
  snprintf(buf, sizeof buf, "check%021d", n);
  return buf;
}

std::string Payload(int n) { return "payload of session " + std::to_string(n); }

class LmdbCheckTest : public LmdbFixture {
 protected:
  void TearDown() override {
    SetCheckBootIdForTesting(nullptr);
    LmdbFixture::TearDown();
  }

  // Writes kSessions sessions (and one lock record) and closes the store.
  void WriteSessionsAndClose() {
    LmdbStore* store = OpenReal();
    for (int i = 0; i < kSessions; ++i) {
      SK_ASSERT_OK(store->Write(Id(i), Payload(i), kHour));
    }
    LockRequest request;
    request.owner.token = "other-host.invalid|1|check";
    auto locked = store->LockAndRead(Id(1), request);
    SK_ASSERT_OK(locked);
    ASSERT_TRUE(locked->acquired());
    stores_.clear();  // closes the environment
  }

  // Damages the leaf page that holds session 7 (and its older copies).
  void CorruptDataFile() {
    ASSERT_GT(CorruptPagesContaining(path_ + "/data.mdb", Id(7)), 0);
  }

  // Makes the next opening of the directory look like the first one after
  // a reboot.
  void FakeNewBoot() {
    ASSERT_TRUE(ParseBootId(kOtherBootText, &boot_));
    SetCheckBootIdForTesting(&boot_);
  }

  std::vector<std::string> MovedAside() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      const std::string name = entry.path().filename().string();
      if (name.find(".corrupt-") != std::string::npos) names.push_back(name);
    }
    return names;
  }

  BootId boot_{};
};

TEST_F(LmdbCheckTest, AHealthyStoreIsOkWithItsCounts) {
  WriteSessionsAndClose();
  const LmdbCheckResult check = CheckLmdb(path_);
  EXPECT_EQ(check.outcome, Outcome::kOk) << check.Summary();
  EXPECT_TRUE(check.has_data);
  EXPECT_EQ(check.sessions, uint64_t{kSessions});
  EXPECT_EQ(check.index_entries, uint64_t{kSessions});
  // The lock taken lives in <dir>/lock-table: the database has no record
  // of it (the count is of records earlier versions wrote).
  EXPECT_EQ(check.lock_records, 0u);
  EXPECT_GT(check.pages_in_use, 2u);
  EXPECT_GE(check.file_bytes, check.pages_in_use * check.page_size);
  EXPECT_THAT(check.Summary(), HasSubstr(path_));
  EXPECT_THAT(check.Summary(), HasSubstr("OK"));
  EXPECT_THAT(check.Summary(), HasSubstr("40 sessions"));
}

// A data file whose lock.mdb is gone (copied from a backup) gets its
// reader table allocated whole: on a full disk, a table LMDB leaves sparse
// would crash the checking process, read as a damaged file.
TEST_F(LmdbCheckTest, TheReaderTableOfACheckedStoreIsAllocated) {
  WriteSessionsAndClose();
  ASSERT_EQ(unlink((path_ + "/lock.mdb").c_str()), 0);
  const LmdbCheckResult check = CheckLmdb(path_);
  EXPECT_EQ(check.outcome, Outcome::kOk) << check.Summary();
  const std::optional<test::FileSizes> lock =
      test::SizesOf(path_ + "/lock.mdb");
  ASSERT_TRUE(lock.has_value());
  EXPECT_GE(lock->size, 4096u);
  EXPECT_GE(lock->allocated, lock->size);
}

TEST_F(LmdbCheckTest, AStoreInUseIsOkAndAMissingOneHasNoData) {
  LmdbCheckResult check = CheckLmdb(path_);  // not even created
  EXPECT_EQ(check.outcome, Outcome::kOk) << check.Summary();
  EXPECT_FALSE(check.has_data);

  LmdbStore* store = OpenReal();
  SK_ASSERT_OK(store->Write(Id(1), Payload(1), kHour));
  EXPECT_TRUE(LmdbInUse(path_));
  check = CheckLmdb(path_);  // another process reads it meanwhile
  EXPECT_EQ(check.outcome, Outcome::kOk) << check.Summary();
  EXPECT_EQ(check.sessions, 1u);
  auto read = store->Read(Id(1));
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, Payload(1));
  stores_.clear();
  EXPECT_FALSE(LmdbInUse(path_));
}

TEST_F(LmdbCheckTest, ACorruptFileIsReportedNamingTheDirectoryWithoutACrash) {
  WriteSessionsAndClose();
  CorruptDataFile();
  const LmdbCheckResult check = CheckLmdb(path_);  // this process survives
  EXPECT_EQ(check.outcome, Outcome::kCorrupt) << check.Summary();
  EXPECT_FALSE(check.problem.empty());
  EXPECT_THAT(check.Summary(), HasSubstr("CORRUPT"));
  EXPECT_THAT(check.Summary(), HasSubstr(path_));
}

TEST_F(LmdbCheckTest, ATruncatedFileIsCorrupt) {
  WriteSessionsAndClose();
  const std::string data = path_ + "/data.mdb";
  const auto size = std::filesystem::file_size(data);
  std::filesystem::resize_file(data, size - 2 * sysconf(_SC_PAGESIZE));
  const LmdbCheckResult check = CheckLmdb(path_);
  EXPECT_EQ(check.outcome, Outcome::kCorrupt) << check.Summary();
}

TEST_F(LmdbCheckTest, ACheckPastItsTimeoutIsKilledAndNotCalledCorrupt) {
  WriteSessionsAndClose();
  const LmdbCheckResult check =
      CheckLmdb(path_, 512, std::chrono::milliseconds(0));
  EXPECT_EQ(check.outcome, Outcome::kError) << check.Summary();
  EXPECT_TRUE(check.timed_out);
  EXPECT_THAT(check.Summary(), HasSubstr("did not finish within 0 ms"));
}

TEST_F(LmdbCheckTest, MovingAsideLeavesAnEmptyDirectoryToOpen) {
  WriteSessionsAndClose();
  std::string moved;
  ASSERT_EQ(MoveLmdbAside(path_, &moved), 0);
  EXPECT_THAT(moved, HasSubstr("data.mdb.corrupt-"));
  EXPECT_THAT(MovedAside(), SizeIs(2));        // data.mdb and lock.mdb
  ASSERT_EQ(MoveLmdbAside(path_, &moved), 0);  // nothing left to move
  EXPECT_THAT(MovedAside(), SizeIs(2));
  LmdbStore* store = OpenReal();
  EXPECT_TRUE(store->Read(Id(1)).status().IsNotFound());
}

TEST_F(LmdbCheckTest, FirstOpenAfterANewBootMovesACorruptFileAsideAndServes) {
  WriteSessionsAndClose();
  CorruptDataFile();
  FakeNewBoot();
  LmdbStore* store = OpenReal();
  for (int i = 0; i < kSessions; ++i) {
    auto read = store->Read(Id(i));
    EXPECT_TRUE(read.status().IsNotFound())
        << i << ": " << read.status().ToString();
  }
  SK_ASSERT_OK(store->Write(Id(7), "after", kHour));
  auto read = store->Read(Id(7));
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "after");
  EXPECT_THAT(MovedAside(), SizeIs(2));
  EXPECT_THAT(store->LastRecovery(), HasSubstr("corrupt"));
  EXPECT_THAT(store->LastRecovery(), HasSubstr(path_));
  EXPECT_THAT(store->LastRecovery(), HasSubstr("data.mdb.corrupt-"));
  const LmdbCheckResult check = CheckLmdb(path_);
  EXPECT_EQ(check.outcome, Outcome::kOk) << check.Summary();
  EXPECT_EQ(check.sessions, 1u);
}

TEST_F(LmdbCheckTest, ANewBootKeepsAHealthyStoreAndChecksItOnce) {
  WriteSessionsAndClose();
  FakeNewBoot();
  const uint64_t checks = BootChecksForTesting();
  LmdbStore* store = OpenReal();
  for (int i = 0; i < kSessions; ++i) {
    auto read = store->Read(Id(i));
    SK_ASSERT_OK(read);
    EXPECT_EQ(read->data, Payload(i));
  }
  EXPECT_EQ(BootChecksForTesting(), checks + 1);
  EXPECT_THAT(store->LastRecovery(), IsEmpty());
  EXPECT_THAT(MovedAside(), IsEmpty());
  std::ifstream in(path_ + "/" + kBootIdFile);
  const std::string recorded((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  EXPECT_THAT(recorded, HasSubstr(kOtherBootText));

  stores_.clear();
  store = OpenReal();  // the same boot: no second check
  SK_ASSERT_OK(store->Read(Id(3)));
  EXPECT_EQ(BootChecksForTesting(), checks + 1);
}

TEST_F(LmdbCheckTest, ConcurrentOpenersOfANewBootCheckOnceAndAllServe) {
  WriteSessionsAndClose();
  CorruptDataFile();
  FakeNewBoot();
  constexpr int kChildren = 4;
  pid_t pids[kChildren];
  const uint64_t before = BootChecksForTesting();  // inherited by children
  fflush(nullptr);
  for (pid_t& pid : pids) {
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Exit code: checks run here (0 or 1), or 10 when the store did not
      // serve an empty, writable session store.
      LmdbStore store(Options());
      const bool served = store.Read(Id(7)).status().IsNotFound() &&
                          store.Write(Id(100), "x", kHour).ok();
      _exit(served ? static_cast<int>(BootChecksForTesting() - before) : 10);
    }
  }
  int checks = 0;
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    ASSERT_LT(WEXITSTATUS(status), 10) << "a child was not served";
    checks += WEXITSTATUS(status);
  }
  EXPECT_EQ(checks, 1);
  EXPECT_THAT(MovedAside(), SizeIs(2));
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::check_test
