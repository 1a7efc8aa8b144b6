// The Redis store behind OpenRedisStore (include/sessionkit/stores/redis.h).
//
// Data layout: one Redis string per session,
//   key   = prefix + "{" + id + "}"      e.g. sk:{3u1v...}
//   value = the stored bytes, as given
//   TTL   = the session's expiry (SET ... PX, PEXPIRE)
// The braces are a Cluster hash tag: the lock key the locking protocol adds,
// prefix + "{" + id + "}:lock", hashes to the same slot, so one Lua script
// (or MULTI/EXEC) can touch both in a single round trip on any topology.
//
// Round trips (one each): Read = GET + PTTL pipelined; Write = SET PX (DEL
// when the ttl is not positive); Touch = PEXPIRE; Destroy = the destroy
// script (below); Exists = EXISTS; ExistsOrLocked = EXISTS + PTTL of the
// lock key pipelined; Health = PING. Scan = SCAN pages plus
// one pipelined STRLEN + PTTL round trip per page. Gc does nothing: Redis
// expires keys itself.
//
// Durable writes (durable=, redis_durable.h): Write, Touch, WriteAndUnlock,
// TouchAndUnlock and Destroy end their pipeline with WAIT, so they cost no
// round trip more (durable=all: plus one ROLE per connection). The lock
// records (LockAndRead's SET NX, the lock script, Unlock) are not waited
// for: losing one at a failover loses no acknowledged data (the holder's
// owner-checked write is then refused with LockLost, or waits, never
// silently lost).
//
// Locking adds these keys per session, all with the same hash tag:
//   prefix{id}:lock     string: the holder's LockOwner token (the lock
//                       record), PX = lease + kLockRecordRetention (store.h)
//   prefix{id}:waiters  sorted set: waiting tokens, score = the waiter's
//                       deadline in unix ms by the server's clock (TIME), so
//                       a waiter that gives up leaves by itself
//   prefix{id}:queue    list: the waiters in arrival order, each entry
//                       "<record PX> <#token> <token><record>": what a
//                       release needs to hand the lock over
//   prefix{id}:wake:<token>  list: one waiter's own wake list; a release
//                       that grants it the lock pushes there
// The lock is held while the record's PTTL is above the retention (the
// lease runs). Once the lease ran out the record stays: the holder may
// still write, touch or release (it is still its token), and another owner
// may take the lock over, replacing the token (broken_owner names the old
// one); the old holder's write then finds another token, or none once that
// owner released, and is refused. Destroy deletes the record with the data.
//
// Hand-off: every release (and Destroy) hands the lock to the first entry
// of the queue whose waiter still waits (in the waiters set: its deadline
// has not passed and it did not leave), writing that waiter's record and
// pushing onto its wake list, in the same script. The waiter is in BLPOP on
// that list with a GET of the data pipelined behind it, which the server
// runs once the BLPOP returns: the grant and the data the release just
// wrote arrive in that one reply, so the waiter holds the lock with no
// further round trip. Arrival order (FIFO): a lock that a script finds free
// to take (free, lease ran out, holder gone) goes to the head of the queue
// first, so no newcomer passes a queued waiter. A grant is an ordinary lock
// record: a grantee that dies is taken over like any holder (this host:
// its process is gone; else its lease), and one that gives up after a
// grant it did not see finds it on its last try (the lock script sees its
// own record) and takes it; a waiter whose call fails is released by
// token (Unlock also takes it out of the waiters).
//
// Round trips of a hand-off: a holder that took a free lock (the fast
// path below) WATCHes the lock key, and the waiter that queues touches it,
// so the holder's EXEC is aborted and it releases through the write
// script, which grants: 2 round trips. Every later holder of a contended
// session got its lock by a grant (or the lock script), watches nothing,
// and releases through the script at once: 1 round trip. The waiter needs
// none after the release either way. (Granting inside the EXEC instead, a
// script in every release, cost the uncontended cycle about 10%: every
// script call is a few microseconds of server time, a DEL a tenth of one.)
//
// The uncontended path runs no script: LockAndRead takes the lock with SET
// NX PX and WATCHes the lock key on the same connection, and the release
// is a MULTI/EXEC there, which Redis runs only if nobody touched the lock
// key since: not a takeover, not a Destroy, not the record expiring (an
// hour after the lease), and not a waiter, because the lock script touches
// the key (PEXPIRE to its own PTTL) when a waiter queues. The lease running
// out touches nothing, so a late holder's release still runs there.
// Whenever that fast path does not apply (the lock is held or its record
// stale, the release lands on another connection, EXEC was aborted), Lua
// scripts do the work (EVALSHA; once more with EVAL after a NOSCRIPT reply,
// which happens once per script and server after a restart, a failover or
// SCRIPT FLUSH). Data never passes through Lua: a GET pipelined after the
// lock script (or after the BLPOP) reads it, a staging key is renamed into
// place by the write script. The PTTL of the data is read only when the
// caller wants the expiry (LockRequest::want_expiry; the engine does not,
// the tiers do).
//   LockAndRead     1 round trip when the lock is free (INFO server on a
//                   connection's first lock, UNWATCH, SET NX PX, GET [+
//                   PTTL] of the data, WATCH). INFO's version refuses
//                   servers older than Redis 6 (NotSupported; see
//                   redis_lock.h). When it is held, stale or already ours,
//                   1 more: the lock script with GET [+ PTTL] (takes a free
//                   or stale lock unless an earlier waiter is queued, else
//                   queues the waiter and returns the holder and its lease
//                   left). While held, 1 per wait step: a BLPOP on the
//                   waiter's own wake list with GET [+ PTTL] behind it,
//                   which returns with the lock and the data as soon as a
//                   release grants it, or after min(remaining wait, lease
//                   left, 1 s, 250 ms for a holder of this host); then the
//                   script again. A holder of this host whose process is
//                   gone costs 1 more script (a compare-and-take-over). When
//                   a command that takes the lock went out but the call
//                   fails (its reply timed out, the connection broke, WATCH
//                   failed), or a call fails while queued (a grant may have
//                   come), 1 more call: Unlock by the owner's token, so no
//                   lock is left that nobody uses (when the server is out of
//                   reach, noted in the pending releases instead).
//   WriteAndUnlock  1 (MULTI, SET PX, DEL lock, EXEC). Through the script
//                   (EXEC aborted, or the lock not taken by the fast path):
//                   1 (SET PX of a staging key prefix{id}:w:<token>, then the
//                   script: check owner, RENAME it onto the data key, DEL
//                   lock, grant), 1 more after an aborted EXEC
//   TouchAndUnlock  1 (MULTI, PEXPIRE, DEL lock, EXEC); through the script
//                   (check owner, PEXPIRE, DEL lock, grant) likewise
//   Unlock          1 (MULTI, DEL lock, EXEC); through the script likewise
//                   (DEL lock and grant if owner matches; else leave the
//                   waiters)
//   Destroy         1 (the destroy script: DEL data, DEL lock, and grant to
//                   a waiter if there was a lock)
#ifndef SESSIONKIT_STORES_REDIS_REDIS_STORE_H_
#define SESSIONKIT_STORES_REDIS_REDIS_STORE_H_

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/stores/redis.h"
#include "stores/lock_wait.h"
#include "stores/pending_releases.h"
#include "stores/redis/connection.h"
#include "stores/redis/pool.h"
#include "stores/redis/redis_durable.h"
#include "stores/redis/topology.h"

