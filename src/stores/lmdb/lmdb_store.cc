// The sessions of the LMDB store: Read, Write, Touch, Destroy, Exists, Scan,
// Gc (of the expiry index) and the mapping of LMDB codes to a Status. The
// environment: lmdb_env.cc; session locks: lmdb_locks.cc; records:
// lmdb_records.h.
#include "stores/lmdb/lmdb_store.h"

#include <lmdb.h>
#include <sys/stat.h>
#include <syslog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/lock.h"
#include "stores/lmdb/lmdb_check.h"
#include "stores/lmdb/lmdb_env.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lmdb_records.h"
#include "stores/lmdb/lmdb_txn.h"
#include "stores/lock_wake.h"

namespace sessionkit {
namespace lmdb_internal {
namespace {

constexpr size_t kDefaultScanLimit = 1000;
// How long Destroy waits for a write in flight before it takes the lock
// over: a commit takes milliseconds, so one of seconds is most likely a
// holder killed in it whose pid another process now has (were it alive,
// the owner check inside its write transaction refuses it).
constexpr int64_t kCommitWaitMs = 5000;
// Deletes of one Destroy in a full bucket at most: each after the first
// needs an entry made in the bucket while the one before ran.
constexpr int kFullBucketRounds = 8;

}  // namespace

int64_t LmdbStore::NowMs() const { return ToUnixMillis(os_->WallNow()); }

void LmdbStore::RescueFullMap(Env* e) {
  (void)GcInternal(e, NowMs());
  (void)CommitScratch(e);
}

int LmdbStore::CommitScratch(Env* e) {
  // LMDB reuses the pages a transaction freed only once another one has
  // committed after it: commit a change that leaves nothing behind (it needs
  // a page or two), so that the next transaction can use what the last one
  // freed.
  return WithWriteTxn(e, /*rescue=*/false, [&](MDB_txn* txn) {
    const char scratch[] = {kIndexPrefix};  // no entry has this key
    MDB_val k{sizeof scratch, const_cast<char*>(scratch)};
    MDB_val empty{0, nullptr};
    int rc = mdb_put(txn, e->db, &k, &empty, 0);
    return rc != 0 ? rc : mdb_del(txn, e->db, &k, nullptr);
  });
}

Status LmdbStore::Error(Env* e, std::string_view op, std::string_view id,
                        int rc) const {
  std::string where = name_ + ": " + std::string(op);
  if (!id.empty()) where += " of session " + IdPrefix(id);
  switch (rc) {
    case MDB_NOTFOUND:
      return Status::NotFound(where + ": no such session (or it expired)");
    case kRcCorrupt:
      return Status::Corrupt(where +
                             ": the stored value is shorter than its 8-byte "
                             "expiry header");
    case MDB_MAP_FULL: {
      uint64_t map_size = options_.map_size;
      uint64_t limit = options_.map_max;
      if (e != nullptr) {
        MDB_envinfo info;
        std::shared_lock<std::shared_mutex> lock(e->remap_mu);
        if (e->env != nullptr && mdb_env_info(e->env, &info) == 0) {
          map_size = info.me_mapsize;
        }
        limit = e->map_limit;
      }
      if (options_.map_max != 0) {
        return Status::ResourceExhausted(
            where + ": the LMDB map is full (map_size=" + FormatSize(map_size) +
            ", at its limit map_max=" + FormatSize(options_.map_max) +
            "); raise map_max in the store URL or remove sessions");
      }
      return Status::ResourceExhausted(
          where + ": the LMDB map is full (map_size=" + FormatSize(map_size) +
          ") and cannot grow: the disk of " + options_.path + " held " +
          FormatSize(limit) +
          " for it (free space when the store was opened plus data.mdb); "
          "free disk space, or remove sessions");
    }
    case MDB_READERS_FULL:
      return Status::Unavailable(
          where + ": all " + std::to_string(options_.max_readers) +
          " LMDB reader slots are in use; raise max_readers in the store URL");
    case MDB_TXN_FULL:
      return Status::ResourceExhausted(where + ": " + mdb_strerror(rc));
    case MDB_BAD_VALSIZE:
      return Status::InvalidArgument(where + ": " + mdb_strerror(rc));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::Corrupt(where + ": " + mdb_strerror(rc) +
                             " (the LMDB files in " + options_.path +
                             " are damaged)");
    case MDB_PANIC:
      return Status::Unavailable(where + ": " + mdb_strerror(rc) +
                                 " (restart the process to reopen the store)");
    default:
      return Status::Unavailable(where + ": " + mdb_strerror(rc));
  }
}

Result<SessionRecord> LmdbStore::Read(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t now = NowMs();
  SessionRecord record;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    MDB_val k = Val(id), v;
    int rc = mdb_get(txn, e->db, &k, &v);
    if (rc != 0) return rc;
    if (v.mv_size < kHeaderBytes) return kRcCorrupt;
    const int64_t expiry = GetBigEndian64(v.mv_data);
    if (expiry <= now) return MDB_NOTFOUND;
    record.data.assign(static_cast<const char*>(v.mv_data) + kHeaderBytes,
                       v.mv_size - kHeaderBytes);
    record.expires_at = ExpiryTime(expiry);
    return 0;
  });
  if (rc != 0) return Error(e, "read", id, rc);
  return record;
}

