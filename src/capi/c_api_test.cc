#include "sessionkit/c_api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>

#include "capi/c_api_internal.h"
#include "sessionkit/engine.h"
#include "sessionkit/store.h"

namespace sessionkit {
namespace {

constexpr std::string_view kId = "abcdefghijklmnopqrstuvwxyz012345";
constexpr std::string_view kOtherId = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

// Frees the result when the test leaves scope, even on a failed ASSERT.
class ScopedResult {
 public:
  ScopedResult() = default;
  ~ScopedResult() { sk_result_free(&r_); }
  sk_result* get() { return &r_; }
  sk_result* operator->() { return &r_; }
  std::string data() const { return std::string(r_.data, r_.data_len); }
  std::string message() const { return r_.message ? r_.message : ""; }
  // Frees and re-initialises, for the next call.
  sk_result* reset() {
    sk_result_free(&r_);
    return &r_;
  }

 private:
  sk_result r_ = SK_RESULT_INIT;
};

class CApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("SK_TEST_TMPDIR");
    std::filesystem::path root =
        base ? base : std::filesystem::temp_directory_path();
    std::filesystem::create_directories(root);
    std::string templ = (root / "capi-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    spec_ = "lmdb://" + dir_ + "/store";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  sk_engine* Engine() {
    ScopedResult r;
    sk_engine* e = sk_engine_get(spec_.data(), spec_.size(), r.get());
    EXPECT_NE(e, nullptr) << r.message();
    EXPECT_EQ(r->code, SK_OK);
    return e;
  }

  std::string dir_;
  std::string spec_;
};

TEST_F(CApiTest, RoundTrip) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;

  // A new session reads as not found, with no data.
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), r.get()), SK_OK);
  EXPECT_EQ(r->found, 0);
  EXPECT_EQ(r->data_len, 0u);
  EXPECT_EQ(r->log_count, 0u);

  const std::string payload = std::string("count|i:1;bin|s:3:\"a\0b\";", 24);
  EXPECT_EQ(sk_write(e, kId.data(), kId.size(), payload.data(), payload.size(),
                     60000, r.reset()),
            SK_OK)
      << r.message();
  EXPECT_EQ(r->message, nullptr);

  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 1);
  EXPECT_EQ(r.data(), payload);
  ASSERT_NE(r->data, nullptr);
  EXPECT_EQ(r->data[r->data_len], '\0');

  EXPECT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 1);
  EXPECT_EQ(sk_exists(e, kOtherId.data(), kOtherId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);

  EXPECT_EQ(sk_touch(e, kId.data(), kId.size(), 60000, r.reset()), SK_OK);
  EXPECT_EQ(sk_touch(e, kOtherId.data(), kOtherId.size(), 60000, r.reset()),
            SK_NOT_FOUND);

  EXPECT_EQ(sk_destroy(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);
  // Destroying a missing session is fine.
  EXPECT_EQ(sk_destroy(e, kId.data(), kId.size(), r.reset()), SK_OK);
}

TEST_F(CApiTest, EmptyPayloadIsFound) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "", 0, 60000, r.get()), SK_OK);
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 1);
  EXPECT_EQ(r->data_len, 0u);
}

TEST_F(CApiTest, SameSpecYieldsSameEngine) {
  sk_engine* a = Engine();
  sk_engine* b = Engine();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(EngineOf(a), EngineOf(b));

  std::string other = spec_ + "2";
  ScopedResult r;
  sk_engine* c = sk_engine_get(other.data(), other.size(), r.get());
  ASSERT_NE(c, nullptr) << r.message();
  EXPECT_NE(c, a);
  // Going back to the first spec still finds the first engine.
  EXPECT_EQ(Engine(), a);
}

TEST_F(CApiTest, ShutdownClosesEnginesAndTheCacheRefills) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "k|i:7;", 6, 60000, r.get()),
            SK_OK);
  sk_shutdown();
  sk_shutdown();  // idempotent
  sk_engine* again = Engine();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(Engine(), again);
  EXPECT_EQ(sk_read(again, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r.data(), "k|i:7;");
}

