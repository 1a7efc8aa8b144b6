// The bulk walk (cli_bulk.h) over a task that records what it was given,
// and migrate's copy logic from an in-memory LegacySource into a real LMDB
// store.
#include "cli_bulk.h"

#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sessionkit/open.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string IdOf(int i) {
  return "bulkid" + std::to_string(1000 + i) + "abcdefghijklmnopqr";
}

// Ids in pages of 3; ids whose number is a multiple of 5 are unreadable.
class RecordingTask : public BulkTask {
 public:
  explicit RecordingTask(int n) : n_(n) {}

  Result<BulkPage> Scan(const std::string& cursor, size_t) override {
    const int from = cursor.empty() ? 0 : std::stoi(cursor);
    BulkPage page;
    for (int i = from; i < std::min(n_, from + 3); ++i)
      page.ids.push_back(IdOf(i));
    if (from + 3 < n_) page.next_cursor = std::to_string(from + 3);
    return page;
  }

  Result<BulkVisit> Visit(const std::string& id, bool dry_run) override {
    ++visits[id];
    dry_runs += dry_run;
    if (id == fail_on) return Status::Unavailable("the source went away");
    const int i = std::stoi(id.substr(6, 4)) - 1000;
    if (i % 5 == 0) return BulkVisit{BulkOutcome::kUnreadable, "bad bytes"};
    return BulkVisit{BulkOutcome::kCopied, ""};
  }

  std::map<std::string, int> visits;
  int dry_runs = 0;
  std::string fail_on;

 private:
  const int n_;
};

class BulkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("bulk");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    options_.command = "migrate";
    options_.job = "migrate\na\nb";
    options_.job_description = "a -> b";
    options_.state_path = dir_ + "/state";
  }
  void TearDown() override { test::RemoveTempDirUnlessFailed(dir_); }

  bool StateExists() const {
    return access(options_.state_path.c_str(), F_OK) == 0;
  }

  std::string ReadState() const {
    std::ifstream in(options_.state_path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  BulkReport Run(RecordingTask& task) {
    out_.str("");
    err_.str("");
    return RunBulk(task, options_, out_, err_);
  }

  std::string dir_;
  BulkOptions options_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(BulkTest, ResumesWhereItStoppedAndVisitsEachSessionOnce) {
  RecordingTask task(11);
  int runs = 0;
  BulkReport report;
  options_.stop_after = 4;  // mid-page: pages hold 3
  do {
    report = Run(task);
    ++runs;
    if (!report.finished) {
      EXPECT_EQ(report.exit_code, kExitInterrupted);
      EXPECT_TRUE(StateExists());
      EXPECT_THAT(ReadState(), Not(HasSubstr(IdOf(1))));  // digests only
    }
  } while (!report.finished && runs < 10);
  EXPECT_EQ(runs, 3);  // 4 + 4 + 3
  EXPECT_EQ(task.visits.size(), 11u);
  for (const auto& [id, n] : task.visits) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(report.counts[BulkOutcome::kCopied], 8u);
  EXPECT_EQ(report.counts[BulkOutcome::kUnreadable], 3u);  // 0, 5, 10
  EXPECT_EQ(report.exit_code, kExitFailure);  // some were unreadable
  EXPECT_FALSE(StateExists());
  EXPECT_THAT(out_.str(), HasSubstr("copied: 8\n"));
  EXPECT_THAT(err_.str(), HasSubstr("continuing from"));
}

TEST_F(BulkTest, SummaryNamesUnreadableSessionsByPrefixOnly) {
  RecordingTask task(7);
  BulkReport report = Run(task);
  EXPECT_TRUE(report.finished);
  EXPECT_THAT(out_.str(), HasSubstr("unreadable: 2\n"));
  EXPECT_THAT(out_.str(), HasSubstr(SessionIdPrefix(IdOf(0)) + ": bad bytes"));
  EXPECT_THAT(out_.str(), HasSubstr(SessionIdPrefix(IdOf(5))));
  for (int i = 0; i < 7; ++i) {
    EXPECT_THAT(out_.str() + err_.str(), Not(HasSubstr(IdOf(i))));
  }
  EXPECT_THAT(out_.str(), HasSubstr("skipped: 0 (already there 0, expired 0"));
}

TEST_F(BulkTest, DryRunWritesNoState) {
  RecordingTask task(7);
  options_.dry_run = true;
  options_.stop_after = 2;
  BulkReport report = Run(task);
  EXPECT_EQ(report.exit_code, kExitInterrupted);
  EXPECT_FALSE(StateExists());
  EXPECT_EQ(task.dry_runs, 2);
  EXPECT_THAT(out_.str(), HasSubstr("dry run: nothing written"));
  EXPECT_THAT(out_.str(), HasSubstr("would be copied: 1\n"));
}

TEST_F(BulkTest, RefusesTheStateFileOfAnotherRun) {
  RecordingTask task(7);
  options_.stop_after = 2;
  ASSERT_EQ(Run(task).exit_code, kExitInterrupted);
  const std::string before = ReadState();
  options_.job = "migrate\na\nc";
  options_.job_description = "a -> c";
  RecordingTask other(7);
  BulkReport report = Run(other);
  EXPECT_EQ(report.exit_code, kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("belongs to another run (a -> b)"));
  EXPECT_TRUE(other.visits.empty());
  EXPECT_EQ(ReadState(), before);  // left as it was
}

TEST_F(BulkTest, RefusesAStateFileThatDoesNotParse) {
  std::ofstream(options_.state_path) << "hello\n";
  RecordingTask task(3);
  BulkReport report = Run(task);
  EXPECT_EQ(report.exit_code, kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("no sessionkit state header"));
  EXPECT_TRUE(task.visits.empty());
  EXPECT_TRUE(StateExists());
}

TEST_F(BulkTest, AFailingSourceStopsWithTheStateSaved) {
  RecordingTask task(7);
  task.fail_on = IdOf(4);
  BulkReport report = Run(task);
  EXPECT_EQ(report.exit_code, kExitFailure);
  EXPECT_FALSE(report.finished);
  EXPECT_THAT(err_.str(), HasSubstr("the source went away"));
  task.fail_on.clear();
  report = Run(task);
  EXPECT_TRUE(report.finished);
  EXPECT_EQ(task.visits[IdOf(4)], 2);  // retried
  EXPECT_EQ(task.visits[IdOf(3)], 1);
  EXPECT_EQ(report.counts.total(), 7u);
}

// An old handler's sessions, in memory.
class MemoryLegacySource : public LegacySource {
 public:
  std::map<std::string, Result<LegacySession>> sessions;
  std::function<void()> on_read;  // runs at each Read, before it answers
  bool refuse_deletes = false;    // the old store down at a logout

  Result<LegacySession> Read(std::string_view id) override {
    if (on_read) on_read();
    auto it = sessions.find(std::string(id));
    if (it == sessions.end()) return Status::NotFound("none");
    return it->second;
  }
  Status Delete(std::string_view id) override {
    if (refuse_deletes) return Status::Unavailable("the old store is down");
    sessions.erase(std::string(id));
    return Status::OK();
  }
  Result<LegacyPage> Scan(std::string_view, size_t) override {
    LegacyPage page;
    for (const auto& [id, s] : sessions) page.ids.push_back(id);
    return page;
  }
  std::string Describe() const override { return "memory"; }
};

class MigrateTaskTest : public BulkTest {
 protected:
  void SetUp() override {
    BulkTest::SetUp();
    auto engine = OpenEngine("lmdb://" + dir_ + "/to");
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    to_ = std::move(engine).value();
  }
  std::unique_ptr<SessionEngine> to_;
};

TEST_F(MigrateTaskTest, CopiesLiveSessionsKeepingTheirLifetime) {
  MemoryLegacySource from;
  from.sessions.emplace(IdOf(1), LegacySession{"a|i:1;", Duration(600000)});
  from.sessions.emplace(IdOf(2), LegacySession{"b|i:2;", Duration(0)});
  from.sessions.emplace(IdOf(3), Status::Corrupt("phpredis: bad value"));
  from.sessions.emplace("bad id!", LegacySession{"c", Duration(1000)});
  auto task = MakeMigrateTask(from, *to_);
  BulkReport report = RunBulk(*task, options_, out_, err_);
  EXPECT_EQ(report.counts[BulkOutcome::kCopied], 1u);
  EXPECT_EQ(report.counts[BulkOutcome::kExpired], 1u);
  EXPECT_EQ(report.counts[BulkOutcome::kUnreadable], 2u);
  auto read = to_->Read(IdOf(1));
  SK_ASSERT_OK(read);
  EXPECT_TRUE(read->found);
  EXPECT_EQ(read->payload, "a|i:1;");
  auto record = to_->store().Read(IdOf(1));
  SK_ASSERT_OK(record);
  const auto left = record->expires_at - Clock::now();
  EXPECT_GT(left, std::chrono::seconds(590));
  EXPECT_LE(left, std::chrono::seconds(600));
  EXPECT_FALSE(to_->Read(IdOf(2))->found);
  EXPECT_THAT(out_.str(), HasSubstr("phpredis: bad value"));
}

TEST_F(MigrateTaskTest, NeverReplacesASessionTheDestinationHas) {
  SK_ASSERT_OK(to_->Write(IdOf(1), "newer", Duration(60000)));
  MemoryLegacySource from;
  from.sessions.emplace(IdOf(1), LegacySession{"older", Duration(600000)});
  auto task = MakeMigrateTask(from, *to_);
  BulkReport report = RunBulk(*task, options_, out_, err_);
  EXPECT_EQ(report.counts[BulkOutcome::kPresent], 1u);
  EXPECT_EQ(report.counts[BulkOutcome::kCopied], 0u);
  EXPECT_EQ(to_->Read(IdOf(1))->payload, "newer");
  EXPECT_EQ(report.exit_code, kExitOk);
}

TEST_F(MigrateTaskTest, SkipsASessionWhoseLockIsHeld) {
  auto held = to_->ReadForUpdate(IdOf(1), LockOptions{});
  SK_ASSERT_OK(held);
  MemoryLegacySource from;
  from.sessions.emplace(IdOf(1), LegacySession{"older", Duration(600000)});
  auto task = MakeMigrateTask(from, *to_);
  BulkReport report = RunBulk(*task, options_, out_, err_);
  EXPECT_EQ(report.counts[BulkOutcome::kLocked], 1u);
  EXPECT_EQ(report.exit_code, kExitFailure);
  // The request that holds the lock writes; the re-run finds it there.
  SK_ASSERT_OK(
      to_->Write(IdOf(1), "the request's", Duration(60000), held->lock));
  report = RunBulk(*task, options_, out_, err_);
  EXPECT_EQ(report.counts[BulkOutcome::kPresent], 1u);
  EXPECT_EQ(to_->Read(IdOf(1))->payload, "the request's");
}

TEST_F(MigrateTaskTest, ALogoutDuringTheCopyIsNotUndone) {
  MemoryLegacySource from;
  from.sessions.emplace(IdOf(1), LegacySession{"a", Duration(600000)});
  // The user logs out while the copy holds the lock in TO.
  from.on_read = [&] { SK_EXPECT_OK(to_->Destroy(IdOf(1))); };
  auto task = MakeMigrateTask(from, *to_);
  BulkReport report = RunBulk(*task, options_, out_, err_);
  EXPECT_EQ(report.counts[BulkOutcome::kCopied], 0u);
  EXPECT_EQ(report.counts[BulkOutcome::kLocked], 1u);
  EXPECT_FALSE(to_->Read(IdOf(1))->found);
}

// A logout through PHP whose delete of the old copy failed left a mark in
// TO: the copy still in the old store is never migrated back over it.
TEST_F(MigrateTaskTest,
       NeverBringsBackASessionLoggedOutWhileTheOldStoreWasDown) {
  auto from = std::make_shared<MemoryLegacySource>();
  from->sessions.emplace(
      IdOf(1), LegacySession{"user|s:5:\"alice\";", Duration(600000)});
  from->refuse_deletes = true;
  EngineOptions options;
  options.legacy = from;
  auto php = OpenEngine("lmdb://" + dir_ + "/to", std::move(options));
  SK_ASSERT_OK(php);
  auto read = (*php)->ReadForUpdate(IdOf(1), LockOptions{});
  SK_ASSERT_OK(read);
  ASSERT_TRUE(read->found);
  SK_ASSERT_OK((*php)->Destroy(IdOf(1), read->lock));
  ASSERT_EQ(from->sessions.size(), 1u);  // the old copy is still there

  auto task = MakeMigrateTask(*from, *to_);
  BulkReport report = RunBulk(*task, options_, out_, err_);
  EXPECT_EQ(report.counts[BulkOutcome::kCopied], 0u);
  EXPECT_EQ(report.counts[BulkOutcome::kPresent], 1u);
  EXPECT_FALSE(to_->Read(IdOf(1))->found);
  EXPECT_FALSE((*php)->Read(IdOf(1))->found);
}

TEST_F(MigrateTaskTest, DryRunWritesNothing) {
  MemoryLegacySource from;
  from.sessions.emplace(IdOf(1), LegacySession{"a", Duration(600000)});
  options_.dry_run = true;
  auto task = MakeMigrateTask(from, *to_);
  BulkReport report = RunBulk(*task, options_, out_, err_);
  EXPECT_EQ(report.counts[BulkOutcome::kCopied], 1u);
  EXPECT_FALSE(to_->Read(IdOf(1))->found);
}

}  // namespace
}  // namespace sessionkit::cli
