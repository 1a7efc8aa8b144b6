// The topology of redis+sentinel://: commands go to the master that the
// sentinels name for the configured master name.
//
// Discovery asks the sentinels in the order given (SENTINEL
// get-master-addr-by-name), connects to the address the first one that
// knows the name returns, and checks with ROLE that the server really is a
// master (a sentinel may lag behind a failover); a server that is not is
// skipped and the next sentinel asked. The master found is kept until a
// command to it fails with an I/O error or a timeout, or is answered with
// READONLY, LOADING or MASTERDOWN (what a demoted or restarting master
// says): the store then asks the sentinels again and retries once. A
// failover the sentinels announce (+switch-master) is heard at the next
// command, through a subscription to each sentinel that answered
// (sentinel_watch.h): after a graceful failover the old master accepts
// writes for a while, which the sentinels then discard. As a fallback the
// master is also rechecked with one sentinel once a second
// (kRecheckInterval).
#ifndef SESSIONKIT_STORES_REDIS_SENTINEL_TOPOLOGY_H_
#define SESSIONKIT_STORES_REDIS_SENTINEL_TOPOLOGY_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/stores/redis.h"
#include "stores/redis/connection.h"
#include "stores/redis/pool.h"
#include "stores/redis/sentinel_watch.h"
#include "stores/redis/topology.h"

namespace sessionkit::redis {

// Thread safety: safe for concurrent use; one thread at a time asks the
// sentinels, the others wait for its answer (each sentinel contacted is
// bounded by connect_timeout + read_timeout).
class SentinelTopology final : public Topology {
 public:
  // `data_pool` connects to Redis servers (the master) with the store's
  // credentials; `sentinel_pool` connects to the sentinels of
  // options.hosts with sentinel_password.
  SentinelTopology(const RedisOptions& options,
                   std::shared_ptr<ConnectionPool> data_pool,
                   std::shared_ptr<ConnectionPool> sentinel_pool);

  // The current master; asks the sentinels when none is known.
  // Unavailable naming every sentinel and what it said when no master is
  // found; InvalidArgument when the master refuses the store's password.
  Result<Endpoint> Route(std::string_view key) override;
  Result<std::vector<Endpoint>> Masters() override;
  // Forgets the master when `endpoint` is it; always worth one retry.
  bool OnConnectionError(const Endpoint& endpoint,
                         const Status& status) override;
  // READONLY (also inside a script: JudgedError), LOADING, MASTERDOWN:
  // forgets the master, kRetry.
  Redirect OnErrorReply(const Endpoint& endpoint,
                        std::string_view error) override;
  int MaxRedirects() const override { return 1; }
  bool MasterCanChange() const override { return true; }

  // How long a master found is used before the sentinels are asked again
  // whether it changed (by one caller; the others keep routing).
  static constexpr std::chrono::milliseconds kRecheckInterval{1000};
  // How long after a +switch-master no sentinel is asked whether the master
  // changed: the sentinels spread a new configuration every 2 s, so a
  // sentinel asked sooner may not know of the switch it announced.
  static constexpr std::chrono::milliseconds kAnnouncementLead{4000};
  // How long a request waits for a replica being promoted (heard on
  // kPromotionChannels) to report itself master, asking every
  // kPromotionPoll; past that it goes on with the master it had.
  static constexpr std::chrono::milliseconds kPromotionWait{500};
  static constexpr std::chrono::milliseconds kPromotionPoll{5};

 private:
  // Asks the sentinels and checks the master's role; discover_mu_ held.
  Result<Endpoint> DiscoverLocked();
  // The master `sentinel` names: NotFound when it does not know the name.
  // Subscribes to the sentinel's announcements first when not yet done.
  Result<Endpoint> AskSentinel(const Endpoint& sentinel);
  // The master a +switch-master announced, or a replica being promoted
  // once it reports itself master, now routed to; nullopt when none was
  // heard (or the promotion did not happen within kPromotionWait).
  std::optional<Endpoint> HeardSwitch();
  // True once `replica` reports role master, asked until kPromotionWait.
  bool BecomesMaster(const Endpoint& replica);
  // The role `server` reports ("master", "slave", "?" for an odd reply),
  // asked with ROLE on a data connection; the error of that exchange.
  Result<std::string> RoleOf(const Endpoint& server);
  void Forget(const Endpoint& endpoint);

  const std::string name_;  // the store's redacted URL
  Env* const env_;          // options.env or Env::Default()
  const std::string master_name_;
  const std::vector<Endpoint> sentinels_;
  const std::shared_ptr<ConnectionPool> data_pool_;
  const std::shared_ptr<ConnectionPool> sentinel_pool_;
  SentinelWatch watch_;

  std::mutex discover_mu_;  // held while asking the sentinels
  // The sentinel the next once-a-second check asks first. Guarded by
  // discover_mu_.
  size_t next_sentinel_ = 0;
  std::mutex mu_;
  std::optional<Endpoint> master_;  // guarded by mu_
  // When master_ was last confirmed by a sentinel (after an announcement:
  // when a sentinel may next be asked), on env_'s clock.
  // Guarded by mu_.
  SteadyTime checked_;
};

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_SENTINEL_TOPOLOGY_H_
