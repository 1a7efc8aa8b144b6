// Sessions by user through the C ABI (sk_set_user, sk_user_sessions,
// sk_destroy_user): the lists they hand back, bad user names refused by
// name, and with hash_ids a store that holds no user name and no session
// id in the clear.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "capi/c_api_internal.h"
#include "capi/c_api_test_support.h"
#include "sessionkit/c_api.h"
#include "sessionkit/keyring.h"
#include "sessionkit/users.h"

namespace sessionkit {
namespace c_api_users_test {
namespace {

using test::CApiTest;
using test::ScopedResult;

constexpr int64_t kTtlMs = 600000;

std::string Id(int n) {
  return "usr" + std::to_string(n) + "-QwErTyUiOpAsDfGh";
}

std::set<std::string> Lines(const std::string& data) {
  std::set<std::string> lines;
  std::istringstream in(data);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

class CApiUsersTest : public CApiTest {
 protected:
  // Writes session `id` and sets its user; expects both to succeed.
  void Login(sk_engine* e, const std::string& id, const std::string& user) {
    ScopedResult r;
    ASSERT_EQ(sk_write(e, id.data(), id.size(), "a|i:1;", 6, kTtlMs, nullptr,
                       r.get()),
              SK_OK)
        << r.message();
    ASSERT_EQ(sk_set_user(e, id.data(), id.size(), user.data(), user.size(),
                          kTtlMs, r.reset()),
              SK_OK)
        << r.message();
  }
  std::set<std::string> List(sk_engine* e, const std::string& user,
                             int* known = nullptr) {
    ScopedResult r;
    EXPECT_EQ(sk_user_sessions(e, user.data(), user.size(), r.get()), SK_OK)
        << r.message();
    std::set<std::string> ids = Lines(r.data());
    EXPECT_EQ(r->removed, ids.size());
    if (known != nullptr) *known = r->found;
    return ids;
  }
  std::string KeyFile(const std::string& text) {
    const std::string path = dir_ + "/keys";
    std::ofstream(path) << text;
    EXPECT_EQ(chmod(path.c_str(), 0600), 0);
    return path;
  }
};

TEST_F(CApiUsersTest, ListsAndDestroysAUsersSessionsButTheCurrentOne) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  const std::string user("gr\0ce", 5);  // binary safe
  for (int i = 0; i < 5; ++i) Login(e, Id(i), user);
  Login(e, Id(9), "someone else");
  int known = 0;
  EXPECT_EQ(List(e, user, &known),
            (std::set<std::string>{Id(0), Id(1), Id(2), Id(3), Id(4)}));
  EXPECT_EQ(known, 1);
  EXPECT_TRUE(List(e, "gr").empty());  // the name is not cut at its NUL

  ScopedResult r;
  const std::string current = Id(2);
  ASSERT_EQ(sk_destroy_user(e, user.data(), user.size(), current.data(),
                            current.size(), r.get()),
            SK_OK)
      << r.message();
  EXPECT_EQ(r->removed, 4u);
  EXPECT_EQ(List(e, user), std::set<std::string>{current});
  for (int i : {0, 1, 2, 3, 4, 9}) {
    const std::string id = Id(i);
    ASSERT_EQ(sk_exists(e, id.data(), id.size(), r.reset()), SK_OK);
    EXPECT_EQ(r->found, i == 2 || i == 9) << id;
  }
  // Without an exception (NULL), the current one goes too.
  ASSERT_EQ(sk_destroy_user(e, user.data(), user.size(), nullptr, 0, r.reset()),
            SK_OK);
  EXPECT_EQ(r->removed, 1u);
  EXPECT_TRUE(List(e, user).empty());
  sk_engine_release(e);
}

TEST_F(CApiUsersTest, BadUserNamesAndReservedIdsAreRefusedByName) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  const std::string id = Id(1);
  const std::string long_user(SK_MAX_USER_LEN + 1, 'u');
  ScopedResult r;
  EXPECT_EQ(sk_set_user(e, id.data(), id.size(), "", 0, kTtlMs, r.get()),
            SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("user name is empty"), std::string::npos)
      << r.message();
  EXPECT_EQ(sk_user_sessions(e, long_user.data(), long_user.size(), r.reset()),
            SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("user name is too long (257 bytes; at most 256"),
            std::string::npos)
      << r.message();
  EXPECT_EQ(sk_destroy_user(e, long_user.data(), SK_MAX_USER_LEN, "bad id!", 7,
                            r.reset()),
            SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("session id"), std::string::npos) << r.message();
  EXPECT_EQ(sk_set_user(e, "bad id!", 7, "u", 1, kTtlMs, r.reset()),
            SK_INVALID_ARGUMENT);

