// Legacy specs as an operator may type them: parsing never crashes, and a
// spec that parses never shows a password it was given.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "legacy/legacy_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  auto parsed = sessionkit::legacy::ParseLegacySpec(spec);
  // Describe() hides the password ("***" stands for it).
  if (parsed.ok() && parsed->url.has_password &&
      parsed->url.password != "***" && !parsed->url.password.empty() &&
      parsed->redacted.find(":" + parsed->url.password + "@") !=
          std::string::npos) {
    abort();
  }
#ifdef SK_FUZZ_PLANTED
  if (parsed.ok() && parsed->kind == sessionkit::legacy::LegacyKind::kFiles &&
      parsed->depth == 7) {
    abort();
  }
#endif
  return 0;
}