Status LmdbStore::Write(std::string_view id, std::string_view data,
                        Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckValueSize(name_, id, data));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t expiry = ExpiryFromNow(NowMs(), ttl);
  bool index_changed = false;
  GcResult swept;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    return PutAndSweep(txn, e, id, data, expiry, &index_changed, &swept);
  });
  if (rc != 0) return Error(e, "write", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  swept_.fetch_add(swept.removed, std::memory_order_relaxed);
  return Status::OK();
}

int LmdbStore::PutAndSweep(MDB_txn* txn, Env* e, std::string_view id,
                           std::string_view data, int64_t expiry,
                           bool* index_changed, GcResult* swept) {
  *swept = GcResult();
  const int rc = PutSession(txn, e, id, data, expiry, index_changed);
  return rc != 0 ? rc : SweepExpired(txn, e, NowMs(), swept);
}

Status LmdbStore::Touch(std::string_view id, Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t now = NowMs();
  const int64_t expiry = ExpiryFromNow(now, ttl);
  std::string value;
  bool index_changed = false;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    return TouchSession(txn, e, id, now, expiry, &value, &index_changed);
  });
  if (rc != 0) return Error(e, "touch", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

Status LmdbStore::Destroy(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  // The lock ends with the session: this call becomes the lock's holder (a
  // write in flight commits first, for kCommitWaitMs at most), so that the
  // holder's later write is refused and nobody locks the session before it
  // is gone; the release after the commit lets the next waiter in.
  const Digest key = e->table.DigestOf(id);
  const LockOwner destroyer = LockOwner::Generate(os_);
  const Claimant c{.token = e->table.DigestOf(destroyer.token),
                   .text = destroyer.token,
                   .pid = LocalPidOf(destroyer.token, os_),
                   .lease_ms = 60'000,
                   .self_pid = os_->Pid()};
  const int64_t since = LockNowAt(NowMs()).boot_ms;
  bool any_index_change = false;
  bool deleted = false;  // a delete without the lock (a full bucket) ran
  uint32_t allocs_before = 0;
  int rc = 0;
  for (int deletes = 0;;) {
    const LockNow now = LockNowAt(NowMs());
    bool full = false;
    uint32_t allocs = 0;
    const bool marked = e->table.BeginDestroy(
        key, c, now, os_, now.boot_ms - since >= kCommitWaitMs, &full, &allocs);
    if (!marked && !full) {
      os_->SleepFor(std::chrono::milliseconds(1));
      continue;
    }
    // A full bucket has no entry of the session, so nobody holds its lock;
    // but one made before the delete commits may be a request's that read
    // the session first, and its write would bring it back. So a delete
    // without the lock is followed by another look, until that takes the
    // lock or sees that no entry was made since the look before the delete.
    if (!marked && deleted && allocs == allocs_before) break;
    bool index_changed = false, unlocked = false;
    rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
      return DeleteSession(txn, e, id, &index_changed, &unlocked);
    });
    any_index_change = any_index_change || (rc == 0 && index_changed);
    // The waiters take the lock of what is now a new, empty session (also
    // when the commit failed: the old holder's lock is over either way).
    if (marked) EndCommit(e, id, key, c.token, /*committed=*/true);
    if (unlocked && !marked) e->wake.Wake(LockHash(id));
    if (marked || rc != 0 || ++deletes == kFullBucketRounds) break;
    deleted = true;
    allocs_before = allocs;
  }
  if (rc != 0) return Error(e, "destroy", id, rc);
  if (any_index_change) index_writes_.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

