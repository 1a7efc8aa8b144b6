// Training a zstd dictionary on session payloads (`sessionkit train`). The
// dictionary's format and the directory it goes into are
// sessionkit/dictionaries.h's.
#ifndef SESSIONKIT_CODEC_DICTIONARY_TRAIN_H_
#define SESSIONKIT_CODEC_DICTIONARY_TRAIN_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sessionkit/status.h"

namespace sessionkit {

// Fewer samples than this train no useful dictionary (zstd itself refuses
// below a handful).
inline constexpr size_t kMinTrainingSamples = 20;
// The dictionary size `sessionkit train` aims for unless told: enough for
// the shared structure of shop-like sessions of a few KB.
inline constexpr size_t kDefaultDictionarySize = 32 * 1024;
// Smallest dictionary size accepted.
inline constexpr size_t kMinDictionarySize = 1024;

// Trains a zstd dictionary of at most `dict_size` bytes on `samples` (the
// payloads as PHP writes them), carrying id `id` (1 to kMaxDictionaryId) in
// its header. InvalidArgument when there are fewer than
// kMinTrainingSamples samples or zstd refuses them (saying how many samples
// and bytes it was given), or for a bad size or id.
Result<std::string> TrainDictionary(const std::vector<std::string>& samples,
                                    size_t dict_size, uint32_t id);

}  // namespace sessionkit

#endif  // SESSIONKIT_CODEC_DICTIONARY_TRAIN_H_
