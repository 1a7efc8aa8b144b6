// The session version through the C ABI: sk_read returns the version read,
// and sk_write stores the next one from the sk_lock's read_version.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "capi/c_api_internal.h"
#include "capi/c_api_test_support.h"
#include "sessionkit/c_api.h"
#include "sessionkit/frame.h"
#include "sessionkit/store.h"

namespace sessionkit {
namespace {

using test::CApiTest;
using test::kId;
using test::ScopedResult;
using test::StoredHeader;

TEST_F(CApiTest, VersionReadIsReturnedAndPassedBack) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.get()), SK_OK);
  EXPECT_EQ(r->version, 0u) << "nothing stored, nothing read";
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "n|i:1;", 6, 60000, nullptr,
                     r.reset()),
            SK_OK);
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_GT(r->version, 0u);
  EXPECT_EQ(r->version, StoredHeader(e).session_version);

  // A version far ahead of this clock (a host whose clock is ahead wrote
  // it): only a write that passes back what it read goes above it.
  const uint64_t ahead = uint64_t{1} << 62;
  FrameHeader header;
  header.session_version = ahead;
  ASSERT_TRUE(
      EngineOf(e)
          ->store()
          .Write(kId, EncodeFrame(header, "n|i:2;"), std::chrono::seconds(60))
          .ok());
  sk_lock_options opts = SK_LOCK_OPTIONS_INIT;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK)
      << r.message();
  ASSERT_EQ(r->lock_state, SK_LOCK_HELD);
  EXPECT_EQ(r->version, ahead);
  const std::string token(r->lock_token, r->lock_token_len);
  sk_lock held = {SK_LOCK_HELD, token.data(), token.size(),
                  r->version,   nullptr,      0};
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "n|i:3;", 6, 60000, &held, r.reset()),
      SK_OK)
      << r.message();
  EXPECT_EQ(StoredHeader(e).session_version, ahead + 1);

  // Unlocked, the same: the version travels in an sk_lock of no lock.
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r->lock_state, SK_LOCK_NONE);
  EXPECT_EQ(r->version, ahead + 1);
  sk_lock unlocked = {SK_LOCK_NONE, nullptr, 0, r->version, nullptr, 0};
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "n|i:4;", 6, 60000, &unlocked,
                     r.reset()),
            SK_OK);
  EXPECT_EQ(StoredHeader(e).session_version, ahead + 2);

  // A write that passes nothing back stores this clock's version.
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "n|i:5;", 6, 60000, nullptr,
                     r.reset()),
            SK_OK);
  EXPECT_LT(StoredHeader(e).session_version, ahead);
  EXPECT_GT(StoredHeader(e).session_version, 0u);
}

}  // namespace
}  // namespace sessionkit
