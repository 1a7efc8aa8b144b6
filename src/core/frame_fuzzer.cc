// Feeds arbitrary stored bytes to the frame decoder: it must never crash; a
// frame it accepts (any write count in byte 5) must re-encode to the same
// bytes (format 2), or to the
// same header with the format 2 session version 0 added (format 1), and
// decode again to the same header fields and payload.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sessionkit/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sessionkit::FrameHeaderSize;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto view = sessionkit::DecodeFrame(in);
  if (view.ok()) {
    const sessionkit::FrameHeader& h = view->header;
    const std::string out = sessionkit::EncodeFrame(h, view->payload);
    std::string expected(in);
    if (h.version == 1) {
      if (h.session_version != 0) abort();
      // Format 1 is written again as format 2: version byte 2, and eight
      // zero bytes of session version between the key id and the payload.
      expected[2] = static_cast<char>(sessionkit::kFrameVersion);
      expected.insert(FrameHeaderSize(1),
                      FrameHeaderSize(2) - FrameHeaderSize(1), '\0');
    } else if (h.version != 2) {
      abort();
    }
    if (out != expected) abort();
    auto again = sessionkit::DecodeFrame(out);
    if (!again.ok() || again->payload != view->payload ||
        again->header.codec != h.codec || again->header.flags != h.flags ||
        again->header.key_id != h.key_id ||
        again->header.write_count != h.write_count ||
        again->header.session_version != h.session_version) {
      abort();
    }
#ifdef SK_FUZZ_PLANTED
    // The planted "bug" (scripts/fuzz-planted): an accepted frame of an
    // encrypted payload (key_id != 0) of 4 bytes or more.
    if (view->header.key_id != 0 && view->payload.size() >= 4) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: frame_fuzzer\n");
      abort();
    }
#endif
  } else if (view.status().message().empty()) {
    abort();
  }
  return 0;
}
