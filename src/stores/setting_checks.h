// Checks of settings that several stores share, so that each rule and its
// message is written once: the key prefix of the key-value stores and the
// timeouts of the networked ones.
#ifndef SESSIONKIT_STORES_SETTING_CHECKS_H_
#define SESSIONKIT_STORES_SETTING_CHECKS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace sessionkit {

// The longest key prefix a store takes.
inline constexpr size_t kMaxKeyPrefix = 64;

// OK when `prefix` has at most kMaxKeyPrefix bytes of printable ASCII
// without spaces and none of the characters of `forbidden`.
// InvalidArgument starting with `name` (the store) otherwise; for a
// forbidden character, ending with `why` ("may not contain ...").
Status CheckKeyPrefix(const std::string& name, const std::string& prefix,
                      std::string_view forbidden = {},
                      std::string_view why = {});

// OK when both timeouts are at least 1 ms; InvalidArgument naming the
// setting otherwise.
Status CheckTimeouts(const std::string& name, Duration connect_timeout,
                     Duration read_timeout);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_SETTING_CHECKS_H_
