// Shared by the structure-aware mutators of the fuzz targets
// (LLVMFuzzerCustomMutator): how long a mutated input may grow, and writing
// it back. Header-only; compiled into fuzzers only.
#ifndef SESSIONKIT_FUZZ_MUTATOR_GROWTH_H_
#define SESSIONKIT_FUZZ_MUTATOR_GROWTH_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace sessionkit::fuzz {

// The longest input a mutation may make now. libFuzzer turns its length
// control (-len_control) off for a target with its own mutator: inputs
// would then grow to -max_len within seconds and run slower without
// reaching more. As libFuzzer would, this starts a little above the longest
// seed (`start`) and allows a byte more every kCallsPerByte calls, so long
// runs still reach long inputs.
//
// Thread safety: not thread-safe (libFuzzer mutates on one thread).
class GrowthLimit {
 public:
  static constexpr size_t kCallsPerByte = 256;

  explicit constexpr GrowthLimit(size_t start) : start_(start) {}

  // For an input of `size` bytes and libFuzzer's `max_size`.
  size_t Next(size_t size, size_t max_size) {
    const size_t grown = start_ + calls_++ / kCallsPerByte;
    return std::min(max_size, std::max(size, grown));
  }

 private:
  const size_t start_;
  size_t calls_ = 0;
};

// Writes `text` to `out` if it is not empty and at most `limit` bytes;
// returns its size, or 0 (libFuzzer then mutates the input otherwise).
inline size_t Emit(const std::string& text, uint8_t* out, size_t limit) {
  if (text.empty() || text.size() > limit) return 0;
  memcpy(out, text.data(), text.size());
  return text.size();
}

}  // namespace sessionkit::fuzz

#endif  // SESSIONKIT_FUZZ_MUTATOR_GROWTH_H_