  // The index's own keys are no session ids: not read, not written, not
  // accepted by strict mode.
  Login(e, id, "u");
  std::vector<std::string> internal;
  auto page = EngineOf(e)->store().Scan(ScanOptions{});
  ASSERT_TRUE(page.ok());
  for (const SessionInfo& s : page->sessions) {
    if (IsInternalStoreKey(s.id)) internal.push_back(s.id);
  }
  ASSERT_EQ(internal.size(), 2u);  // the index and the owner record
  for (const std::string& key : internal) {
    EXPECT_EQ(sk_read(e, key.data(), key.size(), nullptr, r.reset()),
              SK_INVALID_ARGUMENT);
    EXPECT_NE(r.message().find("sessionkit keeps for its own records"),
              std::string::npos)
        << r.message();
    EXPECT_EQ(
        sk_write(e, key.data(), key.size(), "x", 1, kTtlMs, nullptr, r.reset()),
        SK_INVALID_ARGUMENT);
    EXPECT_EQ(sk_exists(e, key.data(), key.size(), r.reset()), SK_OK);
    EXPECT_EQ(r->found, 0);
  }
  sk_engine_release(e);
}

// With hash_ids the store holds neither user names nor session ids: with
// encryption the ids come back from the (encrypted) index; with a key file
// that only hashes they are stored nowhere, and the store keys come back.
TEST_F(CApiUsersTest, WithHashedIdsTheStoreHoldsNoUserNameNorId) {
  const std::string hash_line = *GenerateHashLine();
  for (bool encrypt : {true, false}) {
    SCOPED_TRACE(encrypt ? "encrypted" : "hash line only");
    spec_ = "lmdb://" + dir_ + (encrypt ? "/enc" : "/plain");
    const std::string path =
        KeyFile((encrypt ? *GenerateKeyLine(1) : "") + hash_line);
    sk_engine_settings settings = SK_ENGINE_SETTINGS_INIT;
    settings.keys_path = path.data();
    settings.keys_path_len = path.size();
    settings.hash_ids = 1;
    ScopedResult r;
    sk_engine* e =
        sk_engine_get_with(spec_.data(), spec_.size(), &settings, r.get());
    ASSERT_NE(e, nullptr) << r.message();
    const std::string user = "hidden.user@example.com";
    for (int i = 0; i < 3; ++i) Login(e, Id(i), user);
    int known = -1;
    std::set<std::string> listed = List(e, user, &known);
    auto ring = KeyRing::Parse(hash_line, "test");
    ASSERT_TRUE(ring.ok());
    std::set<std::string> expected;
    for (int i = 0; i < 3; ++i) {
      expected.insert(encrypt ? Id(i) : *(*ring)->HashSessionId(Id(i)));
    }
    EXPECT_EQ(listed, expected);
    EXPECT_EQ(known, encrypt ? 1 : 0);

    Store& store = EngineOf(e)->store();
    auto page = store.Scan(ScanOptions{});
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->sessions.size(), 3u + 3u + 1u);  // sessions, owners, index
    for (const SessionInfo& s : page->sessions) {
      auto value = store.Read(s.id);
      ASSERT_TRUE(value.ok());
      for (const std::string& secret :
           {user, std::string("hidden"), Id(0), Id(1), Id(2)}) {
        EXPECT_EQ(s.id.find(secret), std::string::npos);
        EXPECT_EQ(value->data.find(secret), std::string::npos) << s.id;
      }
    }
    ASSERT_EQ(sk_destroy_user(e, user.data(), user.size(), Id(1).data(),
                              Id(1).size(), r.reset()),
              SK_OK)
        << r.message();
    EXPECT_EQ(r->removed, 2u);
    EXPECT_EQ(List(e, user).size(), 1u);
    sk_engine_release(e);
  }
}

}  // namespace
}  // namespace c_api_users_test
}  // namespace sessionkit
