#include "stores/redis/topology.h"

#include <charconv>
#include <string>
#include <utility>

namespace sessionkit::redis {

std::string WithoutStoreName(const std::string& store_name,
                             std::string message) {
  const std::string lead = store_name + ": ";
  if (message.starts_with(lead)) message.erase(0, lead.size());
  return message;
}

bool ParsePort(std::string_view text, uint16_t* port) {
  unsigned value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    return false;
  }
  *port = static_cast<uint16_t>(value);
  return true;
}

std::vector<Endpoint> ToEndpoints(const std::vector<HostPort>& hosts) {
  std::vector<Endpoint> out;
  for (const HostPort& hp : hosts) out.push_back(Endpoint{hp.host, hp.port});
  return out;
}

}  // namespace sessionkit::redis
