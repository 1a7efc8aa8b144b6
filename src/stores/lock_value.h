// The value of a lock item in a store that keeps a session's lock as an
// item of its own, taken with an add-only write (Memcached, the callback
// store): "<lease_until ms since the epoch> <owner token>".
//
// Thread safety: functions without state.
#ifndef SESSIONKIT_STORES_LOCK_VALUE_H_
#define SESSIONKIT_STORES_LOCK_VALUE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "sessionkit/status.h"

namespace sessionkit {

struct LockValue {
  int64_t lease_until_ms = 0;
  std::string_view token;  // points into the value
};

std::string EncodeLock(int64_t lease_until_ms, std::string_view token);
// Corrupt naming `what` for a value that is not a lock record.
Result<LockValue> DecodeLock(std::string_view value, std::string_view what);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_LOCK_VALUE_H_
