#include "sessionkit/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/fake_store.h"
#include "sessionkit/frame.h"
#include "sessionkit/lock.h"
#include "support/fake_env.h"

namespace sessionkit {
namespace {

using test::FakeStore;

bool Logged(const std::vector<std::pair<LogLevel, std::string>>& logs,
            LogLevel level, const std::string& text) {
  for (const auto& [l, m] : logs) {
    if (l == level && m.find(text) != std::string::npos) return true;
  }
  return false;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() {
    auto store = std::make_unique<FakeStore>();
    store_ = store.get();
    EngineOptions options;
    options.log = [this](LogLevel level, std::string_view msg) {
      logs_.push_back({level, std::string(msg)});
    };
    engine_ = std::make_unique<SessionEngine>(std::move(store), options);
  }

  const std::string id_ = "abcdefghijklmnopqrstuvwxyz012345";
  FakeStore* store_;
  std::unique_ptr<SessionEngine> engine_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
};

TEST_F(EngineTest, WriteFramesAndReadDecodes) {
  ASSERT_TRUE(engine_->Write(id_, "count|i:1;", Duration(1440000)).ok());
  EXPECT_EQ(store_->last_ttl, Duration(1440000));
  const std::string& stored = store_->data[id_];
  EXPECT_EQ(stored.size(), kFrameHeaderSize + 10);
  EXPECT_EQ(static_cast<uint8_t>(stored[0]), kFrameMagic0);
  auto r = engine_->Read(id_);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->found);
  EXPECT_EQ(r->payload, "count|i:1;");
}

TEST_F(EngineTest, MissingSessionReadsEmpty) {
  auto r = engine_->Read(id_);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->found);
  EXPECT_EQ(r->payload, "");
  EXPECT_TRUE(logs_.empty());
}

// Ids outside PHP's rules (session_id.h): each byte outside a-z A-Z 0-9 , -
// and each length outside 1..256.
std::vector<std::string> BadIds() {
  std::vector<std::string> bad = {"../x", std::string(257, 'a'),
                                  std::string(300, 'a'), std::string()};
  // Spelt out here, not taken from IsSessionIdChar: the test must not
  // follow the rule it checks.
  const std::string charset =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,-";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (charset.find(c) != std::string::npos) continue;
    bad.push_back("abcdefghijk" + std::string(1, c) + "lmnopqrstuvwxyz");
  }
  return bad;
}

TEST_F(EngineTest, BadIdNeverReachesTheStore) {
  for (const std::string& bad : BadIds()) {
    SCOPED_TRACE("an id of " + std::to_string(bad.size()) + " bytes");
    EXPECT_TRUE(engine_->Read(bad).status().IsInvalidArgument());
    EXPECT_TRUE(engine_->ReadForUpdate(bad, LockOptions{})
                    .status()
                    .IsInvalidArgument());
    EXPECT_TRUE(engine_->Write(bad, "x", Duration(1000)).IsInvalidArgument());
    EXPECT_TRUE(engine_->Touch(bad, Duration(1000)).IsInvalidArgument());
    EXPECT_TRUE(engine_->Destroy(bad).IsInvalidArgument());
    auto exists = engine_->Exists(bad);
    ASSERT_TRUE(exists.ok());
    EXPECT_FALSE(*exists);
  }
  EXPECT_TRUE(store_->calls.empty());
}

TEST_F(EngineTest, CorruptDataIsLoggedAndReadAsEmpty) {
  store_->data[id_] = "plain text, no frame";
  auto r = engine_->Read(id_);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->found);
  EXPECT_EQ(r->payload, "");
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0].first, LogLevel::kWarning);
  EXPECT_NE(logs_[0].second.find("fake://: session abcdef...: stored value "
                                 "does not start with a sessionkit frame"),
            std::string::npos)
      << logs_[0].second;
  EXPECT_EQ(logs_[0].second.find(id_), std::string::npos);
}

