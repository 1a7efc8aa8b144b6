// The files handler's sessions through a LegacySource, and the engine's
// fallback to them (on the embedded LMDB store).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sessionkit/engine.h"
#include "sessionkit/legacy.h"
#include "sessionkit/open.h"
#include "support/test_server.h"

namespace sessionkit {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kId = "k3o9vd1ja2bqe5m7p0ha4ntpu1";
constexpr std::string_view kPayload = "user|s:5:\"alice\";n|i:3;";

class LegacyFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("legacy-files");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    std::filesystem::create_directories(dir_ + "/php");
    store_ = "lmdb://" + dir_ + "/sk";
  }
  void TearDown() override { test::RemoveTempDirUnlessFailed(dir_); }

  std::string FilePath(std::string_view id) const {
    return dir_ + "/php/sess_" + std::string(id);
  }
  void PutFile(std::string_view id, std::string_view data,
               int age_seconds = 0) {
    const std::string path = FilePath(id);
    std::ofstream(path) << data;
    if (age_seconds > 0) {
      struct timeval t[2];
      gettimeofday(&t[0], nullptr);
      t[0].tv_sec -= age_seconds;
      t[1] = t[0];
      ASSERT_EQ(utimes(path.c_str(), t), 0);
    }
  }
  std::string Spec(std::string_view params = "") const {
    return "files://" + dir_ + "/php" + std::string(params);
  }
  std::unique_ptr<LegacySource> Source(std::string_view params = "") {
    auto source = OpenLegacySource(Spec(params));
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return source.ok() ? std::move(source).value() : nullptr;
  }
  // An engine on store_ (LMDB) reading the files handler's sessions (through
  // `legacy` when given); its warnings land in warnings_.
  std::unique_ptr<SessionEngine> Engine(
      std::string_view params = "",
      std::shared_ptr<LegacySource> legacy = nullptr) {
    EngineOptions options;
    options.log = [this](LogLevel level, std::string_view message) {
      std::lock_guard<std::mutex> lock(mu_);
      if (level == LogLevel::kWarning) warnings_.emplace_back(message);
    };
    if (legacy == nullptr) {
      auto opened = OpenLegacySource(Spec(params));
      EXPECT_TRUE(opened.ok()) << opened.status().ToString();
      legacy = std::move(opened).value();
    }
    options.legacy = std::move(legacy);
    auto engine = OpenEngine(store_, std::move(options));
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return std::move(engine).value();
  }
  bool FileExists(std::string_view id) const {
    return access(FilePath(id).c_str(), F_OK) == 0;
  }

  // A logout whose delete of the legacy copy fails, then every way of
  // reading the id: none brings the logged-out session back.
  void ExpectALogoutWhoseLegacyDeleteFailsResurrectsNothing();

  std::string dir_;
  std::string store_;  // sessionkit's own store
  std::mutex mu_;
  std::vector<std::string> warnings_;
};

TEST_F(LegacyFilesTest, ReadsALiveFile) {
  PutFile(kId, kPayload, 100);
  auto source = Source();
  auto read = source->Read(kId);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->payload, kPayload);
  EXPECT_GT(read->ttl, Duration(1300 * 1000));
  EXPECT_LE(read->ttl, Duration(1340 * 1000));
  EXPECT_TRUE(source->Read("nosuchsession").status().IsNotFound());
}

TEST_F(LegacyFilesTest, AnExpiredFileIsNeverRead) {
  PutFile(kId, kPayload, 1441);
  EXPECT_TRUE(Source()->Read(kId).status().IsNotFound());
  // A longer lifetime in the spec keeps it.
  EXPECT_TRUE(Source("?lifetime=2000")->Read(kId).ok());
}

TEST_F(LegacyFilesTest, SubdirectoriesAsSavePathDepth) {
  std::filesystem::create_directories(dir_ + "/php/k/3");
  std::ofstream(dir_ + "/php/k/3/sess_" + std::string(kId)) << kPayload;
  auto source = Source("?depth=2");
  auto read = source->Read(kId);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->payload, kPayload);
  auto page = source->Scan("", 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->ids, std::vector<std::string>{std::string(kId)});
  ASSERT_TRUE(source->Delete(kId).ok());
  EXPECT_TRUE(source->Read(kId).status().IsNotFound());
  EXPECT_TRUE(source->Delete(kId).ok());
}

TEST_F(LegacyFilesTest, ScanPagesThroughEveryId) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back("id" + std::to_string(i));
    PutFile(ids.back(), "x|i:1;");
  }
  std::ofstream(dir_ + "/php/not-a-session") << "x";
  auto source = Source();
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = source->Scan(cursor, 3);
    ASSERT_TRUE(page.ok());
    seen.insert(seen.end(), page->ids.begin(), page->ids.end());
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(pages, 3);
}

TEST_F(LegacyFilesTest, BadIdsNeverReachThePath) {
  auto source = Source();
  EXPECT_TRUE(source->Read("../../etc/passwd").status().IsInvalidArgument());
  EXPECT_TRUE(source->Delete("a/b").IsInvalidArgument());
}

