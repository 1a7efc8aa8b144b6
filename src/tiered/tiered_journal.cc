// The store of tiers: the tiers written behind. Their writes and destroys
// go into the journal (journal.h); a thread of each process that opened
// the tiers drains it, applying each entry only when the tier holds no
// newer version (docs/tiers.md, the journal).
#include <algorithm>
#include <chrono>
#include <utility>

#include "sessionkit/frame.h"
#include "sessionkit/session_id.h"
#include "tiered/tiered_store.h"
#include "tiered/versions.h"

namespace sessionkit::tiered {

std::vector<size_t> TieredStore::Owed(
    const std::vector<size_t>& asked,
    const std::vector<Status>& statuses) const {
  std::vector<size_t> owed;
  if (!has_async()) return owed;  // no journal: read repair alone
  for (size_t i = 0; i < tiers_.size(); ++i) {
    auto it = std::find(asked.begin(), asked.end(), i);
    if (it == asked.end() || IsOutage(statuses[it - asked.begin()])) {
      owed.push_back(i);
    }
  }
  return owed;
}

Status TieredStore::Queue(std::string_view id,
                          const std::optional<SessionRecord>& record,
                          uint64_t version, const std::vector<size_t>& to) {
  if (!has_async() || (record && to.empty())) return Status::OK();
  Status first = Status::OK();
  for (size_t i = 0; i < tiers_.size(); ++i) {
    const bool owed = std::find(to.begin(), to.end(), i) != to.end();
    // A destroy also replaces what a tier it reached itself was still owed
    // (a write it missed while left out), which would bring the session
    // back there if applied after the destroy.
    if (!owed && record) continue;
    JournalEntry entry;
    entry.tier = journal_ids_[i];
    entry.id = std::string(id);
    entry.version = version;
    if (record) {
      entry.op = JournalOp::kWrite;
      entry.data = record->data;
      entry.expires_at = record->expires_at;
      // A tier behind waits, so that the writes of a session coalesce; a
      // synchronous tier that missed it is corrected at once.
      if (async_[i] && write_delay_.count() > 0) {
        entry.not_before = env_->WallNow() + write_delay_;
      }
    } else {
      entry.op = JournalOp::kDestroy;
    }
    Status st = journal_->Put(entry, /*only_if_pending=*/!owed);
    if (!st.ok() && first.ok()) {
      first = Status(st.code(), name_ +
                                    ": the tiers that answered have it, "
                                    "but it was not queued for " +
                                    tiers_[i]->name() + ": " + st.message());
    }
  }
  // No wake-up: the drain thread takes what is due every drain_every, so
  // that the writes of that time coalesce (one apply per session) and are
  // claimed together (docs/tiers.md, the journal).
  return first;
}

TieredStore::Answer TieredStore::Pending(std::string_view id) {
  Answer a;
  a.status = Status::NotFound("nothing pending");
  Result<std::optional<JournalEntry>> pending =
      journal_->Pending(std::string(id));
  if (!pending.ok()) {
    a.status = pending.status();
    return a;
  }
  if (!*pending) return a;
  const JournalEntry& e = **pending;
  const TimePoint now = env_->WallNow();
  if (e.op == JournalOp::kWrite && e.expires_at > now) {
    a.record = SessionRecord{e.data, e.expires_at};
  } else {
    // A destroy, or a write that expired before it was applied: gone, as
    // of that version.
    a.record =
        SessionRecord{EncodeTombstoneFrame(e.version), now + tombstone_ttl_};
  }
  a.status = Status::OK();
  a.version = e.version;
  return a;
}

Status TieredStore::Apply(size_t tier, const JournalEntry& entry) {
  Store& store = *tiers_[tier];
  const TimePoint now = env_->WallNow();
  // Under the tier's own lock, so that two drainers (two hosts) do not
  // interleave a check and a write; a tier that cannot lock is checked
  // and written without.
  LockRequest request;
  request.owner = LockOwner::Generate(env_);
  request.wait = Duration(200);
  request.lease = Duration(10000);
  request.max_waiters = 0;
  Result<LockedRead> locked = store.LockAndRead(entry.id, request);
  if (!locked.ok() && !locked.status().IsNotSupported()) {
    return locked.status();
  }
  if (locked.ok() && !locked->acquired()) {
    // The tier answered: no outage (its breaker stays as it is, and the
    // rest of the batch is applied); this entry is tried again later.
    return Status::ResourceExhausted(store.name() + ": session " +
                                     SessionIdPrefix(entry.id) + " is locked");
  }
  std::optional<SessionRecord> have;
  if (locked.ok()) {
    if (locked->found) have = std::move(locked->record);
  } else {
    Result<SessionRecord> read = store.Read(entry.id);
    if (read.ok()) {
      have = std::move(*read);
    } else if (!read.status().IsNotFound()) {
      return read.status();
    }
  }
  if (have && VersionOf(have->data) > entry.version) {
    return locked.ok() ? store.Unlock(entry.id, request.owner) : Status::OK();
  }
  // A destroy leaves its mark on every tier, the synchronous ones too: a
  // delete there would drop a mark the logout left (the tier behind may
  // still hold the session, and be read and repaired from), and let an
  // older write another host still owes this tier bring the session back.
  std::string mark;
  const VersionedWrite w = ToHold(entry, now, &mark);
  return locked.ok() ? store.WriteAndUnlock(w.id, w.data, w.ttl, request.owner)
                     : store.Write(w.id, w.data, w.ttl);
}

VersionedWrite TieredStore::ToHold(const JournalEntry& entry, TimePoint now,
                                   std::string* mark) const {
  if (entry.op == JournalOp::kDestroy) {
    // A tier behind keeps the destroy's mark: a write of an older version
    // that another drainer (claimed before, or on another host) applies
    // after this destroy is refused by it, rather than bringing the
    // session back.
    *mark = EncodeTombstoneFrame(entry.version);
    return {entry.id, *mark, tombstone_ttl_};
  }
  // A write that expired before it was applied is written all the same:
  // the tier then drops its older copy (a ttl of 0 or less leaves none).
  return {entry.id, entry.data,
          std::chrono::ceil<Duration>(entry.expires_at - now)};
}

bool TieredStore::DrainStep(Duration ahead) {
  bool more = false;
  // The synchronous tiers too: what they missed while left out.
  for (size_t i = 0; i < tiers_.size(); ++i) {
    // A tier whose breaker is open waits; the drain is no call of a
    // request, so its waits are not counted as skipped calls.
    const Admission admitted = breakers_->Admit(i, /*count=*/false);
    if (admitted == Admission::kSkip) continue;
    Result<std::vector<JournalEntry>> entries = journal_->Claim(
        journal_ids_[i], kDrainBatch, env_->WallNow() + ahead, kDrainClaim);
    if (!entries.ok() || entries->empty()) {
      // Nothing to probe with: the next caller probes.
      if (admitted == Admission::kProbe) breakers_->Abandon(i);
      // A damaged entry was removed: the next claim goes on past it.
      more = more || entries.status().IsCorrupt();
      continue;
    }
    // A full batch: more may be due at once (a backlog drains without
    // waiting for the next round).
    more = more || entries->size() >= kDrainBatch;
    // A tier behind takes the batch in one step where it can check the
    // versions itself; else (or when that step was refused, so that one
    // bad entry holds back no other) each entry under the session's lock.
    Status batch = async_[i] ? ApplyBatch(i, *entries)
                             : Status::NotSupported("a synchronous tier");
    if (!batch.IsNotSupported()) Note(i, batch);
    bool down = IsOutage(batch);
    for (const JournalEntry& entry : *entries) {
      Status st = batch;
      if (!batch.ok() && !down) {
        st = Apply(i, entry);
        Note(i, st);
        down = IsOutage(st);
      }
      // An entry that cannot be done now is tried again after a backoff;
      // one refused for good (a bad value) too, never dropped.
      Status kept = st.ok() ? journal_->Done(entry.tier, entry.id,
                                             entry.version, entry.not_before)
                            : journal_->Retry(entry.tier, entry.id,
                                              entry.version, env_->WallNow());
      (void)kept;  // a journal that fails here fails the next claim too
    }
  }
  return more;
}

Status TieredStore::ApplyBatch(size_t tier,
                               const std::vector<JournalEntry>& entries) {
  const TimePoint now = env_->WallNow();
  std::vector<std::string> marks(entries.size());
  std::vector<VersionedWrite> writes;
  writes.reserve(entries.size());
  for (size_t n = 0; n < entries.size(); ++n) {
    writes.push_back(ToHold(entries[n], now, &marks[n]));
  }
  return tiers_[tier]->WriteUnlessNewer(writes);
}

void TieredStore::Drain() {
  if (drainer_ != nullptr) drainer_->Start();
}

}  // namespace sessionkit::tiered
