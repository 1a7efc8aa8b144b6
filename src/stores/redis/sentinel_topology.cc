#include "stores/redis/sentinel_topology.h"

#include <chrono>
#include <string>
#include <utility>

namespace sessionkit::redis {

SentinelTopology::SentinelTopology(
    const RedisOptions& options, std::shared_ptr<ConnectionPool> data_pool,
    std::shared_ptr<ConnectionPool> sentinel_pool)
    : name_(options.name),
      env_(Env::OrDefault(options.env)),
      master_name_(options.master_name),
      sentinels_(ToEndpoints(options.hosts)),
      data_pool_(std::move(data_pool)),
      sentinel_pool_(std::move(sentinel_pool)),
      watch_(sentinel_pool_->config(), master_name_) {}

std::optional<Endpoint> SentinelTopology::HeardSwitch() {
  std::optional<SentinelWatch::Heard> heard = watch_.Poll();
  if (!heard) return std::nullopt;
  // The sentinels announce a master once it reports itself master: no
  // ROLE check (a round trip) is needed to trust it. A promotion is
  // followed as soon as the replica says it is master, a second before the
  // announcement: what the old master accepts from then on is lost when it
  // is demoted. (This request waits for it meanwhile, and so writes
  // nothing there.)
  if (!heard->announced && !BecomesMaster(heard->endpoint)) {
    return std::nullopt;
  }
  std::optional<Endpoint> named = std::move(heard->endpoint);
  std::lock_guard<std::mutex> lock(mu_);
  master_ = *named;
  // The other sentinels learn of the switch up to a couple of seconds after
  // its leader announced it; until then one of them may still name the old
  // master (which still says it is one). The next checks wait that long.
  checked_ = env_->SteadyNow() + kAnnouncementLead;
  return named;
}

bool SentinelTopology::BecomesMaster(const Endpoint& replica) {
  const SteadyTime until = env_->SteadyNow() + kPromotionWait;
  while (true) {
    Result<std::string> role = RoleOf(replica);
    if (role.ok() && *role == "master") return true;
    if (env_->SteadyNow() >= until) return false;
    env_->SleepFor(kPromotionPoll);
  }
}

Result<std::string> SentinelTopology::RoleOf(const Endpoint& server) {
  const Command role[] = {{{"ROLE"}}};
  std::vector<Reply> replies;
  Status st;
  {
    PooledConnection conn(data_pool_.get(), server);
    st = conn->Execute(role, &replies, /*read_only=*/true);
  }
  if (!st.ok()) return st;
  const Reply& r = replies[0];
  if (r.is_error()) return StatusFromErrorReply(name_, server, "ROLE", r.str);
  return r.type == Reply::Type::kArray && !r.elements.empty()
             ? r.elements[0].str.substr(0, 20)
             : std::string("?");
}

Result<Endpoint> SentinelTopology::Route(std::string_view) {
  if (std::optional<Endpoint> switched = HeardSwitch()) return *switched;
  const SteadyTime now = env_->SteadyNow();
  std::optional<Endpoint> cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (master_ && now < checked_ + kRecheckInterval) return *master_;
    cached = master_;
  }
  if (!cached) {
    std::lock_guard<std::mutex> discovering(discover_mu_);
    return DiscoverLocked();
  }
  // Time to ask whether the master changed. A graceful failover leaves the
  // old master writable until the sentinels reconfigure it, so errors alone
  // would notice too late. One thread asks; the others keep going.
  std::unique_lock<std::mutex> discovering(discover_mu_, std::try_to_lock);
  if (!discovering.owns_lock()) return *cached;
  // Each check starts at the next sentinel, so that in a few seconds every
  // sentinel that answers has been asked, and subscribed to.
  std::optional<Endpoint> named;
  for (size_t i = 0; i < sentinels_.size(); ++i) {
    const Endpoint& sentinel =
        sentinels_[(next_sentinel_ + i) % sentinels_.size()];
    Result<Endpoint> r = AskSentinel(sentinel);
    if (r.ok()) {
      named = *r;
      break;
    }
  }
  next_sentinel_ = (next_sentinel_ + 1) % sentinels_.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    checked_ = env_->SteadyNow();
    if (master_) {
      // No sentinel answers: keep the master that works.
      if (!named || *named == *master_) return *master_;
      master_.reset();
    }
  }
  // The master changed, or another caller forgot it meanwhile.
  return DiscoverLocked();
}

