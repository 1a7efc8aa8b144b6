// Compression in the engine: what Write stores under each setting, and that
// every frame reads back under every other setting.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/fake_store.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "support/shop_session.h"

namespace sessionkit {
namespace {

using test::FakeStore;
using test::RandomBytes;
using test::ShopSession;

const FrameCodec kEveryCodec[] = {FrameCodec::kNone, FrameCodec::kZstd,
                                  FrameCodec::kLz4, FrameCodec::kSnappy,
                                  FrameCodec::kZlib};

std::string Name(FrameCodec codec) {
  return std::string(FrameCodecName(codec));
}

// An engine over its own FakeStore, compressing with `codec`.
struct CodecEngine {
  explicit CodecEngine(FrameCodec codec, size_t threshold = 2048) {
    auto owned = std::make_unique<FakeStore>();
    store = owned.get();
    EngineOptions options;
    options.compression.codec = codec;
    options.compression.threshold = threshold;
    options.log = [this](LogLevel, std::string_view message) {
      warnings.emplace_back(message);
    };
    engine = std::make_unique<SessionEngine>(std::move(owned), options);
  }

  // The header of what the store holds for `id`.
  FrameHeader Stored(const std::string& id) {
    auto frame = DecodeFrame(store->data[id]);
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    return frame.ok() ? frame->header : FrameHeader{};
  }

  // Reads `id`: the payload, expecting a live session and no warning.
  std::string ReadBack(const std::string& id) {
    auto r = engine->Read(id);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return "";
    EXPECT_TRUE(r->found);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    return r->payload;
  }

  // Reads `id`, expecting an unreadable value: a warning containing
  // `words` and an empty, read-only session.
  void ExpectUnreadable(const std::string& id, const std::string& words) {
    auto r = engine->Read(id);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->found);
    EXPECT_TRUE(r->payload.empty());
    EXPECT_EQ(r->lock.state, LockState::kReadOnly);
    ASSERT_EQ(warnings.size(), 1u) << words;
    EXPECT_NE(warnings[0].find(words), std::string::npos) << warnings[0];
    warnings.clear();
  }

