#include "sessionkit/frame.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace sessionkit {
namespace {

TEST(FrameTest, RoundTripsPayloadAndHeader) {
  std::string payload("a|s:1:\"b\";\0\xff", 13);
  FrameHeader header;
  header.key_id = 0x1234;
  std::string stored = EncodeFrame(header, payload);
  ASSERT_EQ(stored.size(), kFrameHeaderSize + payload.size());
  EXPECT_EQ(static_cast<uint8_t>(stored[0]), 0x9F);
  EXPECT_EQ(stored[1], 'K');
  EXPECT_EQ(static_cast<uint8_t>(stored[6]), 0x12);  // key id big-endian
  EXPECT_EQ(static_cast<uint8_t>(stored[7]), 0x34);
  auto view = DecodeFrame(stored);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->payload, payload);
  EXPECT_EQ(view->header.version, kFrameVersion);
  EXPECT_EQ(view->header.codec, FrameCodec::kNone);
  EXPECT_EQ(view->header.key_id, 0x1234);
}

TEST(FrameTest, EmptyPayload) {
  auto view = DecodeFrame(EncodeFrame({}, ""));
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE(view->payload.empty());
}

TEST(FrameTest, RejectsCorruptHeaders) {
  std::string good = EncodeFrame({}, "data");
  auto expect_corrupt = [](std::string stored, const std::string& words) {
    auto r = DecodeFrame(stored);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorrupt());
    EXPECT_NE(r.status().message().find(words), std::string::npos)
        << r.status().message();
  };
  expect_corrupt("", "shorter than the 8-byte frame header");
  expect_corrupt(good.substr(0, 7), "7 bytes");
  expect_corrupt("a|s:1:\"x\";", "does not start with a sessionkit frame");
  std::string v = good;
  v[2] = 2;
  expect_corrupt(v, "version 2 is not supported");
  std::string c = good;
  c[3] = 99;
  expect_corrupt(c, "unknown codec id 99");
  std::string f = good;
  f[4] = 0x40;
  expect_corrupt(f, "unknown flag bits");
  std::string r = good;
  r[5] = 1;
  expect_corrupt(r, "reserved byte");
}

// Each header byte has exactly one value (or, for the key id, any value)
// this build reads: every other value of it makes the frame unreadable,
// whatever the other bytes say.
TEST(FrameTest, EveryOtherValueOfAHeaderByteIsCorrupt) {
  const std::string good = EncodeFrame({}, "data");
  struct Byte {
    size_t at;
    uint8_t accepted;
    const char* words;  // in the message of every other value
  };
  for (const Byte& b : {Byte{0, kFrameMagic0, "sessionkit frame header"},
                        Byte{1, kFrameMagic1, "sessionkit frame header"},
                        Byte{2, kFrameVersion, "version"},
                        Byte{3, 0, "codec"}, Byte{4, 0, "flag"},
                        Byte{5, 0, "reserved byte"}}) {
    for (int value = 0; value < 256; ++value) {
      std::string stored = good;
      stored[b.at] = static_cast<char>(value);
      auto r = DecodeFrame(stored);
      if (value == b.accepted) {
        EXPECT_TRUE(r.ok()) << "byte " << b.at << " = " << value;
        continue;
      }
      ASSERT_FALSE(r.ok()) << "byte " << b.at << " = " << value
                           << " was read as a frame";
      EXPECT_TRUE(r.status().IsCorrupt());
      EXPECT_NE(r.status().message().find(b.words), std::string::npos)
          << "byte " << b.at << " = " << value << ": "
          << r.status().message();
    }
  }
  // Older versions too: version 0 was never written, and a reader must not
  // guess at one.
  std::string old = good;
  old[2] = 0;
  EXPECT_TRUE(DecodeFrame(old).status().IsCorrupt());
}

TEST(FrameTest, EveryLengthBelowTheHeaderIsCorrupt) {
  const std::string good = EncodeFrame({}, "");
  ASSERT_EQ(good.size(), kFrameHeaderSize);
  EXPECT_TRUE(DecodeFrame(good).ok()) << "a header alone is an empty payload";
  for (size_t n = 0; n < kFrameHeaderSize; ++n) {
    auto r = DecodeFrame(good.substr(0, n));
    ASSERT_FALSE(r.ok()) << n << " bytes";
    EXPECT_NE(r.status().message().find(std::to_string(n) + " bytes"),
              std::string::npos)
        << r.status().message();
  }
}

TEST(FrameTest, CodecNames) {
  EXPECT_EQ(FrameCodecName(FrameCodec::kNone), "none");
}

}  // namespace
}  // namespace sessionkit