TEST(LegacyOpen, BadSpecIsInvalidArgumentNamingIt) {
  auto source = OpenLegacySource("redis://127.0.0.1");
  ASSERT_TRUE(source.status().IsInvalidArgument());
  EXPECT_THAT(source.status().message(), HasSubstr("'redis'"));
  auto bad_value = OpenLegacySource("phpredis://127.0.0.1?timeout=soon");
  ASSERT_TRUE(bad_value.status().IsInvalidArgument());
  EXPECT_THAT(bad_value.status().message(), HasSubstr("timeout"));
}

TEST_F(LegacyFilesTest, EngineReadsTheLegacyCopyThenOwnsIt) {
  PutFile(kId, kPayload, 10);
  auto engine = Engine();
  auto exists = engine->Exists(kId);
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);  // strict mode keeps the id
  auto read = engine->ReadForUpdate(kId, LockOptions{});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(read->found);
  EXPECT_EQ(read->payload, kPayload);
  EXPECT_EQ(read->lock.state, LockState::kHeld);
  // The copy stays until sessionkit holds the session.
  EXPECT_TRUE(FileExists(kId));
  ASSERT_TRUE(engine
                  ->Write(kId, "user|s:5:\"alice\";n|i:4;",
                          Duration(1440 * 1000), read->lock)
                  .ok());
  EXPECT_FALSE(FileExists(kId));
  auto again = engine->Read(kId);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->found);
  EXPECT_EQ(again->payload, "user|s:5:\"alice\";n|i:4;");
  EXPECT_TRUE(warnings_.empty());
}

// PHP's lazy_write touches a session it did not change: one read from the
// legacy store is moved then, or it would expire with the old handler's
// lifetime while its user is active.
TEST_F(LegacyFilesTest, EngineMovesAnUnchangedLegacySessionOnTouch) {
  for (bool locking : {true, false}) {
    SCOPED_TRACE(locking ? "locked" : "unlocked");
    PutFile(kId, kPayload, 1000);
    auto engine = Engine();
    LockOptions lock_options;
    lock_options.enabled = locking;
    auto read = engine->ReadForUpdate(kId, lock_options);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    ASSERT_TRUE(read->found);
    ASSERT_TRUE(engine->Touch(kId, Duration(1440 * 1000), read->lock).ok());
    EXPECT_FALSE(FileExists(kId));
    auto stored = engine->store().Read(kId);
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    auto again = engine->ReadForUpdate(kId, lock_options);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->found);
    EXPECT_EQ(again->payload, kPayload);
    EXPECT_GT(again->version, 0u);
    // A touch of the moved session touches it, and reads nothing old.
    PutFile(kId, "user|s:7:\"mallory\";", 10);
    ASSERT_TRUE(engine->Touch(kId, Duration(1440 * 1000), again->lock).ok());
    auto last = engine->Read(kId);
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(last->payload, kPayload);
    ASSERT_TRUE(engine->Destroy(kId).ok());
    EXPECT_TRUE(warnings_.empty());
  }
}

TEST_F(LegacyFilesTest, EngineDestroyLeavesNothingToResurrect) {
  PutFile(kId, kPayload);
  auto engine = Engine();
  auto read = engine->ReadForUpdate(kId, LockOptions{});
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(read->found);
  ASSERT_TRUE(engine->Destroy(kId).ok());
  EXPECT_FALSE(FileExists(kId));
  // The holder's later write is refused, and nothing comes back.
  EXPECT_FALSE(engine->Write(kId, kPayload, Duration(60000), read->lock).ok());
  auto after = engine->Read(kId);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->found);
  EXPECT_FALSE(*engine->Exists(kId));
}

// The files source, whose deletes fail while `refuse_deletes` is set (an
// old store that is down, or refuses the delete, at the logout).
class RefusingDeletes final : public LegacySource {
 public:
  explicit RefusingDeletes(std::unique_ptr<LegacySource> source)
      : source_(std::move(source)) {}
  Result<LegacySession> Read(std::string_view id) override {
    return source_->Read(id);
  }
  Status Delete(std::string_view id) override {
    if (refuse_deletes) return Status::Unavailable("the old store is down");
    return source_->Delete(id);
  }
  Result<LegacyPage> Scan(std::string_view cursor, size_t limit) override {
    return source_->Scan(cursor, limit);
  }
  std::string Describe() const override { return source_->Describe(); }

  std::atomic<bool> refuse_deletes{true};

 private:
  std::unique_ptr<LegacySource> source_;
};

