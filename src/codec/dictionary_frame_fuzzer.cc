// Zstd payloads and dictionaries as read back from a store and a dictionary
// directory. The first input byte picks what the rest is:
//   0: a stored frame, decoded under no dictionary;
//   1: a stored frame, decoded under dictionary 1 only;
//   2: a stored frame, decoded under dictionaries 1 and 2;
//   3: a session compressed under dictionary 2, whose frame's dictionary id
//      (4 bytes) is then replaced by the input's first 4 bytes, and decoded
//      under dictionary 1 only (a corrupt or missing id);
//   4: a dictionary file's contents, loaded as a dictionary (the seed
//      trained_dict: a zstd dictionary of id 3 trained on sessions like
//      Trained's).
// Nothing may crash; every failure is Corrupt (or, for 4, InvalidArgument)
// with a message; what decodes compresses again under the same
// dictionaries and decodes back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codec/compress.h"
#include "codec/dictionary_train.h"
#include "sessionkit/dictionaries.h"
#include "sessionkit/frame.h"

namespace {

using sessionkit::Dictionaries;
using sessionkit::FrameCodec;

constexpr size_t kMaxSize = 1 << 20;

// A dictionary of id `id` trained on a few synthetic shop-like sessions.
std::string Trained(uint32_t id) {
  std::vector<std::string> samples;
  for (uint32_t i = 0; i < 64; ++i) {
    std::string s = "csrf|s:64:\"" + std::to_string(i * 7919u * id) +
                    "\";customer|a:2:{s:2:\"id\";i:" + std::to_string(i) +
                    ";s:4:\"name\";s:5:\"Alex" + std::to_string(i % 10) +
                    "\";}cart|a:1:{";
    for (uint32_t line = 0; line < 10 + i % 20; ++line) {
      s += "i:" + std::to_string(line) + ";a:2:{s:3:\"sku\";s:8:\"SKU-" +
           std::to_string(line * 31 + i) +
           "\";s:3:\"qty\";i:" + std::to_string(1 + (i + line) % 4) + ";}";
    }
    samples.push_back(s + "}");
  }
  return *sessionkit::TrainDictionary(samples, 4096, id);
}

struct Sets {
  std::shared_ptr<const Dictionaries> one, both;
};

const Sets& Dicts() {
  static const Sets* sets = [] {
    const std::string d1 = Trained(1), d2 = Trained(2);
    auto* s = new Sets;
    s->one = *Dictionaries::Parse({{"1.dict", d1}}, "fuzz");
    s->both = *Dictionaries::Parse({{"1.dict", d1}, {"2.dict", d2}}, "fuzz");
    return s;
  }();
  return *sets;
}

void Decode(std::string_view payload, const Dictionaries* dicts) {
  auto out = sessionkit::DecompressPayload(FrameCodec::kZstd, payload, kMaxSize,
                                           dicts);
  if (!out.ok()) {
    if (!out.status().IsCorrupt() || out.status().message().empty()) abort();
    return;
  }
  if (out->size() > kMaxSize) abort();
  auto again = sessionkit::CompressPayload(FrameCodec::kZstd, 0, *out, dicts);
  if (!again.ok()) abort();
  auto back =
      sessionkit::DecompressPayload(FrameCodec::kZstd, *again, kMaxSize, dicts);
  if (!back.ok() || *back != *out) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 5;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Sets& sets = Dicts();
  if (mode == 4) {
    auto set = Dictionaries::Parse({{"fuzz.dict", std::string(in)}}, "fuzz");
    if (!set.ok()) {
      if (!set.status().IsInvalidArgument() || set.status().message().empty()) {
        abort();
      }
      return 0;
    }
#ifdef SK_FUZZ_PLANTED
    // The planted "bug" (scripts/fuzz-planted): a dictionary file accepted
    // with an id of 1000 or more (the seed's trained dictionary: id 3).
    if (sessionkit::DictionaryIdOf(in) >= 1000) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: dictionary_frame_fuzzer\n");
      abort();
    }
#endif
    Decode(*sessionkit::CompressPayload(FrameCodec::kZstd, 0, "a|i:1;",
                                        set->get()),
           set->get());
    return 0;
  }
  if (mode == 3) {
    if (in.size() < 4) return 0;
    auto packed = sessionkit::CompressPayload(FrameCodec::kZstd, 0,
                                              in.substr(4), sets.both.get());
    if (!packed.ok()) abort();
    // The frame header: magic (4), descriptor (1), a window byte unless
    // the descriptor's single-segment bit (5) is set, then the dictionary
    // id (0, 1, 2 or 4 bytes, by the descriptor's low 2 bits).
    static constexpr size_t kIdSize[] = {0, 1, 2, 4};
    const auto descriptor = static_cast<uint8_t>((*packed)[4]);
    const size_t at = 5 + ((descriptor & 0x20) != 0 ? 0 : 1);
    for (size_t i = 0; i < kIdSize[descriptor & 3] && at + i < packed->size();
         ++i) {
      (*packed)[at + i] = in[i];
    }
    Decode(*packed, sets.one.get());
    return 0;
  }
  auto view = sessionkit::DecodeFrame(in);
  if (!view.ok() || view->header.codec != FrameCodec::kZstd) return 0;
  Decode(view->payload, mode == 0   ? nullptr
                        : mode == 1 ? sets.one.get()
                                    : sets.both.get());
  return 0;
}