TEST_F(EngineTest, UnknownKeyIsLoggedAndReadAsEmpty) {
  FrameHeader header;
  header.key_id = 7;
  store_->data[id_] = EncodeFrame(header, "secret");
  auto r = engine_->Read(id_);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->found);
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_EQ(logs_[0].first, LogLevel::kWarning);
}

// A value this engine cannot read (another codec, frame version or key, as
// in a rolling upgrade or downgrade) is left as it is: the request reads an
// empty session read-only, and neither its write nor its touch reaches the
// store.
// The values an engine of this version cannot read: each header byte it
// checks set to a value it does not know, an unknown key, a short value and
// data written without a frame.
std::vector<std::string> UnreadableValues() {
  const std::string good = EncodeFrame(FrameHeader{}, "secret|s:1:\"x\";");
  std::vector<std::string> values;
  for (const auto& [at, value] :
       std::vector<std::pair<size_t, uint8_t>>{{0, 0x9E},
                                               {1, 'k'},
                                               {2, 0},
                                               {2, kFrameVersion + 1},
                                               {3, 1},
                                               {4, 1},  // tombstone+data
                                               {4, 0x80}}) {
    std::string v = good;
    v[at] = static_cast<char>(value);
    values.push_back(v);
  }
  FrameHeader keyed;
  keyed.key_id = 7;
  values.push_back(EncodeFrame(keyed, "secret"));
  values.push_back(good.substr(0, kFrameHeaderSize - 1));
  values.push_back("secret|s:1:\"x\";");
  return values;
}

TEST_F(EngineTest, UnreadableValueIsNeverOverwritten) {
  const std::vector<std::string> values = UnreadableValues();
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string& stored = values[i];
    for (bool locking : {false, true}) {
      SCOPED_TRACE("unreadable value " + std::to_string(i) +
                   (locking ? ", locked read" : ", unlocked read"));
      store_->data[id_] = stored;
      store_->calls.clear();
      logs_.clear();
      LockOptions lock;
      lock.enabled = locking;
      auto r = engine_->ReadForUpdate(id_, lock);
      ASSERT_TRUE(r.ok());
      EXPECT_FALSE(r->found);
      EXPECT_EQ(r->payload, "");
      EXPECT_EQ(r->lock.state, LockState::kReadOnly);
      EXPECT_TRUE(Logged(logs_, LogLevel::kWarning, "left as it is"));
      // A locked read releases the lock at once: nothing will be written.
      EXPECT_TRUE(store_->holder.empty());
      ASSERT_TRUE(engine_->Write(id_, "x|i:1;", Duration(1000), r->lock).ok());
      ASSERT_TRUE(engine_->Touch(id_, Duration(1000), r->lock).ok());
      EXPECT_EQ(store_->data[id_], stored)
          << "the unreadable value was replaced";
      for (const std::string& call : store_->calls) {
        EXPECT_TRUE(call == "read" || call == "lock+read" || call == "unlock")
            << call;
      }
    }
  }
}

TEST_F(EngineTest, StoreErrorsPropagate) {
  store_->fail = Status::Unavailable("fake://: connection refused");
  auto r = engine_->Read(id_);
  EXPECT_TRUE(r.status().IsUnavailable());
  EXPECT_TRUE(engine_->Write(id_, "x", Duration(1000)).IsUnavailable());
}

TEST_F(EngineTest, FullStoreIsLogged) {
  store_->fail = Status::ResourceExhausted("fake://: map is full");
  EXPECT_TRUE(engine_->Write(id_, "x", Duration(1000)).IsResourceExhausted());
  ASSERT_EQ(logs_.size(), 1u);
  EXPECT_NE(logs_[0].second.find("was not saved: fake://: map is full"),
            std::string::npos);
}

TEST_F(EngineTest, NonPositiveLifetimeIsRefused) {
  Status s = engine_->Write(id_, "x", Duration(0));
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("(got 0 ms); check ttl"), std::string::npos)
      << s.message();
  EXPECT_TRUE(engine_->Touch(id_, Duration(-5)).IsInvalidArgument());
  EXPECT_TRUE(store_->calls.empty());
}

