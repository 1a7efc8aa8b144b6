#include "tiered/tiered_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

#include "sessionkit/frame.h"
#include "sessionkit/session_id.h"

namespace sessionkit::tiered {
namespace {

// The most locks whose tier a process remembers (a lock it never releases
// is forgotten in the end; its release then goes to the first tier).
constexpr size_t kMaxLockTiers = 4096;
constexpr size_t kNoTier = SIZE_MAX;

// A tier that did not answer, as opposed to one that answered no.
bool IsOutage(const Status& st) {
  return st.IsUnavailable() || st.IsDeadlineExceeded();
}

// The session version of a stored value; 0 for a value that is not a
// frame of this build (an older frame, or bytes a caller wrote).
uint64_t VersionOf(std::string_view stored) {
  Result<FrameView> view = DecodeFrame(stored);
  return view.ok() ? view->header.session_version : 0;
}

int64_t Millis(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             t.time_since_epoch())
      .count();
}

}  // namespace

#define SK_CHECK_ID(id) \
  SK_RETURN_IF_ERROR(ValidateSessionId(id).WithContext(name_))

bool TieredStore::Newest::gone() const {
  return newest < 0 || IsTombstoneFrame(answers[newest].record->data);
}

TieredStore::TieredStore(TieredOptions options)
    : tiers_(std::move(options.tiers)),
      retry_after_(options.retry_after),
      tombstone_ttl_(options.tombstone_ttl),
      env_(Env::OrDefault(options.env)),
      skip_until_(new std::atomic<int64_t>[tiers_.size()]),
      cannot_lock_(new std::atomic<bool>[tiers_.size()]),
      fanout_(tiers_.size()) {
  name_ = "tiers: ";
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (i > 0) name_ += " | ";
    name_ += tiers_[i]->name();
    skip_until_[i] = 0;
    cannot_lock_[i] = false;
  }
}

TieredStore::~TieredStore() = default;

bool TieredStore::Skipped(size_t i) const {
  return skip_until_[i].load(std::memory_order_relaxed) >
         Millis(env_->SteadyNow());
}

void TieredStore::Note(size_t i, const Status& status) {
  if (IsOutage(status)) {
    skip_until_[i].store(Millis(env_->SteadyNow()) + retry_after_.count(),
                         std::memory_order_relaxed);
  } else if (status.ok() || status.IsNotFound()) {
    skip_until_[i].store(0, std::memory_order_relaxed);
  }
}

std::vector<size_t> TieredStore::Usable() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (!Skipped(i)) out.push_back(i);
  }
  if (out.empty()) {  // all left out: asking them beats failing unasked
    for (size_t i = 0; i < tiers_.size(); ++i) out.push_back(i);
  }
  return out;
}

TieredStore::Newest TieredStore::ReadAll(std::string_view id, size_t skip,
                                         const std::function<void()>& first) {
  Newest n;
  n.answers.resize(tiers_.size());
  for (Answer& a : n.answers) {
    a.status = Status::Unavailable(name_ + ": tier left out");
  }
  std::vector<std::function<void()>> calls;
  if (first) calls.push_back(first);
  for (size_t i : Usable()) {
    if (i == skip) continue;
    calls.push_back([this, id, i, &n] {
      Result<SessionRecord> r = tiers_[i]->Read(id);
      Answer& a = n.answers[i];
      a.status = r.status();
      if (r.ok()) {
        a.version = VersionOf(r->data);
        a.record = std::move(*r);
      }
      Note(i, a.status);
    });
  }
  fanout_.RunAll(calls);
  PickNewest(n);
  return n;
}

void TieredStore::PickNewest(Newest& n) const {
  n.newest = -1;
  for (size_t i = 0; i < n.answers.size(); ++i) {
    const Answer& a = n.answers[i];
    if (!a.record) continue;
    // Ties go to the faster tier.
    if (n.newest < 0 || a.version > n.answers[n.newest].version) {
      n.newest = static_cast<int>(i);
    }
  }
}

Status TieredStore::Combine(const std::vector<Status>& statuses) const {
  const Status* refusal = nullptr;
  const Status* outage = nullptr;
  for (const Status& st : statuses) {
    if (st.ok()) return st;
    if (IsOutage(st)) {
      if (outage == nullptr) outage = &st;
    } else if (refusal == nullptr) {
      refusal = &st;
    }
  }
  if (refusal != nullptr) return *refusal;
  if (outage != nullptr) {
    return Status(
        outage->code(),
        name_ + ": no tier answered; the first said: " + outage->message());
  }
  return Status::Unavailable(name_ + ": no tier to ask");
}

