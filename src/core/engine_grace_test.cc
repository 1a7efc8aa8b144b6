// The regenerate grace in the engine (ReadReplacing, engine_grace.cc) over
// the in-memory store: the pointer an old id becomes, reads, writes and
// destroys that follow it, chains, hashed ids and encryption. Expiry of the
// pointer on real stores' clocks: tests/grace/grace_store_test.cc.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/fake_store.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/keyring.h"
#include "sessionkit/lock.h"

namespace sessionkit {
namespace engine_grace_test {
namespace {

using test::FakeStore;

const std::string kOld = "oldoldoldoldoldoldoldoldoldold01";
const std::string kNew = "newnewnewnewnewnewnewnewnewnew02";
const std::string kNewer = "newernewernewernewernewernewer03";
constexpr Duration kGrace{5000};
constexpr Duration kTtl{1440000};

bool IsPointer(const std::string& stored) {
  auto frame = DecodeFrame(stored);
  return frame.ok() && (frame->header.flags & kFrameFlagPointer) != 0;
}

std::shared_ptr<const KeyRing> Ring(const std::string& text) {
  auto ring = KeyRing::Parse(text, "/etc/sessionkit/keys");
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return ring.ok() ? *ring : nullptr;
}

class EngineGraceTest : public ::testing::Test {
 protected:
  EngineGraceTest() { Open({}); }

  void Open(EngineOptions options) {
    auto store = std::make_unique<FakeStore>();
    store_ = store.get();
    options.log = [this](LogLevel level, std::string_view msg) {
      if (level == LogLevel::kWarning) warnings_.emplace_back(msg);
    };
    engine_ = std::make_unique<SessionEngine>(std::move(store), options);
  }

  // A logged-in session `id` ("user|s:3:\"ann\";"), read for update.
  SessionLock LoggedIn(const std::string& id) {
    EXPECT_TRUE(engine_->Write(id, kLogin, kTtl).ok());
    auto read = engine_->ReadForUpdate(id, LockOptions{});
    EXPECT_TRUE(read.ok() && read->lock.state == LockState::kHeld);
    return read.ok() ? read->lock : SessionLock{};
  }

  // PHP's session_regenerate_id(true) from `from` (read with `lock`) to
  // `to`: the read of the new id; returns its lock.
  SessionLock Regenerate(const std::string& from, const SessionLock& lock,
                         const std::string& to) {
    auto read = engine_->ReadReplacing(to, LockOptions{}, from, lock, kGrace);
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    return read.ok() ? read->lock : SessionLock{};
  }

  // kOld logged in, regenerated to kNew, and kNew saved as kLogin.
  void RegeneratedAndSaved() {
    SessionLock new_lock = Regenerate(kOld, LoggedIn(kOld), kNew);
    ASSERT_TRUE(engine_->Write(kNew, kLogin, kTtl, new_lock).ok());
  }