Result<bool> LmdbStore::Exists(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t now = NowMs();
  bool live = false;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    MDB_val k = Val(id), v;
    int rc = mdb_get(txn, e->db, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    if (v.mv_size < kHeaderBytes) return kRcCorrupt;
    live = GetBigEndian64(v.mv_data) > now;
    return 0;
  });
  if (rc != 0) return Error(e, "exists", id, rc);
  return live;
}

Result<ScanPage> LmdbStore::Scan(const ScanOptions& options) {
  if (options.cursor.size() > kMaxIdBytes) {
    return Status::InvalidArgument(name_ +
                                   ": scan: the cursor is not a "
                                   "session id from this store");
  }
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t now = NowMs();
  const size_t limit = options.limit == 0 ? kDefaultScanLimit : options.limit;
  ScanPage page;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    page = ScanPage();
    MDB_cursor* cursor;
    int rc = mdb_cursor_open(txn, e->db, &cursor);
    if (rc != 0) return rc;
    MDB_val k, v;
    if (options.cursor.empty() || IsIndexKey(options.cursor)) {
      // Past the index, which sorts first.
      const char first_id[] = {kIndexPrefix + 1};
      k = MDB_val{1, const_cast<char*>(first_id)};
      rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    } else {
      k = Val(options.cursor);
      rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
      if (rc == 0 && View(k) == options.cursor) {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      }
    }
    while (rc == 0) {
      int64_t expiry = 0;  // a value without a header counts as expired
      uint64_t bytes = v.mv_size;
      if (v.mv_size >= kHeaderBytes) {
        expiry = GetBigEndian64(v.mv_data);
        bytes -= kHeaderBytes;
      }
      if (options.include_expired || expiry > now) {
        if (page.sessions.size() == limit) {
          // Another listed session exists: the page is not the last.
          page.next_cursor = page.sessions.back().id;
          break;
        }
        page.sessions.push_back(
            SessionInfo{std::string(View(k)), bytes, ExpiryTime(expiry)});
      }
      rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
  });
  if (rc != 0) return Error(e, "scan", {}, rc);
  return page;
}

Result<GcResult> LmdbStore::Gc(TimePoint now) {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  return GcInternal(e, ToUnixMillis(now));
}

Result<GcResult> LmdbStore::GcWithProgress(TimePoint now,
                                           const GcProgress& progress) {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  return GcInternal(e, ToUnixMillis(now), progress ? &progress : nullptr);
}

