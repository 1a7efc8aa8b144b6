// Trained zstd dictionaries for session payloads: a directory of dictionary
// files. The dictionary of the highest id compresses every new zstd write;
// every dictionary of the directory decompresses, so a new dictionary is
// added beside the old ones, which stay until no stored value uses them.
// This header is the one definition of the directory's layout;
// docs/compression.md explains it for operators:
//
//   <dir>/<id>.dict     one dictionary file: <id> a decimal from 1 to
//                       kMaxDictionaryId, without leading zeros
//
// A dictionary file (as `sessionkit train` writes it, DictionaryFileBytes)
// is a zstd dictionary whose own header carries the same id, followed by a
// 12-byte trailer: "SKD1", the dictionary's size (4 bytes, big-endian) and
// its CRC-32 (4 bytes, big-endian). A zstd dictionary has no checksum of
// its own, and a truncated one still loads; the trailer lets every host
// refuse a damaged copy instead of reading sessions with it.
//
// Names starting with '.' (a file `sessionkit train` is still writing) and
// names not ending in ".dict" are ignored. A zstd frame names the dictionary
// it was compressed with in its own header (ZSTD_getDictID_fromFrame), so a
// stored frame needs no field of its own for it.
#ifndef SESSIONKIT_DICTIONARIES_H_
#define SESSIONKIT_DICTIONARIES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"

namespace sessionkit {

// The highest dictionary id: ids fit zstd's 4-byte field, and stay clear of
// the values a corrupt header most often holds.
inline constexpr uint32_t kMaxDictionaryId = 0x7FFFFFFF;
// The largest dictionary file read: far above any useful dictionary.
inline constexpr size_t kMaxDictionaryFileSize = size_t{4} << 20;
// The file name of dictionary `id` in a dictionary directory.
std::string DictionaryFileName(uint32_t id);
// The contents of the dictionary file of zstd dictionary `dict`: it with
// its trailer.
std::string DictionaryFileBytes(std::string_view dict);

// A set of loaded dictionaries, each ready to compress (per level, made on
// first use) and decompress. The zstd codec (src/codec/compress.h) uses it.
//
// Thread safety: immutable after Load / Parse except for its internal cache
// of compression dictionaries, which is locked; safe for concurrent use.
class Dictionaries {
 public:
  // One dictionary's bytes, as a file holds them.
  struct Source {
    std::string name;  // in messages: the file's path
    std::string bytes;
  };

  // Checks and loads `sources`: each must be a zstd dictionary with an id
  // from 1 to kMaxDictionaryId, no two with one id. `directory` names the
  // set in messages. InvalidArgument naming the source and what is wrong;
  // an empty set is InvalidArgument too.
  static Result<std::shared_ptr<const Dictionaries>> Parse(
      std::vector<Source> sources, std::string directory);

  // Reads every dictionary file of `directory` (the layout above) and
  // Parse()s them; a file whose trailer does not match (damaged or
  // truncated) or whose name and header ids differ is refused.
  // InvalidArgument naming the directory or file and what is wrong (cannot
  // be read, holds no dictionary file, not a dictionary, too large).
  static Result<std::shared_ptr<const Dictionaries>> Load(
      const std::string& directory);

  ~Dictionaries();
  Dictionaries(const Dictionaries&) = delete;
  Dictionaries& operator=(const Dictionaries&) = delete;

  // The id of the dictionary new writes use: the highest.
  uint32_t active_id() const;
  // Every id, highest first.
  std::vector<uint32_t> ids() const;
  // True when the set holds dictionary `id`.
  bool Has(uint32_t id) const;
  // What Parse was given as `directory`.
  const std::string& directory() const { return directory_; }

  // For the zstd codec: the library's compression dictionary of the active
  // id at `level` (a ZSTD_CDict*, made once per level), and the
  // decompression dictionary of `id` (a ZSTD_DDict*, nullptr when the set
  // lacks it). nullptr from CompressionDictionary when out of memory.
  const void* CompressionDictionary(int level) const;
  const void* DecompressionDictionary(uint32_t id) const;

 private:
  struct Impl;
  explicit Dictionaries(std::unique_ptr<Impl> impl, std::string directory);

  std::unique_ptr<Impl> impl_;
  std::string directory_;
};

// The dictionary id a zstd dictionary's header carries, 0 when `bytes` is
// not a zstd dictionary (ZDICT_getDictID).
uint32_t DictionaryIdOf(std::string_view bytes);

}  // namespace sessionkit

#endif  // SESSIONKIT_DICTIONARIES_H_
