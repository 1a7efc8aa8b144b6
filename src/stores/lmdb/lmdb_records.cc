#include "stores/lmdb/lmdb_records.h"

#include <lmdb.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "sessionkit/session_id.h"
#include "stores/lmdb/lmdb_txn.h"

namespace sessionkit::lmdb_internal {

int GetLock(MDB_txn* txn, const Env* e, std::string_view id, LockRecord* out) {
  HeaderKey key = LockKey(id);
  MDB_val k = key.val(), v;
  const int rc = mdb_get(txn, e->db, &k, &v);
  if (rc == 0) *out = ParseLockRecord(View(v));
  return rc;
}

int PutLock(MDB_txn* txn, const Env* e, std::string_view id, const LockNow& now,
            Duration lease, std::string_view token) {
  HeaderKey key = LockKey(id);
  MDB_val k = key.val();
  MDB_val v{LockRecordBytes(token), nullptr};
  const int rc = mdb_put(txn, e->db, &k, &v, MDB_RESERVE);
  if (rc != 0) return rc;
  EncodeLockRecord(static_cast<char*>(v.mv_data), now, lease, token);
  return 0;
}

int DelLock(MDB_txn* txn, const Env* e, std::string_view id) {
  HeaderKey key = LockKey(id);
  MDB_val k = key.val();
  return mdb_del(txn, e->db, &k, nullptr);
}

int DeleteSession(MDB_txn* txn, const Env* e, std::string_view id,
                  bool* index_changed, bool* unlocked) {
  *index_changed = *unlocked = false;
  int rc = DelLock(txn, e, id);
  if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  *unlocked = rc == 0;
  MDB_cursor* cursor;
  if ((rc = mdb_cursor_open(txn, e->db, &cursor)) != 0) return rc;
  CursorGuard guard{cursor};
  MDB_val k = Val(id), old;
  rc = mdb_cursor_get(cursor, &k, &old, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND) return *unlocked ? 0 : kRcNoChange;
  if (rc != 0) return rc;
  *index_changed = old.mv_size >= kHeaderBytes;
  const int64_t old_expiry = *index_changed ? GetBigEndian64(old.mv_data) : 0;
  if ((rc = mdb_cursor_del(cursor, 0)) != 0) return rc;
  return *index_changed ? DelIndex(txn, e, old_expiry, id) : 0;
}

int PutIndex(MDB_txn* txn, const Env* e, int64_t expiry_ms,
             std::string_view id) {
  HeaderKey key = IndexKey(expiry_ms, id);
  MDB_val k = key.val();
  MDB_val empty{0, nullptr};
  return mdb_put(txn, e->db, &k, &empty, 0);
}

int DelIndex(MDB_txn* txn, const Env* e, int64_t expiry_ms,
             std::string_view id) {
  HeaderKey key = IndexKey(expiry_ms, id);
  MDB_val k = key.val();
  int rc = mdb_del(txn, e->db, &k, nullptr);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

int PutSession(MDB_txn* txn, const Env* e, std::string_view id,
               std::string_view data, int64_t expiry, bool* index_changed) {
  // One cursor finds the old value and replaces it, without a second
  // search of the tree.
  MDB_cursor* cursor;
  int rc = mdb_cursor_open(txn, e->db, &cursor);
  if (rc != 0) return rc;
  CursorGuard guard{cursor};
  MDB_val k = Val(id), old;
  rc = mdb_cursor_get(cursor, &k, &old, MDB_SET_KEY);
  if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  const bool found = rc == 0;
  const bool had_expiry = found && old.mv_size >= kHeaderBytes;
  const int64_t old_expiry = had_expiry ? GetBigEndian64(old.mv_data) : 0;
  const bool index_current = had_expiry && Bucket(old_expiry) == Bucket(expiry);
  *index_changed = !index_current;
  k = Val(id);
  MDB_val v{kHeaderBytes + data.size(), nullptr};
  rc = mdb_cursor_put(cursor, &k, &v,
                      found ? MDB_CURRENT | MDB_RESERVE : MDB_RESERVE);
  if (rc != 0) return rc;
  // Fill the reserved space before the index changes: they may move it.
  char* out = static_cast<char*>(v.mv_data);
  PutBigEndian64(out, StoredExpiry(expiry));
  if (!data.empty()) {
    std::memcpy(out + kHeaderBytes, data.data(), data.size());
  }
  if (index_current) return 0;
  if (had_expiry && (rc = DelIndex(txn, e, old_expiry, id)) != 0) return rc;
  return PutIndex(txn, e, expiry, id);
}

int TouchSession(MDB_txn* txn, const Env* e, std::string_view id, int64_t now,
                 int64_t expiry, std::string* value, bool* index_changed) {
  MDB_cursor* cursor;
  int rc = mdb_cursor_open(txn, e->db, &cursor);
  if (rc != 0) return rc;
  CursorGuard guard{cursor};
  MDB_val k = Val(id), old;
  if ((rc = mdb_cursor_get(cursor, &k, &old, MDB_SET_KEY)) != 0) return rc;
  if (old.mv_size < kHeaderBytes) return kRcCorrupt;
  const int64_t old_expiry = GetBigEndian64(old.mv_data);
  if (old_expiry <= now) return MDB_NOTFOUND;
  if (old_expiry == expiry) return kRcNoChange;
  // Copy before writing: the put may move the page `old` points into.
  value->assign(View(old));
  PutBigEndian64(value->data(), StoredExpiry(expiry));
  k = Val(id);
  MDB_val v = Val(*value);
  if ((rc = mdb_cursor_put(cursor, &k, &v, MDB_CURRENT)) != 0) return rc;
  *index_changed = Bucket(old_expiry) != Bucket(expiry);
  if (!*index_changed) return 0;
  if ((rc = DelIndex(txn, e, old_expiry, id)) != 0) return rc;
  return PutIndex(txn, e, expiry, id);
}

int GcIndexBatch(MDB_txn* txn, const Env* e, int64_t now_ms,
                 const IndexPos& from, uint64_t limit, uint64_t keep_limit,
                 GcResult* batch, bool* more, IndexPos* next) {
  MDB_cursor* cursor;
  int rc = mdb_cursor_open(txn, e->db, &cursor);
  if (rc != 0) return rc;
  CursorGuard guard{cursor};
  char pos[sizeof from.key];  // the entry being visited
  size_t pos_size = from.size;
  std::memcpy(pos, from.key, from.size);
  MDB_val k{pos_size, pos}, unused;
  rc = mdb_cursor_get(cursor, &k, &unused, MDB_SET_RANGE);
  uint64_t kept = 0;
  for (uint64_t visited = 0; rc == 0; ++visited) {
    if (!IsIndexKey(View(k))) break;  // the sessions follow the index
    if (k.mv_size >= kIndexHeaderBytes &&
        GetBigEndian64(static_cast<char*>(k.mv_data) + 1) > now_ms) {
      break;  // this bucket and all later ones start after now
    }
    // Copy the key: deleting may move the page that holds it.
    pos_size = std::min(k.mv_size, sizeof pos);
    std::memcpy(pos, k.mv_data, pos_size);
    if (visited == limit || kept == keep_limit) {
      *more = true;
      std::memcpy(next->key, pos, pos_size);
      next->size = pos_size;
      break;
    }
    // Drop the entry unless it is the own entry of a live session.
    bool keep = false;
    bool expired = false;  // the session goes too
    MDB_val id{0, nullptr}, v;
    if (k.mv_size > kIndexHeaderBytes && k.mv_size <= sizeof pos) {
      id = MDB_val{pos_size - kIndexHeaderBytes, pos + kIndexHeaderBytes};
      rc = mdb_get(txn, e->db, &id, &v);
      if (rc == 0 && v.mv_size >= kHeaderBytes) {
        const int64_t expiry = GetBigEndian64(v.mv_data);
        if (expiry <= now_ms) {
          expired = true;
          batch->bytes_removed += v.mv_size - kHeaderBytes;
          batch->removed++;
        } else {
          // A live session whose entry is in another bucket leaves a
          // stale entry here.
          keep = Bucket(expiry) == GetBigEndian64(pos + 1);
        }
      } else if (rc != 0 && rc != MDB_NOTFOUND) {
        break;
      }
    }
    if (keep) {
      ++kept;
      rc = mdb_cursor_get(cursor, &k, &unused, MDB_NEXT);
      continue;
    }
    if ((rc = mdb_cursor_del(cursor, 0)) != 0) break;
    // An expired session goes too. If this entry was a stale one, the
    // session's own entry is in a bucket that has begun as well (its
    // expiry has passed): this walk reaches it and drops it as stale.
    if (expired && (rc = mdb_del(txn, e->db, &id, nullptr)) != 0) {
      break;
    }
    k = MDB_val{pos_size, pos};
    rc = mdb_cursor_get(cursor, &k, &unused, MDB_SET_RANGE);
  }
  return rc == MDB_NOTFOUND ? 0 : rc;
}

int SweepExpired(MDB_txn* txn, Env* e, int64_t now_ms, GcResult* swept) {
  // e->sweep_from is only used inside write transactions, which LMDB's write
  // lock serialises across the threads of this process.
  bool more = false;
  IndexPos next;
  const int rc = GcIndexBatch(txn, e, now_ms, e->sweep_from, kSweepVisits,
                              kSweepLiveVisits, swept, &more, &next);
  if (rc != 0) return rc;
  e->sweep_from = more ? next : IndexPos();
  return 0;
}

std::string IdPrefix(std::string_view id) { return SessionIdPrefix(id); }

Status CheckId(const std::string& name, std::string_view id) {
  // LMDB's own bound on ids, a backend limit: its key size (kMaxIdBytes),
  // above the 256 characters of ValidateSessionId.
  if (id.empty() || id.size() > kMaxIdBytes) {
    return Status::InvalidArgument(
        name + ": a session id of " + std::to_string(id.size()) +
        " bytes cannot be stored (1 to " + std::to_string(kMaxIdBytes) +
        " bytes: LMDB's key size limit)");
  }
  // The charset is the shared rule (session_id.h); it has no zero byte,
  // which keeps ids apart from the index and lock keys.
  if (!std::all_of(id.begin(), id.end(), IsSessionIdChar)) {
    // ValidateSessionId names the first character outside it.
    return Status::InvalidArgument(name + ": " +
                                   ValidateSessionId(id).message());
  }
  return Status::OK();
}

Status CheckValueSize(const std::string& name, std::string_view id,
                      std::string_view data) {
  if (data.size() <= kMaxValueBytes) return Status::OK();
  return Status::InvalidArgument(name + ": write of session " + IdPrefix(id) +
                                 ": " + std::to_string(data.size()) +
                                 " bytes is more than LMDB can store");
}

}  // namespace sessionkit::lmdb_internal
