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

std::optional<SessionRecord> TieredStore::Repair(
    std::string_view id, const Newest& n, size_t lock_tier,
    const std::vector<size_t>& also) {
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
    if (i == lock_tier ||
        std::find(also.begin(), also.end(), i) != also.end()) {
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

bool TieredStore::SavedMeanwhileElsewhere(std::string_view id,
                                          const Held& held) {
  // Only after a request of this host stood in for a synchronous tier:
  // the common case pays nothing.
  if (!has_async()) return false;
  bool stood_in = false;
  for (size_t i = 0; i < tiers_.size() && !stood_in; ++i) {
    stood_in = !async_[i] && breakers_->StoodInWithin(i, kStandInWindow);
  }
  if (!stood_in) return false;
  const Answer pending = Pending(id);
  return pending.record && pending.version > held.version;
}

bool TieredStore::RepairStillDue(std::string_view id, size_t i,
                                 const SessionRecord& repair) {
  Answer now;
  ReadTier(id, i, now);
  return !now.record || now.version < VersionOf(repair.data);
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

Result<bool> TieredStore::ExistsOrLocked(std::string_view id) {
  SK_CHECK_ID(id);
  Newest n;
  Result<bool> live = LiveCopy(id, n);
  if (!live.ok() || *live) return live;
  // No live copy: a session being created is locked on the tier a lock
  // would take now. One that holds a copy (a destroy's mark) would count
  // it; one that does not answer holds no lock this host could wait for.
  const size_t i = FirstLockTier();
  if (n.answers[i].record) return false;
  const int64_t started = env_->BootClockMs();
  Result<bool> locked = tiers_[i]->ExistsOrLocked(id);
  Note(i, locked.status(), started);
  return locked.ok() && *locked;
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

std::optional<LockOwner> TieredStore::HeldOwner(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.lower_bound({std::string(id), std::string()});
  if (it == held_.end() || it->first.first != id) return std::nullopt;
  return LockOwner{it->first.second};
}

void TieredStore::NoteHeld(std::string_view id, const LockOwner& owner,
                           Held held) {
  std::lock_guard<std::mutex> lock(mu_);
  if (held_.size() >= kMaxHeld) held_.erase(held_.begin());
  held_[{std::string(id), owner.token}] = std::move(held);
}

std::vector<size_t> TieredStore::LockTiers(size_t tier, bool before) const {
  std::vector<size_t> order;
  for (bool async : {false, true}) {
    for (size_t i = 0; i < tiers_.size(); ++i) {
      if (async_[i] == async && !cannot_lock_[i].load()) order.push_back(i);
    }
  }
  auto at = std::find(order.begin(), order.end(), tier);
  if (at == order.end()) return {};
  return before ? std::vector<size_t>(order.begin(), at)
                : std::vector<size_t>(at + 1, order.end());
}

void TieredStore::EndLocks(std::string_view id, const LockOwner& owner,
                           const std::vector<size_t>& which) {
  OnTiers(which, [&](size_t i) { return tiers_[i]->Unlock(id, owner); });
}

void TieredStore::EndStandIns(const std::vector<size_t>& passed) {
  for (size_t p : passed) breakers_->EndStandIn(p);
}

Result<LockedRead> TieredStore::LockAndRead(std::string_view id,
                                            const LockRequest& asked) {
  SK_CHECK_ID(id);
  Drain();
  // Repair needs the expiry of the copy each tier returns.
  LockRequest request = asked;
  request.want_expiry = true;
  for (bool may_back_off : {true, false}) {
    bool again = false;
    Result<LockedRead> out = LockOnce(id, request, may_back_off, &again);
    if (!again) return out;
  }
  return Status::Internal(name_ + ": the lock was given up twice");
}

Result<LockedRead> TieredStore::LockOnce(std::string_view id,
                                         const LockRequest& request,
                                         bool may_back_off, bool* again) {
  // What a lock found in its tier, as that tier's answer.
  auto answer_of = [](LockedRead& r) {
    Answer a;
    a.status =
        r.found ? Status::OK() : Status::NotFound("no session in the tier");
    if (r.found) {
      a.version = VersionOf(r.record.data);
      a.record = std::move(r.record);
    }
    return a;
  };
  Status last = Status::NotSupported(name_ + ": no tier can lock");
  // The tiers behind are admitted only when no synchronous tier locked
  // (their probes are claimed only when they are asked).
  for (bool async : {false, true}) {
    for (size_t tier : Usable(async)) {
      if (cannot_lock_[tier].load(std::memory_order_relaxed)) continue;
      // Standing in for the tiers ahead: counted before the lock is taken,
      // so that a request locking on one of them once it is back sees this
      // one (StandInHeld) and waits for it here.
      const std::vector<size_t> passed = LockTiers(tier, /*before=*/true);
      for (size_t p : passed) breakers_->BeginStandIn(p);
      Result<LockedRead> locked = Status::Internal(name_ + ": not asked");
      // The lock tier locks and reads while the others read.
      Newest n = ReadAll(
          id, tier,
          [&] {
            const int64_t started = env_->BootClockMs();
            locked = tiers_[tier]->LockAndRead(id, request);
            // A lock that waited for its holder did not fail slowly: only
            // an outage's time counts (Breakers::Record).
            Note(tier, locked.status(), started);
          },
          /*with_journal=*/false);
      if (!locked.ok() || !locked->acquired()) EndStandIns(passed);
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
      if (may_back_off &&
          std::any_of(passed.begin(), passed.end(),
                      [&](size_t p) { return breakers_->Closed(p); })) {
        // A tier it stands in for came back meanwhile: a request may lock
        // there now without seeing this lock. Start again from that tier.
        EndLocks(id, request.owner, {tier});
        EndStandIns(passed);
        *again = true;
        return Status::Internal(name_ + ": the lock was given up");
      }
      // The handover: requests of this host hold the session's lock on a
      // tier behind, taken while this one was left out. This one waits
      // for them there too, and reads what they wrote.
      std::vector<size_t> also;
      std::vector<Answer> also_answers;
      if (breakers_->StandInHeld(tier, request.lease)) {
        for (size_t b : LockTiers(tier, /*before=*/false)) {
          if (breakers_->Admit(b) == Admission::kSkip) continue;
          const int64_t started = env_->BootClockMs();
          Result<LockedRead> r = tiers_[b]->LockAndRead(id, request);
          Note(b, r.status(), started);
          // A tier that does not answer is not written by its holders
          // either (their release fails).
          if (!r.ok() &&
              (IsOutage(r.status()) || r.status().IsNotSupported())) {
            continue;
          }
          if (!r.ok() || !r->acquired()) {
            also.push_back(tier);
            EndLocks(id, request.owner, also);
            EndStandIns(passed);
            return r;
          }
          also.push_back(b);
          also_answers.push_back(answer_of(*r));
        }
      }
      Answer own = answer_of(*locked);
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
      for (size_t k = 0; k < also.size(); ++k) {
        n.answers[also[k]] = std::move(also_answers[k]);
      }
      // This host's journal, read under the lock too: a destroy queued before
      // the lock was ended is seen.
      if (has_async()) n.answers[journal_slot()] = Pending(id);
      // A tier behind whose lock was taken (standing in, or the handover)
      // read its copy before the journal was read, and the drain writes it
      // without the session's lock: an entry applied there in between has
      // left the journal since. Read again, now after the journal (an entry
      // leaves it only once applied), it is seen in one or the other.
      for (size_t i = 0; i < tiers_.size(); ++i) {
        const bool locked_here =
            i == tier || std::find(also.begin(), also.end(), i) != also.end();
        if (!async_[i] || !locked_here) continue;
        Answer again;
        ReadTier(id, i, again);
        Answer& had = n.answers[i];
        if (again.record && (!had.record || again.version > had.version)) {
          had = std::move(again);
        }
      }
      PickNewest(n);
      ReadBehind(id, n, tier);
      // Under the lock no other request writes the session: the tiers that
      // lost it or hold an older copy get the newest now.
      Held held;
      held.tier = tier;
      held.lock_tier_repair = Repair(id, n, tier, also);
      held.also = std::move(also);
      held.passed = passed;
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
        held.version = out.tombstone_version;
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
                            uint64_t version, bool changes, bool destroy) {
  std::optional<Held> held = TakeHeld(id, owner);
  const size_t tier = held ? held->tier : FirstLockTier();
  const std::vector<size_t> also = held ? held->also : std::vector<size_t>();
  const std::vector<size_t> passed =
      held ? held->passed : std::vector<size_t>();
  if (held && changes && SavedMeanwhileElsewhere(id, *held)) {
    std::vector<size_t> ours = also;
    ours.push_back(tier);
    EndLocks(id, owner, ours);
    EndStandIns(passed);
    return Status::LockLost(
        name_ + ": session " + SessionIdPrefix(id) +
        " was saved or logged out by a request that held its lock on "
        "another tier while this one's was out of reach; this update was "
        "not saved");
  }
  const int64_t started = env_->BootClockMs();
  Status st = locked(*tiers_[tier]);
  Note(tier, st, started);
  if (!st.ok() && (!IsOutage(st) || changes)) {
    EndLocks(id, owner, also);
    EndStandIns(passed);
    // Refused (the lock was lost, the session is gone): the others are not
    // written either, so that a logout is never undone through them.
    if (!IsOutage(st)) return st;
    // The lock tier did not answer: another request of the session may
    // hold the lock on the next tier by now and write its own update. This
    // one fails rather than being saved beside it and losing one of the
    // two after both were acknowledged (docs/tiers.md, the lock tier).
    return Status(st.code(), name_ +
                                 ": the session's lock tier did not "
                                 "answer; the update was not saved: " +
                                 st.message());
  }
  std::vector<Status> statuses =
      OnTiers(also, [&](size_t i) { return locked(*tiers_[i]); });
  EndStandIns(passed);
  std::vector<size_t> others = Usable();
  std::erase_if(others, [&](size_t i) {
    // The tiers it stood in for get the write through the journal: one of
    // them may be the lock tier of the next request by now, whose locked
    // write (Memcached's compare-and-swap) a plain write here would spoil.
    const bool ahead =
        std::find(passed.begin(), passed.end(), i) != passed.end();
    if (ahead) breakers_->Abandon(i);  // a probe Usable claimed, not made
    return i == tier || ahead ||
           std::find(also.begin(), also.end(), i) != also.end();
  });
  std::vector<Status> plain_statuses =
      OnTiers(others, [&](size_t i) { return plain(*tiers_[i]); });
  others.insert(others.begin(), also.begin(), also.end());
  statuses.insert(statuses.end(), plain_statuses.begin(), plain_statuses.end());
  others.push_back(tier);
  statuses.push_back(st);
  const bool journaled = has_async() && (queued || destroy);
  if (journaled) {
    SK_RETURN_IF_ERROR(Queue(id, destroy ? std::nullopt : queued, version,
                             Owed(others, statuses)));
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

Status TieredStore::DestroyLocked(std::string_view id, const LockOwner& owner,
                                  uint64_t version) {
  // The lock tier takes the destroy's mark as it ends the lock, in one
  // step: a waiter it wakes reads the mark, never an empty tier it would
  // fill from a tier behind that has not had the destroy yet (another
  // host's journal may hold it), and a session the waiter starts again is
  // not overwritten by a mark written after it. The other synchronous tiers
  // and the tiers whose lock it took too get the mark, the tiers behind
  // the destroy through the journal (a mark there too).
  const std::string mark = EncodeTombstoneFrame(version);
  return Release(
      id, owner,
      [&](Store& s) {
        return s.WriteAndUnlock(id, mark, tombstone_ttl_, owner);
      },
      [&](Store& s) { return s.Write(id, mark, tombstone_ttl_); }, std::nullopt,
      version, /*changes=*/true, /*destroy=*/true);
}

Status TieredStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                   const LockOwner& owner) {
  SK_CHECK_ID(id);
  // The tiers written behind get the copy the lock read, with the new
  // expiry (a touch does not change the version).
  std::optional<SessionRecord> moved;
  std::optional<SessionRecord> repair;  // for the lock tier
  size_t lock_tier = kNoTier;
  uint64_t version = 0;
  bool gone = false;  // no session when the lock was taken
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find({std::string(id), owner.token});
    if (it != held_.end()) {
      gone = !it->second.record;
      repair = it->second.lock_tier_repair;
      lock_tier = it->second.tier;
      if (it->second.record) {
        moved = SessionRecord{it->second.record->data, env_->WallNow() + ttl};
        version = it->second.version;
      }
    }
  }
  if (repair && !RepairStillDue(id, lock_tier, *repair)) repair.reset();
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
  const std::optional<SessionRecord>& repair =
      held ? held->lock_tier_repair : std::nullopt;
  const Duration ttl =
      repair ? std::chrono::ceil<Duration>(repair->expires_at - env_->WallNow())
             : Duration(0);
  auto end = [&](size_t i) {
    // A lock tier that held an older copy gets the newest (or the
    // tombstone) as it ends the lock.
    return ttl.count() > 0 && RepairStillDue(id, i, *repair)
               ? tiers_[i]->WriteAndUnlock(id, repair->data, ttl, owner)
               : tiers_[i]->Unlock(id, owner);
  };
  const int64_t started = env_->BootClockMs();
  Status st = end(tier);
  Note(tier, st, started);
  if (held) {
    OnTiers(held->also, end);
    EndStandIns(held->passed);
  }
  return st;
}

}  // namespace sessionkit::tiered