namespace sessionkit::redis {

// A Lua script of the locking protocol and its SHA1 (redis_lock.h).
struct LuaScript;
// Picks the commands for the connection a call lands on (redis_lock.h).
class ConnectionHook;
// One call of RedisStore::Scan (redis_scan.cc).
class RedisScan;

// What RedisStore::Run sends and how (redis-plus-plus style: the optional
// parts by name, e.g. Run({.key = key, .commands = get, .what = what}, &r)).
struct RunRequest {
  // The key every command is on: it picks the server.
  std::string_view key{};
  // Borrowed for the call.
  std::span<const Command> commands{};
  // Running them in the wrong database would change nothing (see
  // Connection::Execute).
  bool read_only = false;
  // Names the operation for messages, as in "read of session abc123...".
  std::string_view what{};
  // See Connection::Execute.
  Duration blocking{0};
  // An error reply that starts with this (e.g. "NOSCRIPT"), when not
  // empty, stays a reply for the caller.
  std::string_view keep_error{};
  // When given, sees the connection each attempt runs on (the WATCH fast
  // path of the locking calls) and picks what is sent there.
  ConnectionHook* hook = nullptr;
  // The commands write session data: when the store is durable, WAIT
  // follows them in the same write, and a shortfall fails the call (see
  // redis_durable.h). Not set for the lock records (see the file comment).
  bool durable = false;
  // When given, set when an attempt wrote its commands but failed before
  // all their replies came (a timeout, a broken connection): the server may
  // have run them.
  bool* unanswered = nullptr;
};

// Thread safety: every method may be called concurrently from several
// threads (each call takes its own pooled connection, also while one waits
// in BLPOP), and several processes may share the server.
class RedisStore final : public Store {
 public:
  // `options` must have passed ValidateRedisOptions.
  RedisStore(RedisOptions options, std::shared_ptr<ConnectionPool> pool,
             std::unique_ptr<Topology> topology);
  // Re-issues the releases that failed while the lock may still be held
  // (pending_releases.h), once, bounded by the timeouts.
  ~RedisStore() override;

  // The redacted URL.
  const std::string& name() const override { return options_.name; }

