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
  header.session_version = 0x0102030405060708;
  std::string stored = EncodeFrame(header, payload);
  ASSERT_EQ(stored.size(), 16 + payload.size());
  EXPECT_EQ(kFrameHeaderSize, 16u);
  EXPECT_EQ(static_cast<uint8_t>(stored[0]), 0x9F);
  EXPECT_EQ(stored[1], 'K');
  EXPECT_EQ(stored[2], 2);                           // format version 2
  EXPECT_EQ(static_cast<uint8_t>(stored[6]), 0x12);  // key id big-endian
  EXPECT_EQ(static_cast<uint8_t>(stored[7]), 0x34);
  // The session version, big-endian, right after the key id.
  EXPECT_EQ(stored.substr(8, 8), std::string("\1\2\3\4\5\6\7\x08"));
  EXPECT_EQ(stored.substr(16), payload);
  auto view = DecodeFrame(stored);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->payload, payload);
  EXPECT_EQ(view->header.version, 2);
  EXPECT_EQ(view->header.codec, FrameCodec::kNone);
  EXPECT_EQ(view->header.key_id, 0x1234);
  EXPECT_EQ(view->header.session_version, 0x0102030405060708u);
}

TEST(FrameTest, SessionVersionUsesAllEightBytes) {
  for (uint64_t version :
       {uint64_t{0}, uint64_t{1}, uint64_t{0xff}, uint64_t{0x8000000000000000},
        UINT64_C(0xffffffffffffffff)}) {
    FrameHeader header;
    header.session_version = version;
    const std::string stored = EncodeFrame(header, "x");  // the view's
    auto view = DecodeFrame(stored);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    EXPECT_EQ(view->header.session_version, version);
    EXPECT_EQ(view->payload, "x");
  }
}

// Format 1 (8-byte header, no session version), as every release before
// format 2 wrote it: spelt out byte by byte, not made by EncodeFrame.
TEST(FrameTest, ReadsFormatOneWithSessionVersionZero) {
  const std::string v1 = std::string("\x9FK\x01\0\0\0\0\0", 8) + "count|i:1;";
  auto view = DecodeFrame(v1);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->header.version, 1);
  EXPECT_EQ(view->header.session_version, 0u);
  EXPECT_EQ(view->header.key_id, 0);
  EXPECT_EQ(view->payload, "count|i:1;");
  // A format 1 header alone is an empty payload; its key id is read.
  auto keyed = DecodeFrame(std::string("\x9FK\x01\0\0\0\x01\x02", 8));
  ASSERT_TRUE(keyed.ok()) << keyed.status().ToString();
  EXPECT_EQ(keyed->header.key_id, 0x0102);
  EXPECT_TRUE(keyed->payload.empty());
  // Written again, it becomes format 2 with version 0.
  const std::string again = EncodeFrame(view->header, view->payload);
  EXPECT_EQ(again[2], 2);
  EXPECT_EQ(again.size(), 16 + view->payload.size());
  EXPECT_EQ(DecodeFrame(again)->header.session_version, 0u);
}

TEST(FrameTest, HeaderSizesPerFormat) {
  EXPECT_EQ(FrameHeaderSize(1), 8u);
  EXPECT_EQ(FrameHeaderSize(2), 16u);
  EXPECT_EQ(FrameHeaderSize(0), 0u);
  EXPECT_EQ(FrameHeaderSize(3), 0u);
  EXPECT_EQ(kFrameCommonHeaderSize, 8u);
}

TEST(FrameTest, TruncatedFormatTwoHeaderIsCorrupt) {
  const std::string good = EncodeFrame({}, "");
  ASSERT_EQ(good.size(), 16u);
  // 8 to 15 bytes: the common header is whole, the session version is not.
  for (size_t n = 8; n < 16; ++n) {
    auto r = DecodeFrame(good.substr(0, n));
    ASSERT_FALSE(r.ok()) << n << " bytes";
    EXPECT_TRUE(r.status().IsCorrupt());
    EXPECT_NE(r.status().message().find(
                  std::to_string(n) +
                  " bytes, shorter than the 16-byte header of frame format "
                  "version 2"),
              std::string::npos)
        << r.status().message();
  }
}

