#include "codec/compress.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "sessionkit/frame.h"
#include "support/shop_session.h"

namespace sessionkit {
namespace {

using test::RandomBytes;
using test::ShopSession;

const FrameCodec kCodecs[] = {FrameCodec::kZstd, FrameCodec::kLz4,
                              FrameCodec::kSnappy, FrameCodec::kZlib};

std::string Name(FrameCodec codec) {
  return std::string(FrameCodecName(codec));
}

void ExpectCorrupt(const Result<std::string>& r, const std::string& words) {
  ASSERT_FALSE(r.ok()) << words;
  EXPECT_TRUE(r.status().IsCorrupt()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(words), std::string::npos)
      << r.status().message();
}

TEST(CompressTest, EveryCodecRoundTripsEverySize) {
  for (FrameCodec codec : kCodecs) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{2048},
                        size_t{10000}, size_t{40000}, size_t{1} << 20}) {
      for (const std::string& in : {ShopSession(size), RandomBytes(size)}) {
        auto packed = CompressPayload(codec, 0, in);
        ASSERT_TRUE(packed.ok())
            << Name(codec) << ": " << packed.status().ToString();
        auto out = DecompressPayload(codec, *packed);
        ASSERT_TRUE(out.ok())
            << Name(codec) << " " << size << ": " << out.status().ToString();
        EXPECT_TRUE(*out == in) << Name(codec) << " " << size;
      }
    }
  }
}

TEST(CompressTest, ShopSessionsShrink) {
  for (FrameCodec codec : kCodecs) {
    for (size_t size : {1024, 4096, 40960}) {
      const std::string in = ShopSession(size);
      auto packed = CompressPayload(codec, 0, in);
      ASSERT_TRUE(packed.ok());
      EXPECT_LT(packed->size(), in.size() * 3 / 4)
          << Name(codec) << " of " << size << " bytes";
    }
  }
}

TEST(CompressTest, EveryLevelRoundTrips) {
  const std::string in = ShopSession(8000);
  for (FrameCodec codec : kCodecs) {
    for (int level : {-5, 0, 1, 2, 3, 9, 12, 22, 1000}) {
      auto packed = CompressPayload(codec, level, in);
      ASSERT_TRUE(packed.ok()) << Name(codec) << " level " << level;
      auto out = DecompressPayload(codec, *packed);
      ASSERT_TRUE(out.ok()) << Name(codec) << " level " << level;
      EXPECT_TRUE(*out == in);
    }
  }
}

TEST(CompressTest, LevelsAreTheCodecsOwn) {
  EXPECT_EQ(EffectiveCompressionLevel(FrameCodec::kZstd, 0), 3);
  EXPECT_EQ(EffectiveCompressionLevel(FrameCodec::kZstd, 19), 19);
  EXPECT_EQ(EffectiveCompressionLevel(FrameCodec::kZstd, 99), 22);
  EXPECT_EQ(EffectiveCompressionLevel(FrameCodec::kZlib, 0), 6);
  EXPECT_EQ(EffectiveCompressionLevel(FrameCodec::kZlib, 22), 9);
  EXPECT_EQ(EffectiveCompressionLevel(FrameCodec::kLz4, 0), 1);
  EXPECT_EQ(EffectiveCompressionLevel(FrameCodec::kLz4, 22), 12);
  EXPECT_EQ(EffectiveCompressionLevel(FrameCodec::kSnappy, 5), 0);
}

TEST(CompressTest, NoneAndUnknownCodecsAreRefused) {
  EXPECT_TRUE(
      CompressPayload(FrameCodec::kNone, 0, "x").status().IsInvalidArgument());
  ExpectCorrupt(DecompressPayload(static_cast<FrameCodec>(200), "x"),
                "codec id 200 names no compression");
}

