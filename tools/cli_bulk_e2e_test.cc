// `sessionkit migrate` and `sessionkit rekey` end to end: the built binary
// run against real LMDB stores and a real redis-server, the sessions
// checked through the engine afterwards.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sessionkit/frame.h"
#include "sessionkit/keyring.h"
#include "sessionkit/open.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::cli {
namespace {

using ::testing::HasSubstr;

constexpr Duration kTenMinutes{600000};

std::string IdOf(int i) {
  return "e2eid" + std::to_string(1000 + i) + "abcdefghijklmnopqr";
}
std::string PayloadOf(int i) { return "n|i:" + std::to_string(i) + ";"; }

class BulkCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("bulk_e2e");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    for (const char* sub : {"a", "b"}) {
      ASSERT_EQ(mkdir((dir_ + "/" + sub).c_str(), 0700), 0);
    }
    a_ = "lmdb://" + dir_ + "/a";
    b_ = "lmdb://" + dir_ + "/b";
  }
  void TearDown() override { test::RemoveTempDirUnlessFailed(dir_); }

  // Runs the CLI in dir_ (where the default state file goes).
  test::CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), SK_CLI_BINARY);
    auto result = test::RunCommand(args, Duration(120000), dir_);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? *result : test::CommandResult{-1, ""};
  }

  std::unique_ptr<SessionEngine> Engine(
      const std::string& url, std::shared_ptr<const KeyRing> keys = nullptr) {
    EngineOptions options;
    options.keys = std::move(keys);
    auto engine = OpenEngine(url, options);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return engine.ok() ? std::move(engine).value() : nullptr;
  }

  // `live` sessions IdOf(0..live-1), then `expired` already expired ones.
  void Seed(const std::string& url, int live, int expired,
            std::shared_ptr<const KeyRing> keys = nullptr) {
    auto engine = Engine(url, std::move(keys));
    ASSERT_NE(engine, nullptr);
    for (int i = 0; i < live; ++i) {
      SK_ASSERT_OK(engine->Write(IdOf(i), PayloadOf(i), kTenMinutes));
    }
    // Every LMDB write sweeps what has expired, so an expired session must
    // outlive the writes that follow it: they expire together, after the
    // last write, and nothing sweeps them before the CLI scans.
    const Duration lifetime(expired > 0 ? 2000 : 0);
    for (int i = live; i < live + expired; ++i) {
      SK_ASSERT_OK(engine->Write(IdOf(i), PayloadOf(i), lifetime));
    }
    if (expired > 0) std::this_thread::sleep_for(lifetime + lifetime / 10);
  }

  size_t Count(const std::string& url) {
    auto store = OpenStore(url);
    EXPECT_TRUE(store.ok());
    ScanOptions options;
    options.include_expired = true;
    size_t n = 0;
    for (;;) {
      auto page = (*store)->Scan(options);
      EXPECT_TRUE(page.ok());
      if (!page.ok()) return n;
      n += page->sessions.size();
      if (page->next_cursor.empty()) return n;
      options.cursor = page->next_cursor;
    }
  }

  bool Exists(const std::string& file) const {
    return access((dir_ + "/" + file).c_str(), F_OK) == 0;
  }

  std::string dir_, a_, b_;
};

TEST_F(BulkCliTest, MigrateResumesAndCopiesEachSessionOnceKeepingNewerOnes) {
  Seed(a_, 40, 3);
  {
    auto b = Engine(b_);
    SK_ASSERT_OK(b->Write(IdOf(7), "newer", kTenMinutes));
  }
  test::CommandResult r;
  int runs = 0;
  do {
    r = Cli({"migrate", a_, b_, "--stop-after", "9"});
    ++runs;
    if (r.exit_code == 130) {
      EXPECT_TRUE(Exists("sessionkit-migrate.state"));
      EXPECT_THAT(r.output, HasSubstr("interrupted"));
    }
  } while (r.exit_code == 130 && runs < 20);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(runs, 5);  // 43 sessions, 9 a run
  EXPECT_THAT(r.output, HasSubstr("copied: 39\n"));
  EXPECT_THAT(r.output, HasSubstr("skipped: 4 (already there 1, expired 3,"));
  EXPECT_FALSE(Exists("sessionkit-migrate.state"));

  auto a = OpenStore(a_);
  auto b = Engine(b_);
  ASSERT_TRUE(a.ok());
  for (int i = 0; i < 40; ++i) {
    auto read = b->Read(IdOf(i));
    SK_ASSERT_OK(read);
    ASSERT_TRUE(read->found) << i;
    EXPECT_EQ(read->payload, i == 7 ? "newer" : PayloadOf(i));
    if (i == 7) continue;
    // The remaining lifetime is kept.
    auto from = (*a)->Read(IdOf(i));
    auto to = b->store().Read(IdOf(i));
    SK_ASSERT_OK(from);
    SK_ASSERT_OK(to);
    EXPECT_LT(std::chrono::abs(to->expires_at - from->expires_at),
              std::chrono::seconds(5));
  }
  for (int i = 40; i < 43; ++i) EXPECT_FALSE(b->Read(IdOf(i))->found);
  EXPECT_EQ(Count(b_), 40u);
}

