#include "sessionkit/frame.h"

#include <string>

namespace sessionkit {
namespace {

bool KnownCodec(uint8_t codec) {
  return codec == static_cast<uint8_t>(FrameCodec::kNone);
}

constexpr uint8_t kKnownFlags = kFrameFlagsNone;

}  // namespace

std::string_view FrameCodecName(FrameCodec codec) {
  switch (codec) {
    case FrameCodec::kNone:
      return "none";
  }
  return "unknown";
}

std::string EncodeFrame(const FrameHeader& header, std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeaderSize + payload.size());
  out.push_back(static_cast<char>(kFrameMagic0));
  out.push_back(static_cast<char>(kFrameMagic1));
  out.push_back(static_cast<char>(header.version));
  out.push_back(static_cast<char>(header.codec));
  out.push_back(static_cast<char>(header.flags));
  out.push_back('\0');
  out.push_back(static_cast<char>(header.key_id >> 8));
  out.push_back(static_cast<char>(header.key_id & 0xff));
  out.append(payload);
  return out;
}

Result<FrameView> DecodeFrame(std::string_view stored) {
  if (stored.size() < kFrameHeaderSize) {
    return Status::Corrupt("stored value is " + std::to_string(stored.size()) +
                           " bytes, shorter than the " +
                           std::to_string(kFrameHeaderSize) +
                           "-byte frame header");
  }
  auto byte = [&](size_t i) { return static_cast<uint8_t>(stored[i]); };
  if (byte(0) != kFrameMagic0 || byte(1) != kFrameMagic1) {
    return Status::Corrupt(
        "stored value does not start with a sessionkit frame header");
  }
  FrameView view;
  view.header.version = byte(2);
  if (view.header.version != kFrameVersion) {
    return Status::Corrupt("frame format version " +
                           std::to_string(view.header.version) +
                           " is not supported (this build reads version " +
                           std::to_string(kFrameVersion) + ")");
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
  if (byte(5) != 0) {
    return Status::Corrupt("frame header reserved byte is not zero");
  }
  view.header.key_id = static_cast<uint16_t>(byte(6) << 8 | byte(7));
  view.payload = stored.substr(kFrameHeaderSize);
  return view;
}

}  // namespace sessionkit