// The engine speaks of its own settings; a host (the PHP glue, the CLI)
// names them as its users know them.
TEST_F(EngineTest, MessagesNameSettingsAsTheHostDoes) {
  EngineOptions options;
  options.setting_name = [](std::string_view setting) {
    return "host." + std::string(setting);
  };
  auto store = std::make_unique<FakeStore>();
  FakeStore* fake = store.get();
  SessionEngine engine(std::move(store), options);
  Status s = engine.Write(id_, "x", Duration(0));
  EXPECT_NE(s.message().find("check host.ttl"), std::string::npos)
      << s.message();
  fake->holder[id_] = "other|1|x";
  LockOptions lock;
  lock.timeout_action = LockTimeoutAction::kFail;
  auto r = engine.ReadForUpdate(id_, lock);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("(host.lock_wait_ms = 5000 ms)"),
            std::string::npos)
      << r.status().message();
}

TEST_F(EngineTest, TouchAndDestroyReachTheStore) {
  EXPECT_TRUE(engine_->Touch(id_, Duration(5000)).IsNotFound());
  ASSERT_TRUE(engine_->Write(id_, "x", Duration(1000)).ok());
  EXPECT_TRUE(engine_->Touch(id_, Duration(5000)).ok());
  EXPECT_EQ(store_->last_ttl, Duration(5000));
  EXPECT_TRUE(engine_->Destroy(id_).ok());
  EXPECT_FALSE(*engine_->Exists(id_));
}

// PHP's strict mode asks Exists: a new session a request holds the lock of
// exists before its first write, as the files handler's new file does.
TEST_F(EngineTest, ASessionBeingCreatedExists) {
  EXPECT_FALSE(*engine_->Exists(id_));
  auto opened = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ASSERT_FALSE(opened->found);
  EXPECT_TRUE(*engine_->Exists(id_)) << "a session being created is unknown";
  ASSERT_TRUE(engine_->Unlock(id_, opened->lock).ok());
  EXPECT_FALSE(*engine_->Exists(id_)) << "an id opened and left exists";
}

TEST_F(EngineTest, CreateIdSkipsTakenIds) {
  store_->exists_answers_true = 2;
  auto id = engine_->CreateId({32, 5});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->size(), 32u);
  EXPECT_EQ(std::count(store_->calls.begin(), store_->calls.end(), "exists"),
            3);
}

TEST_F(EngineTest, CreateIdGivesUpAfterRepeatedCollisions) {
  store_->exists_answers_true = 100;
  auto id = engine_->CreateId();
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("could not create a session id"),
            std::string::npos);
}

TEST_F(EngineTest, GcUsesTheCurrentTime) {
  TimePoint before = Clock::now();
  auto r = engine_->Gc();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->removed, 3u);
  EXPECT_GE(store_->gc_now, before);
  EXPECT_LE(store_->gc_now, Clock::now());
}

