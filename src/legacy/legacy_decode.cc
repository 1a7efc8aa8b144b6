#include "legacy/legacy_decode.h"

#include <lz4.h>

#include <cerrno>
#include <charconv>
#include <string>

#include "codec/compress.h"
#include "sessionkit/frame.h"
#include "sessionkit/session_id.h"

extern "C" {
#include <liblzf/lzf.h>
}

namespace sessionkit::legacy {
namespace {

// Symfony's PdoSessionHandler::MAX_LIFETIME: a sess_lifetime up to this is
// a lifetime after sess_time (its schema before 5.4), above an expiry.
constexpr int64_t kPdoMaxLifetime = 315576000;

Status BadTag(std::string_view tag, std::string_view what) {
  return Status::Corrupt("Cm_RedisSession data tagged " + std::string(tag) +
                         ": " + std::string(what));
}

Result<std::string> Lz4WithLittleEndianSize(std::string_view in) {
  if (in.size() < 4) return BadTag(":l4:", "shorter than its size header");
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const uint32_t size = uint32_t{p[0]} | uint32_t{p[1]} << 8 |
                        uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  if (size > kMaxDecompressedSize) {
    return BadTag(":l4:", "would decompress to " + std::to_string(size) +
                              " bytes, over the limit of " +
                              std::to_string(kMaxDecompressedSize));
  }
  std::string out(size, '\0');
  const int n = LZ4_decompress_safe(in.data() + 4, out.data(),
                                    static_cast<int>(in.size() - 4),
                                    static_cast<int>(size));
  if (n < 0 || static_cast<uint32_t>(n) != size) {
    return BadTag(":l4:", "the lz4 block does not decompress to its size");
  }
  return out;
}

// lzf records no size: the output grows until it fits, up to the limit.
Result<std::string> Lzf(std::string_view in) {
  if (in.empty()) return BadTag(":lz:", "empty");
  size_t cap = in.size() < 4096 ? 16384 : in.size() * 4;
  for (;;) {
    if (cap > kMaxDecompressedSize) cap = kMaxDecompressedSize;
    std::string out(cap, '\0');
    errno = 0;
    const unsigned n =
        lzf_decompress(in.data(), static_cast<unsigned>(in.size()), out.data(),
                       static_cast<unsigned>(cap));
    if (n > 0) {
      out.resize(n);
      return out;
    }
    if (errno != E2BIG) return BadTag(":lz:", "not an lzf stream");
    if (cap == kMaxDecompressedSize) {
      return BadTag(":lz:", "decompresses to more than " +
                                std::to_string(kMaxDecompressedSize) +
                                " bytes");
    }
    cap *= 4;
  }
}

std::optional<int64_t> Number(std::string_view text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return v;
}

}  // namespace

Result<std::string> DecodeCmData(std::string_view data) {
  const std::string_view tag = data.substr(0, 4);
  const std::string_view rest = data.size() >= 4 ? data.substr(4) : "";
  FrameCodec codec = FrameCodec::kNone;
  if (tag == ":gz:") {
    codec = FrameCodec::kZlib;
  } else if (tag == ":sn:") {
    codec = FrameCodec::kSnappy;
  } else if (tag == ":l4:") {
    return Lz4WithLittleEndianSize(rest);
  } else if (tag == ":lz:") {
    return Lzf(rest);
  } else {
    return std::string(data);
  }
  auto out = DecompressPayload(codec, rest);
  if (!out.ok()) return BadTag(tag, out.status().message());
  return out;
}

Result<std::string> FilesSessionPath(std::string_view dir, int depth,
                                     std::string_view id) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  if (depth < 0 || id.size() <= static_cast<size_t>(depth)) {
    return Status::InvalidArgument(
        "session id " + SessionIdPrefix(id) + " is too short for depth " +
        std::to_string(depth) + " of the files handler's directory");
  }
  std::string path(dir);
  for (int i = 0; i < depth; ++i) {
    path.push_back('/');
    path.push_back(id[static_cast<size_t>(i)]);
  }
  path.append("/sess_");
  path.append(id);
  return path;
}

Result<Duration> PdoRowTtl(std::string_view sess_lifetime,
                           std::string_view sess_time, int64_t now_s) {
  std::optional<int64_t> lifetime = Number(sess_lifetime);
  std::optional<int64_t> time = Number(sess_time);
  if (!lifetime || !time || *lifetime < 0 || *time < 0 ||
      *lifetime > INT64_MAX / 2 || *time > INT64_MAX / 2) {
    return Status::Corrupt(
        "PdoSessionHandler row: sess_lifetime and sess_time must be whole "
        "numbers of seconds");
  }
  int64_t expiry = *lifetime;
  if (expiry <= kPdoMaxLifetime) expiry += *time;
  // Symfony's read: expired when the expiry is before now.
  if (expiry < now_s) return Status::NotFound("expired");
  if (expiry - now_s > INT64_MAX / 1000) return Duration(INT64_MAX);
  return Duration((expiry - now_s) * 1000);
}

}  // namespace sessionkit::legacy