TEST(FrameTest, UnknownFormatVersionIsCorrupt) {
  for (uint8_t version : {0, 3, 255}) {
    std::string stored = EncodeFrame({}, "data");
    stored[2] = static_cast<char>(version);
    auto r = DecodeFrame(stored);
    ASSERT_FALSE(r.ok()) << "version " << int{version};
    EXPECT_TRUE(r.status().IsCorrupt());
    EXPECT_NE(r.status().message().find("frame format version " +
                                        std::to_string(version) +
                                        " is not supported"),
              std::string::npos)
        << r.status().message();
  }
}

// The rule of NextSessionVersion: max(read + 1, ms since the epoch * 1024).
TEST(FrameTest, NextSessionVersion) {
  const TimePoint now = FromUnixMillis(1'700'000'000'000);
  const uint64_t by_time = uint64_t{1'700'000'000'000} * 1024;
  EXPECT_EQ(kSessionVersionsPerMs, 1024u);
  // Nothing read, or an older version read: the clock decides.
  EXPECT_EQ(NextSessionVersion(0, now), by_time);
  EXPECT_EQ(NextSessionVersion(by_time - 1, now), by_time);
  // A version read from the clock's present or future: one above it.
  EXPECT_EQ(NextSessionVersion(by_time, now), by_time + 1);
  EXPECT_EQ(NextSessionVersion(by_time + 5000, now), by_time + 5001);
  // A later time goes above an earlier one by 1024 a millisecond.
  EXPECT_EQ(NextSessionVersion(0, now + Duration(1)), by_time + 1024);
  // The edges: no wrap at the top, a clock before the epoch counts as 0.
  EXPECT_EQ(NextSessionVersion(UINT64_MAX, now), UINT64_MAX);
  EXPECT_EQ(NextSessionVersion(UINT64_MAX - 1, now), UINT64_MAX);
  EXPECT_EQ(NextSessionVersion(7, FromUnixMillis(-5)), 8u);
  EXPECT_EQ(NextSessionVersion(0, FromUnixMillis(0)), 1u);
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
  expect_corrupt(good.substr(0, 15), "15 bytes, shorter than the 16-byte");
  expect_corrupt("a|s:1:\"x\";", "does not start with a sessionkit frame");
  std::string v = good;
  v[2] = 3;
  expect_corrupt(v, "version 3 is not supported");
  std::string c = good;
  c[3] = 99;
  expect_corrupt(c, "unknown codec id 99");
  std::string f = good;
  f[4] = 0x40;
  expect_corrupt(f, "unknown flag bits");
}

// Byte 5, reserved (0) before it, is the write count: every value reads,
// and encodes back to the same byte.
TEST(FrameTest, WriteCountRoundTrips) {
  for (int count = 0; count < 256; ++count) {
    FrameHeader h;
    h.write_count = static_cast<uint8_t>(count);
    h.session_version = 7;
    const std::string stored = EncodeFrame(h, "data");
    EXPECT_EQ(static_cast<uint8_t>(stored[5]), count);
    auto r = DecodeFrame(stored);
    ASSERT_TRUE(r.ok()) << count << ": " << r.status().message();
    EXPECT_EQ(r->header.write_count, count);
    EXPECT_EQ(r->header.session_version, 7u);
    EXPECT_EQ(r->payload, "data");
  }
  // A frame of a build before write counts (byte 5 zero) reads as 0.
  auto old = DecodeFrame(EncodeFrame({}, "x"));
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->header.write_count, 0);
}

