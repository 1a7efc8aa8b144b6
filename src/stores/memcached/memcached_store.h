// The Memcached store (include/sessionkit/stores/memcached.h): a pool of
// memcached servers, each session on the server ketama gives its id (and on
// `replicas` more), locked with a lock item on the first of them.
//
// Where each step goes and how many round trips it takes:
//   Read, Exists       1 to the session's first live server (its replicas
//                      too, in the same round, when that one misses)
//   ExistsOrLocked     1: Read's, and the lock item on the first server
//   Write, Touch       1 to each of the session's servers, all sent before
//                      any reply is read
//   Destroy            1 to each: a tombstone, and the lock deleted
//   LockAndRead        1 when the lock is free: add-only ms of the lock,
//                      mg of the lock, mg of the data, in one pipeline
//   WriteAndUnlock     1: the data's ms (CAS-checked) and the lock's md
//                      (CAS-checked), with the replicas' ms alongside
// A waiter whose lock holder is a process of this host sleeps on the host's
// wake file (stores/lock_wake.h, options.wake_file) until the release wakes
// it; other waiters poll (memcached_lock.cc).
// docs/memcached.md explains the locking protocol and its fences.
#ifndef SESSIONKIT_STORES_MEMCACHED_MEMCACHED_STORE_H_
#define SESSIONKIT_STORES_MEMCACHED_MEMCACHED_STORE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/store.h"
#include "sessionkit/stores/memcached.h"
#include "stores/lock_wake.h"
#include "stores/memcached/connection.h"
#include "stores/memcached/ketama.h"
#include "stores/memcached/record.h"
#include "stores/pending_releases.h"

namespace sessionkit::memcached {

// The mg every step sends: the value and its CAS.
inline GetRequest ValueAndCas() {
  GetRequest get;
  get.ttl = false;
  get.client_flags = false;
  return get;
}

// Checks `options` (InvalidArgument naming the setting); see
// MemcachedOptions.
Status ValidateMemcachedOptions(const MemcachedOptions& options);
// "memcached://h1:11211,h2:11211": a name for options without one.
std::string DefaultName(const MemcachedOptions& options);

// The wake_file value that turns the wake file off.
inline constexpr char kWakeFileOff[] = "off";
// The path of the wake file `options` ask for: wake_file, or the default
// (MemcachedOptions::wake_file); empty when it is off.
std::string WakeFileOf(const MemcachedOptions& options);

// The servers of one store: each one's idle connections (of this process)
// and whether it is marked down.
//
// Thread safety: every method may be called concurrently.
class ServerSet {
 public:
  // At most this many idle connections are kept per server.
  static constexpr size_t kMaxIdlePerServer = 16;

  ServerSet(const MemcachedOptions& options, std::shared_ptr<TlsContext> tls,
            Env* env);
  ~ServerSet();

  size_t size() const { return servers_.size(); }
  const Endpoint& endpoint(size_t i) const { return servers_[i]->endpoint; }

  // True while server `i` is marked down (see MarkDown).
  bool IsDown(size_t i) const;
  // Leaves server `i` out for down_time: it refused, timed out or broke.
  void MarkDown(size_t i);

  // Runs the pipelines of `calls` (server index and pipeline each), all
  // written before any reply is read: one round trip whatever their number.
  // Each call's replies and Status land in it. A connection the server
  // closed while it sat idle is retried once on a new one; a server that
  // fails otherwise is marked down. Calls to a server marked down fail at
  // once with Unavailable, without a try. A failed call's message ends
  // with " (<what>)" when `what` is given ("read of session abc...").
  struct Call {
    size_t server = 0;
    Pipeline pipeline;
    std::vector<Response> replies;
    Status status;
  };
  void RunAll(std::span<Call> calls, std::string_view what = {});

  // The largest item server `i` stores (its -I), learnt with "stats
  // settings" the first time it is asked for and kept; Unavailable when
  // the server cannot tell now.
  Result<size_t> ItemSizeMax(size_t i);

  // Connection::Dump on server `i` (a server marked down is tried all the
  // same: a listing should not skip it).
  Status Dump(size_t i, std::string_view command, size_t max_bytes,
              std::string* out);

  const ConnectionStats& stats() const { return stats_; }

 private:
  struct Server {
    Endpoint endpoint;
    std::mutex mu;
    std::vector<std::unique_ptr<Connection>> idle;  // guarded by mu
    // Steady-clock nanoseconds until which the server is down; 0: up.
    std::atomic<int64_t> down_until{0};
    std::atomic<size_t> item_size_max{0};  // 0: not learnt yet
  };
  std::unique_ptr<Connection> Acquire(size_t i);
  void Release(size_t i, std::unique_ptr<Connection> conn);

