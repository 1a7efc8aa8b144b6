// The store of tiers: its locked steps. The lock lives on the first tier
// that can lock and answers (docs/tiers.md, the lock tier).
#include <algorithm>
#include <chrono>
#include <utility>

#include "sessionkit/frame.h"
#include "sessionkit/session_id.h"
#include "tiered/tiered_store.h"
#include "tiered/versions.h"

namespace sessionkit::tiered {
namespace {

// The most locks whose tier a process remembers (a lock it never releases
// is forgotten in the end; its release then goes to the first tier).
constexpr size_t kMaxHeld = 4096;

}  // namespace

#define SK_CHECK_ID(id) \
  SK_RETURN_IF_ERROR(ValidateSessionId(id).WithContext(name_))

std::optional<SessionRecord> TieredStore::Repair(std::string_view id,
                                                 const Newest& n,
                                                 size_t lock_tier) {
  if (n.newest < 0) return std::nullopt;
  const Answer& newest = n.answers[n.newest];
  // Unversioned copies cannot be ordered.
  if (newest.version == 0) return std::nullopt;
  const Duration ttl =
      std::chrono::ceil<Duration>(newest.record->expires_at - env_->WallNow());
  if (ttl.count() <= 0) return std::nullopt;
  std::optional<SessionRecord> lock_tier_repair;
  std::vector<size_t> stale;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    const Answer& a = n.answers[i];
    const bool answered = a.record || a.status.IsNotFound();
    if (async_[i] || !answered || (a.record && a.version >= newest.version)) {
      continue;
    }
    // A tier without a copy needs no tombstone: only an old copy does.
    if (!a.record && IsTombstoneFrame(newest.record->data)) continue;
    if (i == lock_tier) {
      lock_tier_repair = newest.record;
    } else {
      stale.push_back(i);
    }
  }
  OnTiers(stale, [&](size_t i) {
    return tiers_[i]->Write(id, newest.record->data, ttl);
  });
  return lock_tier_repair;
}

size_t TieredStore::FirstLockTier() {
  // Each tier is admitted only when it would be the one (a probe claimed
  // for a tier not asked would hold the others off for an interval).
  for (bool async : {false, true}) {
    size_t first = kNoTier;
    for (size_t i = 0; i < tiers_.size(); ++i) {
      if (async_[i] != async ||
          cannot_lock_[i].load(std::memory_order_relaxed)) {
        continue;
      }
      if (first == kNoTier) first = i;
      if (breakers_->Admit(i) != Admission::kSkip) return i;
    }
    // All left out: asking the first beats failing unasked, unless tiers
    // behind stand in for the synchronous ones (Usable).
    if (first != kNoTier && (async || !has_async())) return first;
  }
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (!cannot_lock_[i].load(std::memory_order_relaxed)) return i;
  }
  return 0;
}

std::optional<TieredStore::Held> TieredStore::TakeHeld(std::string_view id,
                                                       const LockOwner& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find({std::string(id), owner.token});
  if (it == held_.end()) return std::nullopt;
  Held held = std::move(it->second);
  held_.erase(it);
  return held;
}

void TieredStore::NoteHeld(std::string_view id, const LockOwner& owner,
                           Held held) {
  std::lock_guard<std::mutex> lock(mu_);
  if (held_.size() >= kMaxHeld) held_.erase(held_.begin());
  held_[{std::string(id), owner.token}] = std::move(held);
}

Result<LockedRead> TieredStore::LockAndRead(std::string_view id,
                                            const LockRequest& request) {
  SK_CHECK_ID(id);
  Drain();
  Status last = Status::NotSupported(name_ + ": no tier can lock");
  // The tiers behind are admitted only when no synchronous tier locked
  // (their probes are claimed only when they are asked).
  for (bool async : {false, true}) {
    for (size_t tier : Usable(async)) {
      if (cannot_lock_[tier].load(std::memory_order_relaxed)) continue;
      Result<LockedRead> locked = Status::Internal(name_ + ": not asked");
      // The lock tier locks and reads while the others read.
      Newest n = ReadAll(
          id, tier,
          [&] {
            locked = tiers_[tier]->LockAndRead(id, request);
            Note(tier, locked.status());
          },
          /*with_journal=*/false);
      if (!locked.ok()) {
        if (locked.status().IsNotSupported()) {
          cannot_lock_[tier].store(true, std::memory_order_relaxed);
          continue;
        }
        if (IsOutage(locked.status())) {
          last = locked.status();
          continue;  // the next tier's lock stands in (docs/tiers.md)
        }
        return locked.status();
      }
      if (!locked->acquired()) return locked;
      Answer own;
      own.status = locked->found ? Status::OK()
                                 : Status::NotFound("no session in the tier");
      if (locked->found) {
        own.version = VersionOf(locked->record.data);
        own.record = std::move(locked->record);
      }
      // The other tiers were read while the lock was taken, maybe before the
      // holder it waited for wrote or destroyed the session there. When one
      // of them would win over the lock tier's copy, they are read again,
      // now under the lock (the lock tier is written first and destroyed
      // last, so that a copy it lacks is not an old one elsewhere).
      bool disagree = false;
      for (size_t i = 0; i < tiers_.size(); ++i) {
        const Answer& a = n.answers[i];
        if (i != tier && a.record && (!own.record || a.version > own.version)) {
          disagree = true;
        }
      }
      if (disagree) n = ReadAll(id, tier, {}, /*with_journal=*/false);
      n.answers[tier] = std::move(own);
      // This host's journal, read under the lock too: a destroy queued before
      // the lock was ended is seen.
      if (has_async()) n.answers[journal_slot()] = Pending(id);
      PickNewest(n);
      ReadBehind(id, n, tier);
      // Under the lock no other request writes the session: the tiers that
      // lost it or hold an older copy get the newest now.
      Held held;
      held.tier = tier;
      held.lock_tier_repair = Repair(id, n, tier);
      LockedRead out;
      out.outcome = LockOutcome::kAcquired;
      out.broken_owner = std::move(locked->broken_owner);
      if (!n.gone()) {
        out.found = true;
        out.record = *n.answers[n.newest].record;
        held.record = out.record;
        held.version = n.answers[n.newest].version;
      } else if (n.newest >= 0) {
        // Destroyed, and a tier or the journal still says so: the next
        // write goes above the destroy's version (from a host whose clock
        // is behind the destroying host's, it would otherwise be hidden).
        out.tombstone_version = n.answers[n.newest].version;
      }
      NoteHeld(id, request.owner, std::move(held));
      return out;
    }
  }
  if (IsOutage(last)) {
    return Status(last.code(), name_ + ": no tier could lock; the last said: " +
                                   last.message());
  }
  return last;
}