// The old handler's sessions (PHP's files handler: sess_<id> files) copied
// in bulk; an expired file is skipped, and a session TO already has is kept.
TEST_F(BulkCliTest, MigrateCopiesTheFilesHandlersSessions) {
  const std::string php = dir_ + "/php";
  ASSERT_EQ(mkdir(php.c_str(), 0700), 0);
  for (int i = 0; i < 6; ++i) {
    std::ofstream(php + "/sess_" + IdOf(i)) << PayloadOf(i);
  }
  // Older than the spec's lifetime: expired.
  const std::string old_file = php + "/sess_" + IdOf(6);
  std::ofstream(old_file) << PayloadOf(6);
  struct timespec times[2] = {{time(nullptr) - 3600, 0},
                              {time(nullptr) - 3600, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, old_file.c_str(), times, 0), 0);
  {
    auto engine = Engine(b_);
    ASSERT_NE(engine, nullptr);
    SK_ASSERT_OK(engine->Write(IdOf(0), "newer|b:1;", kTenMinutes));
  }
  test::CommandResult r =
      Cli({"migrate", "files://" + php + "?lifetime=1440", b_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("copied: 5\n")) << r.output;
  auto engine = Engine(b_);
  ASSERT_NE(engine, nullptr);
  for (int i = 1; i < 6; ++i) {
    auto read = engine->Read(IdOf(i));
    SK_ASSERT_OK(read.status());
    EXPECT_TRUE(read->found) << i;
    EXPECT_EQ(read->payload, PayloadOf(i));
  }
  auto kept = engine->Read(IdOf(0));
  SK_ASSERT_OK(kept.status());
  EXPECT_EQ(kept->payload, "newer|b:1;");
  auto expired = engine->Read(IdOf(6));
  SK_ASSERT_OK(expired.status());
  EXPECT_FALSE(expired->found);
}

TEST_F(BulkCliTest, MigrateDryRunWritesNothing) {
  Seed(a_, 12, 0);
  test::CommandResult r = Cli({"migrate", "--dry-run", a_, b_});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("would be copied: 12\n"));
  EXPECT_EQ(Count(b_), 0u);
  EXPECT_FALSE(Exists("sessionkit-migrate.state"));
}

