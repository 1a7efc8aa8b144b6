// Values an old handler left in its store: Cm_RedisSession's tagged data
// and PdoSessionHandler's expiry columns. Decoding never crashes and never
// returns more than the decompression limit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "codec/compress.h"
#include "legacy/legacy_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cm = sessionkit::legacy::DecodeCmData(in);
  if (cm.ok() && cm->size() > sessionkit::kMaxDecompressedSize &&
      cm->size() != in.size()) {
    abort();
  }
  // The same bytes as the two PDO columns, split at the first space.
  const size_t space = in.find(' ');
  if (space != std::string_view::npos) {
    auto ttl = sessionkit::legacy::PdoRowTtl(in.substr(0, space),
                                             in.substr(space + 1), 1700000000);
    if (ttl.ok() && ttl->count() < 0) abort();
#ifdef SK_FUZZ_PLANTED
    // The planted "bug" (scripts/fuzz-planted): a PDO row with more than a
    // day left (the seeds: 600 s, and one expired).
    if (ttl.ok() && ttl->count() > 86'400'000) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: legacy_decode_fuzzer\n");
      abort();
    }
#endif
  }
  return 0;
}
