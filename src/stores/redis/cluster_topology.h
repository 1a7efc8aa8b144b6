// The topology of redis+cluster://: each command goes to the master that
// owns its key's hash slot.
//
// The slot map comes from CLUSTER SLOTS, asked of the masters already known
// and then of the seed nodes of the URL, in that order. A key's slot is
// CRC16 (XMODEM) of its hash tag (the part between the first '{' and the
// next '}', when not empty; the whole key otherwise) modulo 16384; session
// keys are prefix{id}, so a session's keys share a slot. A MOVED reply
// moves its slot to the node it names (and, when that node is new, marks
// the map stale); a connection error marks the map stale: the next Route
// loads it again. An ASK reply sends the command once to the node named,
// preceded by ASKING.
#ifndef SESSIONKIT_STORES_REDIS_CLUSTER_TOPOLOGY_H_
#define SESSIONKIT_STORES_REDIS_CLUSTER_TOPOLOGY_H_

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/stores/redis.h"
#include "stores/redis/connection.h"
#include "stores/redis/pool.h"
#include "stores/redis/topology.h"

namespace sessionkit::redis {

inline constexpr int kClusterSlots = 16384;

// CRC16-XMODEM (polynomial 0x1021, initial 0), Redis Cluster's key hash.
uint16_t Crc16(std::string_view data);

// The hash slot of `key` (0 to 16383), honouring a {hash tag}.
int KeySlot(std::string_view key);

// Thread safety: safe for concurrent use; one thread at a time loads the
// slot map (each node asked is bounded by connect_timeout + read_timeout),
// the others keep routing with the map they have.
class ClusterTopology final : public Topology {
 public:
  // Connections to the nodes come from `pool` (the store's credentials).
  ClusterTopology(const RedisOptions& options,
                  std::shared_ptr<ConnectionPool> pool);

  // The master of the key's slot (an empty key: the first master). Loads
  // the slot map first when there is none or it is stale. Unavailable when
  // no node answers CLUSTER SLOTS or no master owns the slot.
  Result<Endpoint> Route(std::string_view key) override;
  // Every master, sorted by address (a stable order for Scan cursors, as
  // long as the cluster does not change).
  Result<std::vector<Endpoint>> Masters() override;
  // Marks the map stale (a master may have failed over); one retry.
  bool OnConnectionError(const Endpoint& endpoint,
                         const Status& status) override;
  // MOVED: the slot now routes to the node named (which the next load of
  // the map asks first), kRetry. ASK: kAsk to the node named.
  Redirect OnErrorReply(const Endpoint& endpoint,
                        std::string_view error) override;
  int MaxRedirects() const override { return kMaxRedirects; }
  bool MasterCanChange() const override { return true; }

  static constexpr int kMaxRedirects = 5;

 private:
  struct SlotMap {
    // Sorted by ToString() when loaded; a node learnt from MOVED is
    // appended until the next load.
    std::vector<Endpoint> masters;
    // Index into masters, or -1 where no master owns the slot.
    std::array<int16_t, kClusterSlots> owner;
  };

  // Loads the map unless another thread did since `seen_generation`.
  Status Refresh(uint64_t seen_generation);
  // Asks `node` for CLUSTER SLOTS.
  Result<std::shared_ptr<const SlotMap>> Load(const Endpoint& node);
  Result<std::shared_ptr<const SlotMap>> Current();

  const std::string name_;  // the store's redacted URL
  const std::vector<Endpoint> seeds_;
  const std::shared_ptr<ConnectionPool> pool_;

  std::mutex refresh_mu_;  // held while loading the map
  std::mutex mu_;
  std::shared_ptr<const SlotMap> map_;  // guarded by mu_
  bool stale_ = true;                   // guarded by mu_
  // The node the last MOVED named: the next load asks it first. Right after
  // a failover it knows it owns its slots, while other nodes (the old master
  // among them) may not have heard yet, and a map loaded from one of them
  // would send the slot back to the old master, MOVED after MOVED.
  std::optional<Endpoint> moved_to_;  // guarded by mu_
  uint64_t generation_ = 0;           // guarded by mu_; +1 per load
};

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_CLUSTER_TOPOLOGY_H_
