// Feeds arbitrary text to the parser of php-fpm pool files that
// `sessionkit --fpm-pool` reads (cli_source.h): it never crashes, every
// pool FpmPoolNames lists is found by ParseFpmPool, and a name it does not
// list is not.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> names = sessionkit::cli::FpmPoolNames(text);
  for (const std::string& name : names) {
    std::optional<sessionkit::cli::PhpSessionSettings> pool =
        sessionkit::cli::ParseFpmPool(text, name);
    if (!pool) abort();
#ifdef SK_FUZZ_PLANTED
    // The planted "bug" (scripts/fuzz-planted): a pool named "www" whose
    // save_path is an lmdb:/// path with a digit in it (the seed's:
    // lmdb:///var/lib/sessionkit).
    const std::optional<std::string>& path = pool->save_path;
    if (name == "www" && path && path->starts_with("lmdb:///") &&
        path->find_first_of("0123456789") != std::string::npos) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: fpm_pool_fuzzer\n");
      abort();
    }
#endif
  }
  bool listed = false;
  for (const std::string& name : names) listed = listed || name == "absent~";
  if (!listed && sessionkit::cli::ParseFpmPool(text, "absent~")) abort();
  return 0;
}
