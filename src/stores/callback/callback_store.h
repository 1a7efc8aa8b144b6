// The callback store (include/sessionkit/stores/callback.h): a session and
// its lock as items of a key-value store reached through four callbacks
// (store_callbacks.h: get, set, add, delete).
//
// Keys (the id is a valid session id: no '.' in it):
//   <id>              the session: "SKp", expires_at (int64 ms since the
//                     epoch, big-endian), the engine's frame
//   <id>.lock         its lock: "<lease_until ms> <owner token>"
//                     (stores/lock_value.h), taken with add
//   <id>.lock.w<N>    waiter slot N of max_waiters, taken with add
//   <id>.lock.t<hex>  the claim of one takeover of an expired lock
// Expiry is decided on the value's expires_at, to the millisecond, on the
// store's clock; the TTL handed to the callbacks (whole seconds, rounded
// up, plus one) only lets the store drop the item some time after.
//
// Round trips (callback calls):
//   Read, Exists          1 get
//   Write                 1 set
//   Touch                 get + set (the expiry is inside the value)
//   Destroy               2 deletes (the session and its lock)
//   LockAndRead, free     add + get
//   WriteAndUnlock        get (the lock) + set + delete
// callback_lock.cc describes the lock.
#ifndef SESSIONKIT_STORES_CALLBACK_CALLBACK_STORE_H_
#define SESSIONKIT_STORES_CALLBACK_CALLBACK_STORE_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sessionkit/env.h"
#include "sessionkit/store.h"
#include "sessionkit/store_callbacks.h"

namespace sessionkit::callback {

// The TTL in seconds of an item that must live until `until_ms`, at
// `now_ms`: the time left rounded up, plus one; at least 1.
int64_t ItemTtl(int64_t until_ms, int64_t now_ms);

// The key of the lock of session `id`, and of the claim of one takeover of
// its lock record `record`.
std::string LockKey(std::string_view id);
std::string TakeoverKey(std::string_view id, std::string_view record);

// A session's value: "SKp", expires_at, the frame; and back (Corrupt
// naming `what` for a value that is not one).
std::string EncodeSession(std::string_view frame, int64_t expires_ms);
struct StoredSession {
  int64_t expires_ms = 0;
  std::string_view frame;  // points into the value
};
Result<StoredSession> DecodeSession(std::string_view value,
                                    std::string_view what);

// Thread safety: every method may be called from any thread; each call
// reaches the callbacks registered under the name for that thread (or for
// every thread), and fails when there are none.
class CallbackStore : public Store {
 public:
  CallbackStore(std::string store_name, Env* env);

  const std::string& name() const override { return name_; }
  Result<SessionRecord> Read(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  Status Destroy(std::string_view id) override;
  Result<bool> Exists(std::string_view id) override;
  Result<bool> ExistsOrLocked(std::string_view id) override;
  // NotSupported: the callbacks cannot list keys.
  Result<ScanPage> Scan(const ScanOptions& options) override;
  // Nothing to do (0 removed): every item has a TTL, the store drops it.
  Result<GcResult> Gc(TimePoint now) override;
  Status Health() override;
  uint64_t TakeRoundTrips() override;

  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override;
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override;
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override;
  Status Unlock(std::string_view id, const LockOwner& owner) override;

 private:
  // One call of a callback; `what` ("read of session abc...") names the
  // step in errors.
  Result<std::optional<std::string>> Get(std::string_view key,
                                         std::string_view what);
  Status Set(std::string_view key, std::string_view value, int64_t ttl_s,
             std::string_view what);
  // True when stored, false when the key existed.
  Result<bool> Add(std::string_view key, std::string_view value, int64_t ttl_s,
                   std::string_view what);
  Status Delete(std::string_view key, std::string_view what);
  // set (`only_new` false: always stores, true) or add.
  Result<bool> Put(bool only_new, std::string_view key, std::string_view value,
                   int64_t ttl_s, std::string_view what);
  // The callbacks registered for the calling thread, or why there are none.
  Result<std::pair<const sk_store_callbacks*, void*>> Find() const;
  // The Status of a callback's answer that is neither DONE nor NO.
  Status Failed(const char* method, std::string_view what, int answer,
                const std::string& error) const;

  // The live session under `id` (nullopt: none, or expired at `now_ms`).
  Result<std::optional<SessionRecord>> ReadLive(std::string_view id,
                                                std::string_view what,
                                                int64_t now_ms);
  // WriteAndUnlock (data), TouchAndUnlock (no data, op "touch"), Unlock.
  Status Release(std::string_view id, const LockOwner& owner,
                 const std::string_view* data, Duration ttl, const char* op);

  int64_t NowMs() const;
  Status CheckId(std::string_view id, std::string_view op) const;
  std::string What(std::string_view op, std::string_view id) const;

  const std::string store_name_;  // NAME
  const std::string name_;        // php://NAME
  Env* const env_;
  std::atomic<uint64_t> calls_{0};
};

}  // namespace sessionkit::callback

#endif  // SESSIONKIT_STORES_CALLBACK_CALLBACK_STORE_H_
