// Feeds arbitrary stored bytes to the user index decoders (user_index.h):
// they must never crash; what they accept must encode back to the same
// bytes, and a refusal must say why.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/user_index.h"
#include "sessionkit/users.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto index = sessionkit::DecodeUserIndex(in);
  if (index.ok()) {
    if (index->size() > sessionkit::kMaxSessionsPerUser) abort();
    if (sessionkit::EncodeUserIndex(*index) != in) abort();
#ifdef SK_FUZZ_PLANTED
    // The planted "bug" (scripts/fuzz-planted): an accepted index of 3
    // entries or more whose last entry keeps an id.
    if (index->size() >= 3 && !index->back().id.empty()) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: user_index_fuzzer\n");
      abort();
    }
#endif
  } else if (index.status().message().empty()) {
    abort();
  }
  auto owner = sessionkit::DecodeOwner(in);
  if (owner.ok()) {
    if (!sessionkit::IsInternalStoreKey(*owner)) abort();
    if (sessionkit::EncodeOwner(*owner) != in) abort();
  } else if (owner.status().message().empty()) {
    abort();
  }
  return 0;
}
