#include "sessionkit/frame.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace sessionkit {
namespace {

bool KnownCodec(uint8_t codec) { return codec <= kMaxFrameCodec; }

constexpr uint8_t kKnownFlags = kFrameFlagTombstone | kFrameFlagPointer;

// The session version field of format 2: 8 bytes after the common header.
static_assert(FrameHeaderSize(2) == kFrameCommonHeaderSize + 8);

}  // namespace

std::string_view FrameCodecName(FrameCodec codec) {
  switch (codec) {
    case FrameCodec::kNone:
      return "none";
    case FrameCodec::kZstd:
      return "zstd";
    case FrameCodec::kLz4:
      return "lz4";
    case FrameCodec::kSnappy:
      return "snappy";
    case FrameCodec::kZlib:
      return "zlib";
  }
  return "unknown";
}

std::string EncodeFrame(const FrameHeader& header, std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeaderSize + payload.size());
  out.push_back(static_cast<char>(kFrameMagic0));
  out.push_back(static_cast<char>(kFrameMagic1));
  out.push_back(static_cast<char>(kFrameVersion));
  out.push_back(static_cast<char>(header.codec));
  out.push_back(static_cast<char>(header.flags));
  out.push_back(static_cast<char>(header.write_count));
  out.push_back(static_cast<char>(header.key_id >> 8));
  out.push_back(static_cast<char>(header.key_id & 0xff));
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(header.session_version >> shift));
  }
  out.append(payload);
  return out;
}

Result<FrameView> DecodeFrame(std::string_view stored) {
  if (stored.size() < kFrameCommonHeaderSize) {
    return Status::Corrupt("stored value is " + std::to_string(stored.size()) +
                           " bytes, shorter than the " +
                           std::to_string(kFrameCommonHeaderSize) +
                           "-byte frame header");
  }
  auto byte = [&](size_t i) { return static_cast<uint8_t>(stored[i]); };
  if (byte(0) != kFrameMagic0 || byte(1) != kFrameMagic1) {
    return Status::Corrupt(
        "stored value does not start with a sessionkit frame header");
  }
  FrameView view;
  view.header.version = byte(2);
  const size_t header_size = FrameHeaderSize(view.header.version);
  if (header_size == 0) {
    return Status::Corrupt("frame format version " +
                           std::to_string(view.header.version) +
                           " is not supported (this build reads versions 1 "
                           "to " +
                           std::to_string(kFrameVersion) + ")");
  }
  if (stored.size() < header_size) {
    return Status::Corrupt("stored value is " + std::to_string(stored.size()) +
                           " bytes, shorter than the " +
                           std::to_string(header_size) +
                           "-byte header of frame format version " +
                           std::to_string(view.header.version));
  }
  if (!KnownCodec(byte(3))) {
    return Status::Corrupt("frame names unknown codec id " +
                           std::to_string(byte(3)));
  }
  view.header.codec = static_cast<FrameCodec>(byte(3));
  view.header.flags = byte(4);
  if ((view.header.flags & ~kKnownFlags) != 0) {
    return Status::Corrupt("frame has unknown flag bits (flags byte " +
                           std::to_string(view.header.flags) + ")");
  }
  view.header.write_count = byte(5);
  view.header.key_id = static_cast<uint16_t>(byte(6) << 8 | byte(7));
  for (size_t i = kFrameCommonHeaderSize; i < header_size; ++i) {
    view.header.session_version = view.header.session_version << 8 | byte(i);
  }
  view.payload = stored.substr(header_size);
  if ((view.header.flags & kFrameFlagTombstone) != 0 && !view.payload.empty()) {
    return Status::Corrupt("frame has the tombstone flag and " +
                           std::to_string(view.payload.size()) +
                           " bytes of payload");
  }
  if ((view.header.flags & kFrameFlagPointer) != 0) {
    if ((view.header.flags & kFrameFlagTombstone) != 0) {
      return Status::Corrupt("frame has both the tombstone and pointer flags");
    }
    if (view.payload.empty()) {
      return Status::Corrupt("frame has the pointer flag and no payload");
    }
  }
  return view;
}

uint64_t NextSessionVersion(uint64_t read_version, TimePoint now) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  const int64_t ms = ToUnixMillis(now);
  uint64_t by_time = 0;
  if (ms > 0) {
    by_time = static_cast<uint64_t>(ms) > kMax / kSessionVersionsPerMs
                  ? kMax
                  : static_cast<uint64_t>(ms) * kSessionVersionsPerMs;
  }
  const uint64_t by_read = read_version == kMax ? kMax : read_version + 1;
  return std::max(by_read, by_time);
}

std::string EncodeTombstoneFrame(uint64_t version) {
  FrameHeader header;
  header.flags = kFrameFlagTombstone;
  header.session_version = version;
  return EncodeFrame(header, {});
}

bool IsTombstoneFrame(std::string_view stored) {
  Result<FrameView> view = DecodeFrame(stored);
  return view.ok() && (view->header.flags & kFrameFlagTombstone) != 0;
}

}  // namespace sessionkit
