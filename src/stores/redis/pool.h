// Process-wide pools of Redis connections, so that a worker process keeps
// its connection across requests instead of connecting per request.
//
// One pool per distinct store configuration (the full URL with its password,
// as a key that is never shown), holding idle connections per server. A
// caller takes a connection for one call and gives it back; a connection
// that is broken (an I/O error, a timeout, replies left unread) is closed,
// never pooled.
//
// fork(): a pthread_atfork child handler bumps a process-wide generation.
// Connections made in an earlier generation belong to the parent: the child
// closes its copy of their sockets without a word to the server (no QUIT,
// no TLS close_notify) and connects afresh.
#ifndef SESSIONKIT_STORES_REDIS_POOL_H_
#define SESSIONKIT_STORES_REDIS_POOL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stores/redis/connection.h"

namespace sessionkit::redis {

// Thread safety: every method may be called concurrently; each connection
// handed out is used by one caller at a time.
class ConnectionPool {
 public:
  // At most this many idle connections are kept per server.
  static constexpr size_t kMaxIdlePerServer = 16;

  // The process-wide pool for `key`, created from `config` (its endpoint
  // is ignored) on first use. Pools live as long as the process.
  static std::shared_ptr<ConnectionPool> ForKey(
      const std::string& key, const ConnectionOptions& config);

  explicit ConnectionPool(ConnectionOptions config);

  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // An idle connection to `endpoint` that the server has not closed, or a
  // new one that connects on first use.
  std::unique_ptr<Connection> Acquire(const Endpoint& endpoint);

  // Takes `conn` back for reuse if it is usable and of this process's
  // generation; closes it otherwise.
  void Release(std::unique_ptr<Connection> conn);

  const ConnectionStats& stats() const { return stats_; }
  const ConnectionOptions& config() const { return config_; }

  // Records that `endpoint`, a master, listed (or acknowledged with)
  // `replicas` online replicas; returns the most this pool has seen it
  // list (durable=all never waits for fewer: redis_durable.h).
  int NoteReplicas(const Endpoint& endpoint, int replicas);
  // True once any master noted a replica.
  bool SeenReplicas();

  // Idle connections held for all servers.
  size_t IdleCountForTesting();

 private:
  friend struct ForkHandlers;

  const ConnectionOptions config_;
  ConnectionStats stats_;
  std::mutex mu_;
  uint64_t generation_ = 0;  // guarded by mu_
  // Keyed by Endpoint::ToString(). Guarded by mu_.
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
  // NoteReplicas' marks, keyed by Endpoint::ToString(). Guarded by mu_.
  std::map<std::string, int> most_replicas_;
  bool seen_replicas_ = false;  // some master listed one; guarded by mu_
};

// Returns a connection to its pool when it goes out of scope.
//
// Thread safety: not thread-safe; owned by one caller.
class PooledConnection {
 public:
  PooledConnection(ConnectionPool* pool, const Endpoint& endpoint)
      : pool_(pool), conn_(pool->Acquire(endpoint)) {}
  ~PooledConnection() { pool_->Release(std::move(conn_)); }

  PooledConnection(const PooledConnection&) = delete;
  PooledConnection& operator=(const PooledConnection&) = delete;

  Connection* operator->() { return conn_.get(); }
  Connection& operator*() { return *conn_; }

 private:
  ConnectionPool* pool_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_POOL_H_
