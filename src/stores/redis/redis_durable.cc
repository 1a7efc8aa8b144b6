#include "stores/redis/redis_durable.h"

#include <string>
#include <utility>

#include "stores/redis/redis_lock.h"

namespace sessionkit::redis {
namespace {

std::string DurableSetting(int durable) {
  return durable == RedisOptions::kDurableAll
             ? "durable=all"
             : "durable=" + std::to_string(durable);
}

}  // namespace

std::optional<int> ReplicasFromRole(const Reply& role) {
  // A master's ROLE: "master", its replication offset, and one
  // [ip, port, offset] entry per online replica.
  if (role.type != Reply::Type::kArray || role.elements.size() < 3 ||
      !role.elements[0].Is("master") ||
      role.elements[2].type != Reply::Type::kArray) {
    return std::nullopt;
  }
  return static_cast<int>(role.elements[2].elements.size());
}

Durability::Durability(const RedisOptions& options, ConnectionPool* pool)
    : store_name_(options.name),
      durable_(options.durable),
      timeout_(options.durable_timeout),
      timeout_ms_(std::to_string(options.durable_timeout.count())),
      pool_(pool) {}

Result<int> Durability::ReplicasFor(Connection& conn) const {
  if (durable_ != RedisOptions::kDurableAll) return durable_;
  // Counted once per connection; again while the count is 0 where masters
  // have replicas (a master promoted a moment ago, before the others
  // re-attached): the first write after they did waits for them.
  if (conn.replicas() < 0 || (conn.replicas() == 0 && pool_->SeenReplicas())) {
    const Command role[] = {{{"ROLE"}}};
    std::vector<Reply> replies;
    SK_RETURN_IF_ERROR(conn.Execute(role, &replies, /*read_only=*/true));
    if (replies[0].is_error()) {
      return WithWhat(StatusFromErrorReply(store_name_, conn.endpoint(), "ROLE",
                                           replies[0].str),
                      "the replica count of durable=all");
    }
    std::optional<int> online = ReplicasFromRole(replies[0]);
    // Not a master: its write is refused (READONLY) and rerouted; nothing
    // is learnt about the master here.
    if (!online) return 0;
    conn.set_replicas(*online);
  }
  // Never fewer than seen before: a master that just lost a replica (one
  // being promoted in a failover, say) still waits for it, and fails.
  return pool_->NoteReplicas(conn.endpoint(), conn.replicas());
}

void Durability::AppendWait(int replicas, std::string* count,
                            std::vector<Command>* out) const {
  *count = std::to_string(replicas);
  out->push_back(Command{{"WAIT", *count, timeout_ms_}});
}

Duration Durability::blocking() const { return timeout_ + kServerTimerSlack; }

Status Durability::Check(const Endpoint& endpoint, int replicas,
                         const Reply& wait, std::string_view what) const {
  if (wait.is_error()) {
    return WithWhat(
        StatusFromErrorReply(store_name_, endpoint, "WAIT", wait.str), what);
  }
  if (wait.type != Reply::Type::kInteger) {
    return Status::Internal(store_name_ + ": unexpected reply to WAIT from " +
                            endpoint.ToString() + " (" + std::string(what) +
                            ")");
  }
  if (wait.integer >= replicas) {
    // More acknowledged than waited for: a replica (re-)attached since the
    // count (the old master of a failover, back as a replica). Later
    // writes wait for it too.
    if (durable_ == RedisOptions::kDurableAll && wait.integer > replicas) {
      pool_->NoteReplicas(endpoint, static_cast<int>(wait.integer));
    }
    return Status::OK();
  }
  return Status::Unavailable(
      store_name_ + ": " + endpoint.ToString() + ": only " +
      std::to_string(wait.integer) + " of " + std::to_string(replicas) +
      (replicas == 1 ? " replica" : " replicas") +
      " acknowledged the write within " + timeout_ms_ + " ms (" +
      DurableSetting(durable_) +
      ", durable_timeout): the master has it, but a failover may lose it, "
      "so it is not reported as done (" +
      std::string(what) + ")");
}

}  // namespace sessionkit::redis
