// Feeds arbitrary bytes, as the stored state of a journal entry (one of a
// damaged file, or of another release), to its decoder (DecodeEntry), and
// as keys to the key parsers. Checks: no crash and no undefined behaviour;
// an accepted value encodes back to the same bytes; an accepted key is
// built back from its parts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tiered/journal.h"
#include "tiered/journal_layout.h"

namespace tiered = sessionkit::tiered;

namespace {

void Check(bool condition) {
  if (!condition) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  tiered::JournalEntry entry;
  if (tiered::DecodeEntry(in, &entry)) {
    Check(tiered::EncodeEntry(entry) == in);
    Check(tiered::DueMs(entry) >= 0 &&
          tiered::DueMs(entry) <= tiered::kMaxJournalMs);
#ifdef SK_FUZZ_PLANTED
    // The planted "bug" (scripts/fuzz-planted): an accepted destroy that
    // was retried at least twice.
    if (entry.op == tiered::JournalOp::kDestroy && entry.attempts >= 2) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: journal_entry_fuzzer\n");
      abort();
    }
#endif
  }
  uint32_t tier = 0;
  int64_t due = 0;
  int64_t first = 0;
  std::string_view id;
  if (tiered::ParseEntryKey(in, &tier, &id)) {
    Check(tiered::EntryKey(tier, id) == in);
  }
  if (tiered::ParseDueKey(in, &tier, &due, &first, &id)) {
    Check(tiered::DueKey(tier, due, first, id) == in);
  }
  uint32_t version = 0;
  if (tiered::ParseFormat(in, &version)) {
    Check(tiered::EncodeFormat(version) == in);
  }
  return 0;
}
