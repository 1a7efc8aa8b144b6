// Feeds a bot pattern (sessionkit.bot_pattern, an operator's text) and a
// User-Agent (a client's bytes) to the lifetime policy: compiling must never
// crash (an unusable pattern is an error with a message), matching must
// never crash, and every decided lifetime is positive and at most the
// normal one. Input: one byte n, then n bytes of pattern, then the
// User-Agent; the byte after the pattern, if any, is also the write count.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sessionkit/lifetime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sessionkit::Duration;
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t n = std::min<size_t>(static_cast<uint8_t>(in[0]), size - 1);
  sessionkit::LifetimeOptions options;
  options.bot_pattern.assign(in.substr(1, n));
  options.first_lifetime = Duration(60000);
  const std::string_view ua = in.substr(1 + n);
  auto policy = sessionkit::LifetimePolicy::Create(options);
  if (!policy.ok()) {
    if (policy.status().message().empty()) abort();
    return 0;
  }
  const uint32_t writes = ua.empty() ? 1 : static_cast<uint8_t>(ua[0]);
  const Duration normal(1440000);
  for (bool http : {false, true}) {
    const sessionkit::ClientInfo client{http, ua};
    (void)(*policy)->IsBot(client);
    const auto d = (*policy)->Decide(normal, client, writes);
    if (d.lifetime.count() <= 0 || d.lifetime > normal) abort();
#ifdef SK_FUZZ_PLANTED
    // The planted "bug" (scripts/fuzz-planted): a client the operator's own
    // pattern takes for a bot, at a write count of 100 or more (the seed's
    // monitor: 3).
    if (n > 0 && (*policy)->IsBot(client) && writes >= 100) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: lifetime_policy_fuzzer\n");
      abort();
    }
#endif
  }
  return 0;
}
