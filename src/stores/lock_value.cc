#include "stores/lock_value.h"

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

namespace sessionkit {

std::string EncodeLock(int64_t lease_until_ms, std::string_view token) {
  std::string out = std::to_string(lease_until_ms);
  out.push_back(' ');
  out.append(token);
  return out;
}

Result<LockValue> DecodeLock(std::string_view value, std::string_view what) {
  LockValue out;
  const size_t space = value.find(' ');
  const char* end = value.data() + (space == value.npos ? 0 : space);
  auto [ptr, ec] = std::from_chars(value.data(), end, out.lease_until_ms);
  if (space == value.npos || space == 0 || ec != std::errc() || ptr != end ||
      space + 1 == value.size()) {
    return Status::Corrupt(std::string(what) +
                           ": the stored lock record is not sessionkit's (" +
                           std::to_string(value.size()) + " bytes)");
  }
  out.token = value.substr(space + 1);
  return out;
}

}  // namespace sessionkit
