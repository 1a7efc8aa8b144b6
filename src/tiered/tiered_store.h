// The store of tiers (include/sessionkit/stores/tiered.h): every call goes
// to every usable tier at once (Fanout), and the newest session version
// among the answers wins.
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
#include "tiered/fanout.h"

namespace sessionkit::tiered {

// Thread safety: safe from several threads (the tiers are).
class TieredStore final : public Store {
 public:
  explicit TieredStore(TieredOptions options);
  ~TieredStore() override;

  const std::string& name() const override { return name_; }
  Result<SessionRecord> Read(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  Status Destroy(std::string_view id) override;
  Result<bool> Exists(std::string_view id) override;
  Result<ScanPage> Scan(const ScanOptions& options) override;
  Result<GcResult> Gc(TimePoint now) override;
  Status Health() override;

  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override;
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override;
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override;
  Status Unlock(std::string_view id, const LockOwner& owner) override;

 private:
  // One tier's answer to a read.
  struct Answer {
    Status status;                        // OK, NotFound or why not
    std::optional<SessionRecord> record;  // when OK
    uint64_t version = 0;                 // of record's frame
  };
  // What the tiers hold of a session.
  struct Newest {
    std::vector<Answer> answers;  // by tier; skipped tiers: Unavailable
    int newest = -1;              // the tier with the newest copy, or -1
    bool gone() const;            // no copy, or the newest is a tombstone
  };

  // Whether tier `i` is left out now (it failed within retry_after).
  bool Skipped(size_t i) const;
  // Records how tier `i` answered: a failure to answer leaves it out for
  // retry_after; an answer brings it back.
  void Note(size_t i, const Status& status);
  // The tiers to ask now: those not left out, or every tier when all are.
  std::vector<size_t> Usable() const;

  // Reads every usable tier except `skip` (SIZE_MAX: none) at once, and
  // `first` on the calling thread when given.
  Newest ReadAll(std::string_view id, size_t skip,
                 const std::function<void()>& first);
  // Picks the newest answer of `n`.
  void PickNewest(Newest& n) const;
  // Writes the newest copy to the tiers that answered with an older one or
  // none, at once (the caller holds the session's lock).
  void Repair(std::string_view id, const Newest& n);
  // The version of a tombstone written now: above any written so far.
  uint64_t TombstoneVersion() const;
  // Ends `owner`'s lock on its tier with `locked`, then (unless refused)
  // applies `plain` to the other usable tiers at once.
  Status Release(std::string_view id, const LockOwner& owner,
                 const std::function<Status(Store&)>& locked,
                 const std::function<Status(Store&)>& plain);
  // The combined status of per-tier statuses of a write-like call: OK when
  // any tier took it; else the most telling failure.
  Status Combine(const std::vector<Status>& statuses) const;

  // The first usable tier that locks (or can: not known not to).
  size_t FirstLockTier() const;
  // The tier that holds `owner`'s lock of `id` (LockAndRead noted it), or
  // FirstLockTier.
  size_t LockTier(std::string_view id, const LockOwner& owner);
  void NoteLockTier(std::string_view id, const LockOwner& owner, size_t tier);
  void ForgetLockTier(std::string_view id, const LockOwner& owner);

  std::vector<std::unique_ptr<Store>> tiers_;
  const Duration retry_after_;
  const Duration tombstone_ttl_;
  Env* const env_;
  std::string name_;
  // Per tier: the steady time (ms) before which it is left out.
  std::unique_ptr<std::atomic<int64_t>[]> skip_until_;
  // Per tier: whether it answered NotSupported to a lock (it cannot lock).
  std::unique_ptr<std::atomic<bool>[]> cannot_lock_;

  std::mutex mu_;
  // (id, owner token) -> the tier of that lock; bounded.
  std::map<std::pair<std::string, std::string>, size_t> lock_tiers_;

  Fanout fanout_;  // last: its pool drains repairs before the tiers go
};

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_TIERED_STORE_H_
