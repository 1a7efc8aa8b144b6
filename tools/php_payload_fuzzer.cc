// libFuzzer target for the PHP session payload decoder: it reads untrusted
// bytes from a store, so it must never crash, hang or overflow whatever the
// input. Seeds: tools/fuzz_corpus/php_payload_fuzzer/. Inputs are mutated
// as decoded trees (php_payload_mutator.h): byte mutations rarely keep the
// counts and lengths of a payload right.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "php_payload.h"
#include "php_payload_mutator.h"

#ifdef SK_FUZZ_PLANTED
namespace {

// Arrays nested in `value`, itself included.
int ArrayDepth(const sessionkit::cli::PhpValue& value) {
  int deepest = 0;
  for (const sessionkit::cli::PhpEntry& e : value.entries) {
    const int d = ArrayDepth(e.value);
    if (d > deepest) deepest = d;
  }
  const bool array = value.type == sessionkit::cli::PhpValue::Type::kArray;
  return deepest + (array ? 1 : 0);
}

// The planted "bug" (scripts/fuzz-planted): a session variable holding an
// array in an array in an array.
void Planted(const sessionkit::cli::PhpSession& session) {
  for (const sessionkit::cli::PhpEntry& var : session.vars) {
    if (ArrayDepth(var.value) >= 3) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: php_payload_fuzzer\n");
      abort();
    }
  }
}

}  // namespace
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sessionkit::cli;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (PhpSessionFormat format :
       {PhpSessionFormat::kPhp, PhpSessionFormat::kPhpSerialize}) {
    auto session = ParsePhpSession(input, format);
    if (session.ok()) {
      const std::string tree = FormatPhpSession(*session);
      if (tree.empty()) __builtin_trap();  // every session renders something
#ifdef SK_FUZZ_PLANTED
      Planted(*session);
#endif
    }
  }
  // The escaped form never contains a control byte.
  for (char c : EscapeBytes(input, true)) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) __builtin_trap();
  }
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size,
                                          size_t max_size, unsigned seed) {
  return sessionkit::cli::fuzz::MutatePhpPayload(data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1,
                                            const uint8_t* data2, size_t size2,
                                            uint8_t* out, size_t max_out_size,
                                            unsigned seed) {
  return sessionkit::cli::fuzz::CrossOverPhpPayloads(data1, size1, data2, size2,
                                                     out, max_out_size, seed);
}