  const std::string kLogin = "user|s:3:\"ann\";";
  FakeStore* store_ = nullptr;
  std::unique_ptr<SessionEngine> engine_;
  std::vector<std::string> warnings_;
};

TEST_F(EngineGraceTest, OldIdBecomesAPointerWrittenAsItsLockIsReleased) {
  SessionLock old_lock = LoggedIn(kOld);
  store_->calls.clear();
  SessionLock new_lock = Regenerate(kOld, old_lock, kNew);
  EXPECT_EQ(new_lock.state, LockState::kHeld);
  EXPECT_TRUE(new_lock.followed_key.empty());
  // The copy, the new session's lock, then the pointer with the release
  // (FakeStore's write+unlock is its unlock and its write).
  EXPECT_EQ(store_->calls,
            (std::vector<std::string>{"read", "write", "lock+read",
                                      "write+unlock", "write"}));
  EXPECT_EQ(store_->holder.count(kOld), 0u) << "the old lock is released";
  EXPECT_EQ(store_->holder[kNew], new_lock.owner.token);
  EXPECT_EQ(store_->last_ttl, kGrace);
  auto frame = DecodeFrame(store_->data[kOld]);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->header.flags, kFrameFlagPointer);
  EXPECT_EQ(frame->payload, kNew);
  EXPECT_GT(frame->header.session_version, old_lock.read_version);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(EngineGraceTest, TheNewSessionHoldsTheOldDataBeforeItIsSaved) {
  SessionLock old_lock = LoggedIn(kOld);
  auto read =
      engine_->ReadReplacing(kNew, LockOptions{}, kOld, old_lock, kGrace);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->found);
  EXPECT_EQ(read->payload, kLogin);
  // A reader that does not lock (read_and_close) through the old id.
  auto unlocked = engine_->Read(kOld);
  ASSERT_TRUE(unlocked.ok());
  EXPECT_TRUE(unlocked->found);
  EXPECT_EQ(unlocked->payload, kLogin);
  EXPECT_EQ(unlocked->lock.followed_key, kNew);
  // The regenerating request's save goes above the copy's version.
  ASSERT_TRUE(engine_->Write(kNew, "user|s:3:\"bob\";", kTtl, read->lock).ok());
  EXPECT_EQ(engine_->Read(kOld)->payload, "user|s:3:\"bob\";");
}

TEST_F(EngineGraceTest, ParallelRequestWaitsForTheNewSessionsLock) {
  SessionLock old_lock = LoggedIn(kOld);
  SessionLock new_lock = Regenerate(kOld, old_lock, kNew);
  // The regenerating request still holds the new session: a request with
  // the old cookie is sent to its lock (FakeStore: the wait runs out) and
  // reads the user's data, never an empty session.
  store_->calls.clear();
  auto parallel = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(parallel.ok());
  EXPECT_EQ(store_->calls[0], "lock+read");
  EXPECT_EQ(store_->calls[1], "unlock") << "the pointer's lock goes first";
  EXPECT_EQ(store_->calls[2], "lock+read");
  EXPECT_EQ(parallel->lock.state, LockState::kReadOnly);
  EXPECT_TRUE(parallel->found);
  EXPECT_EQ(parallel->payload, kLogin);
  // Once the regenerating request saved and released it, the old id's
  // request holds the new session's lock and writes there.
  ASSERT_TRUE(engine_->Write(kNew, "n|i:1;", kTtl, new_lock).ok());
  auto next = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->lock.state, LockState::kHeld);
  EXPECT_EQ(next->lock.followed_key, kNew);
  EXPECT_EQ(next->payload, "n|i:1;");
  EXPECT_EQ(store_->holder[kNew], next->lock.owner.token);
  ASSERT_TRUE(engine_->Write(kOld, "n|i:2;", kTtl, next->lock).ok());
  EXPECT_EQ(store_->holder.count(kNew), 0u);
  EXPECT_EQ(engine_->Read(kNew)->payload, "n|i:2;");
  EXPECT_TRUE(IsPointer(store_->data[kOld]));
  // Touch and Unlock go there too.
  auto again = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(engine_->Touch(kOld, kTtl, again->lock).ok());
  EXPECT_EQ(store_->holder.count(kNew), 0u);
  auto third = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(engine_->Unlock(kOld, third->lock).ok());
  EXPECT_EQ(store_->holder.count(kNew), 0u);
}

TEST_F(EngineGraceTest, ExistsWithinTheGrace) {
  RegeneratedAndSaved();
  EXPECT_TRUE(*engine_->Exists(kOld));
  EXPECT_TRUE(*engine_->Exists(kNew));
}

TEST_F(EngineGraceTest, DestroyOfTheOldIdEndsTheNewSessionToo) {
  RegeneratedAndSaved();
  ASSERT_TRUE(engine_->Destroy(kOld).ok());
  EXPECT_EQ(store_->data.count(kOld), 0u);
  EXPECT_EQ(store_->data.count(kNew), 0u);
  EXPECT_FALSE(*engine_->Exists(kNew));
}

// Two regenerates in a row: a logout through the first id ends the session
// of the second too (the chain is read before anything is destroyed).
TEST_F(EngineGraceTest, DestroyOfTheOldIdEndsEverySessionItsChainLeadsTo) {
  SessionLock lock = Regenerate(kOld, LoggedIn(kOld), kNew);
  ASSERT_TRUE(engine_->Write(kNew, kLogin, kTtl, lock).ok());
  auto via_old = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(via_old.ok());
  lock = Regenerate(kOld, via_old->lock, kNewer);
  ASSERT_TRUE(engine_->Write(kNewer, kLogin, kTtl, lock).ok());
  ASSERT_TRUE(engine_->Destroy(kOld).ok());
  for (const std::string& id : {kOld, kNew, kNewer}) {
    EXPECT_EQ(store_->data.count(id), 0u) << id << " outlived the logout";
  }
}

// A request reads the old id within the grace (it holds the new session's
// lock); the grace runs out before it logs out.
TEST_F(EngineGraceTest, ALogoutAfterThePointerExpiredEndsTheSessionItHolds) {
  RegeneratedAndSaved();
  auto via_old = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(via_old.ok());
  ASSERT_EQ(via_old->lock.followed_key, kNew);
  store_->data.erase(kOld);  // the pointer expired
  ASSERT_TRUE(engine_->Destroy(kOld, via_old->lock).ok());
  EXPECT_EQ(store_->data.count(kNew), 0u) << "the session stayed logged in";
  EXPECT_EQ(store_->holder.count(kNew), 0u) << "its lock stayed held";
}

// "Log out my other devices" from a request that came with the old id
// within the grace: the session it uses, the new one, is not among them.
TEST_F(EngineGraceTest, DestroyUserThroughTheOldIdKeepsTheSessionInUse) {
  RegeneratedAndSaved();
  ASSERT_TRUE(engine_->SetUser(kNew, "ann", kTtl).ok());
  ASSERT_TRUE(engine_->Write(kNewer, kLogin, kTtl).ok());  // another device
  ASSERT_TRUE(engine_->SetUser(kNewer, "ann", kTtl).ok());
  auto destroyed = engine_->DestroyUser("ann", kOld);
  ASSERT_TRUE(destroyed.ok()) << destroyed.status().ToString();
  EXPECT_EQ(*destroyed, 1u);
  EXPECT_EQ(store_->data.count(kNew), 1u) << "the session in use was ended";
  EXPECT_EQ(store_->data.count(kNewer), 0u);
}

TEST_F(EngineGraceTest, ALogoutHappensWhenThePointerCannotBeRead) {
  ASSERT_TRUE(engine_->Write(kOld, kLogin, kTtl).ok());
  store_->fail = Status::Corrupt("damaged value");  // reads and writes fail
  EXPECT_TRUE(engine_->Destroy(kOld).ok());
  EXPECT_EQ(store_->data.count(kOld), 0u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("damaged value"), std::string::npos)
      << warnings_[0];
}

TEST_F(EngineGraceTest, DestroyOfTheNewIdLeavesTheOldOneLeadingNowhere) {
  RegeneratedAndSaved();
  ASSERT_TRUE(engine_->Destroy(kNew).ok());
  auto read = engine_->Read(kOld);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found);
  EXPECT_EQ(read->payload, "");
}

