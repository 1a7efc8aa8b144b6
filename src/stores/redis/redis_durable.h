// Durable writes (RedisOptions::durable; docs/redis.md, "Durable writes"):
// the WAIT that follows a durable write in its pipeline, how many replicas
// it waits for, and what its reply means. RedisStore::Run is the one place
// that sends it (RunRequest::durable).
//
// WAIT numreplicas timeout holds the connection until numreplicas replicas
// have acknowledged every write this connection made so far, or the
// timeout passes, and answers how many did. Sent in the same write as the
// commands it follows, it costs the replicas' acknowledgement and no round
// trip of its own. It never goes inside MULTI/EXEC or a script (it would not
// wait there): it follows the EXEC or the EVALSHA.
#ifndef SESSIONKIT_STORES_REDIS_REDIS_DURABLE_H_
#define SESSIONKIT_STORES_REDIS_REDIS_DURABLE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "sessionkit/stores/redis.h"
#include "stores/redis/connection.h"
#include "stores/redis/pool.h"

namespace sessionkit::redis {

// The replicas a master lists as online in its ROLE reply; nullopt when
// the reply is not a master's (a replica's, a sentinel's) or not ROLE's.
std::optional<int> ReplicasFromRole(const Reply& role);

// Thread safety: immutable after construction; every method may be called
// concurrently (each on its own connection).
class Durability {
 public:
  // `options` must have passed ValidateRedisOptions; `pool` (the store's)
  // must outlive this.
  Durability(const RedisOptions& options, ConnectionPool* pool);

  Durability(const Durability&) = delete;
  Durability& operator=(const Durability&) = delete;

  // True when writes wait for replicas (durable is not off).
  bool on() const { return durable_ != 0; }

  // How many replicas a durable write on `conn` waits for: durable=N's N;
  // for durable=all, the most replicas this pool has seen conn's server
  // list as online or acknowledge a write (ConnectionPool::NoteReplicas);
  // the list is asked with ROLE, an exchange of its own, on a connection's
  // first durable write (with the AUTH and SELECT of a new one), and again
  // at each durable write while it counted none in a store whose masters
  // have had replicas. 0: nothing to wait for (a master with no replica
  // online, or a server that is not a master, whose write fails anyway):
  // no WAIT is sent. Errors: those of that exchange
  // (then conn is broken, as after any failed exchange), or an error reply
  // to ROLE (e.g. an ACL that forbids it).
  Result<int> ReplicasFor(Connection& conn) const;

  // Appends WAIT `replicas` durable_timeout to `out`; `count` holds the
  // text of `replicas` for as long as `out` is used.
  void AppendWait(int replicas, std::string* count,
                  std::vector<Command>* out) const;

  // How much longer than read_timeout an exchange that ends in WAIT may
  // take: durable_timeout, plus the server's timer slack.
  Duration blocking() const;

  // OK when `wait`, the reply of `endpoint` to WAIT `replicas`, says that
  // at least that many replicas acknowledged (under durable=all, a larger
  // number is noted: later writes there wait for that many); otherwise
  // Unavailable, which
  // names the store and the server, how many of how many acknowledged
  // within how many ms, and `what`. The write is on the master then, and
  // may or may not survive a failover: it is not reported as done.
  Status Check(const Endpoint& endpoint, int replicas, const Reply& wait,
               std::string_view what) const;

 private:
  const std::string store_name_;
  const int durable_;  // RedisOptions::durable
  const Duration timeout_;
  const std::string timeout_ms_;  // WAIT's argument
  ConnectionPool* const pool_;
};

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_REDIS_DURABLE_H_
