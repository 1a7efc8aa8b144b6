#include "codec/compress.h"

#include <lz4.h>
#include <lz4hc.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

namespace sessionkit {
namespace {

// lz4 levels up to this one use the fast compressor (lz4's own default);
// higher ones LZ4HC, whose lowest level is LZ4HC_CLEVEL_MIN.
constexpr int kLz4FastMaxLevel = LZ4HC_CLEVEL_MIN - 1;
// The lz4 payload starts with the decompressed size, big-endian: lz4's
// block format does not record it, and the reader must know it to bound
// its buffer.
constexpr size_t kLz4SizePrefix = 4;

std::string Name(FrameCodec codec) {
  return std::string(FrameCodecName(codec));
}

Status Bomb(FrameCodec codec, uint64_t size, size_t max_size) {
  return Status::Corrupt(Name(codec) + " payload claims " +
                         std::to_string(size) +
                         " bytes decompressed, more than the limit of " +
                         std::to_string(max_size) + " bytes");
}

Status Undecodable(FrameCodec codec, std::string_view why) {
  return Status::Corrupt(Name(codec) +
                         " payload does not decompress: " + std::string(why));
}

// One compression and one decompression context per thread: creating them
// costs more than compressing a session.
//
// Thread safety: thread_local (Zstd()); never shared.
struct ZstdContexts {
  struct FreeC {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
  };
  struct FreeD {
    void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
  };
  std::unique_ptr<ZSTD_CCtx, FreeC> c{ZSTD_createCCtx()};
  std::unique_ptr<ZSTD_DCtx, FreeD> d{ZSTD_createDCtx()};
};

ZstdContexts& Zstd() {
  thread_local ZstdContexts contexts;
  return contexts;
}

Result<std::string> ZstdCompress(int level, std::string_view in,
                                 const Dictionaries* dictionaries) {
  ZSTD_CCtx* ctx = Zstd().c.get();
  if (ctx == nullptr) return Status::Internal("zstd: out of memory");
  // The checksum (4 bytes) lets a reader tell an altered payload from the
  // session: zstd has none by default.
  size_t n = ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(n)) {
    n = ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1);
  }
  if (!ZSTD_isError(n)) {
    // A CDict carries its level; a null one (none, or out of memory) makes
    // a frame without a dictionary.
    const auto* cdict = static_cast<const ZSTD_CDict*>(
        dictionaries == nullptr ? nullptr
                                : dictionaries->CompressionDictionary(level));
    if (dictionaries != nullptr && cdict == nullptr) {
      return Status::Internal("zstd: out of memory for the dictionary");
    }
    n = ZSTD_CCtx_refCDict(ctx, cdict);
  }
  std::string out(ZSTD_compressBound(in.size()), '\0');
  if (!ZSTD_isError(n)) {
    n = ZSTD_compress2(ctx, out.data(), out.size(), in.data(), in.size());
  }
  if (ZSTD_isError(n)) {
    return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

Result<std::string> ZstdDecompress(std::string_view in, size_t max_size,
                                   const Dictionaries* dictionaries) {
  const unsigned long long size =
      ZSTD_getFrameContentSize(in.data(), in.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) {
    return Undecodable(FrameCodec::kZstd, "not a zstd frame");
  }
  // Every frame CompressPayload writes records its size.
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Undecodable(FrameCodec::kZstd, "the frame does not record its size");
  }
  if (size > max_size) return Bomb(FrameCodec::kZstd, size, max_size);
  ZSTD_DCtx* ctx = Zstd().d.get();
  if (ctx == nullptr) return Status::Internal("zstd: out of memory");
  const uint32_t dict_id = ZSTD_getDictID_fromFrame(in.data(), in.size());
  const ZSTD_DDict* ddict = nullptr;
  if (dict_id != 0) {
    ddict = static_cast<const ZSTD_DDict*>(
        dictionaries == nullptr
            ? nullptr
            : dictionaries->DecompressionDictionary(dict_id));
    if (ddict == nullptr) {
      return Undecodable(
          FrameCodec::kZstd,
          "it needs dictionary " + std::to_string(dict_id) + ", which " +
              (dictionaries == nullptr
                   ? std::string("is not loaded (no dictionary directory)")
                   : "dictionary directory " + dictionaries->directory() +
                         " does not hold"));
    }
  }
  std::string out(static_cast<size_t>(size), '\0');
  const size_t n = ddict != nullptr
                       ? ZSTD_decompress_usingDDict(ctx, out.data(), out.size(),
                                                    in.data(), in.size(), ddict)
                       : ZSTD_decompressDCtx(ctx, out.data(), out.size(),
                                             in.data(), in.size());
  if (ZSTD_isError(n)) {
    return Undecodable(FrameCodec::kZstd, ZSTD_getErrorName(n));
  }
  if (n != size) {
    return Undecodable(FrameCodec::kZstd,
                       std::to_string(n) + " bytes where the frame records " +
                           std::to_string(size));
  }
  return out;
}

Result<std::string> Lz4Compress(int level, std::string_view in) {
  const int bound = LZ4_compressBound(static_cast<int>(in.size()));
  if (bound <= 0) return Status::InvalidArgument("lz4: input too large");
  std::string out(kLz4SizePrefix + static_cast<size_t>(bound), '\0');
  const uint32_t size = static_cast<uint32_t>(in.size());
  for (size_t i = 0; i < kLz4SizePrefix; ++i) {
    out[i] = static_cast<char>(size >> (8 * (kLz4SizePrefix - 1 - i)));
  }
  char* dst = out.data() + kLz4SizePrefix;
  const int n =
      level <= kLz4FastMaxLevel
          ? LZ4_compress_default(in.data(), dst, static_cast<int>(in.size()),
                                 bound)
          : LZ4_compress_HC(in.data(), dst, static_cast<int>(in.size()), bound,
                            level);
  if (n <= 0) return Status::Internal("lz4: compression failed");
  out.resize(kLz4SizePrefix + static_cast<size_t>(n));
  return out;
}

Result<std::string> Lz4Decompress(std::string_view in, size_t max_size) {
  if (in.size() < kLz4SizePrefix) {
    return Undecodable(FrameCodec::kLz4,
                       std::to_string(in.size()) +
                           " bytes, shorter than its 4-byte size prefix");
  }
  uint64_t size = 0;
  for (size_t i = 0; i < kLz4SizePrefix; ++i) {
    size = size << 8 | static_cast<uint8_t>(in[i]);
  }
  if (size > max_size) return Bomb(FrameCodec::kLz4, size, max_size);
  std::string out(static_cast<size_t>(size), '\0');
  const std::string_view block = in.substr(kLz4SizePrefix);
  const int n = LZ4_decompress_safe(block.data(), out.data(),
                                    static_cast<int>(block.size()),
                                    static_cast<int>(size));
  if (n < 0 || static_cast<uint64_t>(n) != size) {
    return Undecodable(FrameCodec::kLz4, "malformed block for " +
                                             std::to_string(size) +
                                             " bytes (truncated or altered)");
  }
  return out;
}

Result<std::string> SnappyCompress(std::string_view in) {
  std::string out;
  snappy::Compress(in.data(), in.size(), &out);
  return out;
}

Result<std::string> SnappyDecompress(std::string_view in, size_t max_size) {
  size_t size = 0;
  if (!snappy::GetUncompressedLength(in.data(), in.size(), &size)) {
    return Undecodable(FrameCodec::kSnappy, "malformed length");
  }
  if (size > max_size) return Bomb(FrameCodec::kSnappy, size, max_size);
  std::string out(size, '\0');
  if (!snappy::RawUncompress(in.data(), in.size(), out.data())) {
    return Undecodable(FrameCodec::kSnappy, "truncated or altered");
  }
  return out;
}

Result<std::string> ZlibCompress(int level, std::string_view in) {
  uLongf n = compressBound(static_cast<uLong>(in.size()));
  std::string out(n, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &n,
                           reinterpret_cast<const Bytef*>(in.data()),
                           static_cast<uLong>(in.size()), level);
  if (rc != Z_OK) {
    return Status::Internal("zlib: compression failed (" + std::to_string(rc) +
                            ")");
  }
  out.resize(n);
  return out;
}

// zlib does not record the decompressed size, so the output grows as it
// inflates and stops at max_size.
Result<std::string> ZlibDecompress(std::string_view in, size_t max_size) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return Status::Internal("zlib: out of memory");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out(std::min(max_size, std::max<size_t>(in.size() * 4, 256)),
                  '\0');
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.total_out == out.size()) {
      // One byte beyond the limit tells a bomb from a payload at it.
      if (out.size() > max_size) {
        return Bomb(FrameCodec::kZlib, zs.total_out, max_size);
      }
      out.resize(std::min(out.size() * 2, max_size + 1));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      return Undecodable(FrameCodec::kZlib, "truncated");
    }
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      return Undecodable(FrameCodec::kZlib,
                         zs.msg != nullptr ? zs.msg : "malformed stream");
    }
  }
  if (zs.total_out > max_size) {
    return Bomb(FrameCodec::kZlib, zs.total_out, max_size);
  }
  if (zs.avail_in != 0) {
    return Undecodable(
        FrameCodec::kZlib,
        std::to_string(zs.avail_in) + " bytes follow the end of the stream");
  }
  out.resize(zs.total_out);
  return out;
}

}  // namespace

