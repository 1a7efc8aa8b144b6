// Feeds arbitrary text to the key file parser: it must never crash; a
// failure is InvalidArgument with a message; a ring it accepts has its
// active key first, finds every id it lists, and hashes ids to lowercase
// hex exactly when it has a hash line.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sessionkit/keyring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto ring = sessionkit::KeyRing::Parse(in, "fuzz");
  if (!ring.ok()) {
    if (!ring.status().IsInvalidArgument() || ring.status().message().empty()) {
      abort();
    }
    return 0;
  }
  const auto ids = (*ring)->ids();
  // A ring holds keys, a hash secret, or both; without keys it encrypts
  // nothing (active id 0).
  if (ids.empty() && !(*ring)->has_hash_secret()) abort();
  if (ids.empty() ? (*ring)->active_id() != 0
                  : ids.front() != (*ring)->active_id()) {
    abort();
  }
  auto hashed = (*ring)->HashSessionId(in.substr(0, 64));
  if (hashed.ok() != (*ring)->has_hash_secret()) abort();
  if (hashed.ok()) {
    if (hashed->size() != 2 * sessionkit::kSessionIdHashSize) abort();
    for (char c : *hashed) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) abort();
    }
  }
  for (uint16_t id : ids) {
    if (id == 0 || (*ring)->Find(id) == nullptr) abort();
  }
#ifdef SK_FUZZ_PLANTED
  // The planted "bug" (scripts/fuzz-planted): a ring of two keys or more,
  // one of them of an id of 10 or more (the seeds' rings of several keys:
  // ids 1 to 3).
  if (ids.size() >= 2 && std::any_of(ids.begin(), ids.end(),
                                     [](uint16_t id) { return id >= 10; })) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: keyring_fuzzer\n");
    abort();
  }
#endif
  return 0;
}
