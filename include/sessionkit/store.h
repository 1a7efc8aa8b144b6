// The Store interface: the primitives every backend implements. A store keeps
// opaque bytes (already framed, compressed and encrypted by the engine) under
// a validated session id, with an absolute expiry. It knows nothing about PHP,
// lifetimes or codecs.
#ifndef SESSIONKIT_STORE_H_
#define SESSIONKIT_STORE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace sessionkit {

// One stored session as read back.
struct SessionRecord {
  std::string data;      // the stored bytes, exactly as written
  TimePoint expires_at;  // absolute expiry
};

// One session as listed by Scan (no payload).
struct SessionInfo {
  std::string id;
  uint64_t bytes = 0;  // size of the stored bytes
  TimePoint expires_at;
};

struct ScanOptions {
  // Empty to start; then the next_cursor of the previous page.
  std::string cursor;
  // Most sessions in one page (a store may return fewer).
  size_t limit = 1000;
  // Also list sessions whose expiry has passed but that gc has not removed.
  bool include_expired = false;
};

struct ScanPage {
  std::vector<SessionInfo> sessions;
  // Where the next page starts; empty when the scan is complete.
  std::string next_cursor;
};

struct GcResult {
  uint64_t removed = 0;        // sessions deleted
  uint64_t bytes_removed = 0;  // their stored bytes
};

// Identifies the holder of a session lock: "host|pid|random". Only the owner
// may write, touch or release a locked session.
struct LockOwner {
  std::string token;
};

// Parameters of LockAndRead.
struct LockRequest {
  LockOwner owner;
  // After this long without release, another request may break the lock.
  Duration lease{30000};
  // How long to wait for a held lock before giving up.
  Duration wait{10000};
};

// Outcome of LockAndRead.
struct LockedRead {
  bool acquired = false;  // false: the wait ran out while another held it
  bool found = false;     // a live session exists; `record` is set
  SessionRecord record;
};

// A session store backend.
//
// Ids passed to a Store have been validated by ValidateSessionId (charset
// a-z A-Z 0-9 , - and length 22..256): a backend may use them in keys, paths
// and statements without escaping.
//
// Thread safety: implementations document their own; every store shipped
// with sessionkit is safe for concurrent use from several threads, and from
// several processes on the same backing data.
class Store {
 public:
  virtual ~Store() = default;

  // A description for messages, e.g. "lmdb:///var/lib/sessionkit"; never
  // contains a password.
  virtual const std::string& name() const = 0;

  // Reads a session without locking it. NotFound if the session does not
  // exist or has expired; an expired session is never returned.
  virtual Result<SessionRecord> Read(std::string_view id) = 0;

  // Creates or replaces a session; it expires `ttl` from now.
  virtual Status Write(std::string_view id, std::string_view data,
                       Duration ttl) = 0;

  // Moves the expiry of an existing live session to `ttl` from now without
  // rewriting its data. NotFound if the session does not exist or expired.
  virtual Status Touch(std::string_view id, Duration ttl) = 0;

  // Deletes a session. OK when the session did not exist.
  virtual Status Destroy(std::string_view id) = 0;

  // True when a live (unexpired) session with this id exists.
  virtual Result<bool> Exists(std::string_view id) = 0;

  // Lists sessions in a stable order, a page at a time.
  virtual Result<ScanPage> Scan(const ScanOptions& options) = 0;

  // Removes sessions whose expiry is at or before `now`, without visiting
  // live sessions where the backend allows it.
  virtual Result<GcResult> Gc(TimePoint now) = 0;

  // OK when the store answers; otherwise why not.
  virtual Status Health() = 0;

  // --- Locking primitives. Stores without native locking keep the defaults,
  // which return NotSupported.

  // Takes the session lock for `request.owner` (waiting up to request.wait)
  // and reads the session, in one round trip where the backend allows it.
  virtual Result<LockedRead> LockAndRead(std::string_view id,
                                         const LockRequest& request);

  // Writes the session and releases the lock, refused with LockLost (and
  // nothing written) when `owner` no longer holds the lock.
  virtual Status WriteAndUnlock(std::string_view id, std::string_view data,
                                Duration ttl, const LockOwner& owner);

  // Touches the session and releases the lock; LockLost as WriteAndUnlock.
  virtual Status TouchAndUnlock(std::string_view id, Duration ttl,
                                const LockOwner& owner);

  // Releases the lock if `owner` holds it; does nothing otherwise.
  virtual Status Unlock(std::string_view id, const LockOwner& owner);
};

struct StoreUrl;

// Opens the backend a parsed URL names. InvalidArgument for a bad setting,
// NotSupported for a scheme this build has no backend for, Unavailable when
// the backend cannot be reached. Opening is cheap: stores connect lazily.
Result<std::unique_ptr<Store>> OpenStore(const StoreUrl& url);

// Parses `spec` (one URL or several tiers, see store_url.h) and opens it.
Result<std::unique_ptr<Store>> OpenStore(std::string_view spec);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORE_H_
