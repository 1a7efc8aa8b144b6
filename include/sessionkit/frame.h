// The stored frame: every value sessionkit writes starts with a small header
// that says how the payload is encoded, so a reader decodes any frame written
// under any past setting (codec, encryption key).
//
//   offset size
//   0      2    magic 0x9F 'K' (0x9F never starts UTF-8 text or PHP data)
//   2      1    format version (1)
//   3      1    codec id (FrameCodec)
//   4      1    flags (FrameFlags)
//   5      1    reserved, 0
//   6      2    encryption key id, big-endian; 0 = not encrypted
//   8      ...  payload
#ifndef SESSIONKIT_FRAME_H_
#define SESSIONKIT_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sessionkit/status.h"

namespace sessionkit {

inline constexpr uint8_t kFrameMagic0 = 0x9F;
inline constexpr uint8_t kFrameMagic1 = 'K';
inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderSize = 8;

// How the payload is compressed. Ids are stable: never renumber.
enum class FrameCodec : uint8_t {
  kNone = 0,
};

// Bit flags. Unknown bits make a frame unreadable (Corrupt), so a flag may
// only be added together with the code that reads it.
enum FrameFlags : uint8_t {
  kFrameFlagsNone = 0,
};

struct FrameHeader {
  uint8_t version = kFrameVersion;
  FrameCodec codec = FrameCodec::kNone;
  uint8_t flags = kFrameFlagsNone;
  uint16_t key_id = 0;  // 0: payload is not encrypted
};

// A decoded frame; `payload` points into the buffer given to DecodeFrame.
struct FrameView {
  FrameHeader header;
  std::string_view payload;
};

// Returns the header followed by `payload`.
std::string EncodeFrame(const FrameHeader& header, std::string_view payload);

// Parses a stored value. Corrupt (naming what is wrong) for a short buffer,
// a bad magic, an unknown version, codec or flag, or a non-zero reserved
// byte. The payload is not decoded here.
Result<FrameView> DecodeFrame(std::string_view stored);

// Returns a short name for a codec, e.g. "none".
std::string_view FrameCodecName(FrameCodec codec);

}  // namespace sessionkit

#endif  // SESSIONKIT_FRAME_H_
