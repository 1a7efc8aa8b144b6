// Compression through the C ABI: the settings of one write, the codec
// names of the ini entry, and refused values.
#include <gtest/gtest.h>

#include <string>

#include "capi/c_api_internal.h"
#include "capi/c_api_test_support.h"
#include "sessionkit/c_api.h"
#include "sessionkit/frame.h"
#include "support/shop_session.h"

namespace sessionkit {
namespace {

using test::CApiTest;
using test::kId;
using test::ScopedResult;
using test::StoredHeader;

TEST_F(CApiTest, EachWriteCompressesAsItsSettingsSay) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  const std::string payload = test::ShopSession(10000);
  for (sk_codec codec : {SK_CODEC_ZSTD, SK_CODEC_LZ4, SK_CODEC_SNAPPY,
                         SK_CODEC_ZLIB, SK_CODEC_NONE}) {
    sk_compression c = SK_COMPRESSION_INIT;
    c.codec = codec;
    c.level = 4;
    ASSERT_EQ(
        sk_write_compressed(e, kId.data(), kId.size(), payload.data(),
                            payload.size(), 60000, nullptr, &c, r.reset()),
        SK_OK)
        << r.message();
    EXPECT_EQ(static_cast<int>(StoredHeader(e).codec), static_cast<int>(codec));
    // Read back by a request whose setting is none (reads need none).
    ASSERT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
    EXPECT_EQ(r->found, 1);
    EXPECT_EQ(r.data(), payload);
    EXPECT_EQ(r->log_count, 0u);
  }
  // Below the threshold: raw.
  sk_compression c = SK_COMPRESSION_INIT;
  c.codec = SK_CODEC_ZSTD;
  c.threshold = payload.size() + 1;
  ASSERT_EQ(sk_write_compressed(e, kId.data(), kId.size(), payload.data(),
                                payload.size(), 60000, nullptr, &c, r.reset()),
            SK_OK);
  EXPECT_EQ(StoredHeader(e).codec, FrameCodec::kNone);
  // NULL: raw, as sk_write.
  ASSERT_EQ(
      sk_write_compressed(e, kId.data(), kId.size(), payload.data(),
                          payload.size(), 60000, nullptr, nullptr, r.reset()),
      SK_OK);
  EXPECT_EQ(StoredHeader(e).codec, FrameCodec::kNone);
}

TEST_F(CApiTest, BadCompressionSettingsAreRefusedNamingThem) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  sk_compression c = SK_COMPRESSION_INIT;
  c.codec = 9;
  EXPECT_EQ(sk_write_compressed(e, kId.data(), kId.size(), "a|i:1;", 6, 60000,
                                nullptr, &c, r.reset()),
            SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("sessionkit.compression: unknown codec id 9"),
            std::string::npos)
      << r.message();
  c = SK_COMPRESSION_INIT;
  c.level = 23;
  EXPECT_EQ(sk_write_compressed(e, kId.data(), kId.size(), "a|i:1;", 6, 60000,
                                nullptr, &c, r.reset()),
            SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("sessionkit.compression_level must be between 0 "
                             "and 22, not 23"),
            std::string::npos)
      << r.message();
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0) << "nothing was written";
}

TEST(CApiCodecTest, NamesParseAsTheIniEntrySpellsThem) {
  ScopedResult r;
  const struct {
    const char* name;
    sk_codec codec;
  } kCases[] = {{"none", SK_CODEC_NONE}, {"zstd", SK_CODEC_ZSTD},
                {"lz4", SK_CODEC_LZ4},   {"snappy", SK_CODEC_SNAPPY},
                {"zlib", SK_CODEC_ZLIB}, {"Zstd", SK_CODEC_ZSTD},
                {"1", SK_CODEC_ZSTD},    {"", SK_CODEC_NONE}};
  for (const auto& c : kCases) {
    sk_codec codec = SK_CODEC_LZ4;
    ASSERT_EQ(sk_parse_codec(c.name, std::char_traits<char>::length(c.name),
                             &codec, r.reset()),
              SK_OK)
        << c.name;
    EXPECT_EQ(codec, c.codec) << c.name;
  }
  sk_codec codec = SK_CODEC_LZ4;
  EXPECT_EQ(sk_parse_codec("gzip", 4, &codec, r.reset()), SK_INVALID_ARGUMENT);
  EXPECT_EQ(codec, SK_CODEC_LZ4);
  EXPECT_EQ(r.message(),
            "sessionkit.compression must be \"zstd\", \"lz4\", \"snappy\", "
            "\"zlib\" or \"none\", not \"gzip\"");
}

}  // namespace
}  // namespace sessionkit
