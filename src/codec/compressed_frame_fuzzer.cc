// Feeds arbitrary stored bytes to the frame decoder and then to the
// decompressor of the codec the frame names, as the engine reads them: it
// must never crash nor allocate past its limit; a failure is Corrupt with a
// message. A payload that decompresses compresses again under its codec and
// decompresses back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "codec/compress.h"
#include "sessionkit/frame.h"

namespace {

// Small enough that a bomb costs the fuzzer little, large enough for the
// sizes sessions have.
constexpr size_t kMaxSize = 1 << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto view = sessionkit::DecodeFrame(in);
  if (!view.ok() || view->header.codec == sessionkit::FrameCodec::kNone) {
    return 0;
  }
  const sessionkit::FrameCodec codec = view->header.codec;
  auto out = sessionkit::DecompressPayload(codec, view->payload, kMaxSize);
  if (!out.ok()) {
    if (!out.status().IsCorrupt() || out.status().message().empty()) abort();
    return 0;
  }
  if (out->size() > kMaxSize) abort();
  auto again = sessionkit::CompressPayload(codec, 0, *out);
  if (!again.ok()) abort();
  auto back = sessionkit::DecompressPayload(codec, *again, kMaxSize);
  if (!back.ok() || *back != *out) abort();
#ifdef SK_FUZZ_PLANTED
  // The planted "bug" (scripts/fuzz-planted): a compressed frame that
  // decompresses and names an encryption key (the seeds name none).
  if (view->header.key_id != 0) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: compressed_frame_fuzzer\n");
    abort();
  }
#endif
  return 0;
}
