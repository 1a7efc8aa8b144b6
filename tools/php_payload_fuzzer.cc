// libFuzzer target for the PHP session payload decoder: it reads untrusted
// bytes from a store, so it must never crash, hang or overflow whatever the
// input. Seeds: tools/fuzz_corpus/php_payload_fuzzer/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "php_payload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sessionkit::cli;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (PhpSessionFormat format :
       {PhpSessionFormat::kPhp, PhpSessionFormat::kPhpSerialize}) {
    auto session = ParsePhpSession(input, format);
    if (session.ok()) {
      const std::string tree = FormatPhpSession(*session);
      if (tree.empty()) __builtin_trap();  // every session renders something
    }
  }
  // The escaped form never contains a control byte.
  for (char c : EscapeBytes(input, true)) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) __builtin_trap();
  }
  return 0;
}
