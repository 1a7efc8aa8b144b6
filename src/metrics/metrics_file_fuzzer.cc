// Feeds arbitrary bytes to the metrics file's reader, as `sessionkit
// metrics` reads a file another process (or anything) wrote: it must never
// crash, and what it accepts must format. The input is read twice: as the
// whole file (almost always refused: a file has a fixed size) and as the
// first bytes of a file of the right size, the rest zero, so that the
// header checks and the slots' sums are reached.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "metrics/metrics_format.h"
#include "metrics/metrics_read.h"

namespace {

void Check(std::string_view bytes) {
  using namespace sessionkit::metrics_internal;
  auto s = ParseMetrics(bytes, "fuzz");
  if (!s.ok()) {
    if (s.status().message().find("fuzz") == std::string::npos) abort();
    return;
  }
  if (s->slots_claimed > kMetricsSlots || s->slots_live != 0) abort();
  const std::string text = FormatPrometheus(*s);
  const std::string json = FormatMetricsJson(*s);
  if (text.empty() || json.empty() || json.front() != '{') abort();
#ifdef SK_FUZZ_PLANTED
  // The planted "bug" (scripts/fuzz-planted): an accepted file whose slots
  // counted a destroy.
  if (TotalOperations(*s, sessionkit::MetricOp::kDestroy) != 0) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: metrics_file_fuzzer\n");
    abort();
  }
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sessionkit::metrics_internal::kFileBytes;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  Check(in);
  static std::string* file = new std::string(kFileBytes, '\0');
  const size_t n = size < kFileBytes ? size : kFileBytes;
  file->replace(0, n, in.substr(0, n));
  Check(*file);
  file->replace(0, n, std::string(n, '\0'));
  return 0;
}
