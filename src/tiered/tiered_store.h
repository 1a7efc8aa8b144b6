// The store of tiers (include/sessionkit/stores/tiered.h): every call goes
// to every usable synchronous tier at once (Fanout), the tiers written
// behind get theirs through the journal (journal.h) that a thread of each
// process drains (Drainer), and the newest session version among the
// answers wins.
#ifndef SESSIONKIT_TIERED_TIERED_STORE_H_
#define SESSIONKIT_TIERED_TIERED_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/store.h"
#include "sessionkit/stores/tiered.h"
#include "tiered/breaker.h"
#include "tiered/drainer.h"
#include "tiered/fanout.h"
#include "tiered/journal.h"

namespace sessionkit::tiered {

// How long after the last lock a request of this host took on a tier
// behind, standing in for a synchronous one, the calls that end locks
// look for what it did there: a logout without the lock must reach that
// tier too, and a save checks the journal for what it saved.
inline constexpr Duration kStandInWindow{60'000};

// Thread safety: safe from several threads (the tiers are).
class TieredStore final : public Store {
 public:
  // `journal`: open when a tier is async.
  TieredStore(TieredOptions options, std::unique_ptr<Journal> journal);
  ~TieredStore() override;

  const std::string& name() const override { return name_; }
  Result<SessionRecord> Read(std::string_view id) override;
  Result<SessionRecord> ReadOrMark(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  Status Destroy(std::string_view id) override;
  Result<bool> Exists(std::string_view id) override;
  // Exists, else the lock tier's ExistsOrLocked (tiered_lock.cc).
  Result<bool> ExistsOrLocked(std::string_view id) override;
  Result<ScanPage> Scan(const ScanOptions& options) override;
  Result<GcResult> Gc(TimePoint now) override;
  Status Health() override;
  // The sum of every tier's (the journal's drain included).
  uint64_t TakeRoundTrips() override;

  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override;
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override;
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override;
  Status Unlock(std::string_view id, const LockOwner& owner) override;

  // Drains what is due in the journal, a batch per tier (behind, or owed
  // what it missed) whose breaker lets it be called: true when a batch
  // came back full (more may be due now). The drain thread calls it; tests
  // may too.
  bool DrainStep() { return DrainStep(Duration(0)); }
  // The same, taking also what becomes due within `ahead` (a store being
  // closed takes the writes that still wait out write_delay).
  bool DrainStep(Duration ahead);

  // The tiers, their breakers and the journal's backlog (ReportTiers).
  TiersReport Report();

  // The most entries a drain step takes of one tier, and how long they are
  // its own before another drainer may take them.
  static constexpr size_t kDrainBatch = 32;
  static constexpr Duration kDrainClaim{60000};
  // How long a store being closed keeps draining what is due.
  static constexpr Duration kFinalDrain{500};

 private:
  // One tier's answer to a read (or the journal's pending state).
  struct Answer {
    Status status;                        // OK, NotFound or why not
    std::optional<SessionRecord> record;  // when OK
    uint64_t version = 0;                 // of record's frame
  };
  // What the tiers hold of a session: one answer per tier, then the
  // journal's pending state.
  struct Newest {
    std::vector<Answer> answers;  // skipped tiers: Unavailable
    int newest = -1;              // the answer with the newest copy, or -1
    bool gone() const;            // no copy, or the newest is a tombstone
  };
  // A lock this process holds: its tier and what it read.
  struct Held {
    size_t tier = 0;
    std::optional<SessionRecord> record;  // the newest copy read
    // Its version, or a logout's the lock found (0: nothing found).
    uint64_t version = 0;
    // What the lock tier (and `also`) is to hold when the lock found its
    // copy older than the newest (or missing): the release writes it there.
    std::optional<SessionRecord> lock_tier_repair;
    // The tiers behind `tier` whose lock was taken too, because requests
    // of this host held it there while `tier` was left out (the handover,
    // Breakers::StandInHeld); ended with it.
    std::vector<size_t> also;
    // The tiers ahead of `tier` it stands in for (Breakers::BeginStandIn).
    std::vector<size_t> passed;
  };

  // Records how tier `i` answered, in its breaker (breaker.h), for a call
  // made at `started_ms` on the boot clock, the breakers' (none: a long
  // call by nature, a scan or a GC, whose time says nothing).
  void Note(size_t i, const Status& status,
            std::optional<int64_t> started_ms = std::nullopt);
  // The synchronous (or async) tiers to ask now: those whose breaker lets
  // them be called (claiming the probes that are due: the caller asks
  // every tier returned), or all of them when none does.
  std::vector<size_t> Usable(bool async = false);
  size_t journal_slot() const { return tiers_.size(); }

  // Reads tier `i` into `answer`.
  void ReadTier(std::string_view id, size_t i, Answer& answer);
  // Reads every usable synchronous tier except `skip` (SIZE_MAX: none) at
  // once, and `first` on the calling thread when given; then the journal
  // when `with_journal`.
  Newest ReadAll(std::string_view id, size_t skip,
                 const std::function<void()>& first, bool with_journal = true);
  // When no synchronous tier has a copy: reads the async tiers except
  // `skip` too.
  void ReadBehind(std::string_view id, Newest& n, size_t skip);
  // Exists: whether `n`, read from every tier that may hold a copy (the
  // tiers behind when none before them has one), has a live one.
  Result<bool> LiveCopy(std::string_view id, Newest& n);
  // Picks the newest answer of `n`.
  void PickNewest(Newest& n) const;
  // Writes the newest copy to the synchronous tiers that answered with an
  // older one or none, at once (the caller holds the session's lock).
  // The lock tier itself is not written while its lock is held (a store
  // whose locked write checks that nothing changed the session since the
  // lock, as Memcached's compare-and-swap, would refuse it): what it is to
  // hold is returned, for the release to write.
  // Whether `repair` (the newest copy a lock read, for a lock tier that
  // lacked it, written as the lock ends) is still newer than what tier `i`
  // holds: a write without the lock (locking off in another request) may
  // have come since, which an older copy must not overwrite.
  bool RepairStillDue(std::string_view id, size_t i,
                      const SessionRecord& repair);
  // Whether this host's journal holds a write or logout of `id` newer than
  // what `held` read: a request that held the session's lock on another
  // tier (standing in while `held`'s tier was out of reach) saved it, and
  // `held`'s save must not undo that (docs/tiers.md, the lock tier).
  bool SavedMeanwhileElsewhere(std::string_view id, const Held& held);
  std::optional<SessionRecord> Repair(std::string_view id, const Newest& n,
                                      size_t lock_tier,
                                      const std::vector<size_t>& also);
  // The version of a tombstone of `id` written now.
  uint64_t TombstoneVersion(std::string_view id);
  // Ends `owner`'s lock on its tier with `locked`, then (unless refused,
  // or unanswered when the call `changes` the session) applies `plain` to
  // the other usable synchronous tiers at once and queues `queued` (when
  // given), or a destroy (`destroy`), for the tiers that still owe it
  // (Owed). The tiers it stood in for get nothing directly: one of them
  // may be the next request's lock tier by now (docs/tiers.md, the
  // handover); the journal, or the next locked read, corrects them.
  Status Release(std::string_view id, const LockOwner& owner,
                 const std::function<Status(Store&)>& locked,
                 const std::function<Status(Store&)>& plain,
                 const std::optional<SessionRecord>& queued, uint64_t version,
                 bool changes = false, bool destroy = false);
  // Destroy of `id` by the process that holds its lock as `owner` (with
  // a journal): the mark of `version` replaces the session everywhere, on
  // the lock tier as its lock ends. Fails, changing nothing but the locks,
  // when the lock was lost or its tier did not answer.
  Status DestroyLocked(std::string_view id, const LockOwner& owner,
                       uint64_t version);
  // Destroy of `id` by a caller that holds no lock on it, or whose lock
  // failed: ends the lock wherever it is held.
  Status DestroyUnlocked(std::string_view id, uint64_t version);
  // Unavailable when a tier that can lock is not among `ended` (the tiers
  // that took the logout of `id`) and may hold a request's lock on it,
  // whose save would bring the session back once the tier is back.
  Status MissedALock(std::string_view id,
                     const std::vector<size_t>& ended) const;
  // The combined status of per-tier statuses of a write-like call: OK when
  // any tier took it; else the most telling failure.
  Status Combine(const std::vector<Status>& statuses) const;
  // Runs `call` on each tier of `which` at once (Fanout), noting how each
  // answered (Note); their statuses, in the order of `which`.
  std::vector<Status> OnTiers(const std::vector<size_t>& which,
                              const std::function<Status(size_t)>& call);
  // Removes from `page`, listed by tier `i`, the sessions that are a
  // destroy's mark there.
  void DropMarks(size_t i, ScanPage& page);
  // NotFound naming this store and the session.
  Status NotFound(std::string_view id) const;
  // The answer of a read that found no live copy in `n`: NotFound when some
  // tier (or the journal) answered, else why none could.
  Status NoCopy(std::string_view id, const Newest& n) const;
  // Read, or with `or_mark` ReadOrMark: the newest copy, repaired where
  // missing; a destroy's mark only with `or_mark`.
  Result<SessionRecord> ReadNewest(std::string_view id, bool or_mark);

  // The first usable tier that locks (or can: not known not to),
  // synchronous tiers first; the caller asks it.
  size_t FirstLockTier();
  // The tiers that lock (or can) ahead of `tier` (`before`) or behind it,
  // in the order the lock tries them: synchronous tiers first.
  std::vector<size_t> LockTiers(size_t tier, bool before) const;
  // One try of LockAndRead. Sets `*again` (and holds nothing) when it
  // locked on a tier behind one that is back by then, which `may_back_off`
  // allows: the caller tries once more.
  Result<LockedRead> LockOnce(std::string_view id, const LockRequest& request,
                              bool may_back_off, bool* again);
  // Ends `owner`'s locks on `which` (a lock given up, or failed), at once.
  void EndLocks(std::string_view id, const LockOwner& owner,
                const std::vector<size_t>& which);
  // Breakers::EndStandIn for each of `passed`.
  void EndStandIns(const std::vector<size_t>& passed);
  // The lock `owner` holds on `id` (LockAndRead noted it), taken out of the
  // table; nullopt when not noted.
  std::optional<Held> TakeHeld(std::string_view id, const LockOwner& owner);
  void NoteHeld(std::string_view id, const LockOwner& owner, Held held);
  // The owner of a lock this process holds on `id` (noted), if any.
  std::optional<LockOwner> HeldOwner(std::string_view id);

  // --- tiers written behind (tiered_journal.cc)
  bool has_async() const { return journal_ != nullptr; }
  // The tiers that still owe a call made on the tiers `asked`, which
  // answered `statuses`: the tiers behind not asked, and the synchronous
  // tiers left out or that failed to answer. The journal keeps the call
  // for them, so that a cache that was down or blackholed comes back
  // corrected, not with the copies it held before.
  std::vector<size_t> Owed(const std::vector<size_t>& asked,
                           const std::vector<Status>& statuses) const;
  // Queues a write (`record`) or, without one, a destroy of `id` for the
  // tiers `to` (Owed), and wakes the drain thread; a destroy also replaces
  // what the other tiers were still owed. OK when every queue took it (and
  // when there is no journal).
  Status Queue(std::string_view id, const std::optional<SessionRecord>& record,
               uint64_t version, const std::vector<size_t>& to);
  // The journal's pending state of `id` as an answer.
  Answer Pending(std::string_view id);
  // Applies one journal entry to tier `tier`, unless the tier holds a
  // newer version.
  Status Apply(size_t tier, const JournalEntry& entry);
  // What a tier is to hold for `entry` at `now`: a write's data for the
  // rest of its life, or, for a destroy (on a tier behind), the destroy's
  // mark (made in *mark, which the result points into) for tombstone_ttl_.
  VersionedWrite ToHold(const JournalEntry& entry, TimePoint now,
                        std::string* mark) const;
  // Applies a drain's batch to tier behind `tier` in one step
  // (Store::WriteUnlessNewer); NotSupported when the tier cannot.
  Status ApplyBatch(size_t tier, const std::vector<JournalEntry>& entries);
  // Starts this process's drain thread unless it runs.
  void Drain();

  std::vector<std::unique_ptr<Store>> tiers_;
  std::vector<bool> async_;            // by tier
  std::vector<uint32_t> journal_ids_;  // by tier: its id in the journal
  // The answers in the order that breaks ties between equal versions.
  std::vector<size_t> tie_order_;
  const Duration tombstone_ttl_;
  const Duration write_delay_;
  Env* const env_;
  std::string name_;
  // Per tier: whether it is called (shared by the host's processes).
  std::unique_ptr<Breakers> breakers_;
  // Per tier: whether it answered NotSupported to a lock (it cannot lock).
  std::unique_ptr<std::atomic<bool>[]> cannot_lock_;
  std::unique_ptr<Journal> journal_;

  std::mutex mu_;
  // (id, owner token) -> the lock; bounded.
  std::map<std::pair<std::string, std::string>, Held> held_;

  Fanout fanout_;
  // Last: stopped first, before what its steps use goes.
  std::unique_ptr<Drainer> drainer_;
};

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_TIERED_STORE_H_
