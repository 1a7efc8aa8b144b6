// The user index's records (user_index.h) and the engine's handling of
// what a store may hand back for them: an index it cannot decode, an index
// locked for the whole wait, a full index, a failing store. Real stores run
// the behaviour tests (tests/conformance/user_index_conformance.cc).
#include "core/user_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/fake_store.h"
#include "sessionkit/engine.h"
#include "sessionkit/keyring.h"
#include "sessionkit/session_id.h"
#include "sessionkit/users.h"
#include "support/test_status.h"

namespace sessionkit {
namespace {

using test::FakeStore;
using ::testing::HasSubstr;

constexpr Duration kTtl{600000};

std::string Sid(int n) { return "uix" + std::to_string(n) + "-PoIuYtReWqLkJh"; }

TEST(UserIndexRecordTest, RoundTripsAndRefusesWhatItDidNotWrite) {
  const std::vector<UserIndexEntry> entries = {{"k1", ""}, {"k2", "id,2-x"}};
  const std::string bytes = EncodeUserIndex(entries);
  auto decoded = DecodeUserIndex(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].key, "k1");
  EXPECT_EQ((*decoded)[0].id, "");
  EXPECT_EQ((*decoded)[1].id, "id,2-x");
  EXPECT_TRUE(DecodeUserIndex(EncodeUserIndex({}))->empty());
  for (const std::string& bad :
       {std::string("k1 -\n"), bytes.substr(0, bytes.size() - 1),
        EncodeUserIndex({{"k 1", ""}}), EncodeUserIndex({{"k1", "bad id"}}),
        EncodeUserIndex({{"k1", ""}, {"k1", ""}}),
        EncodeUserIndex({{"k\xff", ""}})}) {
    auto refused = DecodeUserIndex(bad);
    EXPECT_TRUE(refused.status().IsCorrupt()) << bad;
  }
  std::vector<UserIndexEntry> many(kMaxSessionsPerUser + 1);
  for (size_t i = 0; i < many.size(); ++i) many[i].key = Sid(int(i));
  EXPECT_THAT(DecodeUserIndex(EncodeUserIndex(many)).status().message(),
              HasSubstr("more than 200 entries"));

  const std::string owner = ",sk-user," + std::string(64, 'a');
  EXPECT_EQ(*DecodeOwner(EncodeOwner(owner)), owner);
  EXPECT_TRUE(DecodeOwner(EncodeOwner("plain-session")).status().IsCorrupt());
  EXPECT_TRUE(DecodeOwner("").status().IsCorrupt());
  // Its version line alone: no newline of the record's own after it.
  EXPECT_TRUE(DecodeOwner("sessionkit-owner 1\n").status().IsCorrupt());
  EXPECT_TRUE(DecodeOwner("sessionkit-owner 1\n\n").status().IsCorrupt());
}

TEST(UserIndexKeyTest, IsAnInternalKeyPerUserAndHashedWithTheHashLine) {
  EngineOptions plain;
  auto a = UserIndexKey(plain, "alice");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(IsInternalStoreKey(*a));
  SK_EXPECT_OK(ValidateSessionId(*a));  // every store takes it as a key
  EXPECT_EQ(a->size(), std::string(",sk-user,").size() + 64);
  EXPECT_EQ(*UserIndexKey(plain, "alice"), *a);
  EXPECT_NE(*UserIndexKey(plain, "alicE"), *a);
  EXPECT_NE(*UserIndexKey(plain, std::string("a\0b", 3)),
            *UserIndexKey(plain, "a"));
  EXPECT_TRUE(UserIndexKey(plain, "").status().IsInvalidArgument());
  EXPECT_TRUE(
      UserIndexKey(plain, std::string(257, 'x')).status().IsInvalidArgument());
  SK_EXPECT_OK(UserIndexKey(plain, std::string(256, 'x')).status());
  EXPECT_NE(*OwnerKey(plain, "alice"), *a);
  EXPECT_TRUE(IsInternalStoreKey(*OwnerKey(plain, "alice")));

  EngineOptions hashed;
  hashed.hash_ids = true;
  EXPECT_TRUE(UserIndexKey(hashed, "alice").status().IsInvalidArgument());
  auto ring = KeyRing::Parse(*GenerateHashLine(), "test");
  ASSERT_TRUE(ring.ok());
  hashed.keys = *ring;
  auto h = UserIndexKey(hashed, "alice");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(IsInternalStoreKey(*h));
  EXPECT_NE(*h, *a);
  // Not the hash of any session id: a session id holds no NUL.
  EXPECT_EQ(h->find(*(*ring)->HashSessionId("alice")), std::string::npos);
}

class UserIndexEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = std::make_unique<FakeStore>();
    store_ = store.get();
    EngineOptions options;
    options.log = [this](LogLevel, std::string_view m) {
      log_.emplace_back(m);
    };
    engine_ = std::make_unique<SessionEngine>(std::move(store), options);
  }
  std::string IndexKey(const std::string& user) {
    return *UserIndexKey(EngineOptions{}, user);
  }
  std::vector<std::string> Listed(const std::string& user) {
    auto sessions = engine_->UserSessions(user);
    EXPECT_TRUE(sessions.ok()) << sessions.status().ToString();
    std::vector<std::string> ids;
    for (const UserSession& s : *sessions) ids.push_back(s.id);
    return ids;
  }

  FakeStore* store_;
  std::unique_ptr<SessionEngine> engine_;
  std::vector<std::string> log_;
};

