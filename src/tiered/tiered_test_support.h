// What the tests of the store of tiers share: a tier that fails on
// command (FaultyStore) and stored values of a given session version.
#ifndef SESSIONKIT_TIERED_TIERED_TEST_SUPPORT_H_
#define SESSIONKIT_TIERED_TIERED_TEST_SUPPORT_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/frame.h"
#include "sessionkit/store.h"
#include "sessionkit/stores/lmdb.h"
#include "tiered/versions.h"

namespace sessionkit::tiered::fixtures {

// A tier that forwards to a real store, or answers Unavailable while down
// (at once) or blackholed (after `stall`, as a real store answers a server
// that accepts connections and never replies: its read timeout passes,
// then Unavailable), counting the calls that reached it.
class FaultyStore final : public Store {
 public:
  // `name`: the name it goes by; empty: the inner store's.
  explicit FaultyStore(std::unique_ptr<Store> inner, std::string name = "")
      : inner_(std::move(inner)),
        name_(name.empty() ? inner_->name() : std::move(name)) {}

  std::atomic<bool> down{false};
  std::atomic<bool> blackholed{false};
  std::atomic<int> calls{0};
  // As Memcached: a locked write is refused when the session was written
  // since the lock was taken (its compare-and-swap).
  std::atomic<bool> cas{false};
  // Lock requests are refused (not an outage): the drain cannot apply.
  std::atomic<bool> refuse_locks{false};
  // Writes (plain and locked) are refused (not an outage), as a value too
  // large.
  std::atomic<bool> refuse_writes{false};
  // WriteUnlessNewer: the inner store's answer (kForward; LMDB's is
  // NotSupported), a check and write over the inner store under a mutex
  // (kCheckAndWrite: one step, as the SQL stores make it), or a refusal
  // (kRefuse: InvalidArgument, as for a batch that one bad value spoils).
  enum class Batches { kForward, kCheckAndWrite, kRefuse };
  std::atomic<Batches> batches{Batches::kForward};
  // Calls that reached it (not refused by down or blackholed).
  std::atomic<int> batch_calls{0};
  std::atomic<int> lock_calls{0};
  // When set, called at the start of every Write (to hold it), and of
  // every LockAndRead.
  std::function<void()> on_write;
  std::function<void()> on_lock;
  // When set, called when the inner store's LockAndRead has returned.
  std::function<void()> after_lock;
  // Run by a blackholed call before it fails: the timeout's wait (a test
  // advances its fake clock here).
  std::function<void()> stall;

  const std::string& name() const override { return name_; }
  Result<SessionRecord> Read(std::string_view id) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Read(id);
  }
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override {
    SK_RETURN_IF_ERROR(Gate());
    if (refuse_writes) return Refused();
    if (on_write) on_write();
    ++generation_;
    return inner_->Write(id, data, ttl);
  }
  Status Touch(std::string_view id, Duration ttl) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Touch(id, ttl);
  }
  Status Destroy(std::string_view id) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Destroy(id);
  }
  Result<bool> Exists(std::string_view id) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Exists(id);
  }
  Result<bool> ExistsOrLocked(std::string_view id) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->ExistsOrLocked(id);
  }
  Result<ScanPage> Scan(const ScanOptions& options) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Scan(options);
  }
  Result<GcResult> Gc(TimePoint now) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Gc(now);
  }
  Status Health() override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Health();
  }
  Status WriteUnlessNewer(const std::vector<VersionedWrite>& writes) override {
    SK_RETURN_IF_ERROR(Gate());
    ++batch_calls;
    if (batches == Batches::kForward) return inner_->WriteUnlessNewer(writes);
    if (batches == Batches::kRefuse) {
      return Status::InvalidArgument(name_ + ": batch refused (test)");
    }
    std::lock_guard<std::mutex> lock(batch_mu_);
    for (const VersionedWrite& w : writes) {
      Result<SessionRecord> have = inner_->Read(w.id);
      if (have.ok() && VersionOf(have->data) > VersionOf(w.data)) continue;
      ++generation_;
      SK_RETURN_IF_ERROR(inner_->Write(w.id, w.data, w.ttl));
    }
    return Status::OK();
  }
  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override {
    SK_RETURN_IF_ERROR(Gate());
    ++lock_calls;
    if (refuse_locks) return Status::ResourceExhausted("locks refused (test)");
    if (on_lock) on_lock();
    locked_generation_ = generation_.load();
    Result<LockedRead> out = inner_->LockAndRead(id, request);
    if (after_lock) after_lock();
    return out;
  }
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override {
    SK_RETURN_IF_ERROR(Gate());
    if (refuse_writes) return Refused();
    if (cas && generation_ != locked_generation_) {
      (void)inner_->Unlock(id, owner);
      return Status::LockLost(inner_->name() + ": changed since locked (test)");
    }
    return inner_->WriteAndUnlock(id, data, ttl, owner);
  }
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->TouchAndUnlock(id, ttl, owner);
  }
  Status Unlock(std::string_view id, const LockOwner& owner) override {
    SK_RETURN_IF_ERROR(Gate());
    return inner_->Unlock(id, owner);
  }

  Store& inner() { return *inner_; }

 private:
  Status Gate() {
    ++calls;
    if (down) return Status::Unavailable(name_ + ": down (test)");
    if (blackholed) {
      if (stall) stall();
      return Status::Unavailable(name_ + ": timed out (test)");
    }
    return Status::OK();
  }
  Status Refused() const {
    return Status::InvalidArgument(name_ + ": value too large (test)");
  }
  std::unique_ptr<Store> inner_;
  const std::string name_;
  std::atomic<int> generation_{0};  // plain writes so far
  std::atomic<int> locked_generation_{0};
  std::mutex batch_mu_;
};

