// Legacy specs as an operator may type them: parsing never crashes, a spec
// that parses never shows a password it was given, and the table and column
// names it gives (which go into SQL) are letters, digits and '_' only.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "legacy/legacy_spec.h"

namespace {

bool IsSqlName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

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
  if (parsed.ok()) {
    const sessionkit::legacy::PdoTable& pdo = parsed->pdo;
    for (const std::string* name : {&pdo.table, &pdo.id_col, &pdo.data_col,
                                    &pdo.lifetime_col, &pdo.time_col}) {
      if (!IsSqlName(*name)) abort();
    }
  }
#ifdef SK_FUZZ_PLANTED
  // The planted "bug" (scripts/fuzz-planted): a files spec of a depth of 3
  // or more (the seeds: 2 at most).
  if (parsed.ok() && parsed->kind == sessionkit::legacy::LegacyKind::kFiles &&
      parsed->depth >= 3) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: legacy_spec_fuzzer\n");
    abort();
  }
#endif
  return 0;
}
