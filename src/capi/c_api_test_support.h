// What the C ABI's tests share (c_api_test.cc, c_api_version_test.cc): a
// result freed on scope exit, and a fixture with an LMDB store of its own.
#ifndef SESSIONKIT_CAPI_C_API_TEST_SUPPORT_H_
#define SESSIONKIT_CAPI_C_API_TEST_SUPPORT_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "capi/c_api_internal.h"
#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"

namespace sessionkit::test {

inline constexpr std::string_view kId = "abcdefghijklmnopqrstuvwxyz012345";
inline constexpr std::string_view kOtherId = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

// The header of the frame `e`'s store holds for kId (a default header,
// and a test failure, when there is none or it does not decode).
inline FrameHeader StoredHeader(sk_engine* e) {
  auto record = EngineOf(e)->store().Read(kId);
  EXPECT_TRUE(record.ok()) << record.status().ToString();
  if (!record.ok()) return FrameHeader{};
  auto frame = DecodeFrame(record->data);
  EXPECT_TRUE(frame.ok()) << frame.status().ToString();
  return frame.ok() ? frame->header : FrameHeader{};
}

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

}  // namespace sessionkit::test

#endif  // SESSIONKIT_CAPI_C_API_TEST_SUPPORT_H_