// A store that forwards every call to target(): the base of the tiers
// the tests wrap around another owner's store.
class ForwardingStore : public Store {
 public:
  Result<SessionRecord> Read(std::string_view id) override {
    return target().Read(id);
  }
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override {
    return target().Write(id, data, ttl);
  }
  Status Touch(std::string_view id, Duration ttl) override {
    return target().Touch(id, ttl);
  }
  Status Destroy(std::string_view id) override { return target().Destroy(id); }
  Result<bool> Exists(std::string_view id) override {
    return target().Exists(id);
  }
  Result<bool> ExistsOrLocked(std::string_view id) override {
    return target().ExistsOrLocked(id);
  }
  Result<ScanPage> Scan(const ScanOptions& options) override {
    return target().Scan(options);
  }
  Result<GcResult> Gc(TimePoint now) override { return target().Gc(now); }
  Status Health() override { return target().Health(); }
  Status WriteUnlessNewer(const std::vector<VersionedWrite>& writes) override {
    return target().WriteUnlessNewer(writes);
  }
  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override {
    return target().LockAndRead(id, request);
  }
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override {
    return target().WriteAndUnlock(id, data, ttl, owner);
  }
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override {
    return target().TouchAndUnlock(id, ttl, owner);
  }
  Status Unlock(std::string_view id, const LockOwner& owner) override {
    return target().Unlock(id, owner);
  }

 protected:
  virtual Store& target() = 0;
};

// A store that another owner keeps: what two hosts' stores of tiers share.
class SharedTier final : public ForwardingStore {
 public:
  explicit SharedTier(Store* store) : s_(store) {}
  const std::string& name() const override { return s_->name(); }

 private:
  Store& target() override { return *s_; }
  Store* const s_;
};

// A tier of the tests: a 16 MiB LMDB store at `path`, on `env`'s clocks
// (nullptr: the real ones).
inline Result<std::unique_ptr<Store>> OpenLmdbTier(const std::string& path,
                                                   Env* env = nullptr) {
  LmdbOptions lmdb;
  lmdb.path = path;
  lmdb.map_size = 16ull << 20;
  lmdb.env = env;
  return OpenLmdbStore(lmdb);
}

inline constexpr Duration kTtl{60000};
inline constexpr Duration kInterval{100};
inline const std::string kId = "tiered0123456789abcdefghijklmnop";

// A stored value of session version `version`.
inline std::string Frame(uint64_t version, std::string_view payload) {
  FrameHeader header;
  header.session_version = version;
  return EncodeFrame(header, payload);
}

inline std::string PayloadOf(const std::string& stored) {
  Result<FrameView> view = DecodeFrame(stored);
  return view.ok() ? std::string(view->payload) : "(not a frame)";
}

}  // namespace sessionkit::tiered::fixtures

#endif  // SESSIONKIT_TIERED_TIERED_TEST_SUPPORT_H_
