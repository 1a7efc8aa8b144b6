// The stored frame: every value sessionkit writes starts with a small header
// that says how the payload is encoded, so a reader decodes any frame written
// under any past setting (codec, encryption key), and which version of the
// session it holds. docs/architecture.md ("The stored frame") describes the
// format and the session version rule for readers outside this code.
//
//   offset size
//   0      2    magic 0x9F 'K' (0x9F never starts UTF-8 text or PHP data)
//   2      1    format version (1 or 2; this build writes 2)
//   3      1    codec id (FrameCodec)
//   4      1    flags (FrameFlags)
//   5      1    write count (FrameHeader::write_count); 0 in frames of
//               builds before it, where it was reserved
//   6      2    encryption key id, big-endian; 0 = not encrypted
//   8      8    format 2 only: session version, big-endian (NextSessionVersion)
//   8/16   ...  payload (at 8 in format 1, at 16 in format 2)
#ifndef SESSIONKIT_FRAME_H_
#define SESSIONKIT_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace sessionkit {

inline constexpr uint8_t kFrameMagic0 = 0x9F;
inline constexpr uint8_t kFrameMagic1 = 'K';
// The format version EncodeFrame writes. DecodeFrame reads 1 and 2.
inline constexpr uint8_t kFrameVersion = 2;

// The header size of frame format `version`: 8 for format 1 (which has no
// session version), 16 for format 2; 0 for a format this build does not
// read. The first 8 bytes are the same in every format.
constexpr size_t FrameHeaderSize(uint8_t version) {
  switch (version) {
    case 1:
      return 8;
    case 2:
      return 16;
    default:
      return 0;
  }
}

// The header every format starts with (magic to key id): what a reader
// needs before it knows the format version.
inline constexpr size_t kFrameCommonHeaderSize = FrameHeaderSize(1);
// The header EncodeFrame writes.
inline constexpr size_t kFrameHeaderSize = FrameHeaderSize(kFrameVersion);

// How the payload is compressed (docs/architecture.md, "The stored frame",
// describes each payload). Ids are stable: never renumber, since frames
// written under every past setting must keep reading.
enum class FrameCodec : uint8_t {
  kNone = 0,
  kZstd = 1,
  kLz4 = 2,  // payload: 4-byte big-endian decompressed size, then a block
  kSnappy = 3,
  kZlib = 4,
};
// The highest codec id this build knows.
inline constexpr uint8_t kMaxFrameCodec =
    static_cast<uint8_t>(FrameCodec::kZlib);

// Bit flags. Unknown bits make a frame unreadable (Corrupt), so a flag may
// only be added together with the code that reads it.
enum FrameFlags : uint8_t {
  kFrameFlagsNone = 0,
  // The session was destroyed (a tombstone, written by tiers when a tier
  // missed the Destroy, docs/tiers.md): no payload; read as no session.
  kFrameFlagTombstone = 1,
  // The session id was retired by a regenerate and stays valid for its
  // grace (SessionEngine::ReadReplacing, docs/php.md): the payload is the
  // store key of the session that replaced it (encrypted when key_id is
  // set, never compressed), which reads of this id follow. Never set
  // together with kFrameFlagTombstone.
  kFrameFlagPointer = 2,
};

struct FrameHeader {
  // The format version read; EncodeFrame always writes kFrameVersion.
  uint8_t version = kFrameVersion;
  FrameCodec codec = FrameCodec::kNone;
  uint8_t flags = kFrameFlagsNone;
  uint16_t key_id = 0;  // 0: payload is not encrypted
  // How many times the session was written, while the lifetime policy's
  // first-visit lifetime grows with each write (lifetime.h,
  // StoredWriteCount); 0 otherwise: written before counts existed, with
  // first_lifetime off, or grown to its normal lifetime. Readers before it
  // refuse a frame whose count is not 0 (their "reserved byte").
  uint8_t write_count = 0;
  // The version of the session this frame holds: greater for a later write
  // (NextSessionVersion). 0 in a format 1 frame, which predates it.
  uint64_t session_version = 0;
};

// A decoded frame; `payload` points into the buffer given to DecodeFrame.
struct FrameView {
  FrameHeader header;
  std::string_view payload;
};

// Returns a format kFrameVersion header followed by `payload`. Every field
// of `header` is written except `version`: a decoded format 1 header
// encodes as format 2, with its session_version (0).
std::string EncodeFrame(const FrameHeader& header, std::string_view payload);

// Parses a stored value of format 1 or 2. Corrupt (naming what is wrong) for
// a value shorter than its format's header, a bad magic, an unknown format
// version, codec or flag, a tombstone with a payload, a pointer without
// one, or both flags at once. The payload is not
// decoded here.
Result<FrameView> DecodeFrame(std::string_view stored);

// Session versions per millisecond of the wall clock (NextSessionVersion).
inline constexpr uint64_t kSessionVersionsPerMs = 1024;

// The session version of a write that replaces version `read_version` (0:
// the writer read none, or a format 1 frame), at wall-clock time `now`:
// max(read_version + 1, ms since the epoch at `now` * kSessionVersionsPerMs).
//  - Time-based, so that writes without a known read (locking off, a new
//    session) still order by time across hosts with synchronised clocks.
//  - Read-based, so that a writer whose clock is behind still goes above
//    the version it read: a session's versions only grow.
// Saturates at UINT64_MAX; a time before the epoch counts as 0.
uint64_t NextSessionVersion(uint64_t read_version, TimePoint now);

// A tombstone of session version `version`: a frame with no payload and
// kFrameFlagTombstone set.
std::string EncodeTombstoneFrame(uint64_t version);

// True when `stored` is a frame with kFrameFlagTombstone set.
bool IsTombstoneFrame(std::string_view stored);

// Returns the name of a codec as settings spell it ("none", "zstd", "lz4",
// "snappy", "zlib"), or "unknown".
std::string_view FrameCodecName(FrameCodec codec);

}  // namespace sessionkit

#endif  // SESSIONKIT_FRAME_H_
