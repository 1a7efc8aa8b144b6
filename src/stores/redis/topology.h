// Topology: which server a Redis command goes to, kept apart from the
// connection (connection.h talks to one host:port) and from the store (which
// knows keys and commands, not servers).
//
//   standalone  one fixed server (redis://, rediss://)
//   sentinel    the master the sentinels name; asked again after a
//               connection error or a READONLY reply (a failover)
//   cluster     the master owning the key's hash slot (CLUSTER SLOTS map),
//               refreshed on MOVED, one-shot ASKING on ASK
//
// The store calls Route() before a command, and reports what went wrong
// through OnConnectionError() / OnErrorReply(), which say whether to try
// again and where. The sentinel and cluster topologies are in
// sentinel_topology.h and cluster_topology.h.
#ifndef SESSIONKIT_STORES_REDIS_TOPOLOGY_H_
#define SESSIONKIT_STORES_REDIS_TOPOLOGY_H_

#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/store_url.h"
#include "stores/redis/connection.h"

namespace sessionkit::redis {

// What the store should do after an error reply.
struct Redirect {
  enum class Kind {
    kNone,   // not a routing error: report it
    kRetry,  // the route changed (MOVED, failover): route again
    kAsk,    // send to `to` once, preceded by ASKING
  };
  Kind kind = Kind::kNone;
  Endpoint to;  // kAsk
};

// Thread safety: implementations are safe for concurrent use.
class Topology {
 public:
  virtual ~Topology() = default;

  // The server for commands on `key`, a full Redis key whose hash tag
  // decides the Cluster slot. An empty key means any server that holds
  // data (PING). Unavailable when no server is known (sentinels down).
  virtual Result<Endpoint> Route(std::string_view key) = 0;

  // Every server that holds sessions (Cluster: each master), for SCAN.
  virtual Result<std::vector<Endpoint>> Masters() = 0;

  // Told after a command to `endpoint` failed with an I/O error or a
  // timeout. True when the route may have changed (a sentinel names a new
  // master) and one more attempt is worth it.
  virtual bool OnConnectionError(const Endpoint& endpoint,
                                 const Status& status) = 0;

  // Told about an error reply from `endpoint` (MOVED, ASK, READONLY, ...).
  virtual Redirect OnErrorReply(const Endpoint& endpoint,
                                std::string_view error) = 0;

  // How many redirects (kRetry or kAsk) one command may follow before the
  // store gives up with Unavailable.
  virtual int MaxRedirects() const = 0;

  // True when a replica can become a master (Sentinel, Cluster): lock
  // records then name the server they were taken on (redis_lock.h).
  virtual bool MasterCanChange() const = 0;
};

// One fixed server: routes everything there and never redirects.
//
// Thread safety: immutable; safe for concurrent use.
class StandaloneTopology final : public Topology {
 public:
  explicit StandaloneTopology(Endpoint endpoint)
      : endpoint_(std::move(endpoint)) {}

  Result<Endpoint> Route(std::string_view) override { return endpoint_; }
  Result<std::vector<Endpoint>> Masters() override {
    return std::vector<Endpoint>{endpoint_};
  }
  bool OnConnectionError(const Endpoint&, const Status&) override {
    return false;
  }
  Redirect OnErrorReply(const Endpoint&, std::string_view) override {
    return Redirect{};
  }
  int MaxRedirects() const override { return 0; }
  bool MasterCanChange() const override { return false; }

 private:
  const Endpoint endpoint_;
};

// Helpers shared by the topologies.

// `message` without a leading "<store_name>: ", which the caller adds once.
std::string WithoutStoreName(const std::string& store_name,
                             std::string message);

// A port as Redis prints it (1..65535, digits only).
bool ParsePort(std::string_view text, uint16_t* port);

// The hosts of a URL as endpoints.
std::vector<Endpoint> ToEndpoints(const std::vector<HostPort>& hosts);

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_TOPOLOGY_H_