Result<GcResult> LmdbStore::GcInternal(Env* e, int64_t now_ms,
                                       const GcProgress* progress) {
  // Slots of dead readers pin old pages; free them first.
  ClearStaleReaders(e);

  // The index is walked in key order (bucket, then id) up to the bucket
  // that holds `now_ms`. Entries of earlier buckets all go; in the bucket
  // of `now_ms`, live sessions keep theirs. `resume` is the first key the
  // next batch visits.
  IndexPos resume;
  IndexPos next_resume;
  GcResult total;
  // Batches of kGcBatch entries keep each write transaction short. In a
  // full map even the pages a batch needs to record what it frees may be
  // missing: a batch that fails so is retried smaller, down to one entry,
  // whose commit frees pages for the next.
  uint64_t batch_limit = kGcBatch;
  constexpr int kMaxFullRetries = 8;
  int full_retries = 0;
  bool grew = false;
  for (;;) {
    GcResult batch;
    bool more = false;
    next_resume.size = 0;
    int rc = WithWriteTxn(e, /*rescue=*/false, [&](MDB_txn* txn) {
      batch = GcResult();
      more = false;
      return GcIndexBatch(txn, e, now_ms, resume, batch_limit, batch_limit,
                          &batch, &more, &next_resume);
    });
    if (rc == MDB_MAP_FULL && !grew) {
      // A map full to its last page: LMDB copies each page it changes, so
      // not even a deletion fits. Once per gc, the map grows by
      // kGcSlackBytes (also past its limit) to remove what expired.
      grew = true;
      if (Grow(e, /*gc_step=*/true) == 0) continue;
    }
    if (rc == MDB_MAP_FULL && full_retries < kMaxFullRetries) {
      // What the batches before freed becomes usable after one more commit.
      ++full_retries;
      batch_limit = std::max<uint64_t>(batch_limit / 10, 1);
      (void)CommitScratch(e);
      continue;
    }
    if (rc != 0) return Error(e, "gc", {}, rc);
    if (batch_limit < kGcBatch) {
      batch_limit = std::min(batch_limit * 2, kGcBatch);
      full_retries = 0;  // progress was made
    }
    total.removed += batch.removed;
    total.bytes_removed += batch.bytes_removed;
    if (progress != nullptr) (*progress)(total);
    if (!more) break;
    std::memcpy(resume.key, next_resume.key, next_resume.size);
    resume.size = next_resume.size;
  }
  const int rc = GcLocks(e, now_ms);
  if (rc != 0) return Error(e, "gc of session locks", {}, rc);
  return total;
}

Status LmdbStore::Health() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  int rc = WithReadTxn(e, [](MDB_txn*) { return 0; });
  if (rc != 0) return Error(e, "health check", {}, rc);
  return Status::OK();
}

Result<StoreUsage> LmdbStore::Usage() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  return UsageOf(e);
}

Result<StoreUsage> LmdbStore::UsageOf(Env* e) {
  StoreUsage usage;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    MDB_envinfo info;
    MDB_stat stat;
    uint64_t free_pages = 0;
    int rc = mdb_env_info(e->env, &info);
    if (rc != 0 || (rc = mdb_env_stat(e->env, &stat)) != 0) return rc;
    if (!CountFreePages(txn, info.me_last_pgno, &free_pages).empty()) {
      return MDB_CORRUPTED;
    }
    const uint64_t pages = info.me_last_pgno + 1;
    usage.used_bytes = (pages - std::min(free_pages, pages)) * stat.ms_psize;
    return 0;
  });
  if (rc != 0) return Error(e, "usage", {}, rc);
  usage.limit_bytes = e->map_limit;
  usage.limit_from = options_.map_max != 0
                         ? "map_max=" + FormatSize(options_.map_max)
                         : "the disk: free space when opened plus data.mdb";
  struct stat st;
  const std::string data = e->dir + "/data.mdb";
  if (stat(data.c_str(), &st) == 0) {
    usage.file_bytes = static_cast<uint64_t>(st.st_size);
  }
  return usage;
}