TEST_F(EngineGraceTest, ChainsOfRegeneratesAreFollowed) {
  SessionLock lock = LoggedIn(kOld);
  lock = Regenerate(kOld, lock, kNew);
  ASSERT_TRUE(engine_->Write(kNew, "step|i:1;", kTtl, lock).ok());
  // A request with the old cookie regenerates (PHP's id is still kOld):
  // the session it holds, kNew, is the one retired.
  auto via_old = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(via_old.ok());
  ASSERT_EQ(via_old->lock.followed_key, kNew);
  SessionLock newest = Regenerate(kOld, via_old->lock, kNewer);
  ASSERT_TRUE(engine_->Write(kNewer, "step|i:2;", kTtl, newest).ok());
  EXPECT_TRUE(IsPointer(store_->data[kNew]));
  for (const std::string& id : {kOld, kNew, kNewer}) {
    auto read = engine_->Read(id);
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(read->payload, "step|i:2;") << id;
  }
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(EngineGraceTest, TooLongAChainOrALoopReadsAsNoSession) {
  // Pointers written by hand: a loop of two, which no regenerate makes.
  FrameHeader pointer;
  pointer.flags = kFrameFlagPointer;
  store_->data[kOld] = EncodeFrame(pointer, kNew);
  store_->data[kNew] = EncodeFrame(pointer, kOld);
  auto read = engine_->Read(kOld);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("further than 4"), std::string::npos)
      << warnings_[0];
  auto locked = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(locked.ok());
  EXPECT_FALSE(locked->found);
  EXPECT_EQ(locked->lock.state, LockState::kHeld);
  EXPECT_EQ(store_->holder.size(), 1u) << "one lock held, the others freed";
  ASSERT_TRUE(engine_->Destroy(kOld).ok()) << "a loop ends a destroy too";
}

TEST_F(EngineGraceTest, ABadPointerReadsAsNoSession) {
  FrameHeader pointer;
  pointer.flags = kFrameFlagPointer;
  store_->data[kOld] = EncodeFrame(pointer, "../etc/passwd");
  auto read = engine_->Read(kOld);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("valid store key"), std::string::npos)
      << warnings_[0];
  SessionLock forged;
  forged.followed_key = "../x";
  EXPECT_TRUE(engine_->Write(kOld, "x", kTtl, forged).IsInvalidArgument());
}