  Result<SessionRecord> Read(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  Status Destroy(std::string_view id) override;
  Result<bool> Exists(std::string_view id) override;
  Result<bool> ExistsOrLocked(std::string_view id) override;
  // Pages in Redis SCAN order, master after master (Cluster: every master,
  // in address order), never more than options.limit sessions; a page ends
  // before a SCAN batch that does not fit (the next page runs that SCAN
  // again) or, when one hash bucket alone holds more than a page, inside it
  // (cursor "[<master>/]<redis cursor>[:<hash of the last key listed>]").
  // Repeats within a page are removed; a session that exists for the whole
  // scan is listed at least once, and exactly once unless Redis resizes its
  // key table during the scan (SCAN's own rule). include_expired changes
  // nothing: Redis never shows an expired key.
  Result<ScanPage> Scan(const ScanOptions& options) override;
  // Removes nothing: Redis deletes expired keys itself.
  Result<GcResult> Gc(TimePoint now) override;
  // PING.
  Status Health() override;
  uint64_t TakeRoundTrips() override;

  // Locking: see the file comment for keys and round trips. The wait is
  // measured on the Env's steady clock (LockWait); a wait may overrun by the
  // server's timer granularity for blocked commands (1000/hz ms: 100 ms at
  // Redis's default hz 10), since BLPOP is what ends it.
  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override;
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override;
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override;
  Status Unlock(std::string_view id, const LockOwner& owner) override;

  // The Redis key of a session.
  std::string Key(std::string_view id) const;
  // The Redis keys of a session's lock, its waiters, the prefix of its
  // waiters' wake lists (WakeKey(id) + ":" + token) and its queue.
  std::string LockKey(std::string_view id) const;
  std::string WaitersKey(std::string_view id) const;
  std::string WakeKey(std::string_view id) const;
  std::string QueueKey(std::string_view id) const;

  // The counters of this store's connection pool (shared by stores with
  // the same options in this process).
  const ConnectionStats& StatsForTesting() const { return pool_->stats(); }
  ConnectionPool* PoolForTesting() const { return pool_.get(); }

 private:
  // The release calls themselves; the public ones add the remembering of
  // those that failed (pending_).
  Status WriteAndUnlockOnce(std::string_view id, std::string_view data,
                            Duration ttl, const LockOwner& owner);
  Status TouchAndUnlockOnce(std::string_view id, Duration ttl,
                            const LockOwner& owner);
  Status UnlockOnce(std::string_view id, const LockOwner& owner);
  // `released` after noting it in pending_ when it failed with the lock
  // possibly still held.
  Status Remembered(std::string_view id, const LockOwner& owner,
                    Status released);
  // Re-issues pending_ (owner-checked Unlocks); see pending_releases.h.
  // Returns the session id of the release that found the server still out
  // of reach, if one did.
  std::optional<std::string> RetryFailedReleases();
  // True unless `a` and `b` are known to live on different servers (a
  // Cluster's masters): a server that did not answer for one is not asked
  // again for the other in the same call.
  bool MaySameServer(std::string_view a, std::string_view b);

  // Sends request.commands, all on request.key, in one round trip and reads
  // their replies. Retries on a new connection when a pooled one turns out
  // to have been closed by the server; once after a connection error where
  // the topology says the route may have changed (a failover); and up to
  // topology->MaxRedirects() times after MOVED / ASK / READONLY replies
  // (ASK: ASKING before each command, in the same write), then gives up
  // with Unavailable. After TRYAGAIN (Cluster, a multi-key command on a
  // half-migrated slot) it pauses and starts over, for up to a second. An
  // error reply becomes the error (see StatusFromErrorReply), except as
  // RunRequest::keep_error says. A durable request's WAIT reply is judged
  // last (Durability::Check) and never lands in `replies`.
  Status Run(const RunRequest& request, std::vector<Reply>* replies);
  // Runs `transaction` (MULTI ... EXEC on a session's `keys`, as
  // LockingKeys gives them) if Run lands on a connection that WATCHes the
  // lock of `owner`; clears that mark either way. Returns the EXEC reply's
  // elements, or nullopt when the transaction did not run there or EXEC was
  // aborted (the lock key was touched): the caller then goes through its
  // script.
  // `durable`: as RunRequest::durable.
  Result<std::optional<std::vector<Reply>>> RunWatched(
      std::span<const std::string> keys, const LockOwner& owner,
      std::span<const Command> transaction, const std::string& what,
      bool durable);
  // Runs `script` (see redis_store.cc) on `keys`, all of one hash slot, with
  // `args`: EVALSHA, then EVAL after a NOSCRIPT reply. One round trip when
  // the server has the script cached.
  // `before` and `after` go in the same round trip around the script; their
  // replies, in order, land in `others`. `unanswered`, `durable` and
  // `hook`: as for Run (`hook` sees EVALSHA or EVAL as the command at
  // `before`'s end).
  Status RunScript(const LuaScript& script, std::span<const std::string> keys,
                   std::span<const std::string_view> args,
                   const std::string& what, Reply* reply,
                   std::span<const Command> before = {},
                   std::span<const Command> after = {},
                   std::vector<Reply>* others = nullptr,
                   bool* unanswered = nullptr, bool durable = false,
                   ConnectionHook* hook = nullptr);
  // `hook` where lock records are stamped with their server (masters can
  // change: redis_lock.h), else nullptr.
  ConnectionHook* StampHook(ConnectionHook* hook) const;
  // True when `holder`, a lock record found on `found_on`, was taken on
  // another server that is no longer a master: before a failover
  // (redis_lock.h, "The lock record's value").
  bool TakenBeforeFailover(std::string_view holder, const Endpoint& found_on);
  // The keys of the locking scripts: data, lock, waiters, wake, queue.
  std::vector<std::string> LockingKeys(std::string_view id) const;
  Status LockLost(std::string_view id, std::string_view refused) const;
  // LockAndRead without the cleanup: sets *may_hold when the call fails
  // while the lock may be this owner's (a command that takes it went out
  // unanswered, or took it before something else failed).
  Result<LockedRead> TakeLockAndRead(std::string_view id,
                                     const LockRequest& request,
                                     bool* may_hold);
  // `failed`, the failure of a call while `request`'s owner waits in the
  // queue (a release may have granted it the lock): notes the owner's
  // release in pending_, or sets *may_hold so that LockAndRead unlocks.
  Status FailedWhileQueued(std::string_view id, const LockRequest& request,
                           Status failed, bool* may_hold);
  // The parts of TakeLockAndRead. LockTaken: the LockedRead of a lock just
  // taken, `data` and `pttl` (null: the expiry was not asked for) being the
  // GET and PTTL behind it. TakeFreeLock: the fast path (no script); nullopt
  // when the lock is left to the lock script. WaitForGrant
  // (redis_handoff.cc): a queued waiter's sleep of `wait` (LockWait::Sleep)
  // of at most `sleep`, in Blpop: one BLPOP on its own wake list, of
  // `slice`, with the GET (and PTTL) of the data behind it; the LockedRead
  // when a release granted this owner the lock, nullopt when none came.
  Result<LockedRead> LockTaken(const std::string& what, Reply& data,
                               const Reply* pttl,
                               std::string broken_owner) const;
  Result<std::optional<LockedRead>> TakeFreeLock(
      std::span<const std::string> keys, const std::string& token,
      const std::string& record_px, bool want_expiry, const std::string& what,
      bool* may_hold);
  Result<std::optional<LockedRead>> WaitForGrant(
      std::span<const std::string> keys, const std::string& token,
      const LockWait& wait, std::chrono::nanoseconds sleep, bool want_expiry,
      const std::string& what);
  Status Blpop(const std::string& wake_key, const std::string& data_key,
               Duration slice, bool want_expiry, const std::string& what,
               std::vector<Reply>* replies);
  // Sends `commands` to `endpoint` itself (Scan walks each master), with
  // the same retry on a stale pooled connection but no rerouting. With
  // `keep_error_replies`, error replies stay replies for the caller.
  Status RunAt(const Endpoint& endpoint, std::span<const Command> commands,
               std::vector<Reply>* replies, bool keep_error_replies,
               const std::string& what);
  Status Unexpected(const std::string& what, std::string_view command,
                    const Reply& reply) const;

  friend class RedisScan;
  // ValidateSessionId, with the store's name and `op`: the store is also
  // used directly (store.h), and the key layout relies on the charset (no
  // brace can end the hash tag early).
  Status CheckId(std::string_view id, std::string_view op) const;
  // Exists, and with `or_locked` ExistsOrLocked: EXISTS, and PTTL of the
  // lock key in the same round trip.
  Result<bool> ExistsCheck(std::string_view id, bool or_locked);

  const RedisOptions options_;
  Env* const env_;  // options_.env or Env::Default()
  const std::shared_ptr<ConnectionPool> pool_;
  const std::unique_ptr<Topology> topology_;
  const Durability durability_;
  PendingReleases pending_;
};

// The ranges and rules of the Redis settings, for options read by
// RedisOptions::FromUrl and for options built in C++: each way into
// OpenRedisStore runs it once. InvalidArgument naming the setting.
Status ValidateRedisOptions(const RedisOptions& options);

// The pool key of `options`: every setting that changes how connections are
// made, password included. For lookups only; never shown.
std::string PoolKey(const RedisOptions& options);

// A name for options without one: the URL they would come from, password
// shown as "***".
std::string DefaultName(const RedisOptions& options);

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_REDIS_STORE_H_
