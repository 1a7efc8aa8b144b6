// Feeds arbitrary bytes to the id rules: accepted ids are exactly those PHP
// accepts (1..256 characters of a-z A-Z 0-9 , -), and the log prefix must
// never carry other bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sessionkit/session_id.h"

namespace {
bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == ',' || c == '-';
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  bool ok = sessionkit::ValidateSessionId(in).ok();
  bool expected = size >= sessionkit::kMinSessionIdLength &&
                  size <= sessionkit::kMaxSessionIdLength;
  for (char c : in) expected = expected && IdChar(c);
  if (ok != expected) abort();
#ifdef SK_FUZZ_PLANTED
  // The planted "bug" (scripts/fuzz-planted): an accepted id of exactly 200
  // characters that holds a ','.
  if (ok && size == 200 && in.find(',') != std::string_view::npos) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: session_id_fuzzer\n");
    abort();
  }
#endif
  for (char c : sessionkit::SessionIdPrefix(in)) {
    if (!IdChar(c) && c != '?' && c != '.') abort();
  }
  return 0;
}