// The engine reads its clock and makes its lock tokens through its Env only.
TEST(EngineEnvTest, GcTimeAndLockTokensComeFromTheEnv) {
  test::FakeEnv env;
  auto owned = std::make_unique<FakeStore>();
  FakeStore* store = owned.get();
  EngineOptions options;
  options.env = &env;
  SessionEngine engine(std::move(owned), options);
  env.Advance(Duration(1500));
  ASSERT_TRUE(engine.Gc().ok());
  EXPECT_EQ(ToUnixMillis(store->gc_now), test::FakeEnv::kStartWallMs + 1500);
  auto r =
      engine.ReadForUpdate("abcdefghijklmnopqrstuvwxyz012345", LockOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::optional<LockOwner::Parts> parts =
      LockOwner::Parse(r->lock.owner.token);
  ASSERT_TRUE(parts.has_value()) << r->lock.owner.token;
  EXPECT_EQ(parts->host, test::FakeEnv::kHost);
  EXPECT_EQ(parts->pid, test::FakeEnv::kPid);
  // The limits of the request are LockLimits' defaults.
  const LockLimits defaults;
  EXPECT_EQ(store->last_lock.wait, defaults.wait);
  EXPECT_EQ(store->last_lock.lease, defaults.lease);
  EXPECT_EQ(store->last_lock.max_waiters, defaults.max_waiters);
}

// A child forked while its parent held the session (pcntl_fork() after
// session_start()) ends without writing or releasing it: the parent keeps
// its lock, and saves.
TEST(EngineEnvTest, AForkedChildLeavesItsParentsLockAlone) {
  test::FakeEnv env;
  auto owned = std::make_unique<FakeStore>();
  FakeStore* store = owned.get();
  std::vector<std::string> logs;
  EngineOptions options;
  options.env = &env;
  options.log = [&](LogLevel, std::string_view msg) { logs.emplace_back(msg); };
  SessionEngine engine(std::move(owned), options);
  const std::string id = "abcdefghijklmnopqrstuvwxyz012345";
  ASSERT_TRUE(engine.Write(id, "n|i:1;", Duration(60000)).ok());
  auto r = engine.ReadForUpdate(id, LockOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  env.SetPid(test::FakeEnv::kPid + 1);  // the child
  store->calls.clear();
  EXPECT_TRUE(engine.Write(id, "n|i:2;", Duration(60000), r->lock).ok());
  EXPECT_TRUE(engine.Touch(id, Duration(60000), r->lock).ok());
  EXPECT_TRUE(engine.Unlock(id, r->lock).ok());
  EXPECT_TRUE(store->calls.empty());
  EXPECT_FALSE(store->holder.empty());
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_NE(logs[0].find("write skipped: this process was forked"),
            std::string::npos)
      << logs[0];
  env.SetPid(test::FakeEnv::kPid);  // the parent
  ASSERT_TRUE(engine.Write(id, "n|i:3;", Duration(60000), r->lock).ok());
  EXPECT_TRUE(store->holder.empty());
  auto read = engine.Read(id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->payload, "n|i:3;");
}

// --- Locking -----------------------------------------------------------

TEST_F(EngineTest, LockedReadWriteCostsOneCallEach) {
  ASSERT_TRUE(engine_->Write(id_, "n|i:1;", Duration(60000)).ok());
  store_->calls.clear();
  LockOptions lock;
  lock.wait = Duration(1234);
  lock.lease = Duration(5678);
  lock.max_waiters = 7;
  auto r = engine_->ReadForUpdate(id_, lock);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->found);
  EXPECT_EQ(r->payload, "n|i:1;");
  EXPECT_EQ(r->lock.state, LockState::kHeld);
  EXPECT_EQ(store_->last_lock.wait, Duration(1234));
  EXPECT_EQ(store_->last_lock.lease, Duration(5678));
  EXPECT_EQ(store_->last_lock.max_waiters, 7u);
  // host|pid|random
  EXPECT_EQ(
      std::count(r->lock.owner.token.begin(), r->lock.owner.token.end(), '|'),
      2);
  ASSERT_TRUE(engine_->Write(id_, "n|i:2;", Duration(60000), r->lock).ok());
  EXPECT_EQ(store_->calls,
            (std::vector<std::string>{"lock+read", "write+unlock", "write"}));
  EXPECT_TRUE(store_->holder.empty());
  EXPECT_EQ(engine_->lock_counters().acquired, 1u);
}

TEST_F(EngineTest, EveryLockedReadHasItsOwnToken) {
  auto a = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(engine_->Unlock(id_, a->lock).ok());
  auto b = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->lock.owner.token, b->lock.owner.token);
}

TEST_F(EngineTest, LockingOffReadsPlainly) {
  LockOptions lock;
  lock.enabled = false;
  auto r = engine_->ReadForUpdate(id_, lock);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lock.state, LockState::kNone);
  EXPECT_EQ(store_->calls, std::vector<std::string>{"read"});
}

