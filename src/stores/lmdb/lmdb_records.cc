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

// Moves the expiry of the live session `id` (the body of Touch), using
// `value` as scratch. MDB_NOTFOUND when it does not exist or expired,
// kRcCorrupt for a value without header, kRcNoChange when the expiry is

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
