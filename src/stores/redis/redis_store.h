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
// when the ttl is not positive); Touch = PEXPIRE; Destroy = DEL; Exists =
// EXISTS; Health = PING. Scan = SCAN pages plus one pipelined STRLEN + PTTL
// round trip per page. Gc does nothing: Redis expires keys itself.
#ifndef SESSIONKIT_STORES_REDIS_REDIS_STORE_H_
#define SESSIONKIT_STORES_REDIS_REDIS_STORE_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/stores/redis.h"
#include "stores/redis/connection.h"
#include "stores/redis/pool.h"
#include "stores/redis/topology.h"

namespace sessionkit::redis {

// Thread safety: every method may be called concurrently from several
// threads (each call takes its own pooled connection), and several processes
// may share the server.
class RedisStore final : public Store {
 public:
  // `options` must have passed ValidateRedisOptions.
  RedisStore(RedisOptions options, std::shared_ptr<ConnectionPool> pool,
             std::unique_ptr<Topology> topology);

  // The redacted URL.
  const std::string& name() const override { return options_.name; }

  Result<SessionRecord> Read(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  Status Destroy(std::string_view id) override;
  Result<bool> Exists(std::string_view id) override;
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

  // Locking (LockAndRead, WriteAndUnlock, TouchAndUnlock, Unlock) keeps the
  // NotSupported defaults for now. It plugs in here as Lua scripts run with
  // EVALSHA (EVAL again after a NOSCRIPT reply), each one round trip, on
  // the keys Key(id) and LockKey(id), which share a Cluster slot.

  // The Redis key of a session.
  std::string Key(std::string_view id) const;
  // The Redis key of a session's lock (for the locking protocol).
  std::string LockKey(std::string_view id) const;

  // The counters of this store's connection pool (shared by stores with
  // the same options in this process).
  const ConnectionStats& StatsForTesting() const { return pool_->stats(); }
  ConnectionPool* PoolForTesting() const { return pool_.get(); }

 private:
  // Sends `commands`, all on `key`, in one round trip and reads their
  // replies. Retries on a new connection when a pooled one turns out to
  // have been closed by the server; once after a connection error where
  // the topology says the route may have changed (a failover); and up to
  // topology->MaxRedirects() times after MOVED / ASK / READONLY replies
  // (ASK: ASKING before each command, in the same write), then gives up
  // with Unavailable. An error reply becomes the error (see
  // StatusFromErrorReply). `what` names the operation for messages, as in
  // "read of session abc123...".
  Status Run(std::string_view key, std::span<const Command> commands,
             std::vector<Reply>* replies, bool read_only,
             const std::string& what);
  // Sends `commands` to `endpoint` itself (Scan walks each master), with
  // the same retry on a stale pooled connection but no rerouting. With
  // `keep_error_replies`, error replies stay replies for the caller.
  Status RunAt(const Endpoint& endpoint, std::span<const Command> commands,
               std::vector<Reply>* replies, bool keep_error_replies,
               const std::string& what);
  Status Unexpected(const std::string& what, std::string_view command,
                    const Reply& reply) const;
  Status CheckId(std::string_view id, std::string_view op) const;

  const RedisOptions options_;
  const std::shared_ptr<ConnectionPool> pool_;
  const std::unique_ptr<Topology> topology_;
};

// Checks options that did not come through FromUrl (C++ callers).
// InvalidArgument naming the setting.
Status ValidateRedisOptions(const RedisOptions& options);

// The pool key of `options`: every setting that changes how connections are
// made, password included. For lookups only; never shown.
std::string PoolKey(const RedisOptions& options);

// A name for options without one: the URL they would come from, password
// shown as "***".
std::string DefaultName(const RedisOptions& options);

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_REDIS_STORE_H_