  FakeStore* store;
  std::unique_ptr<SessionEngine> engine;
  std::vector<std::string> warnings;
};

const std::string kId = "abcdefghijklmnopqrstuvwxyz012345";
constexpr Duration kTtl(60000);

TEST(EngineCompressionTest, SmallPayloadsStayRaw) {
  for (FrameCodec codec : kEveryCodec) {
    CodecEngine e(codec);
    const std::string payload = ShopSession(1800);
    ASSERT_LT(payload.size(), kDefaultCompressionThreshold);
    ASSERT_TRUE(e.engine->Write(kId, payload, kTtl).ok());
    EXPECT_EQ(e.Stored(kId).codec, FrameCodec::kNone) << Name(codec);
    EXPECT_EQ(e.store->data[kId].size(), kFrameHeaderSize + payload.size());
    EXPECT_EQ(e.ReadBack(kId), payload);
  }
}

TEST(EngineCompressionTest, IncompressibleDataStaysRaw) {
  for (FrameCodec codec : kEveryCodec) {
    CodecEngine e(codec);
    const std::string payload = RandomBytes(20000);
    ASSERT_TRUE(e.engine->Write(kId, payload, kTtl).ok());
    EXPECT_EQ(e.Stored(kId).codec, FrameCodec::kNone) << Name(codec);
    EXPECT_EQ(e.ReadBack(kId), payload);
  }
}

TEST(EngineCompressionTest, ShopSessionsAreCompressedAndReadBack) {
  for (FrameCodec codec : kEveryCodec) {
    for (size_t size : {2048, 4096, 10240, 40960}) {
      CodecEngine e(codec);
      const std::string payload = ShopSession(size, static_cast<int>(size));
      ASSERT_TRUE(e.engine->Write(kId, payload, kTtl).ok());
      EXPECT_EQ(e.Stored(kId).codec, codec) << Name(codec) << " " << size;
      if (codec != FrameCodec::kNone) {
        EXPECT_LT(e.store->data[kId].size(), payload.size() * 3 / 4)
            << Name(codec) << " " << size;
      }
      EXPECT_EQ(e.ReadBack(kId), payload);
    }
  }
}

TEST(EngineCompressionTest, ThresholdIsTheSmallestSizeCompressed) {
  CodecEngine e(FrameCodec::kZstd, 5000);
  const std::string below = std::string(4999, 'a');
  ASSERT_TRUE(e.engine->Write(kId, below, kTtl).ok());
  EXPECT_EQ(e.Stored(kId).codec, FrameCodec::kNone);
  ASSERT_TRUE(e.engine->Write(kId, below + "a", kTtl).ok());
  EXPECT_EQ(e.Stored(kId).codec, FrameCodec::kZstd);
  CodecEngine zero(FrameCodec::kZstd, 0);
  ASSERT_TRUE(
      zero.engine->Write(kId, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", kTtl)
          .ok());
  EXPECT_EQ(zero.Stored(kId).codec, FrameCodec::kZstd);
  EXPECT_EQ(zero.ReadBack(kId), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
}

// Settings change with no session lost: a frame written under any codec
// reads back under any other setting, including none.
TEST(EngineCompressionTest, EveryFrameReadsUnderEverySetting) {
  const std::string payload = ShopSession(12000);
  for (FrameCodec written : kEveryCodec) {
    CodecEngine writer(written);
    ASSERT_TRUE(writer.engine->Write(kId, payload, kTtl).ok());
    ASSERT_EQ(writer.Stored(kId).codec, written);
    for (FrameCodec setting : kEveryCodec) {
      CodecEngine reader(setting);
      reader.store->data = writer.store->data;
      EXPECT_EQ(reader.ReadBack(kId), payload)
          << Name(written) << " read under " << Name(setting);
    }
  }
}

TEST(EngineCompressionTest, AWriteMayBringItsOwnSettings) {
  CodecEngine e(FrameCodec::kNone);
  const std::string payload = ShopSession(8000);
  for (FrameCodec codec : kEveryCodec) {
    CompressionOptions options;
    options.codec = codec;
    options.level = 5;
    ASSERT_TRUE(e.engine->Write(kId, payload, kTtl, {}, options).ok());
    EXPECT_EQ(e.Stored(kId).codec, codec);
    EXPECT_EQ(e.ReadBack(kId), payload);
  }
  ASSERT_TRUE(e.engine->Write(kId, payload, kTtl).ok());
  EXPECT_EQ(e.Stored(kId).codec, FrameCodec::kNone);
}

TEST(EngineCompressionTest, UnknownCodecIdIsUnreadableWithAClearWarning) {
  CodecEngine e(FrameCodec::kZstd);
  FrameHeader header;
  header.session_version = 5;
  std::string stored = EncodeFrame(header, "abc");
  stored[3] = 9;
  e.store->data[kId] = stored;
  e.ExpectUnreadable(kId, "unknown codec id 9");
  EXPECT_EQ(e.store->data[kId], stored);  // left for a build that knows it
}

TEST(EngineCompressionTest, DamagedPayloadsAreUnreadableNamingTheCodec) {
  const std::string payload = ShopSession(9000);
  for (FrameCodec codec : kEveryCodec) {
    if (codec == FrameCodec::kNone) continue;
    CodecEngine e(codec);
    ASSERT_TRUE(e.engine->Write(kId, payload, kTtl).ok());
    const std::string good = e.store->data[kId];
    e.store->data[kId] = good.substr(0, kFrameHeaderSize + 10);
    e.ExpectUnreadable(kId, Name(codec) + " payload does not decompress");
    e.store->data[kId] = good.substr(0, kFrameHeaderSize);
    e.ExpectUnreadable(kId, Name(codec) + " payload");
    // A frame that names a codec its payload was not made with.
    std::string swapped = good;
    swapped[3] = static_cast<char>(
        codec == FrameCodec::kZlib ? FrameCodec::kZstd : FrameCodec::kZlib);
    e.store->data[kId] = swapped;
    auto r = e.engine->Read(kId);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->found) << Name(codec);
    EXPECT_EQ(e.warnings.size(), 1u);
  }
}

TEST(EngineCompressionTest, DecompressionBombIsRefused) {
  CodecEngine e(FrameCodec::kNone);
  FrameHeader header;
  header.codec = FrameCodec::kLz4;
  // An lz4 payload that claims 4 GiB - 1 bytes.
  e.store->data[kId] = EncodeFrame(header, std::string(12, '\xff'));
  e.ExpectUnreadable(kId, "claims 4294967295 bytes decompressed");
}

TEST(EngineCompressionTest, CodecNamesParse) {
  for (FrameCodec codec : kEveryCodec) {
    auto parsed = ParseCompressionCodec(FrameCodecName(codec));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, codec);
  }
  EXPECT_EQ(*ParseCompressionCodec("ZSTD"), FrameCodec::kZstd);
  EXPECT_EQ(*ParseCompressionCodec("1"), FrameCodec::kZstd);
  EXPECT_EQ(*ParseCompressionCodec("On"), FrameCodec::kZstd);
  EXPECT_EQ(*ParseCompressionCodec(""), FrameCodec::kNone);
  EXPECT_EQ(*ParseCompressionCodec("off"), FrameCodec::kNone);
  auto bad = ParseCompressionCodec("brotli");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_NE(bad.status().message().find("compression must be"),
            std::string::npos);
  EXPECT_NE(bad.status().message().find("not \"brotli\""), std::string::npos);
}

}  // namespace
}  // namespace sessionkit
