#include "sessionkit/session_id.h"

#include <algorithm>
#include <string>

#include "sessionkit/env.h"

namespace sessionkit {
namespace {

// PHP's alphabet for session.sid_bits_per_character (ext/session/session.c):
// 4 and 5 bits use a prefix of the same order.
constexpr char kIdAlphabet[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,-";

// Always Env::Default()'s randomness, the OS CSPRNG (getrandom), never an
// Env given in options: a fake one must not make ids predictable.
Status FillRandom(unsigned char* buf, size_t len) {
  return Env::Default()->RandomBytes(buf, len);
}

}  // namespace

Status ValidateSessionId(std::string_view id) {
  if (id.empty()) {
    return Status::InvalidArgument("session id is empty");
  }
  // Characters first: they say more about a hostile id than its length.
  for (size_t i = 0; i < id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    if (!IsSessionIdChar(static_cast<char>(c))) {
      return Status::InvalidArgument(
          "session id has a character outside a-z A-Z 0-9 , - at position " +
          std::to_string(i + 1) + " (byte 0x" +
          std::string(1, "0123456789abcdef"[c >> 4]) +
          std::string(1, "0123456789abcdef"[c & 15]) + ")");
    }
  }
  if (id.size() > kMaxSessionIdLength) {
    return Status::InvalidArgument(
        "session id is too long (" + std::to_string(id.size()) +
        " characters; at most " + std::to_string(kMaxSessionIdLength) +
        " are allowed)");
  }
  return Status::OK();
}

Result<std::string> GenerateSessionId(const SessionIdOptions& options) {
  const int bits = options.bits_per_char;
  if (bits < 4 || bits > 6) {
    return Status::InvalidArgument(
        "session id bits per character must be 4, 5 or 6, not " +
        std::to_string(bits));
  }
  if (options.length > kMaxSessionIdLength) {
    return Status::InvalidArgument("session id length " +
                                   std::to_string(options.length) +
                                   " is above the maximum of 256");
  }
  // Enough characters for the minimum entropy and PHP's minimum length.
  size_t min_len = (kMinSessionIdEntropyBits + bits - 1) / bits;
  if (min_len < kMinCreatedSessionIdLength) {
    min_len = kMinCreatedSessionIdLength;
  }
  const size_t len = options.length < min_len ? min_len : options.length;

  // One random byte per character; taking its low `bits` bits keeps each
  // character uniform because 256 is a multiple of 2^bits.
  unsigned char random[kMaxSessionIdLength];
  SK_RETURN_IF_ERROR(FillRandom(random, len));
  const unsigned mask = (1u << bits) - 1;
  std::string id(len, '\0');
  for (size_t i = 0; i < len; ++i) id[i] = kIdAlphabet[random[i] & mask];
  return id;
}

std::string SessionIdPrefix(std::string_view id) {
  // At most 6 characters, and never more than a third of the id, so that
  // a short id (PHP accepts 1 character) is not shown whole.
  const size_t shown = std::min<size_t>(6, id.size() / 3);
  std::string out;
  for (size_t i = 0; i < shown; ++i) {
    out += IsSessionIdChar(id[i]) ? id[i] : '?';
  }
  if (id.size() > shown) out += "...";
  return out;
}

}  // namespace sessionkit