TEST_F(CApiTest, BadSpecIsReportedEveryTime) {
  const std::string bad = "bogus://" + dir_;
  for (int i = 0; i < 2; ++i) {
    ScopedResult r;
    EXPECT_EQ(sk_engine_get(bad.data(), bad.size(), r.get()), nullptr);
    EXPECT_TRUE(r->code == SK_INVALID_ARGUMENT || r->code == SK_NOT_SUPPORTED)
        << sk_code_name(r->code);
    EXPECT_NE(r.message().find("bogus"), std::string::npos) << r.message();
  }
  const std::string bad_param = spec_ + "?no_such_setting=1";
  ScopedResult r;
  EXPECT_EQ(sk_engine_get(bad_param.data(), bad_param.size(), r.get()),
            nullptr);
  EXPECT_EQ(r->code, SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("no_such_setting"), std::string::npos)
      << r.message();
}

TEST_F(CApiTest, BadIdIsRefusedWithoutEchoingIt) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  const std::string long_id(300, 'a');
  const std::string nul_id = std::string("abcdefghijklmnop\0qrstuvwxyz", 27);
  const std::string_view bad_ids[] = {"../x", long_id, "a b", nul_id, ""};
  for (std::string_view id : bad_ids) {
    ScopedResult r;
    EXPECT_EQ(sk_read(e, id.data(), id.size(), r.get()), SK_INVALID_ARGUMENT);
    EXPECT_NE(r.message().find("session id"), std::string::npos) << r.message();
    EXPECT_EQ(sk_write(e, id.data(), id.size(), "x", 1, 60000, r.reset()),
              SK_INVALID_ARGUMENT);
    EXPECT_EQ(sk_destroy(e, id.data(), id.size(), r.reset()),
              SK_INVALID_ARGUMENT);
    EXPECT_EQ(sk_validate_id(id.data(), id.size(), r.reset()),
              SK_INVALID_ARGUMENT);
    // Strict mode: a malformed id simply does not exist.
    EXPECT_EQ(sk_exists(e, id.data(), id.size(), r.reset()), SK_OK);
    EXPECT_EQ(r->found, 0);
  }
  ScopedResult r;
  sk_read(e, long_id.data(), long_id.size(), r.get());
  EXPECT_NE(r.message().find("300"), std::string::npos) << r.message();
  EXPECT_EQ(r.message().find(long_id.substr(0, 40)), std::string::npos);
  EXPECT_EQ(sk_validate_id(kId.data(), kId.size(), r.reset()), SK_OK);
}

TEST_F(CApiTest, CorruptDataReadsEmptyWithWarningInLog) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  // Bypass the engine's framing: raw bytes that are not a frame.
  ASSERT_TRUE(EngineOf(e)
                  ->store()
                  .Write(kId, "not a frame at all", std::chrono::seconds(60))
                  .ok());
  ScopedResult r;
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), r.get()), SK_OK);
  EXPECT_EQ(r->found, 0);
  EXPECT_EQ(r->data_len, 0u);
  ASSERT_EQ(r->log_count, 1u);
  EXPECT_EQ(r->log[0].level, SK_LOG_WARNING);
  std::string line = r->log[0].message;
  EXPECT_NE(line.find("empty session"), std::string::npos) << line;
  EXPECT_EQ(line.find(std::string(kId)), std::string::npos) << line;

  // The log belongs to that call only.
  EXPECT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->log_count, 0u);
}

TEST_F(CApiTest, GcRemovesOnlyExpired) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "a|i:1;", 6, 1, r.get()),
            SK_OK);
  ASSERT_EQ(sk_write(e, kOtherId.data(), kOtherId.size(), "b|i:2;", 6, 60000,
                     r.reset()),
            SK_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(sk_gc(e, r.reset()), SK_OK) << r.message();
  EXPECT_EQ(r->count, 1u);
  EXPECT_EQ(sk_read(e, kOtherId.data(), kOtherId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 1);
  EXPECT_EQ(sk_gc(e, r.reset()), SK_OK);
  EXPECT_EQ(r->count, 0u);
}

TEST_F(CApiTest, NonPositiveTtlIsRefused) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  EXPECT_EQ(sk_write(e, kId.data(), kId.size(), "x", 1, 0, r.get()),
            SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("gc_maxlifetime"), std::string::npos)
      << r.message();
}