TEST_F(EngineTest, StoreWithoutLocksIsRefusedNotReadUnlocked) {
  // An unlocked read under a locking configuration would lose concurrent
  // updates silently; the request fails and names the way out instead.
  ASSERT_TRUE(engine_->Write(id_, "n|i:1;", Duration(60000)).ok());
  store_->locking = Status::NotSupported("fake://: no locks");
  store_->calls.clear();
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotSupported()) << r.status().ToString();
  EXPECT_EQ(r.status().message(),
            "fake://: no locks; session locking is on (locking), so the "
            "session is not read unlocked: turn it off to use this store "
            "without locks");
  EXPECT_EQ(store_->calls, std::vector<std::string>{"lock+read"});
  // With locking off the same store serves.
  LockOptions off;
  off.enabled = false;
  auto plain = engine_->ReadForUpdate(id_, off);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->payload, "n|i:1;");
}

TEST_F(EngineTest, TimeoutReadOnlySkipsTheWriteAndSaysSo) {
  ASSERT_TRUE(engine_->Write(id_, "n|i:1;", Duration(60000)).ok());
  store_->holder[id_] = "other|1|x";
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->lock.state, LockState::kReadOnly);
  EXPECT_EQ(r->payload, "n|i:1;");
  // A notice, not a warning: applications turn warnings into errors, and
  // a read-only session is the operator's choice, not a failure.
  EXPECT_TRUE(Logged(logs_, LogLevel::kNotice,
                     "fake://: session abcdef...: another request held its "
                     "lock for the whole wait (lock_wait_ms = 5000 ms)"));
  store_->calls.clear();
  ASSERT_TRUE(engine_->Write(id_, "n|i:99;", Duration(60000), r->lock).ok());
  EXPECT_TRUE(store_->calls.empty()) << "a read-only request wrote";
  EXPECT_TRUE(Logged(logs_, LogLevel::kNotice, "not saved"));
  for (const auto& [level, msg] : logs_) {
    EXPECT_NE(level, LogLevel::kWarning) << msg;
  }
  EXPECT_EQ(engine_->lock_counters().timed_out, 1u);
  EXPECT_EQ(engine_->lock_counters().writes_skipped, 1u);
  EXPECT_EQ(store_->holder[id_], "other|1|x");
}

// A read-only request must never write, not even to extend the life of
// an unchanged session: the holder may have destroyed it meanwhile (a
// logout), and a touch that falls back to a write would bring it back.
TEST_F(EngineTest, ReadOnlyTouchDoesNothing) {
  ASSERT_TRUE(engine_->Write(id_, "n|i:1;", Duration(60000)).ok());
  store_->holder[id_] = "other|1|x";
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->lock.state, LockState::kReadOnly);
  store_->data.erase(id_);  // the holder destroyed it
  store_->calls.clear();
  EXPECT_TRUE(engine_->Touch(id_, Duration(60000), r->lock).ok());
  EXPECT_TRUE(store_->calls.empty()) << "a read-only request touched";
  EXPECT_EQ(store_->data.count(id_), 0u);
}

TEST_F(EngineTest, TimeoutFailIsDeadlineExceeded) {
  store_->holder[id_] = "other|1|x";
  LockOptions lock;
  lock.timeout_action = LockTimeoutAction::kFail;
  auto r = engine_->ReadForUpdate(id_, lock);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsDeadlineExceeded()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("(lock_wait_ms = 5000 ms)"),
            std::string::npos)
      << r.status().message();
  EXPECT_EQ(r.status().message().find(id_), std::string::npos);
}

