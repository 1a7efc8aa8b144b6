// The store of tiers: its logouts (Destroy without the request's lock, and
// the version of their tombstone). A logout under the lock is one of the
// locked steps (tiered_lock.cc); docs/tiers.md, logouts.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sessionkit/frame.h"
#include "sessionkit/session_id.h"
#include "tiered/tiered_store.h"
#include "tiered/versions.h"

namespace sessionkit::tiered {

#define SK_CHECK_ID(id) \
  SK_RETURN_IF_ERROR(ValidateSessionId(id).WithContext(name_))

uint64_t TieredStore::TombstoneVersion(std::string_view id) {
  // Above what a lock of this process read (a logout under its own lock
  // knows the version it destroys), and at least the version a write
  // without a read gets now: above every copy written in an earlier
  // millisecond, and never above a new session written after it.
  uint64_t read = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = held_.lower_bound({std::string(id), std::string()});
         it != held_.end() && it->first.first == id; ++it) {
      read = std::max(read, it->second.version);
    }
  }
  return NextSessionVersion(read, env_->WallNow());
}

Status TieredStore::Destroy(std::string_view id) {
  SK_CHECK_ID(id);
  Drain();
  uint64_t version = TombstoneVersion(id);
  std::optional<LockOwner> owner = HeldOwner(id);
  if (owner && has_async()) {
    // A logout under this process's lock (PHP's session_destroy()).
    Status st = DestroyLocked(id, *owner, version);
    if (st.ok()) return st;
    // The lock was lost, or its tier did not answer: as without a lock.
  } else if (owner) {
    // Every tier's destroy ends its lock; the stand-ins end here.
    if (std::optional<Held> held = TakeHeld(id, *owner)) {
      EndStandIns(held->passed);
    }
    return DestroyUnlocked(id, version);
  }
  // Without the lock (or having lost it), nothing says which version is
  // destroyed: the mark goes above every copy the tiers and the journal
  // hold. One from a host whose clock runs ahead of this one's would
  // otherwise be newer than the mark, and win where they meet (that
  // host's journal, a tier behind): the session back.
  Newest n;
  (void)LiveCopy(id, n);
  if (n.newest >= 0) {
    version = std::max(version, NextSessionVersion(n.answers[n.newest].version,
                                                   env_->WallNow()));
  }
  return DestroyUnlocked(id, version);
}

Status TieredStore::DestroyUnlocked(std::string_view id, uint64_t version) {
  // The synchronous tiers at once and the destroy queued for the tiers
  // behind, then the lock tier: a waiter that the end of its lock wakes
  // finds the session gone from the others already.
  const size_t lock_tier = FirstLockTier();
  std::vector<size_t> use = Usable();
  use.erase(std::remove(use.begin(), use.end(), lock_tier), use.end());
  // A tier behind that can lock may hold a lock a request took there while
  // the synchronous tiers were out (standing in). Only a destroy there ends
  // it (the journal's is not applied while the session is locked), or that
  // request's save would bring the session back; its answer decides
  // nothing else (the journal's destroy follows).
  std::vector<size_t> asked_all = use;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (async_[i] && i != lock_tier &&
        !cannot_lock_[i].load(std::memory_order_relaxed) &&
        breakers_->Admit(i) != Admission::kSkip) {
      asked_all.push_back(i);
    }
  }
  std::vector<Status> statuses =
      OnTiers(asked_all, [&](size_t i) { return tiers_[i]->Destroy(id); });
  std::vector<size_t> ended;  // the tiers that can lock and took it
  for (size_t k = 0; k < asked_all.size(); ++k) {
    if (!IsOutage(statuses[k])) ended.push_back(asked_all[k]);
  }
  statuses.resize(use.size());
  // The lock tier counts as reached here; if it fails, it is owed below. A
  // tier behind standing in as the lock tier is owed the destroy all the
  // same: the journal leaves the tombstone there that refuses an older
  // write another host still has to apply.
  std::vector<size_t> asked = use;
  std::vector<Status> answered = statuses;
  if (!async_[lock_tier]) {
    asked.push_back(lock_tier);
    answered.push_back(Status::OK());
  }
  Status queued = Queue(id, std::nullopt, version, Owed(asked, answered));
  const int64_t started = env_->BootClockMs();
  Status last = tiers_[lock_tier]->Destroy(id);
  Note(lock_tier, last, started);
  if (IsOutage(last) && has_async()) {
    Status again = Queue(id, std::nullopt, version, {lock_tier});
    if (queued.ok()) queued = again;
  }
  use.push_back(lock_tier);
  statuses.push_back(last);
  bool missed = false;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    missed = missed ||
             (!async_[i] && std::find(use.begin(), use.end(), i) == use.end());
  }
  for (const Status& st : statuses) missed = missed || !st.ok();
  // A tier that was not reached may still hold the session, and a tier
  // behind holds it until the journal's destroy is applied there (another
  // host reading it meanwhile would serve it, and repair it into the
  // cache): the tiers reached keep a mark newer than any copy, which wins
  // over it (and repairs it).
  if (missed || !queued.ok() || has_async()) {
    const std::string mark = EncodeTombstoneFrame(version);
    std::vector<size_t> reached;
    for (size_t k = 0; k < use.size(); ++k) {
      if (statuses[k].ok() && (!async_[use[k]] || use[k] == lock_tier)) {
        reached.push_back(use[k]);
      }
    }
    OnTiers(reached, [&](size_t i) {
      return tiers_[i]->Write(id, mark, tombstone_ttl_);
    });
  }
  SK_RETURN_IF_ERROR(queued);
  if (!IsOutage(last)) ended.push_back(lock_tier);
  SK_RETURN_IF_ERROR(MissedALock(id, ended));
  return Combine(statuses);
}

Status TieredStore::MissedALock(std::string_view id,
                                const std::vector<size_t>& ended) const {
  // Every tier that can lock must have taken the logout: one that did not
  // answer, or was left out, may hold a request's lock on the session, and
  // that request's save would bring the session back once the tier is
  // back (over the marks). The logout is then not acknowledged (its
  // caller did everything else first), as a locked one whose lock tier
  // did not answer is not.
  // A tier behind holds such a lock only while a request stood in there
  // for a synchronous tier: required when this host has one (a database
  // out of reach then fails no logout; another host's stand-in locks are
  // not known here: docs/tiers.md, the lock tier).
  bool stand_ins = false;
  for (size_t j = 0; j < tiers_.size(); ++j) {
    stand_ins =
        stand_ins || (!async_[j] && breakers_->StandInHeld(j, kStandInWindow));
  }
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (cannot_lock_[i].load(std::memory_order_relaxed) ||
        (async_[i] && !stand_ins) ||
        std::find(ended.begin(), ended.end(), i) != ended.end()) {
      continue;
    }
    return Status::Unavailable(
        name_ + ": the logout of session " + SessionIdPrefix(id) +
        " did not reach " + tiers_[i]->name() +
        " (it did not answer, or failed lately), where a request may hold "
        "its lock and save it again; the other tiers took it");
  }
  return Status::OK();
}

}  // namespace sessionkit::tiered