TEST_F(EngineGraceTest, NoGraceOrNoLockDestroysTheOldIdAsBefore) {
  SessionLock old_lock = LoggedIn(kOld);
  auto read =
      engine_->ReadReplacing(kNew, LockOptions{}, kOld, old_lock, Duration(0));
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found);
  EXPECT_EQ(store_->data.count(kOld), 0u);
  EXPECT_FALSE(*engine_->Exists(kOld));
  // A request that read the old session read-only does not hold it.
  ASSERT_TRUE(engine_->Write(kOld, kLogin, kTtl).ok());
  SessionLock readonly;
  readonly.state = LockState::kReadOnly;
  ASSERT_TRUE(
      engine_->ReadReplacing(kNewer, LockOptions{}, kOld, readonly, kGrace)
          .ok());
  EXPECT_EQ(store_->data.count(kOld), 0u);
}

TEST_F(EngineGraceTest, ALostOldLockDestroysTheOldId) {
  SessionLock old_lock = LoggedIn(kOld);
  store_->holder[kOld] = "someone-else";  // taken over meanwhile
  auto read =
      engine_->ReadReplacing(kNew, LockOptions{}, kOld, old_lock, kGrace);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(store_->data.count(kOld), 0u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("destroyed instead"), std::string::npos)
      << warnings_[0];
}

TEST_F(EngineGraceTest, AFailedNewReadLeavesTheOldSessionAndRemovesTheCopy) {
  SessionLock old_lock = LoggedIn(kOld);
  store_->holder[kNew] = "someone-else";
  store_->held_outcome = LockOutcome::kTooManyWaiters;
  auto read =
      engine_->ReadReplacing(kNew, LockOptions{}, kOld, old_lock, kGrace);
  EXPECT_TRUE(read.status().IsResourceExhausted()) << read.status().ToString();
  EXPECT_EQ(store_->data.count(kNew), 0u);
  EXPECT_EQ(store_->holder[kOld], old_lock.owner.token);
  EXPECT_EQ(engine_->Read(kOld)->payload, kLogin);
}

TEST_F(EngineGraceTest, WithHashedIdsThePointerHoldsNoLiveId) {
  EngineOptions options;
  options.keys = Ring("hash " + std::string(64, '5') + "\n");
  options.hash_ids = true;
  Open(options);
  SessionLock old_lock = LoggedIn(kOld);
  SessionLock new_lock = Regenerate(kOld, old_lock, kNew);
  ASSERT_TRUE(engine_->Write(kNew, "n|i:7;", kTtl, new_lock).ok());
  for (const auto& [key, value] : store_->data) {
    EXPECT_EQ(key.find(kNew), std::string::npos);
    EXPECT_EQ(value.find(kNew), std::string::npos) << "stored under " << key;
  }
  auto read = engine_->ReadForUpdate(kOld, LockOptions{});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->payload, "n|i:7;");
  EXPECT_EQ(read->lock.followed_key, *options.keys->HashSessionId(kNew));
  ASSERT_TRUE(engine_->Write(kOld, "n|i:8;", kTtl, read->lock).ok());
  EXPECT_EQ(engine_->Read(kNew)->payload, "n|i:8;");
}

TEST_F(EngineGraceTest, WithKeysThePointerIsEncryptedAndBoundToItsKey) {
  EngineOptions options;
  options.keys = Ring("1 " + std::string(64, 'a') + "\n");
  Open(options);
  SessionLock old_lock = LoggedIn(kOld);
  SessionLock new_lock = Regenerate(kOld, old_lock, kNew);
  ASSERT_TRUE(engine_->Write(kNew, "n|i:7;", kTtl, new_lock).ok());
  const std::string pointer = store_->data[kOld];
  ASSERT_TRUE(IsPointer(pointer));
  EXPECT_EQ(pointer.find(kNew), std::string::npos);
  EXPECT_EQ(engine_->Read(kOld)->payload, "n|i:7;");
  // Moved under another id, it does not authenticate.
  store_->data[kNewer] = pointer;
  auto moved = engine_->Read(kNewer);
  ASSERT_TRUE(moved.ok());
  EXPECT_FALSE(moved->found);
  EXPECT_FALSE(warnings_.empty());
}

}  // namespace
}  // namespace engine_grace_test
}  // namespace sessionkit