TEST_F(EngineTest, WaiterCapIsResourceExhausted) {
  store_->holder[id_] = "other|1|x";
  store_->held_outcome = LockOutcome::kTooManyWaiters;
  LockOptions lock;
  lock.max_waiters = 3;
  auto r = engine_->ReadForUpdate(id_, lock);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsResourceExhausted()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("3 requests already wait"),
            std::string::npos);
  EXPECT_EQ(engine_->lock_counters().waiters_refused, 1u);
}

TEST_F(EngineTest, LostLockRefusesTheWriteWithAWarning) {
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  store_->holder[id_] = "someone|2|else";  // broken and taken over
  Status w = engine_->Write(id_, "mine", Duration(1000), r->lock);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  EXPECT_EQ(store_->data.count(id_), 0u);
  EXPECT_TRUE(Logged(logs_, LogLevel::kWarning,
                     "session abcdef...: this request no longer holds the "
                     "session lock"));
  Status t = engine_->Touch(id_, Duration(1000), r->lock);
  EXPECT_TRUE(t.IsLockLost());
  EXPECT_EQ(engine_->lock_counters().lost, 2u);
  for (const auto& [level, msg] : logs_) {
    EXPECT_EQ(msg.find(id_), std::string::npos) << msg;
  }
}

TEST_F(EngineTest, TakeOverIsLoggedAndCounted) {
  store_->broken_owner = "host|42|dead";
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lock.state, LockState::kHeld);
  EXPECT_TRUE(Logged(logs_, LogLevel::kNotice,
                     "took over the lock of "
                     "host|42|dead"));
  EXPECT_EQ(engine_->lock_counters().taken_over, 1u);
}

TEST_F(EngineTest, TouchAndUnlockWithTheLock) {
  ASSERT_TRUE(engine_->Write(id_, "x", Duration(1000)).ok());
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  store_->calls.clear();
  ASSERT_TRUE(engine_->Touch(id_, Duration(9000), r->lock).ok());
  EXPECT_EQ(store_->calls, (std::vector<std::string>{"touch+unlock", "touch"}));
  EXPECT_TRUE(store_->holder.empty());
  // Unlock of a lock no longer held, or of no lock, is harmless.
  EXPECT_TRUE(engine_->Unlock(id_, r->lock).ok());
  EXPECT_TRUE(engine_->Unlock(id_, SessionLock{}).ok());
}

// Unlock releases a held lock in the store, and only a held one: a
// request that read without the lock, or read-only, has nothing to release.
TEST_F(EngineTest, UnlockReleasesTheHeldLockOnly) {
  auto r = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->lock.state, LockState::kHeld);
  ASSERT_EQ(store_->holder[id_], r->lock.owner.token);
  store_->calls.clear();
  ASSERT_TRUE(engine_->Unlock(id_, r->lock).ok());
  EXPECT_EQ(store_->calls, std::vector<std::string>{"unlock"});
  EXPECT_TRUE(store_->holder.empty()) << "Unlock left the lock held";
  // The next request takes it at once.
  auto next = engine_->ReadForUpdate(id_, LockOptions{});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->lock.state, LockState::kHeld);

  store_->calls.clear();
  SessionLock readonly;
  readonly.state = LockState::kReadOnly;
  readonly.owner = next->lock.owner;
  EXPECT_TRUE(engine_->Unlock(id_, readonly).ok());
  EXPECT_TRUE(engine_->Unlock(id_, SessionLock{}).ok());
  EXPECT_TRUE(store_->calls.empty()) << "released a lock it did not hold";
  EXPECT_EQ(store_->holder[id_], next->lock.owner.token);
}

TEST_F(EngineTest, TimeoutActionNames) {
  EXPECT_EQ(*ParseLockTimeoutAction("readonly"), LockTimeoutAction::kReadOnly);
  EXPECT_EQ(*ParseLockTimeoutAction("fail"), LockTimeoutAction::kFail);
  auto bad = ParseLockTimeoutAction("wait");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"wait\""), std::string::npos);
  EXPECT_EQ(LockTimeoutActionName(LockTimeoutAction::kFail), "fail");
}

}  // namespace
}  // namespace sessionkit