TEST(CompressTest, TruncatedPayloadsAreCorruptNamingTheCodec) {
  const std::string in = ShopSession(6000);
  for (FrameCodec codec : kCodecs) {
    auto packed = CompressPayload(codec, 0, in);
    ASSERT_TRUE(packed.ok());
    for (size_t keep : {size_t{0}, size_t{1}, size_t{3}, packed->size() / 2,
                        packed->size() - 1}) {
      ExpectCorrupt(DecompressPayload(codec, packed->substr(0, keep)),
                    Name(codec) + " payload");
    }
  }
}

// zstd (its checksum) and zlib (adler32) detect any flip that alters the
// session (a flip of a bit the decoder ignores, such as padding, reads
// the same session); lz4 and snappy blocks carry no checksum, so a flip may
// decode to other bytes, but it never crashes and never yields more than
// the limit.
TEST(CompressTest, FlippedBitsAreCorruptOrBounded) {
  const std::string in = ShopSession(3000);
  for (FrameCodec codec : kCodecs) {
    auto packed = CompressPayload(codec, 0, in);
    ASSERT_TRUE(packed.ok());
    int corrupt = 0;
    for (size_t at = 0; at < packed->size(); ++at) {
      for (int bit : {0, 3, 7}) {
        std::string bad = *packed;
        bad[at] = static_cast<char>(bad[at] ^ (1 << bit));
        auto out = DecompressPayload(codec, bad, 64 * 1024);
        if (!out.ok()) {
          ++corrupt;
          EXPECT_TRUE(out.status().IsCorrupt()) << out.status().ToString();
          EXPECT_NE(out.status().message().find(Name(codec)), std::string::npos)
              << out.status().message();
        } else if (codec == FrameCodec::kZstd || codec == FrameCodec::kZlib) {
          EXPECT_TRUE(*out == in) << Name(codec) << ": flip at " << at
                                  << " bit " << bit << " went unnoticed";
        } else {
          EXPECT_LE(out->size(), size_t{64 * 1024});
        }
      }
    }
    EXPECT_GT(corrupt, 0) << Name(codec);
  }
}

// A payload that would decompress past the limit is refused, whatever it
// claims, before its output is allocated.
TEST(CompressTest, DecompressionBombsAreRefused) {
  const std::string in(100000, 'a');
  for (FrameCodec codec : kCodecs) {
    auto packed = CompressPayload(codec, 0, in);
    ASSERT_TRUE(packed.ok());
    ExpectCorrupt(DecompressPayload(codec, *packed, 99999),
                  "more than the limit of 99999 bytes");
    EXPECT_TRUE(DecompressPayload(codec, *packed, 100000).ok()) << Name(codec);
  }
  // An lz4 size prefix of 4 GiB - 1: refused without allocating it.
  ExpectCorrupt(DecompressPayload(FrameCodec::kLz4, std::string(8, '\xff')),
                "claims 4294967295 bytes");
  // A real zlib stream of 17 MiB of zeros (17 KiB stored) stops at the
  // default limit.
  const std::string zeros((size_t{17} << 20), '\0');
  uLongf n = compressBound(zeros.size());
  std::string bomb(n, '\0');
  ASSERT_EQ(
      compress2(reinterpret_cast<Bytef*>(bomb.data()), &n,
                reinterpret_cast<const Bytef*>(zeros.data()), zeros.size(), 9),
      Z_OK);
  bomb.resize(n);
  ExpectCorrupt(DecompressPayload(FrameCodec::kZlib, bomb),
                "more than the limit of " +
                    std::to_string(kMaxDecompressedSize) + " bytes");
}

TEST(CompressTest, PayloadsOverTheLimitAreNotCompressed) {
  const std::string big(kMaxDecompressedSize + 1, 'a');
  EXPECT_TRUE(
      CompressPayload(FrameCodec::kZstd, 0, big).status().IsInvalidArgument());
}

TEST(CompressTest, TrailingBytesAfterAZlibStreamAreCorrupt) {
  auto packed = CompressPayload(FrameCodec::kZlib, 0, ShopSession(3000));
  ASSERT_TRUE(packed.ok());
  ExpectCorrupt(DecompressPayload(FrameCodec::kZlib, *packed + "xx"),
                "2 bytes follow the end");
}

}  // namespace
}  // namespace sessionkit