TEST_F(UserIndexEngineTest, AnIndexThatDoesNotDecodeStartsAgain) {
  SK_ASSERT_OK(engine_->Write(Sid(1), "", kTtl));
  SK_ASSERT_OK(engine_->Write(Sid(2), "", kTtl));
  SK_ASSERT_OK(engine_->SetUser(Sid(1), "u", kTtl));
  store_->data[IndexKey("u")] = "not a frame";
  SK_ASSERT_OK(engine_->SetUser(Sid(2), "u", kTtl));
  EXPECT_EQ(Listed("u"), std::vector<std::string>{Sid(2)});
  ASSERT_FALSE(log_.empty());
  EXPECT_THAT(log_.back(), HasSubstr("it starts again empty"));
}

TEST_F(UserIndexEngineTest, AnIndexLockedForTheWholeWaitIsAnError) {
  SK_ASSERT_OK(engine_->Write(Sid(1), "", kTtl));
  store_->holder[IndexKey("u")] = "another request";
  Status s = engine_->SetUser(Sid(1), "u", kTtl);
  EXPECT_TRUE(s.IsDeadlineExceeded()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("stayed locked"));
  EXPECT_TRUE(engine_->UserSessions("u").status().IsDeadlineExceeded());
  EXPECT_TRUE(engine_->DestroyUser("u").status().IsDeadlineExceeded());
  EXPECT_TRUE(engine_->Exists(Sid(1)).value());  // nothing destroyed
}

TEST_F(UserIndexEngineTest, AFullIndexDropsDeadEntriesBeforeRefusing) {
  for (int i = 0; i <= static_cast<int>(kMaxSessionsPerUser); ++i) {
    SK_ASSERT_OK(engine_->Write(Sid(i), "", kTtl));
  }
  for (int i = 0; i < static_cast<int>(kMaxSessionsPerUser); ++i) {
    SK_ASSERT_OK(engine_->SetUser(Sid(i), "busy", kTtl));
  }
  const std::string last = Sid(kMaxSessionsPerUser);
  Status full = engine_->SetUser(last, "busy", kTtl);
  EXPECT_TRUE(full.IsResourceExhausted()) << full.ToString();
  EXPECT_THAT(full.message(), HasSubstr("already has 200 live sessions"));
  SK_ASSERT_OK(engine_->Destroy(Sid(7)));
  SK_ASSERT_OK(engine_->SetUser(last, "busy", kTtl));
  EXPECT_EQ(Listed("busy").size(), kMaxSessionsPerUser);
}

// A session whose logout fails (a tier out of reach) stays listed for the
// next try; the user's other sessions are logged out all the same.
TEST_F(UserIndexEngineTest, ALogoutThatFailsStopsAtNoOtherSession) {
  for (int i = 0; i < 3; ++i) {
    SK_ASSERT_OK(engine_->Write(Sid(i), "", kTtl));
    SK_ASSERT_OK(engine_->SetUser(Sid(i), "u", kTtl));
  }
  const std::vector<std::string> listed = Listed("u");
  ASSERT_EQ(listed.size(), 3u);
  store_->unreachable_destroy = listed.front();
  auto destroyed = engine_->DestroyUser("u");
  ASSERT_FALSE(destroyed.ok());
  EXPECT_TRUE(destroyed.status().IsUnavailable());
  EXPECT_THAT(destroyed.status().message(),
              HasSubstr("2 other sessions of the user were destroyed"));
  EXPECT_TRUE(engine_->Exists(listed.front()).value());
  EXPECT_FALSE(engine_->Exists(listed[1]).value());
  EXPECT_FALSE(engine_->Exists(listed[2]).value());
  EXPECT_EQ(Listed("u"), std::vector<std::string>{listed.front()});
  store_->unreachable_destroy.clear();
  EXPECT_EQ(engine_->DestroyUser("u").value_or(9), 1u);
}

TEST_F(UserIndexEngineTest, StoreErrorsAndBadInputAreReturned) {
  EXPECT_TRUE(engine_->SetUser("bad id", "u", kTtl).IsInvalidArgument());
  EXPECT_TRUE(engine_->SetUser(Sid(1), "u", Duration{0}).IsInvalidArgument());
  EXPECT_TRUE(engine_->DestroyUser("u", "bad id").status().IsInvalidArgument());
  EXPECT_TRUE(engine_->SetUser(IndexKey("u"), "u", kTtl).IsInvalidArgument());
  for (int i = 0; i < 3; ++i) {
    SK_ASSERT_OK(engine_->Write(Sid(i), "", kTtl));
    SK_ASSERT_OK(engine_->SetUser(Sid(i), "u", kTtl));
  }
  store_->fail = Status::Unavailable("fake store down");
  Status s = engine_->SetUser(Sid(5), "u", kTtl);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  // A destroy that cannot check the sessions destroys none, and leaves
  // the index as it was (and unlocked).
  EXPECT_TRUE(engine_->DestroyUser("u").status().IsUnavailable());
  EXPECT_TRUE(store_->holder.empty());
  store_->fail = Status::OK();
  EXPECT_EQ(Listed("u"), (std::vector<std::string>{Sid(0), Sid(1), Sid(2)}));
}

}  // namespace
}  // namespace sessionkit