TEST_F(BulkCliTest, MigrateRefusesTheStateOfAnotherRun) {
  Seed(a_, 5, 0);
  ASSERT_EQ(mkdir((dir_ + "/c").c_str(), 0700), 0);
  EXPECT_EQ(Cli({"migrate", a_, b_, "--stop-after", "2"}).exit_code, 130);
  test::CommandResult r = Cli({"migrate", a_, "lmdb://" + dir_ + "/c"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("belongs to another run"));
  EXPECT_EQ(Count("lmdb://" + dir_ + "/c"), 0u);
  EXPECT_EQ(Cli({"migrate", a_, b_}).exit_code, 0);
  EXPECT_EQ(Count(b_), 5u);
}

TEST_F(BulkCliTest, MigrateFromLmdbToRedisEncryptingWithTheKeyFile) {
  auto redis = test::StartRedis({});
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  const std::string to =
      "redis://127.0.0.1:" + std::to_string((*redis)->port()) + "/0";
  ASSERT_EQ(Cli({"keys", "generate", "--out", dir_ + "/keys"}).exit_code, 0);
  auto ring = KeyRing::Load(dir_ + "/keys");
  SK_ASSERT_OK(ring);
  Seed(a_, 25, 2);
  test::CommandResult r = Cli({"migrate", a_, to, "--keys", dir_ + "/keys",
                               "--state", dir_ + "/redis.state"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("copied: 25\n"));
  auto engine = Engine(to, *ring);
  for (int i = 0; i < 25; ++i) {
    auto record = engine->store().Read(IdOf(i));
    SK_ASSERT_OK(record);
    auto frame = DecodeFrame(record->data);
    SK_ASSERT_OK(frame);
    EXPECT_EQ(frame->header.key_id, 1);
    EXPECT_EQ(engine->Read(IdOf(i))->payload, PayloadOf(i));
  }
  EXPECT_FALSE(engine->Read(IdOf(25))->found);
}

// The key file's lines, the active (first) one last: a ring of a host
// that has the new key but still writes with the old one.
std::shared_ptr<const KeyRing> OldKeyFirst(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> keys;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') keys.push_back(line + "\n");
  }
  std::string text;
  for (auto it = keys.rbegin(); it != keys.rend(); ++it) text += *it;
  auto ring = KeyRing::Parse(text, path);
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return ring.ok() ? *ring : nullptr;
}

TEST_F(BulkCliTest, RekeyPutsEverySessionUnderTheNewKey) {
  const std::string keys = dir_ + "/keys";
  ASSERT_EQ(Cli({"keys", "generate", "--out", keys}).exit_code, 0);
  auto old_ring = KeyRing::Load(keys);
  SK_ASSERT_OK(old_ring);
  Seed(a_, 30, 0, *old_ring);
  {
    auto plain = Engine(a_);
    for (int i = 30; i < 35; ++i) {
      SK_ASSERT_OK(plain->Write(IdOf(i), PayloadOf(i), kTenMinutes));
    }
  }
  ASSERT_EQ(Cli({"keys", "add", keys}).exit_code, 0);
  auto ring = KeyRing::Load(keys);
  SK_ASSERT_OK(ring);
  ASSERT_EQ((*ring)->active_id(), 2);

  test::CommandResult dry = Cli({"rekey", a_, "--keys", keys, "--dry-run"});
  EXPECT_THAT(dry.output, HasSubstr("would be re-encrypted: 35\n"));
  test::CommandResult r = Cli({"rekey", a_, "--keys", keys});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("re-encrypted: 35\n"));

  auto engine = Engine(a_, *ring);
  for (int i = 0; i < 35; ++i) {
    auto record = engine->store().Read(IdOf(i));
    SK_ASSERT_OK(record);
    auto frame = DecodeFrame(record->data);
    SK_ASSERT_OK(frame);
    EXPECT_EQ(frame->header.key_id, 2) << i;
    EXPECT_EQ(engine->Read(IdOf(i))->payload, PayloadOf(i));
  }
  test::CommandResult frame = Cli({"get", "--frame", a_, IdOf(3)});
  EXPECT_THAT(frame.output, HasSubstr("key id: 2"));

  test::CommandResult again = Cli({"rekey", a_, "--keys", keys});
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("re-encrypted: 0\n"));
  EXPECT_THAT(again.output, HasSubstr("already under the active key 35)"));
}

TEST_F(BulkCliTest, RekeyWithAConcurrentWriterLosesNoUpdate) {
  const std::string keys = dir_ + "/keys";
  ASSERT_EQ(Cli({"keys", "generate", "--out", keys}).exit_code, 0);
  auto old_ring = KeyRing::Load(keys);
  SK_ASSERT_OK(old_ring);
  Seed(a_, 300, 0, *old_ring);
  ASSERT_EQ(Cli({"keys", "add", keys}).exit_code, 0);
  // The writer still writes under key 1, so rekey keeps finding the
  // counter to rewrite while the writer updates it.
  auto writer = Engine(a_, OldKeyFirst(keys));
  ASSERT_NE(writer, nullptr);
  const std::string counter = IdOf(150);
  SK_ASSERT_OK(writer->Write(counter, "0", kTenMinutes));
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  std::thread thread([&] {
    LockOptions lock;
    lock.timeout_action = LockTimeoutAction::kFail;
    while (!stop.load()) {
      auto read = writer->ReadForUpdate(counter, lock);
      if (!read.ok() || !read->found) {
        ++failed;
        continue;
      }
      const int n = std::stoi(read->payload);
      if (writer->Write(counter, std::to_string(n + 1), kTenMinutes, read->lock)
              .ok()) {
        ++acked;
      } else {
        ++failed;
      }
    }
  });
  int rewrote_counter_runs = 0;
  for (int run = 0; run < 4; ++run) {
    test::CommandResult r = Cli({"rekey", a_, "--keys", keys});
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr("unreadable: 0\n"));
    rewrote_counter_runs +=
        r.output.find("re-encrypted: 0\n") == std::string::npos ? 1 : 0;
  }
  stop.store(true);
  thread.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(acked.load(), 0);
  EXPECT_EQ(rewrote_counter_runs, 4);  // each run found the counter to do
  auto ring = KeyRing::Load(keys);
  SK_ASSERT_OK(ring);
  auto reader = Engine(a_, *ring);
  auto read = reader->Read(counter);
  SK_ASSERT_OK(read);
  ASSERT_TRUE(read->found);
  EXPECT_EQ(read->payload, std::to_string(acked.load()));
}

}  // namespace
}  // namespace sessionkit::cli
