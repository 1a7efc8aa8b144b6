#include "legacy/legacy_decode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lz4.h>
#include <snappy.h>
#include <zlib.h>

#include <string>

extern "C" {
#include <liblzf/lzf.h>
}

namespace sessionkit::legacy {
namespace {

using ::testing::HasSubstr;

// A session payload long enough to be compressed by Cm (2048 bytes).
std::string Payload() {
  std::string out = "cart|a:1:{i:0;s:4:\"book\";}user|s:5:\"alice\";";
  while (out.size() < 4000) out += "pad|s:10:\"0123456789\";";
  return out;
}

std::string Gz(const std::string& in) {
  uLongf size = compressBound(in.size());
  std::string out(size, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &size,
            reinterpret_cast<const Bytef*>(in.data()), in.size(), 1);
  out.resize(size);
  return ":gz:" + out;
}

std::string Sn(const std::string& in) {
  std::string out;
  snappy::Compress(in.data(), in.size(), &out);
  return ":sn:" + out;
}

std::string L4(const std::string& in) {
  std::string out(4 + LZ4_compressBound(static_cast<int>(in.size())), '\0');
  const uint32_t n = static_cast<uint32_t>(in.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(n >> (8 * i));
  const int c = LZ4_compress_default(in.data(), out.data() + 4,
                                     static_cast<int>(in.size()),
                                     static_cast<int>(out.size() - 4));
  out.resize(4 + c);
  return ":l4:" + out;
}

std::string Lz(const std::string& in) {
  std::string out(in.size() + 64, '\0');
  const unsigned n = lzf_compress(in.data(), in.size(), out.data(),
                                  static_cast<unsigned>(out.size()));
  out.resize(n);
  return ":lz:" + out;
}

TEST(LegacyDecode, CmPlainDataIsThePayload) {
  auto out = DecodeCmData("user|s:5:\"alice\";");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "user|s:5:\"alice\";");
  EXPECT_EQ(*DecodeCmData(""), "");
  EXPECT_EQ(*DecodeCmData(":x:"), ":x:");
}

TEST(LegacyDecode, CmEveryCompressionTag) {
  const std::string payload = Payload();
  for (const std::string& stored :
       {Gz(payload), Sn(payload), L4(payload), Lz(payload)}) {
    ASSERT_LT(stored.size(), payload.size()) << stored.substr(0, 4);
    auto out = DecodeCmData(stored);
    ASSERT_TRUE(out.ok()) << stored.substr(0, 4) << ": "
                          << out.status().ToString();
    EXPECT_EQ(*out, payload) << stored.substr(0, 4);
  }
}

TEST(LegacyDecode, CmDamagedDataIsCorruptNamingTheTag) {
  const std::string payload = Payload();
  for (std::string stored :
       {Gz(payload), Sn(payload), L4(payload), Lz(payload)}) {
    const std::string tag = stored.substr(0, 4);
    stored.resize(stored.size() / 2);
    auto out = DecodeCmData(stored);
    ASSERT_TRUE(out.status().IsCorrupt()) << tag;
    EXPECT_THAT(out.status().message(), HasSubstr(tag));
  }
  // An lz4 size over the limit is refused before anything is allocated.
  auto huge = DecodeCmData(std::string(":l4:\xff\xff\xff\x7f", 8) + "xx");
  EXPECT_TRUE(huge.status().IsCorrupt());
  EXPECT_THAT(huge.status().message(), HasSubstr("limit"));
  EXPECT_TRUE(DecodeCmData(":lz:").status().IsCorrupt());
}

TEST(LegacyDecode, FilesPathAsPhpNamesIt) {
  EXPECT_EQ(*FilesSessionPath("/s", 0, "abc123"), "/s/sess_abc123");
  EXPECT_EQ(*FilesSessionPath("/s", 2, "abc123"), "/s/a/b/sess_abc123");
  EXPECT_TRUE(FilesSessionPath("/s", 2, "ab").status().IsInvalidArgument());
  EXPECT_TRUE(
      FilesSessionPath("/s", 0, "../etc/passwd").status().IsInvalidArgument());
  EXPECT_TRUE(FilesSessionPath("/s", 0, "").status().IsInvalidArgument());
}

TEST(LegacyDecode, PdoRowExpiryBothSchemas) {
  // 5.4+: sess_lifetime is the expiry (above Symfony's MAX_LIFETIME).
  auto ttl = PdoRowTtl("1700000600", "1700000000", 1700000100);
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(*ttl, Duration(500 * 1000));
  // Before: a lifetime after sess_time.
  auto old = PdoRowTtl("1440", "1700000000", 1700000040);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(*old, Duration(1400 * 1000));
  EXPECT_TRUE(
      PdoRowTtl("1700000600", "1700000000", 1700000601).status().IsNotFound());
  EXPECT_TRUE(
      PdoRowTtl("1440", "1700000000", 1700001441).status().IsNotFound());
  // The second of the expiry itself is still live, as in Symfony's read.
  EXPECT_TRUE(PdoRowTtl("1700000600", "1700000000", 1700000600).ok());
  EXPECT_TRUE(PdoRowTtl("x", "1", 1).status().IsCorrupt());
  EXPECT_TRUE(PdoRowTtl("", "1", 1).status().IsCorrupt());
  EXPECT_TRUE(PdoRowTtl("-1", "1", 1).status().IsCorrupt());
}

}  // namespace
}  // namespace sessionkit::legacy