Result<SessionRecord> TieredStore::Read(std::string_view id) {
  SK_CHECK_ID(id);
  Newest n = ReadAll(id, kNoTier, {});
  if (!n.gone()) return std::move(*n.answers[n.newest].record);
  std::vector<Status> statuses;
  for (const Answer& a : n.answers) statuses.push_back(a.status);
  Status st = Combine(statuses);
  if (st.ok() || st.IsNotFound() || n.newest >= 0) {
    return Status::NotFound(name_ + ": session " + SessionIdPrefix(id) +
                            " not found");
  }
  return st;
}

Status TieredStore::Write(std::string_view id, std::string_view data,
                          Duration ttl) {
  SK_CHECK_ID(id);
  const std::vector<size_t> use = Usable();
  std::vector<Status> statuses(use.size());
  std::vector<std::function<void()>> calls;
  for (size_t k = 0; k < use.size(); ++k) {
    calls.push_back([&, k] {
      statuses[k] = tiers_[use[k]]->Write(id, data, ttl);
      Note(use[k], statuses[k]);
    });
  }
  fanout_.RunAll(calls);
  return Combine(statuses);
}

Status TieredStore::Touch(std::string_view id, Duration ttl) {
  SK_CHECK_ID(id);
  Newest n = ReadAll(id, kNoTier, {});
  if (n.gone()) {
    std::vector<Status> statuses;
    for (const Answer& a : n.answers) statuses.push_back(a.status);
    Status st = Combine(statuses);
    if (!st.ok() && !st.IsNotFound() && n.newest < 0) return st;
    return Status::NotFound(name_ + ": session " + SessionIdPrefix(id) +
                            " not found");
  }
  // The tiers with the newest copy move its expiry; those that answered
  // with an older one or none get it whole.
  const Answer& newest = n.answers[n.newest];
  std::vector<Status> statuses;
  std::vector<std::function<void()>> calls;
  std::vector<size_t> asked;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    const Answer& a = n.answers[i];
    if (!a.record && !a.status.IsNotFound()) continue;  // did not answer
    asked.push_back(i);
  }
  statuses.resize(asked.size());
  for (size_t k = 0; k < asked.size(); ++k) {
    const size_t i = asked[k];
    const bool current = n.answers[i].record &&
                         n.answers[i].version == newest.version &&
                         n.answers[i].record->data == newest.record->data;
    calls.push_back([&, k, i, current] {
      statuses[k] = current ? tiers_[i]->Touch(id, ttl)
                            : tiers_[i]->Write(id, newest.record->data, ttl);
      Note(i, statuses[k]);
    });
  }
  fanout_.RunAll(calls);
  Status st = Combine(statuses);
  if (st.IsNotFound()) {
    return Status::NotFound(name_ + ": session " + SessionIdPrefix(id) +
                            " not found");
  }
  return st;
}

uint64_t TieredStore::TombstoneVersion() const {
  // Above every version written until now on this host's clock.
  return NextSessionVersion(0, env_->WallNow()) + kSessionVersionsPerMs - 1;
}

Status TieredStore::Destroy(std::string_view id) {
  SK_CHECK_ID(id);
  const std::vector<size_t> use = Usable();
  std::vector<Status> statuses(use.size());
  std::vector<std::function<void()>> calls;
  // The lock tier last: a waiter it wakes finds the session gone from the
  // others already.
  const size_t lock_tier = FirstLockTier();
  size_t last = kNoTier;
  for (size_t k = 0; k < use.size(); ++k) {
    if (use[k] == lock_tier) {
      last = k;
      continue;
    }
    calls.push_back([&, k] {
      statuses[k] = tiers_[use[k]]->Destroy(id);
      Note(use[k], statuses[k]);
    });
  }
  fanout_.RunAll(calls);
  if (last != kNoTier) {
    statuses[last] = tiers_[lock_tier]->Destroy(id);
    Note(lock_tier, statuses[last]);
  }
  bool missed = use.size() < tiers_.size();
  for (const Status& st : statuses) missed = missed || !st.ok();
  if (missed) {
    // A tier that was not reached may still hold the session: the others
    // keep a mark newer than any copy, which wins over it when it is back
    // (and repairs it).
    const std::string mark = EncodeTombstoneFrame(TombstoneVersion());
    std::vector<Status> marked(use.size());
    calls.clear();
    for (size_t k = 0; k < use.size(); ++k) {
      if (!statuses[k].ok()) continue;
      calls.push_back([&, k] {
        marked[k] = tiers_[use[k]]->Write(id, mark, tombstone_ttl_);
        Note(use[k], marked[k]);
      });
    }
    fanout_.RunAll(calls);
  }
  return Combine(statuses);
}

