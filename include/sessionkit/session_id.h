// Session id rules. Ids are checked here, at the boundary, before any store
// sees them, so no key, path, statement or protocol line carries untrusted
// bytes.
#ifndef SESSIONKIT_SESSION_ID_H_
#define SESSIONKIT_SESSION_ID_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "sessionkit/status.h"

namespace sessionkit {

// The ids PHP (and its files handler) accepts: 1..256 characters.
inline constexpr size_t kMinSessionIdLength = 1;
inline constexpr size_t kMaxSessionIdLength = 256;
// PHP's lower limit for session.sid_length: ids sessionkit creates are at
// least this long.
inline constexpr size_t kMinCreatedSessionIdLength = 22;
// Ids sessionkit creates carry at least this much randomness.
inline constexpr int kMinSessionIdEntropyBits = 128;

// PHP's session id charset: a-z A-Z 0-9 , - (ext/session accepts exactly
// these from a cookie or session_id()). The one definition of the charset:
// stores that must recognise a session id (e.g. among other keys) use it.
constexpr bool IsSessionIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == ',' || c == '-';
}

// OK when `id` has 1..256 characters, all from PHP's charset
// a-z A-Z 0-9 , - (what PHP itself accepts from a cookie or session_id();
// an id is a lookup key, so a short one is safe: ids sessionkit creates are
// long and random, see GenerateSessionId). Otherwise InvalidArgument saying
// what is wrong (empty, too long, or the position of the first bad
// character) without echoing the id.
Status ValidateSessionId(std::string_view id);

// How to create an id, after PHP's session.sid_length and
// session.sid_bits_per_character.
struct SessionIdOptions {
  size_t length = 32;     // raised if needed to reach 128 bits
  int bits_per_char = 5;  // 4: 0-9a-f, 5: 0-9a-v, 6: 0-9a-zA-Z,-
};

// Creates an id from the OS CSPRNG (getrandom). The length is raised to carry
// at least kMinSessionIdEntropyBits. InvalidArgument for bits_per_char not in
// 4..6 or a length above 256; Unavailable if the OS has no randomness.
Result<std::string> GenerateSessionId(const SessionIdOptions& options = {});

// The first characters of an id, for messages and logs, so that a full id
// (a credential) is never logged. Safe for any input.
std::string SessionIdPrefix(std::string_view id);

}  // namespace sessionkit

#endif  // SESSIONKIT_SESSION_ID_H_