  ConnectionOptions config_;
  Env* const env_;
  const Duration down_time_;
  ConnectionStats stats_;
  std::vector<std::unique_ptr<Server>> servers_;
};

// Thread safety: every method may be called concurrently, from several
// threads and processes.
class MemcachedStore : public Store {
 public:
  // The locks this store object holds are remembered, so that their
  // release can be CAS-checked. A PHP worker holds one at a time; a process
  // that takes locks and never releases them keeps at most kMaxHeld: past
  // that, those whose lock item is gone (kLockRecordRetention after the
  // lease) go first, then the one whose lease ends first (its release is
  // then refused as LockLost, never written unchecked).
  static constexpr size_t kMaxHeld = 1024;

  MemcachedStore(MemcachedOptions options, KetamaRing ring,
                 std::shared_ptr<TlsContext> tls);
  ~MemcachedStore() override;

  const std::string& name() const override { return options_.name; }
  Result<SessionRecord> Read(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  Status Destroy(std::string_view id) override;
  Result<bool> Exists(std::string_view id) override;
  Result<bool> ExistsOrLocked(std::string_view id) override;
  Result<ScanPage> Scan(const ScanOptions& options) override;
  Result<GcResult> Gc(TimePoint now) override;
  Status Health() override;
  uint64_t TakeRoundTrips() override;

  // Before trying, re-issues the releases of this store object that failed
  // while their lock may still be held (a server stopped answering or was
  // marked down), owner-checked, and again each time around while waiting;
  // see stores/pending_releases.h.
  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override;
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override;
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override;
  Status Unlock(std::string_view id, const LockOwner& owner) override;

  ServerSet& servers_for_testing() { return servers_; }

 private:
  // The servers that keep session `id`, in order: the first is where its
  // lock lives and reads go first. Servers marked down are skipped (their
  // sessions fall to the next server of the ring). Empty when every server
  // is down.
  std::vector<size_t> ServersOf(std::string_view id) const;
  // The ids of this store's sessions that server `server` holds, sorted;
  // with `home_only`, those whose first server it is (memcached_scan.cc).
  Result<std::vector<std::string>> SessionsOn(size_t server, bool home_only);
  // Unavailable for `what` when ServersOf found no server.
  Status NoServer(std::string_view what) const;

  // A session's data item as a read believed it (see Believe).
  struct Found {
    bool present = false;    // an item (data or tombstone) was found
    bool tombstone = false;  // it is a tombstone
    int64_t at_ms = 0;       // its expires_at (destroyed_at)
    std::string frame;
    // The call whose server missed the item and was given the replica's
    // copy (-1: none), and the CAS of that copy there: what a CAS-checked
    // write of this step compares against.
    int repaired = -1;
    std::optional<uint64_t> repaired_cas;
  };
  // Reads `keys`' data item from every server of `servers` in one round
  // trip (their calls left in *calls) and believes them. `with_lock`: the
  // first server's lock item too, as reply 1 of the first call.
  Result<Found> ReadAll(const SessionKeys& keys,
                        const std::vector<size_t>& servers,
                        const std::string& what,
                        std::vector<ServerSet::Call>* calls,
                        bool with_lock = false);
  // What the data reads of `calls` say (reply `reply0` of the first call,
  // reply 0 of the others): the first server that answered decides; when
  // it has no item, the first replica that has the session's data, which
  // is then written back to it (Repair).
  Result<Found> Believe(const SessionKeys& keys,
                        std::span<ServerSet::Call> calls, size_t reply0,
                        const std::string& what);
  // Adds `value` (a data item) to `server`, which lacks it.
  // The new item's CAS, or nullopt when it was not added.
  std::optional<uint64_t> Repair(const SessionKeys& keys, size_t server,
                                 std::string_view value);
  // ResourceExhausted for `what` when `value` under `key` is larger than
  // one of `servers` stores: memcached would refuse it and delete the item
  // it has under that key, the session's last good copy.
  Status CheckFits(const std::vector<size_t>& servers, std::string_view key,
                   std::string_view value, std::string_view what);
  // Sets the data item to `value` on every server of the session, living
  // until `until_ms`; with `delete_lock` deletes the lock item too.
  Status SetEverywhere(std::string_view id, std::string_view op,
                       std::string_view value, int64_t until_ms,
                       bool delete_lock);

  // What LockAndRead learnt, kept until the owner releases: the CASes that
  // prove the lock and fence the data.
  struct Held {
    std::vector<size_t> servers;  // servers[0] holds the lock
    uint64_t lock_cas = 0;
    // The data item's CAS on each server; none: no item there.
    std::vector<std::optional<uint64_t>> data_cas;
    bool found = false;  // the session existed (not a tombstone)
    int64_t at_ms = 0;   // its expiry
    std::string frame;   // its data, for TouchAndUnlock
    int64_t lease_until = 0;
  };
  // Keeps what the release of a lock taken here needs (see kMaxHeld).
  void Hold(std::string_view id, std::string_view token, Held held);
  std::optional<Held> TakeHeld(std::string_view id, std::string_view token);
  Status LearnData(const SessionKeys& keys, std::span<ServerSet::Call> calls,
                   size_t reply0, const std::string& what, Held* held);
  // LockAndRead's tries; adds to *unanswered each server to which a step
  // that takes the lock went out and got no answer.
  Result<LockedRead> TakeLockAndRead(std::string_view id,
                                     const LockRequest& request,
                                     std::vector<size_t>* unanswered);
  // Replaces the lock item of CAS `cas` on `server` with `value`: its new
  // CAS, or none when the lock changed meanwhile.
  Result<std::optional<uint64_t>> Replace(const SessionKeys& keys,
                                          size_t server, uint64_t cas,
                                          const std::string& value,
                                          uint32_t ttl,
                                          const std::string& what);
  // After a takeover: gives the data item a new CAS on each server of
  // `calls` and reads it again (reply 1 of the first call, reply 0 of the
  // others afterwards).
  Status Fence(const SessionKeys& keys, std::vector<ServerSet::Call>* calls,
               const std::string& what);
  // Wakes this host's waiters for the lock of `keys` (nothing without a
  // wake file): called once the lock's md (or Destroy's) has gone out.
  void WakeWaiters(const SessionKeys& keys) const;
  // WriteAndUnlock (data), TouchAndUnlock (no data, op "touch") and Unlock,
  // once. When the lock's server did not answer (or was marked down), the
  // lock is noted in stuck_ for ReleaseRemembered.
  Status Release(std::string_view id, const LockOwner& owner,
                 const std::string* data, Duration ttl, const char* op);
  // `released` after noting it in pending_ when it failed with the lock
  // possibly still held.
  Status Remembered(std::string_view id, const LockOwner& owner,
                    Status released);
  // Re-issues pending_ (see pending_releases.h) with ReleaseRemembered:
  // true when one still failed.
  bool RetryFailedReleases();
  // Frees the locks of `id` that `owner` may still hold (stuck_),
  // owner-checked. OK when there is nothing (left) to free; Unavailable,
  // with the rest kept for the next try, when a server still does not
  // answer.
  Status ReleaseRemembered(std::string_view id, const LockOwner& owner);
  // A lock that may still be held for an owner whose request is over: on
  // `server`, of CAS `lock_cas` (a release that failed), or of unknown CAS
  // (a lock step that went out unanswered: the server may still run it).
  struct Stuck {
    size_t server = 0;
    std::optional<uint64_t> lock_cas;
  };
  // Adds `stuck` to stuck_ for (id, token).
  void NoteStuck(std::string_view id, std::string_view token, Stuck stuck);
  // Deletes the lock item of `keys` on `server` if it names `token` (read,
  // then deleted CAS-checked: never another owner's).
  Status UnlockIfOwner(const SessionKeys& keys, size_t server,
                       std::string_view token, const std::string& what);

  // The waiters of one lock, counted in an item next to it (for
  // LockRequest::max_waiters); a waiter that joined leaves when it goes.
  class WaiterCount {
   public:
    WaiterCount(MemcachedStore* store, std::string key)
        : store_(store), key_(std::move(key)) {}
    ~WaiterCount() { Leave(); }
    // Joins once (later calls: true): false when max_waiters already wait.
    Result<bool> Join(const LockRequest& request, size_t server, int64_t now);
    void Leave();

   private:
    MemcachedStore* store_;
    std::string key_;
    size_t server_ = 0;
    bool joined_ = false;
  };

  int64_t NowMs() const;
  Status CheckId(std::string_view id, std::string_view op) const;
  std::string What(std::string_view op, std::string_view id) const;

  const MemcachedOptions options_;
  Env* const env_;
  const KetamaRing ring_;
  ServerSet servers_;
  // WakeFileOf(options_), mapped by the constructor; not mapped when it is
  // off or cannot be mapped (waiters then poll).
  LockWake wake_;
  std::mutex held_mu_;
  // Keyed by (id, owner token); at most kMaxHeld (see Hold). Guarded by
  // held_mu_.
  std::map<std::pair<std::string, std::string>, Held> held_;
  // The locks pending_ re-issues, keyed by (id, owner token). Guarded by
  // held_mu_; at most kMaxStuck keys.
  static constexpr size_t kMaxStuck = 4 * PendingReleases::kMax;
  std::map<std::pair<std::string, std::string>, std::vector<Stuck>> stuck_;
  // Releases that failed with the lock possibly still held, re-issued at
  // this process's next LockAndRead and when the store is closed.
  PendingReleases pending_;
};

}  // namespace sessionkit::memcached

#endif  // SESSIONKIT_STORES_MEMCACHED_MEMCACHED_STORE_H_
