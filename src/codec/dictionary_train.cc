#include "codec/dictionary_train.h"

#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

#include "sessionkit/dictionaries.h"

namespace sessionkit {

Result<std::string> TrainDictionary(const std::vector<std::string>& samples,
                                    size_t dict_size, uint32_t id) {
  if (id == 0 || id > kMaxDictionaryId) {
    return Status::InvalidArgument("dictionary id " + std::to_string(id) +
                                   " is not from 1 to " +
                                   std::to_string(kMaxDictionaryId));
  }
  if (dict_size < kMinDictionarySize || dict_size > kMaxDictionaryFileSize) {
    return Status::InvalidArgument(
        "dictionary size " + std::to_string(dict_size) + " is not from " +
        std::to_string(kMinDictionarySize) + " to " +
        std::to_string(kMaxDictionaryFileSize) + " bytes");
  }
  if (samples.size() < kMinTrainingSamples) {
    return Status::InvalidArgument(
        "found " + std::to_string(samples.size()) +
        " non-empty sessions to train on; at least " +
        std::to_string(kMinTrainingSamples) + " are needed");
  }
  std::string joined;
  std::vector<size_t> sizes;
  for (const std::string& s : samples) {
    joined += s;
    sizes.push_back(s.size());
  }
  // ZDICT_trainFromBuffer's own settings, plus the id.
  ZDICT_fastCover_params_t params{};
  params.d = 8;
  params.steps = 4;
  params.zParams.compressionLevel = ZSTD_CLEVEL_DEFAULT;
  params.zParams.dictID = id;
  std::string dict(dict_size, '\0');
  const size_t n = ZDICT_optimizeTrainFromBuffer_fastCover(
      dict.data(), dict.size(), joined.data(), sizes.data(),
      static_cast<unsigned>(sizes.size()), &params);
  if (ZDICT_isError(n)) {
    return Status::InvalidArgument(
        std::string("zstd could not train a dictionary on ") +
        std::to_string(samples.size()) + " sessions of " +
        std::to_string(joined.size()) + " bytes (" + ZDICT_getErrorName(n) +
        "): more or larger sessions are needed, or a smaller --dict-size");
  }
  dict.resize(n);
  return dict;
}

}  // namespace sessionkit