void LegacyFilesTest::ExpectALogoutWhoseLegacyDeleteFailsResurrectsNothing() {
  PutFile(kId, kPayload);
  auto refusing = std::make_shared<RefusingDeletes>(Source());
  auto engine = Engine("", refusing);
  auto read = engine->ReadForUpdate(kId, LockOptions{});
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(read->found);
  ASSERT_TRUE(engine->Destroy(kId).ok());
  ASSERT_TRUE(FileExists(kId));  // the old copy is still there
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("could not be deleted"));
  EXPECT_THAT(warnings_[0], HasSubstr("keeps the session destroyed"));
  // Neither a read, nor a locked read, nor strict mode's check of the id
  // brings the logged-out session back, in this engine or another one.
  auto other = Engine("", refusing);
  for (SessionEngine* e : {engine.get(), other.get()}) {
    auto after = e->Read(kId);
    ASSERT_TRUE(after.ok());
    EXPECT_FALSE(after->found);
    EXPECT_EQ(after->payload, "");
    auto locked = e->ReadForUpdate(kId, LockOptions{});
    ASSERT_TRUE(locked.ok());
    EXPECT_FALSE(locked->found);
    EXPECT_EQ(locked->payload, "");
    ASSERT_TRUE(e->Unlock(kId, locked->lock).ok());
    EXPECT_FALSE(*e->Exists(kId));
  }
  // The id can be used again: its next write is the session.
  ASSERT_TRUE(engine->Write(kId, "fresh|b:1;", Duration(60000)).ok());
  auto fresh = engine->Read(kId);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->payload, "fresh|b:1;");
  EXPECT_TRUE(*engine->Exists(kId));
  // A delete that works again (the store is back) changes nothing of that.
  refusing->refuse_deletes = false;
  EXPECT_TRUE(*engine->Exists(kId));
}

TEST_F(LegacyFilesTest, EngineDestroyWhoseLegacyDeleteFailsResurrectsNothing) {
  ExpectALogoutWhoseLegacyDeleteFailsResurrectsNothing();
}

// Tiers hide a destroy's mark from Read: the engine must still see it,
// locked or not, and not read the legacy copy in its place.
TEST_F(LegacyFilesTest, ALogoutOverTiersWhoseLegacyDeleteFailsStays) {
  store_ = "lmdb://" + dir_ + "/sk1|lmdb://" + dir_ + "/sk2";
  ExpectALogoutWhoseLegacyDeleteFailsResurrectsNothing();
}

TEST_F(LegacyFilesTest, ALogoutOverTiersWithOneBehindWhoseLegacyDeleteFails) {
  store_ = "lmdb://" + dir_ + "/sk1|lmdb://" + dir_ +
           "/sk2?write=async&journal=" + dir_ + "/journal";
  ExpectALogoutWhoseLegacyDeleteFailsResurrectsNothing();
}

// session_regenerate_id(true) with the grace: the old id becomes a pointer
// for a few seconds, then nothing; its legacy copy must not be read again
// then (a fixation defence, or a logout done as regenerate-and-clear).
TEST_F(LegacyFilesTest, ARegenerateRetiresTheOldIdsLegacyCopy) {
  PutFile(kId, kPayload);
  auto engine = Engine();
  auto read = engine->ReadForUpdate(kId, LockOptions{});
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(read->found);
  const std::string fresh = "n3wk3o9vd1ja2bqe5m7p0ha4ntpu";
  auto replaced = engine->ReadReplacing(fresh, LockOptions{}, kId, read->lock,
                                        Duration(5000));
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  ASSERT_TRUE(
      engine->Write(fresh, kPayload, Duration(60000), replaced->lock).ok());
  EXPECT_FALSE(std::filesystem::exists(FilePath(kId)))
      << "the old id's legacy copy outlives its grace";
  auto again = engine->Read(fresh);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->payload, kPayload);
}

TEST_F(LegacyFilesTest, EngineNeverReadsAnExpiredCopy) {
  PutFile(kId, kPayload, 1500);
  auto engine = Engine();
  auto read = engine->ReadForUpdate(kId, LockOptions{});
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found);
  EXPECT_EQ(read->payload, "");
  ASSERT_TRUE(engine->Unlock(kId, read->lock).ok());
  // (Asked while the read held the lock, Exists would count the session
  // that read was creating.)
  EXPECT_FALSE(*engine->Exists(kId));
}

TEST_F(LegacyFilesTest, EnginePrefersItsOwnSession) {
  auto engine = Engine();
  ASSERT_TRUE(engine->Write(kId, "mine|b:1;", Duration(60000)).ok());
  PutFile(kId, kPayload);  // an old copy that appears afterwards
  auto read = engine->Read(kId);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->payload, "mine|b:1;");
  EXPECT_TRUE(FileExists(kId));  // a read of sessionkit's own changes nothing
}

TEST_F(LegacyFilesTest, EngineTreatsAStuckCopyAsAMissWithAWarning) {
  PutFile(kId, kPayload);
  // A request of the old handler holds the file's lock for good.
  const int fd = open(FilePath(kId).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  auto engine = Engine();
  auto read = engine->ReadForUpdate(kId, LockOptions{});
  close(fd);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_FALSE(read->found);
  EXPECT_EQ(read->lock.state, LockState::kHeld);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("read as a new session"));
  EXPECT_THAT(warnings_[0], HasSubstr("files://"));
  ASSERT_TRUE(engine->Unlock(kId, read->lock).ok());
}

}  // namespace
}  // namespace sessionkit