bool AllIn(std::string_view s, std::string_view alphabet) {
  return s.find_first_not_of(alphabet) == std::string_view::npos;
}

TEST_F(CApiTest, CreateIdHonoursLengthAndBits) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_create_id(e, 40, 4, r.get()), SK_OK);
  EXPECT_EQ(r->data_len, 40u);
  EXPECT_TRUE(AllIn(r.data(), "0123456789abcdef")) << r.data();
  ASSERT_EQ(sk_create_id(e, 40, 5, r.reset()), SK_OK);
  EXPECT_EQ(r->data_len, 40u);
  EXPECT_TRUE(AllIn(r.data(), "0123456789abcdefghijklmnopqrstuv"));
  ASSERT_EQ(sk_create_id(e, 48, 6, r.reset()), SK_OK);
  EXPECT_EQ(r->data_len, 48u);
  EXPECT_TRUE(AllIn(r.data(),
                    "0123456789abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ,-"));
  // 22 hex characters carry only 88 bits: the length is raised to 32.
  ASSERT_EQ(sk_create_id(e, 22, 4, r.reset()), SK_OK);
  EXPECT_EQ(r->data_len, 32u);
  std::string first = r.data();
  ASSERT_EQ(sk_create_id(e, 22, 4, r.reset()), SK_OK);
  EXPECT_NE(r.data(), first);

  EXPECT_EQ(sk_create_id(e, 32, 7, r.reset()), SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("7"), std::string::npos) << r.message();
  EXPECT_EQ(sk_generate_id(32, 5, r.reset()), SK_OK);
  EXPECT_EQ(r->data_len, 32u);
}

TEST(CApiRedactTest, HidesPasswords) {
  ScopedResult r;
  const std::string spec =
      "redis://user:s3cret@h1:6379/0?timeout=50ms&password=hunter2|"
      "memcached://h2,h3|mysql://app:p%40ss@db/sessions?table=t";
  ASSERT_EQ(sk_redact_spec(spec.data(), spec.size(), r.get()), SK_OK);
  EXPECT_EQ(r.data(),
            "redis://user:***@h1:6379/0?timeout=50ms&password=***|"
            "memcached://h2,h3|mysql://app:***@db/sessions?table=t");
  const std::string plain = "lmdb:///var/lib/sessionkit?sync=off";
  ASSERT_EQ(sk_redact_spec(plain.data(), plain.size(), r.reset()), SK_OK);
  EXPECT_EQ(r.data(), plain);
  const std::string sentinel = "redis+sentinel://:pw@h1:26379,h2:26379/m";
  ASSERT_EQ(sk_redact_spec(sentinel.data(), sentinel.size(), r.reset()), SK_OK);
  EXPECT_EQ(r.data(), "redis+sentinel://:***@h1:26379,h2:26379/m");
  const std::string commas = "redis://h1,redis://u:pw@h2/1";
  ASSERT_EQ(sk_redact_spec(commas.data(), commas.size(), r.reset()), SK_OK);
  EXPECT_EQ(r.data(), "redis://h1:6379|redis://u:***@h2:6379/1");
}

TEST(CApiResultTest, FreeIsIdempotentAndNullIsRefused) {
  sk_result r = SK_RESULT_INIT;
  sk_result_free(&r);
  sk_result_free(&r);
  sk_result_free(nullptr);
  EXPECT_EQ(sk_validate_id("x", 1, nullptr), SK_INTERNAL);
  EXPECT_EQ(sk_engine_get("lmdb:///tmp/x", 13, nullptr), nullptr);
  EXPECT_EQ(sk_read(nullptr, "x", 1, &r), SK_INTERNAL);
  EXPECT_NE(r.message, nullptr);
  sk_result_free(&r);
  EXPECT_EQ(r.message, nullptr);
  EXPECT_STREQ(sk_code_name(SK_NOT_FOUND), "not found");
  EXPECT_STRNE(sk_version(), "");
}

}  // namespace
}  // namespace sessionkit
