// The regenerate grace (SessionEngine::ReadReplacing) on real stores: LMDB
// on a fake clock, Redis and tiers of Redis over LMDB on the real one. The
// old id leads to the new session within the grace (read, locked, written,
// destroyed), a request that waits for the old session's lock during the
// regenerate reads what the regenerating request saved, and after the
// grace the old id is gone (the pointer expires as any value of its store).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "sessionkit/engine.h"
#include "sessionkit/open.h"
#include "support/fake_env.h"
#include "support/test_server.h"

namespace sessionkit {
namespace {

const std::string kOld = "oldoldoldoldoldoldoldoldoldold01";
const std::string kNew = "newnewnewnewnewnewnewnewnewnew02";
const std::string kLogin = "user|s:3:\"ann\";";
constexpr Duration kTtl{600000};

test::RedisServer* g_redis = nullptr;
std::string g_dir;

class Servers : public ::testing::Environment {
 public:
  void SetUp() override {
    auto dir = test::MakeTempDir("grace-store");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    g_dir = *dir;
    test::RedisServerOptions options;
    options.name = "redis-grace";
    auto server = test::StartRedis(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    g_redis = std::move(*server).release();
  }
  void TearDown() override {
    delete g_redis;
    g_redis = nullptr;
    test::RemoveTempDirUnlessFailed(g_dir);
  }
};
const auto* const kServers = ::testing::AddGlobalTestEnvironment(new Servers);

enum class Kind { kLmdbFakeClock, kRedis, kTiers };

std::string KindName(const ::testing::TestParamInfo<Kind>& info) {
  switch (info.param) {
    case Kind::kLmdbFakeClock:
      return "lmdb_fake_clock";
    case Kind::kRedis:
      return "redis";
    case Kind::kTiers:
      return "redis_over_lmdb";
  }
  return "unknown";
}

class GraceStoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    ASSERT_NE(g_redis, nullptr);
    static int n = 0;
    const std::string lmdb = "lmdb://" + g_dir + "/s" + std::to_string(++n);
    const std::string redis =
        "redis://127.0.0.1:" + std::to_string(g_redis->port()) + "/0?prefix=g" +
        std::to_string(n) + ":";
    EngineOptions options;
    std::string spec;
    switch (GetParam()) {
      case Kind::kLmdbFakeClock:
        spec = lmdb;
        options.env = &clock_;
        grace_ = Duration(5000);
        break;
      case Kind::kRedis:
        spec = redis;
        break;
      case Kind::kTiers:
        spec = redis + "|" + lmdb;
        break;
    }
    auto engine = OpenEngine(spec, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }

  // The grace passes: on the fake clock at once, otherwise by sleeping.
  void PassTheGrace() {
    if (GetParam() == Kind::kLmdbFakeClock) {
      clock_.Advance(grace_ + Duration(1));
    } else {
      std::this_thread::sleep_for(grace_ + Duration(150));
    }
  }

  // kOld, logged in, regenerated to kNew by a request that then saves
  // `saved` under the new session's lock.
  void Regenerate(const std::string& saved) {
    ASSERT_TRUE(engine_->Write(kOld, kLogin, kTtl).ok());
    auto old = engine_->ReadForUpdate(kOld, LockOptions{});
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    auto fresh =
        engine_->ReadReplacing(kNew, LockOptions{}, kOld, old->lock, grace_);
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    EXPECT_EQ(fresh->payload, kLogin);
    ASSERT_TRUE(engine_->Write(kNew, saved, kTtl, fresh->lock).ok());
  }

  test::FakeEnv clock_{test::FakeEnv::Scope::kRecordClocks};
  Duration grace_{400};
  std::unique_ptr<SessionEngine> engine_;
};

TEST_P(GraceStoreTest, WithinTheGraceTheOldIdLeadsToTheNewSession) {
  Regenerate("n|i:1;");
  EXPECT_TRUE(*engine_->Exists(kOld));
  auto read = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->found);
  EXPECT_EQ(read->payload, "n|i:1;");
  ASSERT_TRUE(engine_->Write(kOld, "n|i:2;", kTtl, read->lock).ok());
  EXPECT_EQ(engine_->Read(kNew)->payload, "n|i:2;");
  EXPECT_EQ(engine_->Read(kOld)->payload, "n|i:2;");
}

TEST_P(GraceStoreTest, AfterTheGraceTheOldIdIsGone) {
  Regenerate("n|i:1;");
  PassTheGrace();
  EXPECT_FALSE(*engine_->Exists(kOld));
  auto read = engine_->Read(kOld);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found);
  EXPECT_EQ(read->payload, "");
  EXPECT_EQ(engine_->Read(kNew)->payload, "n|i:1;");
}

// session_abort() after the regenerate: nothing is saved, and after the
// grace neither id holds a session (PHP's own handlers leave the new one
// empty); within it the user's data is still there for other requests.
TEST_P(GraceStoreTest, ARegenerateThatNeverSavesLeavesNothingAfterTheGrace) {
  ASSERT_TRUE(engine_->Write(kOld, kLogin, kTtl).ok());
  auto old = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(old.ok());
  auto fresh =
      engine_->ReadReplacing(kNew, LockOptions{}, kOld, old->lock, grace_);
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(engine_->Unlock(kNew, fresh->lock).ok());
  EXPECT_EQ(engine_->Read(kOld)->payload, kLogin);
  PassTheGrace();
  EXPECT_FALSE(engine_->Read(kOld)->found);
  EXPECT_FALSE(engine_->Read(kNew)->found);
  EXPECT_FALSE(*engine_->Exists(kNew));
}

TEST_P(GraceStoreTest, ALogoutThroughTheOldIdEndsTheNewSession) {
  Regenerate("n|i:1;");
  ASSERT_TRUE(engine_->Destroy(kOld).ok());
  EXPECT_FALSE(*engine_->Exists(kOld));
  EXPECT_FALSE(*engine_->Exists(kNew));
}

TEST_P(GraceStoreTest, ARequestWaitingDuringTheRegenerateReadsItsSave) {
  ASSERT_TRUE(engine_->Write(kOld, kLogin, kTtl).ok());
  auto old = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(old.ok());
  // Another request with the old cookie waits for the old session's lock.
  Result<ReadResult> parallel = Status::Internal("not run");
  std::thread other(
      [&] { parallel = engine_->ReadForUpdate(kOld, LockOptions{}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto fresh =
      engine_->ReadReplacing(kNew, LockOptions{}, kOld, old->lock, grace_);
  ASSERT_TRUE(fresh.ok());
  // The regenerating request works on, then saves.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(engine_->Write(kNew, "saved|b:1;", kTtl, fresh->lock).ok());
  other.join();
  ASSERT_TRUE(parallel.ok()) << parallel.status().ToString();
  EXPECT_EQ(parallel->lock.state, LockState::kHeld);
  EXPECT_EQ(parallel->payload, "saved|b:1;");
  EXPECT_TRUE(engine_->Unlock(kOld, parallel->lock).ok());
}

INSTANTIATE_TEST_SUITE_P(Stores, GraceStoreTest,
                         ::testing::Values(Kind::kLmdbFakeClock, Kind::kRedis,
                                           Kind::kTiers),
                         KindName);

}  // namespace
}  // namespace sessionkit
