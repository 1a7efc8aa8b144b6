// Hears a failover the moment the sentinels announce it: a subscription to
// one sentinel's +switch-master channel, read without blocking each time
// the store routes a command (one poll() on an idle socket; no round trip).
//
// A PHP worker has no thread of its own to listen with, so the messages wait
// in the socket until the worker's next command, which then goes to the new
// master at once instead of after the next once-a-second check. Sentinel
// publishes +switch-master when the promoted replica reports itself master;
// from then on nothing goes to the old master, which would otherwise accept
// writes until the sentinels turn it into a replica and discard them.
//
// Every sentinel announces the switch: the leader of the failover at once,
// the others when its news reaches them (up to a couple of seconds later),
// so the watch subscribes to each sentinel that answers. The subscriptions
// are made when the store asks the sentinels anyway (when it looks for the
// master, and at the once-a-second check), and made again there after one
// broke (its sentinel died, or this process forked).
#ifndef SESSIONKIT_STORES_REDIS_SENTINEL_WATCH_H_
#define SESSIONKIT_STORES_REDIS_SENTINEL_WATCH_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "stores/redis/connection.h"

namespace sessionkit::redis {

// The channel, and the master a +switch-master message of `master_name`
// names ("<name> <old ip> <old port> <new ip> <new port>"); nullopt for
// another master's message or one that does not parse.
inline constexpr char kSwitchMasterChannel[] = "+switch-master";
std::optional<Endpoint> ParseSwitchMaster(std::string_view message,
                                          std::string_view master_name);

// The channels on which the leader of a failover says it is about to tell
// the chosen replica to stop replicating (REPLICAOF NO ONE), and that it
// did, a second or so before +switch-master; and the replica a message of
// either names for `master_name` ("slave <ip>:<port> <ip> <port> @ <name>
// <ip> <port>"), nullopt for another master's message or one that does not
// parse. From the moment the replica stops, the old master's writes no
// longer reach it: they are lost when the old master is demoted.
inline constexpr const char* kPromotionChannels[] = {
    "+failover-state-send-slaveof-noone", "+failover-state-wait-promotion"};
std::optional<Endpoint> ParsePromotion(std::string_view message,
                                       std::string_view master_name);

// Thread safety: safe for concurrent use; one thread at a time reads the
// subscription, the others pass without waiting.
class SentinelWatch {
 public:
  // `sentinel_options`: how to connect to a sentinel (its password, TLS,
  // timeouts); its endpoint is replaced by the sentinel subscribed to.
  SentinelWatch(ConnectionOptions sentinel_options, std::string master_name);

  // What a subscription said about this master name.
  struct Heard {
    Endpoint endpoint;
    // True: +switch-master named `endpoint` the master. False: the leader
    // is promoting `endpoint` (kPromotionChannels); it may not say so yet.
    bool announced = false;
  };
  // The last message of either channel for this master name that arrived
  // on any subscription since the previous call, if any (an announcement
  // wins over a promotion heard in the same call). Never waits: returns
  // nullopt when another thread is reading, and when there is no
  // subscription (made by Subscribe).
  std::optional<Heard> Poll();

  // Subscribes to `sentinel`'s three channels unless a working subscription
  // to it exists (made in this process). One round trip, bounded by the
  // connection's connect_timeout + read_timeout. Errors: as
  // Connection::Execute, or Unavailable for an unexpected reply.
  Status Subscribe(const Endpoint& sentinel);

  // Whether a working subscription to `sentinel` is in place.
  bool subscribed(const Endpoint& sentinel);

 private:
  struct Subscription {
    std::unique_ptr<Connection> conn;
    uint64_t generation = 0;  // the fork generation it was made in
  };
  // Drops subscriptions of another process (fork) and broken ones. mu_.
  void DropStaleLocked();

  const ConnectionOptions options_;
  const std::string master_name_;
  std::mutex mu_;
  std::vector<Subscription> subscriptions_;  // guarded by mu_
};

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_SENTINEL_WATCH_H_
