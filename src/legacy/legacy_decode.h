// What the old handlers stored, decoded: pure functions over bytes, each
// with a fuzzer (legacy_decode_fuzzer.cc) and unit tests.
#ifndef SESSIONKIT_LEGACY_LEGACY_DECODE_H_
#define SESSIONKIT_LEGACY_LEGACY_DECODE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace sessionkit::legacy {

// The `data` field of a Cm_RedisSession hash as the session payload. A
// compressed value starts with a 4-byte tag naming the library:
//   ":gz:" gzcompress (one zlib stream), ":sn:" snappy_compress (one
//   snappy block), ":lz:" lzf_compress (raw lzf, no size), ":l4:"
//   lz4_compress (the size, 4 bytes little-endian, then one lz4 block);
// anything else is the payload as is. Corrupt naming the tag when the rest
// does not decompress, or would exceed kMaxDecompressedSize.
Result<std::string> DecodeCmData(std::string_view data);

// The path of session `id`'s file under `dir` with `depth` levels of
// subdirectories, as PHP's files handler names it: one directory per
// leading character of the id, then "sess_<id>". InvalidArgument when the
// id is not longer than `depth` (PHP refuses such ids too).
Result<std::string> FilesSessionPath(std::string_view dir, int depth,
                                     std::string_view id);

// How long a row of Symfony's PdoSessionHandler has left at `now_s` (Unix
// seconds): sess_lifetime is the absolute expiry in its schema since 5.4
// (and a lifetime in seconds after sess_time before: then it is smaller
// than sess_time). NotFound when it has expired; Corrupt when a column is
// not a number.
Result<Duration> PdoRowTtl(std::string_view sess_lifetime,
                           std::string_view sess_time, int64_t now_s);

}  // namespace sessionkit::legacy

#endif  // SESSIONKIT_LEGACY_LEGACY_DECODE_H_