Status TieredStore::Release(std::string_view id, const LockOwner& owner,
                            const std::function<Status(Store&)>& locked,
                            const std::function<Status(Store&)>& plain,
                            const std::optional<SessionRecord>& queued,
                            uint64_t version, bool changes) {
  std::optional<Held> held = TakeHeld(id, owner);
  const size_t tier = held ? held->tier : FirstLockTier();
  Status st = locked(*tiers_[tier]);
  Note(tier, st);
  // Refused (the lock was lost, the session is gone): the others are not
  // written either, so that a logout is never undone through them.
  if (!st.ok() && !IsOutage(st)) return st;
  if (!st.ok() && changes) {
    // The lock tier did not answer: another request of the session may
    // hold the lock on the next tier by now and write its own update. This
    // one fails rather than being saved beside it and losing one of the
    // two after both were acknowledged (docs/tiers.md, the lock tier).
    return Status(st.code(), name_ +
                                 ": the session's lock tier did not "
                                 "answer; the update was not saved: " +
                                 st.message());
  }
  std::vector<size_t> others = Usable();
  others.erase(std::remove(others.begin(), others.end(), tier), others.end());
  std::vector<Status> statuses =
      OnTiers(others, [&](size_t i) { return plain(*tiers_[i]); });
  others.push_back(tier);
  statuses.push_back(st);
  const bool journaled = has_async() && queued;
  if (journaled) {
    SK_RETURN_IF_ERROR(Queue(id, queued, version, Owed(others, statuses)));
  }
  if (st.ok()) return st;
  // The lock tier did not answer a touch: the others and the journal
  // moved the expiry.
  Status combined = Combine(statuses);
  if (!combined.ok() && IsOutage(combined) && journaled) return Status::OK();
  return combined;
}

Status TieredStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                   Duration ttl, const LockOwner& owner) {
  SK_CHECK_ID(id);
  const SessionRecord record{std::string(data), env_->WallNow() + ttl};
  return Release(
      id, owner,
      [&](Store& s) { return s.WriteAndUnlock(id, data, ttl, owner); },
      [&](Store& s) { return s.Write(id, data, ttl); }, record, VersionOf(data),
      /*changes=*/true);
}

Status TieredStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                   const LockOwner& owner) {
  SK_CHECK_ID(id);
  // The tiers written behind get the copy the lock read, with the new
  // expiry (a touch does not change the version).
  std::optional<SessionRecord> moved;
  std::optional<SessionRecord> repair;  // for the lock tier
  uint64_t version = 0;
  bool gone = false;  // no session when the lock was taken
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find({std::string(id), owner.token});
    if (it != held_.end()) {
      gone = !it->second.record;
      repair = it->second.lock_tier_repair;
      if (it->second.record) {
        moved = SessionRecord{it->second.record->data, env_->WallNow() + ttl};
        version = it->second.version;
      }
    }
  }
  if (gone) {
    // No session when the lock was taken (or a tombstone): nothing to touch,
    // and a touch would shorten a tombstone's life to the session's.
    Status unlocked = Unlock(id, owner);
    return unlocked.ok() ? NotFound(id) : unlocked;
  }
  Status st = Release(
      id, owner,
      [&](Store& s) {
        // A lock tier that held an older copy gets the newest whole.
        return repair ? s.WriteAndUnlock(id, repair->data, ttl, owner)
                      : s.TouchAndUnlock(id, ttl, owner);
      },
      [&](Store& s) {
        Status touched = s.Touch(id, ttl);
        return touched.IsNotFound() ? Status::OK() : touched;
      },
      moved, version);
  return st.IsNotFound() ? NotFound(id) : st;
}

Status TieredStore::Unlock(std::string_view id, const LockOwner& owner) {
  SK_CHECK_ID(id);
  std::optional<Held> held = TakeHeld(id, owner);
  const size_t tier = held ? held->tier : FirstLockTier();
  Status st;
  const std::optional<SessionRecord>& repair =
      held ? held->lock_tier_repair : std::nullopt;
  const Duration ttl =
      repair ? std::chrono::ceil<Duration>(repair->expires_at - env_->WallNow())
             : Duration(0);
  if (ttl.count() > 0) {
    // A lock tier that held an older copy gets the newest (or the
    // tombstone) as it ends the lock.
    st = tiers_[tier]->WriteAndUnlock(id, repair->data, ttl, owner);
  } else {
    st = tiers_[tier]->Unlock(id, owner);
  }
  Note(tier, st);
  return st;
}

}  // namespace sessionkit::tiered
