// The layout of the LMDB store's keys and values (described in
// lmdb_store.h), shared by the store and by its checker (lmdb_check.h), so
// that both read the database the same way.
#ifndef SESSIONKIT_STORES_LMDB_LMDB_LAYOUT_H_
#define SESSIONKIT_STORES_LMDB_LMDB_LAYOUT_H_

#include <lmdb.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "stores/lmdb/lmdb_store.h"

namespace sessionkit::lmdb_internal {

// A session's value: its 8-byte big-endian expiry (Unix ms), then the data.
inline constexpr size_t kHeaderBytes = 8;
// An index key: this byte (which starts no session id, so the whole index
// sorts before the sessions), the 8-byte big-endian bucket, the id.
inline constexpr char kIndexPrefix = '\0';
inline constexpr size_t kIndexHeaderBytes = 1 + 8;
// A lock key: these 9 bytes, then the id. They read as an index key of the
// bucket INT64_MAX, which no expiry reaches: lock records sort after every
// index entry and before every session, Scan (which starts past the index)
// never lists them, and the index walk of Gc stops before them, in this
// version and in earlier ones sharing the directory.
inline constexpr char kLockPrefix[] = "\0\x7f\xff\xff\xff\xff\xff\xff\xff";
inline constexpr size_t kLockPrefixBytes = sizeof kLockPrefix - 1;
static_assert(kLockPrefixBytes == kIndexHeaderBytes);
// LMDB keys are at most 511 bytes and an index or lock key adds 9 to the
// id: LMDB's own bound on ids, a backend limit (the charset is the shared
// rule of sessionkit/session_id.h; both are checked in lmdb_records.cc).
inline constexpr size_t kMaxKeyBytes = 511;  // LMDB's default key size limit
inline constexpr size_t kMaxIdBytes = kMaxKeyBytes - kIndexHeaderBytes;
// Expiries (and lease ends) are kept below the year 2255 so that they fit a
// TimePoint.
inline constexpr int64_t kMaxExpiryMs = 9'000'000'000'000;

inline void PutBigEndian64(char* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

inline int64_t GetBigEndian64(const void* in) {
  const auto* p = static_cast<const unsigned char*>(in);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return static_cast<int64_t>(v);
}

// Start of the index bucket of an expiry (never negative, like the stored
// expiry).
inline int64_t Bucket(int64_t expiry_ms) {
  const int64_t ms = std::max<int64_t>(expiry_ms, 0);
  return ms - ms % kIndexBucketMs;
}

// A key of the index walk of Gc and of the sweep of each write: where the
// walk goes on (the index's start by default).
struct IndexPos {
  char key[kIndexHeaderBytes + kMaxIdBytes] = {kIndexPrefix};
  size_t size = 1;
};

inline MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

inline std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

inline bool IsIndexKey(std::string_view key) {
  return !key.empty() && key[0] == kIndexPrefix;
}

inline bool IsLockKey(std::string_view key) {
  return key.size() >= kLockPrefixBytes &&
         std::memcmp(key.data(), kLockPrefix, kLockPrefixBytes) == 0;
}

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_LAYOUT_H_