void LmdbStore::NoteFill(Env* e) {
  if (e->fill_warned.load(std::memory_order_relaxed)) return;
  if (e->fill_commits.fetch_add(1, std::memory_order_relaxed) %
          kFillCountEvery !=
      0) {
    return;
  }
  Result<StoreUsage> usage = UsageOf(e);
  if (!usage.ok() || usage->limit_bytes == 0 ||
      usage->used_bytes / kFillWarnPercent < usage->limit_bytes / 100) {
    return;
  }
  if (e->fill_warned.exchange(true)) return;
  const std::string message =
      name_ + ": the LMDB store uses " + FormatSize(usage->used_bytes) +
      ", more than " + std::to_string(kFillWarnPercent) + "% of its limit of " +
      FormatSize(usage->limit_bytes) + " (" + usage->limit_from +
      "); when it is reached, new sessions cannot be saved: " +
      (options_.map_max != 0 ? "raise map_max" : "free disk space");
  // No logger reaches a store: the system log, and FillWarning().
  syslog(LOG_WARNING, "sessionkit: %s", message.c_str());
  std::lock_guard<std::mutex> lock(recovery_mu_);
  fill_warning_ = message;
}

std::string LmdbStore::FillWarning() const {
  std::lock_guard<std::mutex> lock(recovery_mu_);
  return fill_warning_;
}

uint64_t LmdbStore::MapGrowthsForTesting() const {
  return growths_.load(std::memory_order_relaxed);
}

uint64_t LmdbStore::SweptForTesting() const {
  return swept_.load(std::memory_order_relaxed);
}

Status LmdbStore::CheckIndexForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  std::string problem;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    MDB_cursor* cursor;
    MDB_val k, v;
    size_t sessions = 0, entries = 0;
    int rc = mdb_cursor_open(txn, e->db, &cursor);
    if (rc != 0) return rc;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      if (IsLockKey(View(k))) continue;  // checked by LockRecordsForTesting
      if (IsIndexKey(View(k))) {
        ++entries;
        if (k.mv_size <= kIndexHeaderBytes) {
          problem = "an index key is too short";
          break;
        }
        MDB_val id{k.mv_size - kIndexHeaderBytes,
                   static_cast<char*>(k.mv_data) + kIndexHeaderBytes},
            sv;
        if (mdb_get(txn, e->db, &id, &sv) != 0 || sv.mv_size < kHeaderBytes ||
            Bucket(GetBigEndian64(sv.mv_data)) !=
                GetBigEndian64(static_cast<char*>(k.mv_data) + 1)) {
          problem = "index entry for " + std::string(View(id)) +
                    " has no session with an expiry in its bucket";
          break;
        }
        continue;
      }
      ++sessions;
      if (k.mv_size > kMaxIdBytes) {
        problem = "a session key is longer than an id can be";
        break;
      }
      if (v.mv_size < kHeaderBytes) {
        problem = "session " + std::string(View(k)) + " has no header";
        break;
      }
      HeaderKey key = IndexKey(GetBigEndian64(v.mv_data), View(k));
      MDB_val ik = key.val(), unused;
      if (mdb_get(txn, e->db, &ik, &unused) != 0) {
        problem = "session " + std::string(View(k)) + " has no index entry";
        break;
      }
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND && problem.empty()) return rc;
    if (problem.empty() && sessions != entries) {
      problem = std::to_string(sessions) + " sessions but " +
                std::to_string(entries) + " index entries";
    }
    return 0;
  });
  if (rc != 0) return Error(e, "index check", {}, rc);
  if (!problem.empty()) return Status::Internal(name_ + ": " + problem);
  return Status::OK();
}

uint64_t LmdbStore::IndexWritesForTesting() const {
  return index_writes_.load(std::memory_order_relaxed);
}

}  // namespace lmdb_internal

namespace {

// Opens checked options: each way in checks them once.
std::unique_ptr<Store> OpenChecked(const LmdbOptions& options) {
  return std::make_unique<lmdb_internal::LmdbStore>(options);
}

}  // namespace

Result<std::unique_ptr<Store>> OpenLmdbStore(const LmdbOptions& options) {
  SK_RETURN_IF_ERROR(lmdb_internal::ValidateLmdbOptions(options));
  return OpenChecked(options);
}

Result<std::unique_ptr<Store>> OpenLmdbStore(const StoreUrl& url) {
  Result<LmdbOptions> options = LmdbOptions::FromUrl(url);
  if (!options.ok()) return options.status();
  return OpenChecked(*options);
}

}  // namespace sessionkit