int EffectiveCompressionLevel(FrameCodec codec, int level) {
  switch (codec) {
    case FrameCodec::kZstd:
      return level <= 0 ? ZSTD_CLEVEL_DEFAULT
                        : std::min(level, ZSTD_maxCLevel());
    case FrameCodec::kLz4:
      return level <= 0 ? 1 : std::min(level, LZ4HC_CLEVEL_MAX);
    case FrameCodec::kZlib:
      return level <= 0 ? 6 : std::min(level, Z_BEST_COMPRESSION);
    case FrameCodec::kNone:
    case FrameCodec::kSnappy:
      break;
  }
  return 0;
}

Result<std::string> CompressPayload(FrameCodec codec, int level,
                                    std::string_view in,
                                    const Dictionaries* dictionaries) {
  if (in.size() > kMaxDecompressedSize) {
    return Status::InvalidArgument(
        std::to_string(in.size()) + " bytes is more than " + Name(codec) +
        " frames may hold (" + std::to_string(kMaxDecompressedSize) + ")");
  }
  level = EffectiveCompressionLevel(codec, level);
  switch (codec) {
    case FrameCodec::kZstd:
      return ZstdCompress(level, in, dictionaries);
    case FrameCodec::kLz4:
      return Lz4Compress(level, in);
    case FrameCodec::kSnappy:
      return SnappyCompress(in);
    case FrameCodec::kZlib:
      return ZlibCompress(level, in);
    case FrameCodec::kNone:
      break;
  }
  return Status::InvalidArgument("cannot compress with codec " + Name(codec));
}

Result<std::string> DecompressPayload(FrameCodec codec, std::string_view in,
                                      size_t max_size,
                                      const Dictionaries* dictionaries) {
  switch (codec) {
    case FrameCodec::kZstd:
      return ZstdDecompress(in, max_size, dictionaries);
    case FrameCodec::kLz4:
      return Lz4Decompress(in, max_size);
    case FrameCodec::kSnappy:
      return SnappyDecompress(in, max_size);
    case FrameCodec::kZlib:
      return ZlibDecompress(in, max_size);
    case FrameCodec::kNone:
      break;
  }
  return Status::Corrupt("codec id " +
                         std::to_string(static_cast<unsigned>(codec)) +
                         " names no compression this build decodes");
}

uint32_t ZstdDictionaryIdOf(std::string_view payload) {
  return ZSTD_getDictID_fromFrame(payload.data(), payload.size());
}

}  // namespace sessionkit
