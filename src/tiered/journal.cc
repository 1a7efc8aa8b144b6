// The write-behind journal's operations (journal.h) on its layout
// (journal_layout.h), in transactions of journal_env.h.
#include "tiered/journal.h"

#include <lmdb.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/session_id.h"
#include "stores/fork_generation.h"
#include "stores/lmdb/lmdb_store.h"
#include "tiered/journal_env.h"
#include "tiered/journal_layout.h"

namespace sessionkit::tiered {
namespace {

constexpr uint64_t kMinMapBytes = 1ull << 20;
// Pages one Put's transaction may add past the last page in use, at most:
// past it, CheckReserve allocates the reserve to see whether it fits.
constexpr uint64_t kPagesOfAPut = 64;

// Closes a cursor when its scope ends (before its transaction ends).
struct Cursor {
  MDB_cursor* cursor = nullptr;
  ~Cursor() {
    if (cursor != nullptr) mdb_cursor_close(cursor);
  }
};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Reads the entry of (tier, id) into *out, with its data if `with_data`:
// 0, MDB_NOTFOUND, another LMDB code, or 0 with *damaged set when its state
// cannot be decoded or a write's data record is missing.
int Load(MDB_txn* txn, MDB_dbi db, uint32_t tier, std::string_view id,
         bool with_data, JournalEntry* out, bool* damaged) {
  const std::string key = EntryKey(tier, id);
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn, db, &k, &v);
  if (rc != 0) return rc;
  out->tier = tier;
  out->id.assign(id);
  *damaged = !DecodeEntry(View(v), out);
  if (*damaged || !with_data || out->op != JournalOp::kWrite) return 0;
  const std::string data_key = DataKey(tier, id);
  k = Val(data_key);
  rc = mdb_get(txn, db, &k, &v);
  if (rc == MDB_NOTFOUND) *damaged = true;
  if (rc == 0) out->data.assign(View(v));
  return rc == MDB_NOTFOUND ? 0 : rc;
}

// Deletes `key`; a key that is not there is no error.
int Delete(MDB_txn* txn, MDB_dbi db, std::string_view key) {
  MDB_val k = Val(key);
  const int rc = mdb_del(txn, db, &k, nullptr);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

int PutKey(MDB_txn* txn, MDB_dbi db, const std::string& key,
           std::string_view value) {
  MDB_val k = Val(key), v = Val(value);
  return mdb_put(txn, db, &k, &v, 0);
}

// Stores the state of `next` (and its data record with `with_data`), whose
// due-index key was `old_due` (null: none known).
int Save(MDB_txn* txn, MDB_dbi db, const JournalEntry& next,
         const std::string* old_due, bool with_data) {
  int rc = 0;
  const std::string due = DueKeyOf(next);
  if (old_due != nullptr && *old_due != due) {
    if ((rc = Delete(txn, db, *old_due)) != 0) return rc;
  }
  if ((rc = PutKey(txn, db, EntryKey(next.tier, next.id), EncodeEntry(next))) !=
      0) {
    return rc;
  }
  // An unchanged due key is left alone (a coalesced write keeps its due
  // time): one page fewer to write.
  if (old_due == nullptr || *old_due != due) {
    if ((rc = PutKey(txn, db, due, {})) != 0) return rc;
  }
  if (!with_data) return 0;
  const std::string data = DataKey(next.tier, next.id);
  if (next.op == JournalOp::kWrite) return PutKey(txn, db, data, next.data);
  return Delete(txn, db, data);
}

// Removes the entry of (tier, id), its data and its due-index key `due`.
int Remove(MDB_txn* txn, MDB_dbi db, uint32_t tier, std::string_view id,
           std::string_view due) {
  int rc = Delete(txn, db, EntryKey(tier, id));
  if (rc == 0) rc = Delete(txn, db, DataKey(tier, id));
  if (rc == 0) rc = Delete(txn, db, due);
  return rc;
}

// What walks of a tier's due index found (WalkDue).
struct DueWalk {
  size_t max = 0;                  // entries wanted
  std::vector<JournalEntry> due;   // due entries, in the order of the index
  std::vector<std::string> stale;  // index keys without their entry
  // A damaged entry met (the walk stopped there), and its index key.
  std::optional<std::string> damaged_id;
  std::string damaged_due;
};

// Walks the due index of `tier` from the due time `from_ms` to `to_ms`
// (both included), adding entries to walk->due until it holds walk->max.
// 0 or an LMDB code.
int WalkDue(MDB_txn* txn, MDB_dbi db, uint32_t tier, int64_t from_ms,
            int64_t to_ms, DueWalk* walk) {
  Cursor c;
  int rc = mdb_cursor_open(txn, db, &c.cursor);
  if (rc != 0) return rc;
  const std::string prefix = DueKeyPrefix(tier);
  const std::string start = DueKey(tier, from_ms, 0, "");
  MDB_val k = Val(start), v;
  for (rc = mdb_cursor_get(c.cursor, &k, &v, MDB_SET_RANGE);
       rc == 0 && walk->due.size() < walk->max;
       rc = mdb_cursor_get(c.cursor, &k, &v, MDB_NEXT)) {
    const std::string_view key = View(k);
    if (!StartsWith(key, prefix)) break;
    uint32_t key_tier;
    int64_t due, first;
    std::string_view id;
    if (!ParseDueKey(key, &key_tier, &due, &first, &id)) {
      walk->stale.emplace_back(key);
      continue;
    }
    if (due > to_ms) break;
    JournalEntry entry;
    bool damaged = false;
    const int got = Load(txn, db, tier, id, true, &entry, &damaged);
    if (got != 0 && got != MDB_NOTFOUND) return got;
    if (damaged) {
      walk->damaged_id = entry.id;
      walk->damaged_due = key;
      return 0;
    }
    if (got == MDB_NOTFOUND || DueKeyOf(entry) != key) {
      walk->stale.emplace_back(key);
      continue;
    }
    walk->due.push_back(std::move(entry));
  }
  return rc == MDB_NOTFOUND ? 0 : rc;
}

// Whether e->reserve_bytes more would still fit after this transaction: a
// Put that leaves less free is refused (MDB_MAP_FULL), so that a full
// journal keeps the room its drainers need to claim and remove entries
// (LMDB copies every page it changes, a removal too). While the map's end
// is that far off, it is; closer, the reserve is allocated and freed again
// in the transaction (nothing is written; it costs tens of microseconds).
int CheckReserve(JournalEnv* e, MDB_txn* txn) {
  MDB_envinfo info;
  int rc = mdb_env_info(e->env, &info);
  if (rc != 0) return rc;
  // The last commit's last page, and what this transaction may have added.
  const uint64_t end = (info.me_last_pgno + 1 + kPagesOfAPut) * e->page_size;
  if (end + e->reserve_bytes <= info.me_mapsize) return 0;
  MDB_val k = Val(kReserveKey), v{e->reserve_bytes, nullptr};
  if ((rc = mdb_put(txn, e->db, &k, &v, MDB_RESERVE)) != 0) return rc;
  return mdb_del(txn, e->db, &k, nullptr);
}

// A damaged entry of (tier, id); `then`: what became of it.
Status Damaged(const std::string& dir, uint32_t tier, std::string_view id,
               std::string_view then = "") {
  return Status::Corrupt("journal " + dir + ": the pending entry of tier " +
                         std::to_string(tier) + " for session " +
                         SessionIdPrefix(id) + " is damaged" +
                         std::string(then));
}

// Runs `change` on the entry of (tier, id) in a write transaction if its
// version is `version`; nothing when it is not there or of another version.
// Corrupt when it is damaged.
Status IfVersion(
    JournalEnv* e, uint32_t tier, const std::string& id, uint64_t version,
    std::string_view what,
    const std::function<int(MDB_txn*, const JournalEntry&)>& change) {
  bool damaged = false;
  Status s = WithWriteTxn(e, what, [&](MDB_txn* txn) {
    JournalEntry old;
    const int rc = Load(txn, e->db, tier, id, false, &old, &damaged);
    if (rc == MDB_NOTFOUND || damaged) return kRcNoChange;
    if (rc != 0) return rc;
    if (old.version != version) return kRcNoChange;
    return change(txn, old);
  });
  SK_RETURN_IF_ERROR(s);
  if (damaged) return Damaged(e->dir, tier, id);
  return Status::OK();
}

}  // namespace

Journal::Journal(JournalOptions options, std::string dir)
    : options_(std::move(options)),
      os_(Env::OrDefault(options_.env)),
      dir_(std::move(dir)) {}

Journal::~Journal() {
  current_.store(nullptr, std::memory_order_relaxed);
  ReleaseJournalEnv(&env_, &abandoned_);
}

Result<std::unique_ptr<Journal>> Journal::Open(const JournalOptions& options) {
  if (options.map_size < kMinMapBytes ||
      options.map_size > lmdb_internal::kMaxMapBytes) {
    return Status::InvalidArgument(
        "journal " + options.path + ": map_size=" +
        std::to_string(options.map_size) + " is out of range (1MiB to " +
        lmdb_internal::FormatSize(lmdb_internal::kMaxMapBytes) + ")");
  }
  Result<std::string> dir = MakeJournalDir(options.path);
  if (!dir.ok()) return dir.status();
  std::unique_ptr<Journal> journal(new Journal(options, *dir));
  Result<JournalEnv*> env = journal->Acquire();
  if (!env.ok()) return env.status();
  return journal;
}

Result<JournalEnv*> Journal::Acquire() {
  JournalEnv* e = current_.load(std::memory_order_acquire);
  if (e != nullptr && e->generation == ForkGeneration()) return e;
  // None yet, or the parent's (kept, never used or closed: ~JournalEnv).
  SK_RETURN_IF_ERROR(RefreshJournalEnv(dir_, options_, &env_, &abandoned_));
  e = env_.get();
  current_.store(e, std::memory_order_release);
  return e;
}

Status Journal::Put(const JournalEntry& entry, bool only_if_pending) {
  Status s = ValidateSessionId(entry.id);
  if (!s.ok()) return s.WithContext("journal " + dir_);
  if (entry.op == JournalOp::kDestroy && !entry.data.empty()) {
    return Status::InvalidArgument("journal " + dir_ +
                                   ": a destroy carries no data (session " +
                                   SessionIdPrefix(entry.id) + ")");
  }
  Result<JournalEnv*> env = Acquire();
  if (!env.ok()) return env.status();
  JournalEnv* e = *env;
  const TimePoint now = os_->WallNow();
  const auto put = [&](MDB_txn* txn) {
    JournalEntry next = entry;
    next.first_pending = now;
    next.attempts = 0;
    JournalEntry old;
    bool damaged = false;
    std::string old_due;
    int rc = Load(txn, e->db, entry.tier, entry.id, false, &old, &damaged);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    if (rc == MDB_NOTFOUND && only_if_pending) return kRcNoChange;
    const bool replaces = rc == 0 && !damaged;
    if (replaces) {
      // Version 0 (a value that is not a versioned frame) cannot be
      // ordered: the last one put wins.
      if (entry.version != 0 && old.version > entry.version) {
        return kRcNoChange;
      }
      next.first_pending = old.first_pending;
      if (old.attempts == 0 &&
          JournalMs(old.not_before) < JournalMs(next.not_before)) {
        next.not_before = old.not_before;  // not pushed back
      }
      old_due = DueKeyOf(old);
    }
    // A damaged entry's due key is unknown: Claim drops it when met.
    rc = Save(txn, e->db, next, replaces ? &old_due : nullptr, true);
    return rc != 0 ? rc : CheckReserve(e, txn);
  };
  return WithWriteTxn(e, "cannot record a pending write", put,
                      entry.data.size());
}

Result<std::vector<JournalEntry>> Journal::Claim(uint32_t tier, size_t max,
                                                 TimePoint now,
                                                 Duration claim_for) {
  if (claim_for <= Duration::zero() || claim_for > kMaxClaim) {
    return Status::InvalidArgument(
        "journal " + dir_ + ": a claim must last from 1ms to " +
        std::to_string(kMaxClaim.count()) + "ms, not " +
        std::to_string(claim_for.count()) + "ms");
  }
  Result<JournalEnv*> env = Acquire();
  if (!env.ok()) return env.status();
  JournalEnv* e = *env;
  const int64_t now_ms = JournalMs(now);
  const TimePoint until = now + claim_for;
  std::vector<JournalEntry> out;
  std::optional<std::string> damaged_id;
  Status s = WithWriteTxn(e, "cannot claim entries", [&](MDB_txn* txn) {
    out.clear();  // the body may run again after a re-map
    damaged_id.reset();
    DueWalk walk;
    walk.max = max;
    int rc = WalkDue(txn, e->db, tier, 0, now_ms, &walk);
    // Due later than any claim or backoff made by now could make it: the
    // wall clock was stepped back since (or a Put's clock ran ahead).
    const int64_t impossible = now_ms + kMaxClaim.count() + 1;
    if (rc == 0 && !walk.damaged_id && walk.due.size() < max &&
        impossible <= kMaxJournalMs) {
      rc = WalkDue(txn, e->db, tier, impossible, kMaxJournalMs, &walk);
    }
    if (rc != 0) return rc;
    out = std::move(walk.due);
    damaged_id = walk.damaged_id;
    for (const std::string& key : walk.stale) {
      if ((rc = Delete(txn, e->db, key)) != 0) return rc;
    }
    if (damaged_id) {
      // It can never be applied: removed, and reported. The entries walked
      // before it are not claimed: the caller gets the report alone, and
      // they stay due for its next claim.
      rc = Remove(txn, e->db, tier, *damaged_id, walk.damaged_due);
      if (rc != 0) return rc;
      out.clear();
    }
    for (JournalEntry& entry : out) {
      const std::string old_due = DueKeyOf(entry);
      entry.not_before = until;
      if ((rc = Save(txn, e->db, entry, &old_due, false)) != 0) return rc;
    }
    const bool changed = !out.empty() || !walk.stale.empty() || damaged_id;
    return changed ? 0 : kRcNoChange;
  });
  SK_RETURN_IF_ERROR(s);
  if (damaged_id) {
    return Damaged(dir_, tier, *damaged_id,
                   "; it was removed: the tier gets that session's next "
                   "change, not this one");
  }
  return out;
}

Status Journal::Done(uint32_t tier, const std::string& id, uint64_t version,
                     TimePoint claimed_until) {
  Result<JournalEnv*> env = Acquire();
  if (!env.ok()) return env.status();
  JournalEnv* e = *env;
  return IfVersion(
      e, tier, id, version, "cannot remove an entry",
      [&](MDB_txn* txn, const JournalEntry& old) {
        // Put since the claim (due at its own time): the same
        // version with a later expiry (a touch), or values
        // without versions. It stays for the next drain.
        if (JournalMs(old.not_before) != JournalMs(claimed_until)) {
          return kRcNoChange;
        }
        return Remove(txn, e->db, tier, id, DueKeyOf(old));
      });
}

Status Journal::Retry(uint32_t tier, const std::string& id, uint64_t version,
                      TimePoint now) {
  Result<JournalEnv*> env = Acquire();
  if (!env.ok()) return env.status();
  JournalEnv* e = *env;
  uint64_t random = 0;  // no jitter when the Env has no randomness
  if (!os_->RandomBytes(&random, sizeof random).ok()) random = 0;
  return IfVersion(e, tier, id, version, "cannot back an entry off",
                   [&](MDB_txn* txn, const JournalEntry& old) {
                     JournalEntry next = old;
                     if (next.attempts < std::numeric_limits<uint32_t>::max()) {
                       ++next.attempts;
                     }
                     next.not_before = now + RetryDelay(next.attempts, random);
                     const std::string old_due = DueKeyOf(old);
                     return Save(txn, e->db, next, &old_due, false);
                   });
}

Result<std::optional<JournalEntry>> Journal::Pending(const std::string& id) {
  Result<JournalEnv*> env = Acquire();
  if (!env.ok()) return env.status();
  JournalEnv* e = *env;
  std::optional<JournalEntry> best;
  std::optional<uint32_t> damaged_tier;
  Status s = WithReadTxn(e, "cannot read pending entries", [&](MDB_txn* txn) {
    best.reset();
    Cursor c;
    int rc = mdb_cursor_open(txn, e->db, &c.cursor);
    if (rc != 0) return rc;
    // Each tier that has entries, one seek each.
    for (uint64_t next_tier = 0;
         next_tier <= std::numeric_limits<uint32_t>::max();) {
      const std::string start =
          EntryKeyPrefix(static_cast<uint32_t>(next_tier));
      MDB_val k = Val(start), v;
      rc = mdb_cursor_get(c.cursor, &k, &v, MDB_SET_RANGE);
      if (rc == MDB_NOTFOUND) return 0;
      if (rc != 0) return rc;
      uint32_t tier;
      std::string_view key_id;
      if (!ParseEntryKey(View(k), &tier, &key_id)) return 0;  // past them
      JournalEntry entry;
      bool damaged = false;
      rc = Load(txn, e->db, tier, id, true, &entry, &damaged);
      if (rc != 0 && rc != MDB_NOTFOUND) return rc;
      // A damaged entry hides nothing the other tiers' entries tell.
      if (rc == 0 && damaged) damaged_tier = tier;
      if (rc == 0 && !damaged && (!best || entry.version > best->version)) {
        best = std::move(entry);
      }
      next_tier = static_cast<uint64_t>(tier) + 1;
    }
    return 0;
  });
  SK_RETURN_IF_ERROR(s);
  if (damaged_tier && !best) return Damaged(dir_, *damaged_tier, id);
  return best;
}

Result<std::vector<JournalTierStats>> Journal::Stats(TimePoint now) {
  Result<JournalEnv*> env = Acquire();
  if (!env.ok()) return env.status();
  JournalEnv* e = *env;
  std::vector<JournalTierStats> out;
  Status s = WithReadTxn(e, "cannot count the backlog", [&](MDB_txn* txn) {
    out.clear();
    Cursor c;
    int rc = mdb_cursor_open(txn, e->db, &c.cursor);
    if (rc != 0) return rc;
    const std::string start(1, kEntryPrefix);
    MDB_val k = Val(start), v;
    for (rc = mdb_cursor_get(c.cursor, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c.cursor, &k, &v, MDB_NEXT)) {
      uint32_t tier;
      std::string_view id;
      if (!ParseEntryKey(View(k), &tier, &id)) break;
      if (out.empty() || out.back().tier != tier) {
        out.emplace_back();
        out.back().tier = tier;
      }
      JournalTierStats& stats = out.back();
      ++stats.pending;
      JournalEntry entry;
      if (!DecodeEntry(View(v), &entry)) {
        ++stats.corrupt;
        continue;
      }
      if (stats.oldest_pending == TimePoint() ||
          entry.first_pending < stats.oldest_pending) {
        stats.oldest_pending = entry.first_pending;
      }
      if (entry.attempts > 0 && entry.not_before > now) ++stats.in_backoff;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
  });
  SK_RETURN_IF_ERROR(s);
  return out;
}

}  // namespace sessionkit::tiered
