// Compression of session payloads: one function to compress and one to
// decompress, for every codec a frame can name (FrameCodec). The engine
// decides whether to compress (threshold, a value that does not shrink);
// this layer only turns bytes into bytes. docs/architecture.md ("The stored
// frame") describes each codec's payload for readers outside this code.
#ifndef SESSIONKIT_CODEC_COMPRESS_H_
#define SESSIONKIT_CODEC_COMPRESS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "sessionkit/dictionaries.h"
#include "sessionkit/frame.h"
#include "sessionkit/status.h"

namespace sessionkit {

// The largest payload a compressed frame may hold once decompressed: a
// stored value that claims more is refused (a decompression bomb), and a
// payload larger than this is stored raw, so every compressed frame written
// reads back. Far above any real session.
inline constexpr size_t kMaxDecompressedSize = size_t{16} << 20;  // 16 MiB

// The level `codec` compresses at for the setting `level`: the codec's own
// default for 0 (or a negative level), at most the codec's highest level;
// 0 for a codec without levels (none, snappy).
int EffectiveCompressionLevel(FrameCodec codec, int level);

// Compresses `in` with `codec` at `level` (EffectiveCompressionLevel).
// With `dictionaries` (zstd only; other codecs ignore it) the zstd frame is
// compressed with their active dictionary and names its id.
// InvalidArgument for kNone or an unknown codec, or an input over
// kMaxDecompressedSize; Internal when the library fails (out of memory).
Result<std::string> CompressPayload(FrameCodec codec, int level,
                                    std::string_view in,
                                    const Dictionaries* dictionaries = nullptr);

// Decompresses a payload CompressPayload made with `codec`. Corrupt, naming
// the codec and what is wrong, for an unknown codec, a payload that does not
// decode (truncated, altered) or that would exceed `max_size` bytes
// decompressed; nothing larger than max_size is ever allocated. A zstd
// frame that names a dictionary decompresses with that dictionary of
// `dictionaries`; Corrupt naming the id when they lack it (or are nullptr).
Result<std::string> DecompressPayload(
    FrameCodec codec, std::string_view in,
    size_t max_size = kMaxDecompressedSize,
    const Dictionaries* dictionaries = nullptr);

// The dictionary id a zstd payload's frame header names; 0 when it names
// none or is not a zstd frame.
uint32_t ZstdDictionaryIdOf(std::string_view payload);

}  // namespace sessionkit

#endif  // SESSIONKIT_CODEC_COMPRESS_H_