Result<bool> TieredStore::Exists(std::string_view id) {
  SK_CHECK_ID(id);
  Newest n = ReadAll(id, kNoTier, {});
  if (!n.gone()) return true;
  std::vector<Status> statuses;
  for (const Answer& a : n.answers) statuses.push_back(a.status);
  Status st = Combine(statuses);
  if (!st.ok() && !st.IsNotFound() && n.newest < 0) return st;
  return false;
}

Result<ScanPage> TieredStore::Scan(const ScanOptions& options) {
  // The first tier that answers lists what it holds.
  Status last = Status::Unavailable(name_ + ": no tier to scan");
  for (size_t i : Usable()) {
    Result<ScanPage> page = tiers_[i]->Scan(options);
    Note(i, page.status());
    if (page.ok() || !IsOutage(page.status())) return page;
    last = page.status();
  }
  return last;
}

Result<GcResult> TieredStore::Gc(TimePoint now) {
  const std::vector<size_t> use = Usable();
  std::vector<Result<GcResult>> results(use.size(),
                                        Status::Unavailable("not asked"));
  std::vector<std::function<void()>> calls;
  for (size_t k = 0; k < use.size(); ++k) {
    calls.push_back([&, k] {
      results[k] = tiers_[use[k]]->Gc(now);
      Note(use[k], results[k].status());
    });
  }
  fanout_.RunAll(calls);
  // Each tier removes its own copies: the most any tier removed is the
  // number of sessions gone.
  std::optional<GcResult> most;
  std::vector<Status> statuses;
  for (const Result<GcResult>& r : results) {
    statuses.push_back(r.status());
    if (r.ok() && (!most || r->removed > most->removed)) most = *r;
  }
  if (most) return *most;
  return Combine(statuses);
}

Status TieredStore::Health() {
  const std::vector<size_t> use = Usable();
  std::vector<Status> statuses(use.size());
  std::vector<std::function<void()>> calls;
  for (size_t k = 0; k < use.size(); ++k) {
    calls.push_back([&, k] {
      statuses[k] = tiers_[use[k]]->Health();
      Note(use[k], statuses[k]);
    });
  }
  fanout_.RunAll(calls);
  return Combine(statuses);
}

void TieredStore::Repair(std::string_view id, const Newest& n) {
  if (n.newest < 0) return;
  const Answer& newest = n.answers[n.newest];
  if (newest.version == 0) return;  // unversioned copies cannot be ordered
  const Duration ttl =
      std::chrono::ceil<Duration>(newest.record->expires_at - env_->WallNow());
  if (ttl.count() <= 0) return;
  std::vector<std::function<void()>> calls;
  for (size_t i = 0; i < n.answers.size(); ++i) {
    const Answer& a = n.answers[i];
    const bool answered = a.record || a.status.IsNotFound();
    if (!answered || (a.record && a.version >= newest.version)) continue;
    calls.push_back([this, id, i, &newest, ttl] {
      Note(i, tiers_[i]->Write(id, newest.record->data, ttl));
    });
  }
  fanout_.RunAll(calls);
}

Result<LockedRead> TieredStore::LockAndRead(std::string_view id,
                                            const LockRequest& request) {
  SK_CHECK_ID(id);
  Status last = Status::NotSupported(name_ + ": no tier can lock");
  for (size_t tier : Usable()) {
    if (cannot_lock_[tier].load(std::memory_order_relaxed)) continue;
    Result<LockedRead> locked = Status::Internal(name_ + ": not asked");
    // The lock tier locks and reads while the others read.
    Newest n = ReadAll(id, tier, [&] {
      locked = tiers_[tier]->LockAndRead(id, request);
      Note(tier, locked.status());
    });
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
    for (size_t i = 0; i < n.answers.size(); ++i) {
      const Answer& a = n.answers[i];
      if (i != tier && a.record && (!own.record || a.version > own.version)) {
        disagree = true;
      }
    }
    if (disagree) n = ReadAll(id, tier, {});
    n.answers[tier] = std::move(own);
    PickNewest(n);
    NoteLockTier(id, request.owner, tier);
    // Under the lock no other request writes the session: the tiers that
    // lost it or hold an older copy get the newest now.
    Repair(id, n);
    LockedRead out;
    out.outcome = LockOutcome::kAcquired;
    out.broken_owner = std::move(locked->broken_owner);
    if (!n.gone()) {
      out.found = true;
      out.record = std::move(*n.answers[n.newest].record);
    }
    return out;
  }
  if (IsOutage(last)) {
    return Status(last.code(), name_ + ": no tier could lock; the last said: " +
                                   last.message());
  }
  return last;
}