Result<Endpoint> SentinelTopology::AskSentinel(const Endpoint& sentinel) {
  const std::string where = "sentinel " + sentinel.ToString();
  const Command ask[] = {
      {{"SENTINEL", "get-master-addr-by-name", master_name_}}};
  std::vector<Reply> replies;
  Status st;
  {
    PooledConnection conn(sentinel_pool_.get(), sentinel);
    st = conn->Execute(ask, &replies, /*read_only=*/true);
  }
  if (!st.ok()) return st;
  // It answers: hear its announcements from now on (one round trip, once
  // per sentinel and process). A switch announced between its answer and
  // the subscription is left to the once-a-second check.
  (void)watch_.Subscribe(sentinel);
  const Reply& r = replies[0];
  if (r.is_nil()) {
    return Status::NotFound(name_ + ": " + where +
                            " does not monitor a master named '" +
                            master_name_ + "'");
  }
  if (r.is_error()) {
    return StatusFromErrorReply(name_, sentinel, "SENTINEL", r.str);
  }
  Endpoint master;
  if (r.type != Reply::Type::kArray || r.elements.size() != 2 ||
      r.elements[0].type != Reply::Type::kString ||
      !ParsePort(r.elements[1].str, &master.port)) {
    return Status::Unavailable(name_ + ": " + where +
                               " gave an unexpected reply to SENTINEL "
                               "get-master-addr-by-name");
  }
  master.host = r.elements[0].str;
  return master;
}

Result<std::vector<Endpoint>> SentinelTopology::Masters() {
  Result<Endpoint> master = Route("");
  if (!master.ok()) return master.status();
  return std::vector<Endpoint>{*master};
}

void SentinelTopology::Forget(const Endpoint& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  if (master_ && *master_ == endpoint) master_.reset();
}

bool SentinelTopology::OnConnectionError(const Endpoint& endpoint,
                                         const Status& status) {
  // A wrong password is a setting, not a failover.
  if (status.code() == StatusCode::kInvalidArgument) return false;
  Forget(endpoint);
  return true;
}

Redirect SentinelTopology::OnErrorReply(const Endpoint& endpoint,
                                        std::string_view error) {
  error = JudgedError(error);  // READONLY inside a script, on Redis 6
  if (error.starts_with("READONLY") || error.starts_with("LOADING") ||
      error.starts_with("MASTERDOWN")) {
    Forget(endpoint);
    return Redirect{Redirect::Kind::kRetry, {}};
  }
  return Redirect{};
}

Result<Endpoint> SentinelTopology::DiscoverLocked() {
  {
    // Another thread may have found the master while this one waited.
    std::lock_guard<std::mutex> lock(mu_);
    if (master_) return *master_;
  }
  std::string details;
  bool all_settings = true;  // every failure was a refused password
  auto note = [&](const std::string& text, bool setting) {
    if (!details.empty()) details += "; ";
    details += text;
    if (!setting) all_settings = false;
  };
  for (const Endpoint& sentinel : sentinels_) {
    const std::string where = "sentinel " + sentinel.ToString();
    Result<Endpoint> named = AskSentinel(sentinel);
    if (!named.ok()) {
      note(WithoutStoreName(name_, named.status().message()),
           named.status().code() == StatusCode::kInvalidArgument ||
               named.status().code() == StatusCode::kNotFound);
      continue;
    }
    const Endpoint master = *named;

    // The sentinel may not have seen a failover yet: ask the server.
    Result<std::string> role = RoleOf(master);
    if (!role.ok()) {
      // The master's password or database is a setting: no other
      // sentinel can cure it.
      if (role.status().code() == StatusCode::kInvalidArgument) {
        return role.status();
      }
      note(where + " names " + master.ToString() + ": " +
               WithoutStoreName(name_, role.status().message()),
           false);
      continue;
    }
    if (*role != "master") {
      note(where + " names " + master.ToString() + ", which reports role '" +
               *role + "' (a failover in progress?)",
           false);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    master_ = master;
    checked_ = env_->SteadyNow();
    return master;
  }
  const std::string message =
      name_ + ": no master found for '" + master_name_ + "': " + details;
  if (all_settings && !details.empty()) {
    return Status::InvalidArgument(message);
  }
  return Status::Unavailable(message);
}

}  // namespace sessionkit::redis
