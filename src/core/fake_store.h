// FakeStore: an in-memory Store for the engine's unit tests
// (engine_test.cc, engine_version_test.cc).
#ifndef SESSIONKIT_CORE_FAKE_STORE_H_
#define SESSIONKIT_CORE_FAKE_STORE_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/store.h"

namespace sessionkit::test {

// An in-memory Store that records calls and can be told to fail, to test the
// engine's own logic. Integration tests use real stores.
class FakeStore : public Store {
 public:
  const std::string& name() const override { return name_; }
  Result<SessionRecord> Read(std::string_view id) override {
    calls.push_back("read");
    if (!fail.ok()) return fail;
    auto it = data.find(std::string(id));
    if (it == data.end()) return Status::NotFound("no session");
    return SessionRecord{it->second, Clock::now() + Duration(1000)};
  }
  Status Write(std::string_view id, std::string_view bytes,
               Duration ttl) override {
    calls.push_back("write");
    last_ttl = ttl;
    if (!fail.ok()) return fail;
    data[std::string(id)] = std::string(bytes);
    return Status::OK();
  }
  Status Touch(std::string_view id, Duration ttl) override {
    calls.push_back("touch");
    last_ttl = ttl;
    return data.count(std::string(id)) ? Status::OK()
                                       : Status::NotFound("gone");
  }
  Status Destroy(std::string_view id) override {
    calls.push_back("destroy");
    if (id == unreachable_destroy) return Status::Unavailable("fake: down");
    data.erase(std::string(id));
    holder.erase(std::string(id));  // Destroy ends the lock too
    return Status::OK();
  }
  Result<bool> Exists(std::string_view id) override {
    calls.push_back("exists");
    if (exists_answers_true > 0) {
      --exists_answers_true;
      return true;
    }
    return data.count(std::string(id)) > 0;
  }
  Result<bool> ExistsOrLocked(std::string_view id) override {
    Result<bool> exists = Exists(id);
    if (!exists.ok() || *exists) return exists;
    return holder.count(std::string(id)) > 0;
  }
  Result<ScanPage> Scan(const ScanOptions&) override { return ScanPage{}; }
  Result<GcResult> Gc(TimePoint now) override {
    gc_now = now;
    return GcResult{3, 300};
  }
  Status Health() override { return Status::OK(); }

  // Locks: one holder per id; the outcome of a held lock is scripted.
  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override {
    calls.push_back("lock+read");
    if (!locking.ok()) return locking;
    last_lock = request;
    LockedRead out;
    auto held = holder.find(std::string(id));
    if (held != holder.end() && held->second != request.owner.token) {
      out.outcome = held_outcome;
      return out;
    }
    holder[std::string(id)] = request.owner.token;
    out.outcome = LockOutcome::kAcquired;
    out.broken_owner = broken_owner;
    auto it = data.find(std::string(id));
    if (it != data.end()) {
      out.found = true;
      out.record = SessionRecord{it->second, Clock::now() + Duration(1000)};
    }
    return out;
  }
  Status WriteAndUnlock(std::string_view id, std::string_view bytes,
                        Duration ttl, const LockOwner& owner) override {
    calls.push_back("write+unlock");
    SK_RETURN_IF_ERROR(Release(id, owner));
    return Write(id, bytes, ttl);
  }
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override {
    calls.push_back("touch+unlock");
    SK_RETURN_IF_ERROR(Release(id, owner));
    return Touch(id, ttl);
  }
  Status Unlock(std::string_view id, const LockOwner& owner) override {
    calls.push_back("unlock");
    (void)Release(id, owner);
    return Status::OK();
  }
  Status Release(std::string_view id, const LockOwner& owner) {
    auto held = holder.find(std::string(id));
    if (held == holder.end() || held->second != owner.token) {
      return Status::LockLost("not the holder");
    }
    holder.erase(held);
    return Status::OK();
  }

  std::map<std::string, std::string> holder;
  LockOutcome held_outcome = LockOutcome::kTimedOut;
  std::string broken_owner;
  Status locking;
  LockRequest last_lock;

  std::string name_ = "fake://";
  std::map<std::string, std::string> data;
  std::vector<std::string> calls;
  Status fail;
  // Destroy of this id fails as a store out of reach would.
  std::string unreachable_destroy;
  Duration last_ttl{0};
  int exists_answers_true = 0;
  TimePoint gc_now;
};

}  // namespace sessionkit::test

#endif  // SESSIONKIT_CORE_FAKE_STORE_H_
