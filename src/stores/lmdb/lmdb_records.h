// The records of the LMDB store (its layout: lmdb_store.h, lmdb_layout.h)
// as read and written inside a transaction: expiries, the keys of index
// entries and lock records, the session bodies shared by the plain and the
// locked operations, and the checks of what a key or value may hold.
#ifndef SESSIONKIT_STORES_LMDB_LMDB_RECORDS_H_
#define SESSIONKIT_STORES_LMDB_LMDB_RECORDS_H_

#include <lmdb.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "stores/lmdb/lmdb_env.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lmdb_lock_record.h"

namespace sessionkit::lmdb_internal {

// The largest session value: its size with the header fits 32 bits.
inline constexpr uint64_t kMaxValueBytes = 0xffffffffull - kHeaderBytes;

// --- Encoding -----------------------------------------------------------

// Expiry as persisted: never negative, so the big-endian bytes sort in time
// order.
inline uint64_t StoredExpiry(int64_t ms) {
  return ms < 0 ? 0 : static_cast<uint64_t>(ms);
}

inline int64_t ExpiryFromNow(int64_t now_ms, Duration ttl) {
  const int64_t t = ttl.count();
  if (t > 0 && now_ms > kMaxExpiryMs - t) return kMaxExpiryMs;
  if (t < 0 && now_ms < std::numeric_limits<int64_t>::min() - t) return 0;
  return std::clamp<int64_t>(now_ms + t, 0, kMaxExpiryMs);
}

inline TimePoint ExpiryTime(int64_t ms) {
  return FromUnixMillis(std::clamp<int64_t>(ms, 0, kMaxExpiryMs));
}

// A key below the sessions: kIndexPrefix, an 8-byte big-endian number, the
// id. The index key of a session has the start of its expiry's bucket; its
// lock key has INT64_MAX (kLockPrefix), a bucket no expiry reaches.
//
// Thread safety: a value on the stack of one call.
class HeaderKey {
 public:
  HeaderKey(uint64_t number, std::string_view id)
      : size_(kIndexHeaderBytes + id.size()) {
    buf_[0] = kIndexPrefix;
    PutBigEndian64(buf_ + 1, number);
    std::memcpy(buf_ + kIndexHeaderBytes, id.data(), id.size());
  }
  MDB_val val() { return MDB_val{size_, buf_}; }

 private:
  char buf_[kIndexHeaderBytes + kMaxIdBytes];
  size_t size_;
};

inline HeaderKey IndexKey(int64_t expiry_ms, std::string_view id) {
  return HeaderKey(static_cast<uint64_t>(Bucket(expiry_ms)), id);
}

inline HeaderKey LockKey(std::string_view id) {
  return HeaderKey(static_cast<uint64_t>(INT64_MAX), id);
}

// --- Records inside a transaction ---------------------------------------

// Reads the lock record of `id`: 0, MDB_NOTFOUND or an LMDB error.
int GetLock(MDB_txn* txn, const Env* e, std::string_view id, LockRecord* out);

// Puts the lock record of `id` (lmdb_lock_record.h): 0 or an LMDB error.
int PutLock(MDB_txn* txn, const Env* e, std::string_view id, const LockNow& now,
            Duration lease, std::string_view token);

// Deletes the lock record of `id`: 0, MDB_NOTFOUND or an LMDB error.
int DelLock(MDB_txn* txn, const Env* e, std::string_view id);

// Adds the index entry of a session that expires at `expiry_ms`.
int PutIndex(MDB_txn* txn, const Env* e, int64_t expiry_ms,
             std::string_view id);

// Deletes the index entry of a session that expires at `expiry_ms`; one
// that is missing is not an error.
int DelIndex(MDB_txn* txn, const Env* e, int64_t expiry_ms,
             std::string_view id);

// --- Session bodies shared by the plain and the locked operations -------

// Creates or replaces the session `id` (the body of Write), moving its
// index entry unless the expiry stays in its bucket; sets *index_changed.
int PutSession(MDB_txn* txn, const Env* e, std::string_view id,
               std::string_view data, int64_t expiry, bool* index_changed);

// Moves the expiry of the live session `id` (the body of Touch), using
// `value` as scratch. MDB_NOTFOUND when it does not exist or expired,
// kRcCorrupt for a value without header, kRcNoChange when the expiry is
// already `expiry`.
int TouchSession(MDB_txn* txn, const Env* e, std::string_view id, int64_t now,
                 int64_t expiry, std::string* value, bool* index_changed);

// Deletes the session `id`, its index entry and a lock record of an
// earlier version (the body of Destroy); sets *index_changed, and *unlocked
// when there was such a record. kRcNoChange when there was nothing.
int DeleteSession(MDB_txn* txn, const Env* e, std::string_view id,
                  bool* index_changed, bool* unlocked);

// --- The expiry index walk ------------------------------------------------

// Index entries the sweep of one write transaction visits at most, and of
// them the entries of live sessions (see SweepExpired): each costs a lookup
// of its session and frees nothing.
inline constexpr uint64_t kSweepVisits = 8;
inline constexpr uint64_t kSweepLiveVisits = 2;

// One batch of the index walk of Gc (see LmdbStore::GcInternal), in the
// write transaction `txn`, from the key `from`: drops the entries of buckets
// that began by `now_ms` (but the own entries of live sessions) and the
// expired sessions, counting them in *batch. After `limit` entries it stops,
// sets *more and leaves in *next the first key the next batch visits; so it
// does after `keep_limit` entries it kept.
int GcIndexBatch(MDB_txn* txn, const Env* e, int64_t now_ms,
                 const IndexPos& from, uint64_t limit, uint64_t keep_limit,
                 GcResult* batch, bool* more, IndexPos* next);

// The expiry work of a write transaction, whatever gc and cron do: one
// batch of GcIndexBatch of at most kSweepVisits entries (kSweepLiveVisits
// of live sessions), from where the previous sweep of this process stopped
// (e->sweep_from), back to the index's start once it reaches a bucket that
// has not begun. A walk of buckets that ended removes all it visits; in the
// bucket of `now_ms`, live sessions are skipped and the next sweeps go on
// past them, so a pass over that bucket takes at most its live entries /
// kSweepLiveVisits writes. Counts what it removed in *swept. 0 or an LMDB
// error.
int SweepExpired(MDB_txn* txn, Env* e, int64_t now_ms, GcResult* swept);

// --- Checks and messages --------------------------------------------------

// Enough of an id to find it in logs, never the whole secret.
std::string IdPrefix(std::string_view id);

// Ids reach the store validated (store.h); the store is also used
// directly, so this checks the shared charset (IsSessionIdChar), which keeps
// ids apart from the index and lock keys, and LMDB's own length limit, its
// key size.
Status CheckId(const std::string& name, std::string_view id);

// InvalidArgument when `data` is more than a value can hold.
Status CheckValueSize(const std::string& name, std::string_view id,
                      std::string_view data);

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_RECORDS_H_
