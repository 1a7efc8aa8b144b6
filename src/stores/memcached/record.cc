#include "stores/memcached/record.h"

#include <openssl/evp.h>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "sessionkit/session_id.h"
#include "stores/memcached/meta.h"

namespace sessionkit::memcached {
namespace {

constexpr std::string_view kLockSuffix = ".lock";
constexpr char kMagic0 = 'S';
constexpr char kMagic1 = 'K';
constexpr char kDataTag = 0x01;
constexpr char kTombstoneTag = 0x02;
constexpr size_t kHeader = 3 + 8;

void AppendInt64(int64_t v, std::string* out) {
  const uint64_t u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((u >> shift) & 0xff));
  }
}

int64_t ReadInt64(std::string_view bytes) {
  uint64_t u = 0;
  for (size_t i = 0; i < 8; ++i) {
    u = (u << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return static_cast<int64_t>(u);
}

std::string Encode(char tag, int64_t at_ms, std::string_view id,
                   std::string_view frame) {
  std::string out;
  out.reserve(kHeader + 2 + id.size() + frame.size());
  out.push_back(kMagic0);
  out.push_back(kMagic1);
  out.push_back(tag);
  AppendInt64(at_ms, &out);
  if (tag == kDataTag) {
    out.push_back(static_cast<char>((id.size() >> 8) & 0xff));
    out.push_back(static_cast<char>(id.size() & 0xff));
    out.append(id);
  }
  out.append(frame);
  return out;
}

// "#" and the unpadded base64url SHA-256 of `id`.
std::string HashedId(std::string_view id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(id.data(), id.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "#";
  uint32_t bits = 0;
  int have = 0;
  for (unsigned int i = 0; i < size; ++i) {
    bits = (bits << 8) | digest[i];
    have += 8;
    while (have >= 6) {
      have -= 6;
      out.push_back(kAlphabet[(bits >> have) & 0x3f]);
    }
  }
  if (have > 0) out.push_back(kAlphabet[(bits << (6 - have)) & 0x3f]);
  return out;
}

}  // namespace

SessionKeys KeysFor(std::string_view prefix, std::string_view id) {
  SessionKeys keys;
  if (prefix.size() + id.size() + kLockSuffix.size() <= kMaxKeyLength) {
    keys.data.reserve(prefix.size() + id.size());
    keys.data.append(prefix).append(id);
  } else {
    keys.data.append(prefix).append(HashedId(id));
  }
  keys.lock = keys.data;
  keys.lock.append(kLockSuffix);
  return keys;
}

std::string EncodeData(std::string_view id, std::string_view frame,
                       int64_t expires_ms) {
  return Encode(kDataTag, expires_ms, id, frame);
}

std::string EncodeTombstone(int64_t destroyed_ms) {
  return Encode(kTombstoneTag, destroyed_ms, {}, {});
}

Result<StoredValue> DecodeValue(std::string_view value, std::string_view what) {
  size_t id_size = 0;
  bool ok =
      value.size() >= kHeader && value[0] == kMagic0 && value[1] == kMagic1;
  if (ok && value[2] == kDataTag) {
    ok = value.size() >= kHeader + 2;
    if (ok) {
      id_size =
          (static_cast<size_t>(static_cast<unsigned char>(value[11])) << 8) |
          static_cast<unsigned char>(value[12]);
      ok = value.size() >= kHeader + 2 + id_size;
    }
  } else if (ok) {
    ok = value[2] == kTombstoneTag && value.size() == kHeader;
  }
  if (!ok) {
    return Status::Corrupt(
        std::string(what) + ": the stored item is not a sessionkit session (" +
        std::to_string(value.size()) +
        " bytes; another program may use the same key prefix)");
  }
  StoredValue out;
  out.tombstone = value[2] == kTombstoneTag;
  out.at_ms = ReadInt64(value.substr(3, 8));
  if (!out.tombstone) {
    out.id = value.substr(kHeader + 2, id_size);
    out.frame = value.substr(kHeader + 2 + id_size);
  }
  return out;
}

uint32_t ItemTtl(int64_t until_ms, int64_t now_ms) {
  const int64_t left_ms = until_ms - now_ms;
  const int64_t seconds = (left_ms <= 0 ? 0 : (left_ms + 999) / 1000) + 1;
  if (seconds > static_cast<int64_t>(kMaxRelativeTtl)) return 0;
  return static_cast<uint32_t>(seconds);
}

}  // namespace sessionkit::memcached
