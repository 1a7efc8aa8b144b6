// Feeds arbitrary text to the parsers of what other servers write that the
// Redis store reads as words: the sentinels' +switch-master and promotion
// messages (sentinel_watch.h) and lock records (redis_lock.h, "The lock
// record's value"). The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "stores/redis/redis_lock.h"
#include "stores/redis/sentinel_watch.h"

namespace {

using sessionkit::redis::Endpoint;

// A parsed endpoint is one of the message's words: a host without spaces
// that the message holds, and a port of 1 to 65535.
void CheckEndpoint(const std::optional<Endpoint>& e, std::string_view text) {
  if (!e) return;
  if (e->host.empty() || e->port == 0 ||
      e->host.find(' ') != std::string::npos ||
      text.find(" " + e->host + " ") == std::string_view::npos) {
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1,
                              size - 1);
  switch (data[0] % 3) {
    case 0: {
      std::optional<Endpoint> e =
          sessionkit::redis::ParseSwitchMaster(text, "mymaster");
      CheckEndpoint(e, text);
      if (e && !text.starts_with("mymaster ")) abort();
      break;
    }
    case 1: {
      std::optional<Endpoint> e =
          sessionkit::redis::ParsePromotion(text, "mymaster");
      CheckEndpoint(e, text);
      if (e && text.find(" @ mymaster ") == std::string_view::npos) abort();
#ifdef SK_FUZZ_PLANTED
      // The planted "bug" (scripts/fuzz-planted): a promotion to a port
      // below 1024 (the seeds: 6380).
      if (e && e->port < 1024) {
        fprintf(stderr, "SK_FUZZ_PLANTED reached: sentinel_message_fuzzer\n");
        abort();
      }
#endif
      break;
    }
    default: {
      // A record splits into what it was made of, and a stamped token
      // splits back into the token and the server.
      const sessionkit::redis::LockValue v =
          sessionkit::redis::SplitLockValue(text);
      const std::string joined =
          std::string(v.token) + (text.find('@') == std::string_view::npos
                                      ? ""
                                      : "@" + std::string(v.taken_on));
      if (joined != text) abort();
      const std::string stamped = sessionkit::redis::StampedLockValue(
          text, Endpoint{"127.0.0.1", 6380});
      const sessionkit::redis::LockValue back =
          sessionkit::redis::SplitLockValue(stamped);
      if (back.token != text || back.taken_on != "127.0.0.1:6380") abort();
      break;
    }
  }
  return 0;
}