size_t TieredStore::FirstLockTier() const {
  for (size_t i : Usable()) {
    if (!cannot_lock_[i].load(std::memory_order_relaxed)) return i;
  }
  return 0;
}

size_t TieredStore::LockTier(std::string_view id, const LockOwner& owner) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = lock_tiers_.find({std::string(id), owner.token});
    if (it != lock_tiers_.end()) return it->second;
  }
  return FirstLockTier();
}

void TieredStore::NoteLockTier(std::string_view id, const LockOwner& owner,
                               size_t tier) {
  std::lock_guard<std::mutex> lock(mu_);
  if (lock_tiers_.size() >= kMaxLockTiers)
    lock_tiers_.erase(lock_tiers_.begin());
  lock_tiers_[{std::string(id), owner.token}] = tier;
}

void TieredStore::ForgetLockTier(std::string_view id, const LockOwner& owner) {
  std::lock_guard<std::mutex> lock(mu_);
  lock_tiers_.erase({std::string(id), owner.token});
}

Status TieredStore::Release(std::string_view id, const LockOwner& owner,
                            const std::function<Status(Store&)>& locked,
                            const std::function<Status(Store&)>& plain) {
  const size_t tier = LockTier(id, owner);
  Status held = locked(*tiers_[tier]);
  Note(tier, held);
  ForgetLockTier(id, owner);
  // Refused (the lock was lost, the session is gone): the others are not
  // written either, so that a logout is never undone through them.
  if (!held.ok() && !IsOutage(held)) return held;
  std::vector<size_t> others;
  for (size_t i : Usable()) {
    if (i != tier) others.push_back(i);
  }
  std::vector<Status> statuses(others.size());
  std::vector<std::function<void()>> calls;
  for (size_t k = 0; k < others.size(); ++k) {
    calls.push_back([&, k] {
      statuses[k] = plain(*tiers_[others[k]]);
      Note(others[k], statuses[k]);
    });
  }
  fanout_.RunAll(calls);
  if (held.ok()) return held;
  // The lock tier did not answer: the others keep the update
  // (docs/tiers.md, the lock tier).
  statuses.push_back(held);
  return Combine(statuses);
}

Status TieredStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                   Duration ttl, const LockOwner& owner) {
  SK_CHECK_ID(id);
  return Release(
      id, owner,
      [&](Store& s) { return s.WriteAndUnlock(id, data, ttl, owner); },
      [&](Store& s) { return s.Write(id, data, ttl); });
}

Status TieredStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                   const LockOwner& owner) {
  SK_CHECK_ID(id);
  Status st = Release(
      id, owner, [&](Store& s) { return s.TouchAndUnlock(id, ttl, owner); },
      [&](Store& s) {
        Status touched = s.Touch(id, ttl);
        return touched.IsNotFound() ? Status::OK() : touched;
      });
  if (st.IsNotFound()) {
    return Status::NotFound(name_ + ": session " + SessionIdPrefix(id) +
                            " not found");
  }
  return st;
}

Status TieredStore::Unlock(std::string_view id, const LockOwner& owner) {
  SK_CHECK_ID(id);
  const size_t tier = LockTier(id, owner);
  Status st = tiers_[tier]->Unlock(id, owner);
  Note(tier, st);
  ForgetLockTier(id, owner);
  return st;
}

}  // namespace sessionkit::tiered

namespace sessionkit {

Result<std::unique_ptr<Store>> OpenTieredStore(TieredOptions options) {
  if (options.tiers.size() < 2 ||
      options.tiers.size() > TieredOptions::kMaxTiers) {
    return Status::InvalidArgument(
        "tiers: " + std::to_string(options.tiers.size()) +
        " stores given; tiers are 2 to " +
        std::to_string(TieredOptions::kMaxTiers) + " stores");
  }
  for (const std::unique_ptr<Store>& tier : options.tiers) {
    if (tier == nullptr) {
      return Status::InvalidArgument("tiers: a tier is not an open store");
    }
  }
  if (options.retry_after.count() <= 0 || options.tombstone_ttl.count() <= 0) {
    return Status::InvalidArgument(
        "tiers: retry_after and tombstone_ttl must be positive");
  }
  return std::unique_ptr<Store>(
      std::make_unique<tiered::TieredStore>(std::move(options)));
}

}  // namespace sessionkit
