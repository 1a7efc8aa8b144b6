#include "stores/setting_checks.h"

#include <string>

namespace sessionkit {

Status CheckKeyPrefix(const std::string& name, const std::string& prefix,
                      std::string_view forbidden, std::string_view why) {
  if (prefix.size() > kMaxKeyPrefix) {
    return Status::InvalidArgument(name + ": prefix is longer than " +
                                   std::to_string(kMaxKeyPrefix) +
                                   " characters");
  }
  for (char c : prefix) {
    if (c <= 0x20 || c >= 0x7f) {
      return Status::InvalidArgument(
          name + ": prefix=" + prefix +
          ": expected printable ASCII without spaces");
    }
    if (forbidden.find(c) != std::string_view::npos) {
      return Status::InvalidArgument(name + ": prefix=" + prefix + ": " +
                                     std::string(why));
    }
  }
  return Status::OK();
}

Status CheckTimeouts(const std::string& name, Duration connect_timeout,
                     Duration read_timeout) {
  if (connect_timeout.count() < 1) {
    return Status::InvalidArgument(name +
                                   ": connect_timeout must be at least 1ms");
  }
  if (read_timeout.count() < 1) {
    return Status::InvalidArgument(name +
                                   ": read_timeout must be at least 1ms");
  }
  return Status::OK();
}

}  // namespace sessionkit
