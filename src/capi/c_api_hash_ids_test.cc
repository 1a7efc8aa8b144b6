// sessionkit.hash_ids through the C ABI (sk_engine_settings.hash_ids): an
// engine that keys sessions by their hash, its own cached engine, and
// refused, naming both ini entries, without a key file's hash line.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "capi/c_api_internal.h"
#include "capi/c_api_test_support.h"
#include "sessionkit/c_api.h"
#include "sessionkit/keyring.h"

namespace sessionkit {
namespace c_api_hash_ids_test {
namespace {

using test::CApiTest;
using test::kId;
using test::ScopedResult;

class CApiHashIdsTest : public CApiTest {
 protected:
  // A key file of `text` (mode 0600); returns its path.
  std::string KeyFile(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(chmod(path.c_str(), 0600), 0);
    return path;
  }
  sk_engine_settings Settings(const std::string& path, int hash_ids) {
    sk_engine_settings s = SK_ENGINE_SETTINGS_INIT;
    s.keys_path = path.data();
    s.keys_path_len = path.size();
    s.hash_ids = hash_ids;
    return s;
  }
};

TEST_F(CApiHashIdsTest, SessionsAreKeyedByTheHashOfTheirId) {
  const std::string hash_line = *GenerateHashLine();
  const std::string path = KeyFile("keys", *GenerateKeyLine(1) + hash_line);
  const sk_engine_settings on = Settings(path, 1);
  const sk_engine_settings off = Settings(path, 0);
  ScopedResult r;
  sk_engine* hashed =
      sk_engine_get_with(spec_.data(), spec_.size(), &on, r.get());
  ASSERT_NE(hashed, nullptr) << r.message();
  sk_engine* plain =
      sk_engine_get_with(spec_.data(), spec_.size(), &off, r.reset());
  ASSERT_NE(plain, nullptr) << r.message();
  EXPECT_NE(hashed, plain);

  const std::string payload = "user|s:5:\"alice\";";
  ASSERT_EQ(sk_write(hashed, kId.data(), kId.size(), payload.data(),
                     payload.size(), 60000, nullptr, r.reset()),
            SK_OK)
      << r.message();
  auto ring = KeyRing::Parse(hash_line, "test");
  ASSERT_TRUE(ring.ok());
  Store& store = EngineOf(hashed)->store();
  EXPECT_TRUE(store.Read(kId).status().IsNotFound());
  EXPECT_TRUE(store.Read(*(*ring)->HashSessionId(kId)).ok());
  ASSERT_EQ(sk_read(hashed, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r.data(), payload);
  // The engine without hash_ids does not find it under the id.
  ASSERT_EQ(sk_read(plain, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);
  sk_engine_release(hashed);
  sk_engine_release(plain);
}

TEST_F(CApiHashIdsTest, RefusedWithoutAHashLineNamingBothSettings) {
  const std::string keys_only = KeyFile("keys-only", *GenerateKeyLine(1));
  for (const std::string& path : {std::string(), keys_only}) {
    const sk_engine_settings settings = Settings(path, 1);
    ScopedResult r;
    EXPECT_EQ(
        sk_engine_get_with(spec_.data(), spec_.size(), &settings, r.get()),
        nullptr);
    EXPECT_EQ(r->code, SK_INVALID_ARGUMENT);
    EXPECT_NE(r.message().find("sessionkit.hash_ids"), std::string::npos)
        << r.message();
    EXPECT_NE(r.message().find("sessionkit.keys"), std::string::npos)
        << r.message();
    EXPECT_NE(r.message().find(path.empty() ? "sessionkit keys generate"
                                            : "sessionkit keys add --hash"),
              std::string::npos)
        << r.message();
    EXPECT_FALSE(IsEngineCached(spec_));
  }
}

}  // namespace
}  // namespace c_api_hash_ids_test
}  // namespace sessionkit
