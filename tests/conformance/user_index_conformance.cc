// Sessions by user (SessionEngine::SetUser, UserSessions, DestroyUser) on
// every store of the conformance suite: the index is kept through the Store
// interface, so each store runs the same tests (docs/users.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance/store_conformance.h"
#include "sessionkit/engine.h"
#include "sessionkit/keyring.h"
#include "sessionkit/users.h"
#include "support/test_status.h"

namespace sessionkit::conformance {
namespace {

constexpr Duration kLongTtl{600000};

// An engine over a fresh store of the factory's, on its clock, with
// `options` (its env replaced).
std::unique_ptr<SessionEngine> UsersEngine(const StoreFactory& factory,
                                           EngineOptions options = {}) {
  auto store = factory.make_fresh();
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  options.env = factory.fake_clock.get();
  return std::make_unique<SessionEngine>(std::move(store).value(),
                                         std::move(options));
}

std::set<std::string> Listed(SessionEngine& engine, std::string_view user) {
  auto sessions = engine.UserSessions(user);
  EXPECT_TRUE(sessions.ok()) << sessions.status().ToString();
  std::set<std::string> ids;
  if (!sessions.ok()) return ids;
  for (const UserSession& s : *sessions) {
    EXPECT_TRUE(s.id_known);
    EXPECT_TRUE(ids.insert(s.id).second) << "listed twice";
  }
  return ids;
}

// 3 users with 20 sessions each: a listing holds exactly the live
// sessions, never a destroyed or expired one; DestroyUser ends all of a
// user's sessions but the one excepted.
TEST_P(StoreConformance, UsersListOnlyLiveSessionsAndDestroyAllButOne) {
  auto engine = UsersEngine(factory());
  ASSERT_NE(engine, nullptr);
  const std::string users[] = {"alice@example.com", std::string("b\0b", 3),
                               "carol"};
  std::vector<std::string> ids[3];
  for (int u = 0; u < 3; ++u) {
    for (int i = 0; i < 20; ++i) {
      const std::string id = NewId();
      // The first five of the second user expire soon.
      const Duration ttl = u == 1 && i < 5 ? factory().short_ttl : kLongTtl;
      SK_ASSERT_OK(engine->Write(id, "user|s:1:\"x\";", ttl));
      SK_ASSERT_OK(engine->SetUser(id, users[u], ttl));
      ids[u].push_back(id);
    }
  }
  // Two of the first user's sessions end by logout.
  SK_ASSERT_OK(engine->Destroy(ids[0][3]));
  SK_ASSERT_OK(engine->Destroy(ids[0][17]));
  std::set<std::string> live0(ids[0].begin(), ids[0].end());
  live0.erase(ids[0][3]);
  live0.erase(ids[0][17]);
  std::set<std::string> live1(ids[1].begin() + 5, ids[1].end());
  EXPECT_TRUE(WaitUntil([&] { return Listed(*engine, users[1]) == live1; },
                        factory().short_ttl * 2 + factory().expiry_slack))
      << "an expired session is still listed";
  EXPECT_EQ(Listed(*engine, users[0]), live0);
  EXPECT_EQ(Listed(*engine, users[2]),
            std::set<std::string>(ids[2].begin(), ids[2].end()));
  EXPECT_TRUE(Listed(*engine, "nobody").empty());

  auto destroyed = engine->DestroyUser(users[2], ids[2][7]);
  ASSERT_TRUE(destroyed.ok()) << destroyed.status().ToString();
  EXPECT_EQ(*destroyed, 19u);
  EXPECT_EQ(Listed(*engine, users[2]), std::set<std::string>{ids[2][7]});
  for (int i = 0; i < 20; ++i) {
    auto exists = engine->Exists(ids[2][i]);
    ASSERT_TRUE(exists.ok());
    EXPECT_EQ(*exists, i == 7) << "session " << i;
  }
  // The other users keep theirs.
  EXPECT_EQ(Listed(*engine, users[0]), live0);
  destroyed = engine->DestroyUser(users[0]);
  ASSERT_TRUE(destroyed.ok()) << destroyed.status().ToString();
  EXPECT_EQ(*destroyed, live0.size());
  EXPECT_TRUE(Listed(*engine, users[0]).empty());
}

// A session that expired is dropped from its user's index; back under the
// same id (PHP with strict mode off keeps a cookie's id) and logged in
// again, it joins the index again, so "log out everywhere" ends it.
TEST_P(StoreConformance, UsersSessionBackUnderItsIdJoinsTheIndexAgain) {
  auto engine = UsersEngine(factory());
  ASSERT_NE(engine, nullptr);
  const std::string id = NewId();
  SK_ASSERT_OK(engine->Write(id, "user|s:1:\"x\";", factory().short_ttl));
  SK_ASSERT_OK(engine->SetUser(id, "dana", factory().short_ttl));
  EXPECT_TRUE(WaitUntil([&] { return Listed(*engine, "dana").empty(); },
                        factory().short_ttl * 2 + factory().expiry_slack))
      << "an expired session is still listed";
  SK_ASSERT_OK(engine->Write(id, "user|s:1:\"x\";", kLongTtl));
  SK_ASSERT_OK(engine->SetUser(id, "dana", kLongTtl));
  EXPECT_EQ(Listed(*engine, "dana"), std::set<std::string>{id});
  auto destroyed = engine->DestroyUser("dana");
  ASSERT_TRUE(destroyed.ok()) << destroyed.status().ToString();
  EXPECT_EQ(*destroyed, 1u) << "log out everywhere missed the session";
  auto exists = engine->Exists(id);
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
}

// Logins of one user from 4 threads at once, each with sessions of its
// own: the index is changed under the store's lock, so none is lost.
TEST_P(StoreConformance, UsersConcurrentSetUserLosesNoEntry) {
  auto engine = UsersEngine(factory());
  ASSERT_NE(engine, nullptr);
  constexpr int kThreads = 4;
  constexpr int kEach = 8;
  std::vector<std::string> ids;
  for (int i = 0; i < kThreads * kEach; ++i) {
    ids.push_back(NewId());
    SK_ASSERT_OK(engine->Write(ids.back(), "", kLongTtl));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        SK_EXPECT_OK(engine->SetUser(ids[t * kEach + i], "dave", kLongTtl));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(Listed(*engine, "dave"),
            std::set<std::string>(ids.begin(), ids.end()));
}

// A session whose user changes (A logs out, B logs in on it) is B's only;
// the index and owner records are never taken for sessions.
TEST_P(StoreConformance, UsersSessionChangingUserIsListedForTheNewOneOnly) {
  auto engine = UsersEngine(factory());
  ASSERT_NE(engine, nullptr);
  const std::string shared = NewId(), own = NewId();
  SK_ASSERT_OK(engine->Write(shared, "", kLongTtl));
  SK_ASSERT_OK(engine->Write(own, "", kLongTtl));
  SK_ASSERT_OK(engine->SetUser(shared, "erin", kLongTtl));
  SK_ASSERT_OK(engine->SetUser(own, "erin", kLongTtl));
  SK_ASSERT_OK(engine->SetUser(shared, "frank", kLongTtl));
  EXPECT_EQ(Listed(*engine, "erin"), std::set<std::string>{own});
  EXPECT_EQ(Listed(*engine, "frank"), std::set<std::string>{shared});
  // Setting the same user again changes nothing.
  SK_ASSERT_OK(engine->SetUser(shared, "frank", kLongTtl));
  EXPECT_EQ(Listed(*engine, "frank"), std::set<std::string>{shared});

  // The store holds 2 sessions, 2 owner records and 2 indexes; the
  // internal records are refused as session ids.
  if (!factory().scans) return;  // the rest is seen through Scan
  std::vector<SessionInfo> all;
  ScanOptions scan;
  do {
    auto page = engine->store().Scan(scan);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    all.insert(all.end(), page->sessions.begin(), page->sessions.end());
    scan.cursor = page->next_cursor;
  } while (!scan.cursor.empty());
  size_t internal = 0;
  for (const SessionInfo& info : all) {
    if (!IsInternalStoreKey(info.id)) continue;
    ++internal;
    EXPECT_FALSE(engine->Read(info.id).ok());
    EXPECT_FALSE(*engine->Exists(info.id));
    EXPECT_FALSE(engine->Write(info.id, "x", kLongTtl).ok());
  }
  EXPECT_EQ(internal, 4u);
}

// With hash_ids and encryption, no key and no stored value holds a user
// name or a session id, yet the user's sessions are listed by id.
TEST_P(StoreConformance, UsersWithHashedIdsStoreNoNameNorId) {
  EngineOptions options;
  auto ring = KeyRing::Parse(*GenerateKeyLine(1) + *GenerateHashLine(),
                             "conformance-keys");
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  options.keys = *ring;
  options.hash_ids = true;
  auto engine = UsersEngine(factory(), options);
  ASSERT_NE(engine, nullptr);
  const std::string user = "grace.hopper@example.com";
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.insert(NewId());
    SK_ASSERT_OK(engine->Write(*ids.rbegin(), "n|i:1;", kLongTtl));
    SK_ASSERT_OK(engine->SetUser(*ids.rbegin(), user, kLongTtl));
  }
  EXPECT_EQ(Listed(*engine, user), ids);
  std::vector<std::string> secrets(ids.begin(), ids.end());
  secrets.push_back("grace");
  if (!factory().scans) return;  // the rest is seen through Scan
  size_t records = 0;
  ScanOptions scan;
  do {
    auto page = engine->store().Scan(scan);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const SessionInfo& info : page->sessions) {
      ++records;
      auto value = engine->store().Read(info.id);
      ASSERT_TRUE(value.ok()) << value.status().ToString();
      for (const std::string& secret : secrets) {
        EXPECT_EQ(info.id.find(secret), std::string::npos);
        EXPECT_EQ(value->data.find(secret), std::string::npos);
      }
    }
    scan.cursor = page->next_cursor;
  } while (!scan.cursor.empty());
  EXPECT_EQ(records, 3u + 3u + 1u);  // sessions, owner records, the index
  auto destroyed = engine->DestroyUser(user, *ids.begin());
  ASSERT_TRUE(destroyed.ok()) << destroyed.status().ToString();
  EXPECT_EQ(*destroyed, 2u);
  EXPECT_EQ(Listed(*engine, user), std::set<std::string>{*ids.begin()});
}

}  // namespace
}  // namespace sessionkit::conformance
