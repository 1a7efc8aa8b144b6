// The session version the engine stamps on every frame it writes (frame.h,
// NextSessionVersion): read back with each read, grown with each write.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/fake_store.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "support/fake_env.h"

namespace sessionkit {
namespace {

// The fake clock's start, as a session version.
constexpr uint64_t kStartVersion =
    static_cast<uint64_t>(test::FakeEnv::kStartWallMs) * kSessionVersionsPerMs;

class EngineVersionTest : public ::testing::Test {
 protected:
  EngineVersionTest() {
    auto store = std::make_unique<test::FakeStore>();
    store_ = store.get();
    EngineOptions options;
    options.env = &env_;
    engine_ = std::make_unique<SessionEngine>(std::move(store), options);
  }

  // The session version of the frame stored for `id_`.
  uint64_t StoredVersion() {
    auto frame = DecodeFrame(store_->data[id_]);
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    if (!frame.ok()) return 0;
    EXPECT_EQ(frame->header.version, kFrameVersion);
    return frame->header.session_version;
  }

  const std::string id_ = "abcdefghijklmnopqrstuvwxyz012345";
  test::FakeEnv env_;
  test::FakeStore* store_;
  std::unique_ptr<SessionEngine> engine_;
};

TEST_F(EngineVersionTest, NothingReadIsVersionZero) {
  auto r = engine_->Read(id_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->version, 0u);
  EXPECT_EQ(r->lock.read_version, 0u);
  store_->data[id_] = "not a frame";
  r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lock.state, LockState::kReadOnly);
  EXPECT_EQ(r->version, 0u);
  EXPECT_EQ(r->lock.read_version, 0u);
}

// The clock stands still: each write goes one above the version its
// request read, locked or not.
TEST_F(EngineVersionTest, VersionGrowsWithEachWrite) {
  ASSERT_TRUE(engine_->Write(id_, "n|i:0;", Duration(60000)).ok());
  uint64_t last = StoredVersion();
  EXPECT_EQ(last, kStartVersion) << "a first write is the clock's version";
  for (int i = 1; i <= 4; ++i) {
    SCOPED_TRACE("write " + std::to_string(i));
    LockOptions lock;
    lock.enabled = i % 2 == 0;
    auto r = engine_->ReadForUpdate(id_, lock);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->version, last);
    EXPECT_EQ(r->lock.read_version, last);
    EXPECT_EQ(r->lock.state,
              lock.enabled ? LockState::kHeld : LockState::kNone);
    ASSERT_TRUE(engine_->Write(id_, "n|i:1;", Duration(60000), r->lock).ok());
    EXPECT_EQ(StoredVersion(), last + 1);
    last = StoredVersion();
  }
  // Time passes: the clock's version is above the last one read.
  env_.Advance(Duration(10));
  auto r = engine_->Read(id_);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(engine_->Write(id_, "n|i:2;", Duration(60000), r->lock).ok());
  EXPECT_EQ(StoredVersion(), kStartVersion + 10 * kSessionVersionsPerMs);
  EXPECT_GT(StoredVersion(), last);
}

// A format 1 frame (written before session versions) reads as version 0;
// the write that follows stores format 2 with a version above 0.
TEST_F(EngineVersionTest, FormatOneFrameIsReadAndWrittenWithAVersion) {
  store_->data[id_] = std::string("\x9FK\x01\0\0\0\0\0", 8) + "n|i:1;";
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->found);
  EXPECT_EQ(r->payload, "n|i:1;");
  EXPECT_EQ(r->version, 0u);
  EXPECT_EQ(r->lock.state, LockState::kHeld);
  ASSERT_TRUE(engine_->Write(id_, "n|i:2;", Duration(60000), r->lock).ok());
  EXPECT_EQ(store_->data[id_][2], 2) << "written as format 2";
  EXPECT_GT(StoredVersion(), 0u);
  EXPECT_EQ(StoredVersion(), kStartVersion);
  EXPECT_EQ(engine_->Read(id_)->payload, "n|i:2;");
}

// A version from the future (written by a host whose clock is ahead of
// this one's): the write goes one above it, not back to this clock.
TEST_F(EngineVersionTest, VersionReadFromTheFutureGivesReadPlusOne) {
  const uint64_t ahead = kStartVersion + 3'600'000 * kSessionVersionsPerMs;
  FrameHeader header;
  header.session_version = ahead;
  store_->data[id_] = EncodeFrame(header, "n|i:1;");
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->version, ahead);
  ASSERT_TRUE(engine_->Write(id_, "n|i:2;", Duration(60000), r->lock).ok());
  EXPECT_EQ(StoredVersion(), ahead + 1);
  // Read-only requests write nothing, so the version stays.
  SessionLock readonly = r->lock;
  readonly.state = LockState::kReadOnly;
  ASSERT_TRUE(engine_->Write(id_, "n|i:3;", Duration(60000), readonly).ok());
  EXPECT_EQ(StoredVersion(), ahead + 1);
  // A touch does not rewrite the frame: the version stays too.
  r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(engine_->Touch(id_, Duration(60000), r->lock).ok());
  EXPECT_EQ(StoredVersion(), ahead + 1);
}

// Writes without a read (locking off and no read, a new session) order by
// the engine's clock: 1024 versions a millisecond.
// A tombstone (a destroyed session that tiers keep) reads as no session,
// not as an unreadable one, and the next write goes above its version.
TEST_F(EngineVersionTest, ATombstoneReadsAsNoSessionAndIsWrittenOver) {
  const uint64_t ahead = kStartVersion + 5000;
  store_->data[id_] = EncodeTombstoneFrame(ahead);
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->found);
  EXPECT_TRUE(r->payload.empty());
  EXPECT_EQ(r->lock.state, LockState::kHeld) << "read as unreadable";
  EXPECT_EQ(r->lock.read_version, ahead);
  ASSERT_TRUE(engine_->Write(id_, "n|i:1;", Duration(60000), r->lock).ok());
  EXPECT_EQ(StoredVersion(), ahead + 1);
}

TEST_F(EngineVersionTest, WritesWithoutAReadFollowTheClock) {
  ASSERT_TRUE(engine_->Write(id_, "n|i:1;", Duration(60000)).ok());
  const uint64_t first = StoredVersion();
  EXPECT_EQ(first, kStartVersion);
  env_.Advance(Duration(1));
  ASSERT_TRUE(engine_->Write(id_, "n|i:2;", Duration(60000)).ok());
  const uint64_t second = StoredVersion();
  EXPECT_EQ(second, first + kSessionVersionsPerMs);
  env_.Advance(std::chrono::hours(1));
  ASSERT_TRUE(engine_->Write(id_, "n|i:3;", Duration(60000)).ok());
  EXPECT_GT(StoredVersion(), second);
}

}  // namespace
}  // namespace sessionkit