// Each header byte has exactly one value (or, for the write count, the key
// id and the session version, any value) this build reads: every other value of
// it makes the frame unreadable, whatever the other bytes say. The format
// version byte also reads 1, with a shorter header (ReadsFormatOne...),
// the codec byte every codec id of FrameCodec (the payload is not decoded
// here), and the flags byte the tombstone flag on a frame without payload
// (TombstonesAre...) and the pointer flag on one with a payload
// (PointersAre...).
TEST(FrameTest, EveryOtherValueOfAHeaderByteIsCorrupt) {
  const std::string good = EncodeFrame({}, "data");
  struct Byte {
    size_t at;
    uint8_t accepted;
    const char* words;  // in the message of every other value
  };
  for (const Byte& b : {Byte{0, kFrameMagic0, "sessionkit frame header"},
                        Byte{1, kFrameMagic1, "sessionkit frame header"},
                        Byte{2, kFrameVersion, "version"}, Byte{3, 0, "codec"},
                        Byte{4, 0, "flag"}}) {
    for (int value = 0; value < 256; ++value) {
      std::string stored = good;
      stored[b.at] = static_cast<char>(value);
      auto r = DecodeFrame(stored);
      if (value == b.accepted || (b.at == 2 && value == 1) ||
          (b.at == 3 && value <= kMaxFrameCodec) ||
          (b.at == 4 && value == kFrameFlagPointer)) {
        EXPECT_TRUE(r.ok()) << "byte " << b.at << " = " << value;
        continue;
      }
      ASSERT_FALSE(r.ok()) << "byte " << b.at << " = " << value
                           << " was read as a frame";
      EXPECT_TRUE(r.status().IsCorrupt());
      EXPECT_NE(r.status().message().find(b.words), std::string::npos)
          << "byte " << b.at << " = " << value << ": " << r.status().message();
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

TEST(FrameTest, TombstonesAreFramesWithTheirFlagAndVersion) {
  const std::string mark = EncodeTombstoneFrame(77);
  EXPECT_TRUE(IsTombstoneFrame(mark));
  auto view = DecodeFrame(mark);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->header.flags, kFrameFlagTombstone);
  EXPECT_EQ(view->header.session_version, 77u);
  EXPECT_TRUE(view->payload.empty());
  EXPECT_FALSE(IsTombstoneFrame(EncodeFrame({}, "")));
  EXPECT_FALSE(IsTombstoneFrame("not a frame"));
  EXPECT_FALSE(IsTombstoneFrame(""));
  FrameHeader with_data;
  with_data.flags = kFrameFlagTombstone;
  auto bad = DecodeFrame(EncodeFrame(with_data, "x"));
  EXPECT_TRUE(bad.status().IsCorrupt()) << bad.status().ToString();
}

TEST(FrameTest, PointersAreFramesWithAPayloadAndNoTombstone) {
  FrameHeader pointer;
  pointer.flags = kFrameFlagPointer;
  pointer.session_version = 9;
  // The view points into the stored bytes: keep them.
  const std::string stored = EncodeFrame(pointer, "targetkey");
  auto view = DecodeFrame(stored);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->header.flags, kFrameFlagPointer);
  EXPECT_EQ(view->payload, "targetkey");
  EXPECT_FALSE(IsTombstoneFrame(EncodeFrame(pointer, "targetkey")));
  auto empty = DecodeFrame(EncodeFrame(pointer, ""));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("pointer flag and no payload"),
            std::string::npos)
      << empty.status().ToString();
  FrameHeader both;
  both.flags = kFrameFlagPointer | kFrameFlagTombstone;
  auto bad = DecodeFrame(EncodeFrame(both, ""));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tombstone and pointer"),
            std::string::npos)
      << bad.status().ToString();
}

TEST(FrameTest, CodecNames) {
  EXPECT_EQ(FrameCodecName(FrameCodec::kNone), "none");
}

// Stored expiries past what a TimePoint holds (a row written by hand)
// saturate: no overflow (UBSan), and they still compare as far future.
TEST(ClockTest, MillisecondsPastTheClocksRangeSaturate) {
  const TimePoint far = FromUnixMillis(9'999'999'999'999);
  EXPECT_EQ(far, TimePoint(Clock::duration::max()));
  EXPECT_GT(far, FromUnixMillis(4'102'444'800'000));  // 2100-01-01
  EXPECT_EQ(FromUnixMillis(INT64_MIN), TimePoint(-Clock::duration::max()));
  EXPECT_EQ(ToUnixMillis(FromUnixMillis(1'700'000'000'123)), 1'700'000'000'123);
}

}  // namespace
}  // namespace sessionkit
