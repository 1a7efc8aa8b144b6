// ServerSet: each server's idle connections and down mark, and RunAll, which
// puts every server's pipeline on the wire before it reads any reply.
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "stores/fork_generation.h"
#include "stores/memcached/memcached_store.h"

namespace sessionkit::memcached {
namespace {

int64_t SteadyNanos(Env* env) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             env->SteadyNow().time_since_epoch())
      .count();
}

}  // namespace

ServerSet::ServerSet(const MemcachedOptions& options,
                     std::shared_ptr<TlsContext> tls, Env* env)
    : env_(env), down_time_(options.down_time) {
  config_.store_name = options.name;
  config_.connect_timeout = options.connect_timeout;
  config_.read_timeout = options.read_timeout;
  config_.tls = std::move(tls);
  config_.stats = &stats_;
  for (const HostPort& hp : options.servers) {
    auto server = std::make_unique<Server>();
    server->endpoint = Endpoint{hp.host, hp.port};
    servers_.push_back(std::move(server));
  }
  ForkGeneration();  // registers the fork handler before any connection
}

ServerSet::~ServerSet() = default;

bool ServerSet::IsDown(size_t i) const {
  const int64_t until = servers_[i]->down_until.load(std::memory_order_relaxed);
  return until != 0 && SteadyNanos(env_) < until;
}

void ServerSet::MarkDown(size_t i) {
  servers_[i]->down_until.store(
      SteadyNanos(env_) +
          std::chrono::duration_cast<std::chrono::nanoseconds>(down_time_)
              .count(),
      std::memory_order_relaxed);
}

std::unique_ptr<Connection> ServerSet::Acquire(size_t i) {
  Server& server = *servers_[i];
  const uint64_t generation = ForkGeneration();
  {
    std::lock_guard<std::mutex> lock(server.mu);
    while (!server.idle.empty()) {
      std::unique_ptr<Connection> conn = std::move(server.idle.back());
      server.idle.pop_back();
      if (conn->generation() == generation && conn->CheckIdle()) return conn;
      // Another process's (closed here without a word) or closed by the
      // server: dropped.
    }
  }
  ConnectionOptions options = config_;
  options.endpoint = server.endpoint;
  auto conn = std::make_unique<Connection>(std::move(options));
  conn->set_generation(generation);
  return conn;
}

void ServerSet::Release(size_t i, std::unique_ptr<Connection> conn) {
  if (!conn->usable() || conn->generation() != ForkGeneration()) return;
  Server& server = *servers_[i];
  std::lock_guard<std::mutex> lock(server.mu);
  if (server.idle.size() < kMaxIdlePerServer) {
    server.idle.push_back(std::move(conn));
  }
}

void ServerSet::RunAll(std::span<Call> calls, std::string_view what) {
  std::vector<std::unique_ptr<Connection>> conns(calls.size());
  // Every pipeline out first, so that the servers work on them at once.
  for (size_t c = 0; c < calls.size(); ++c) {
    Call& call = calls[c];
    call.replies.clear();
    if (IsDown(call.server)) {
      call.status = Status::Unavailable(
          config_.store_name + ": " + endpoint(call.server).ToString() +
          " is left out for " + std::to_string(down_time_.count()) +
          " ms after a failure (down_time)");
      continue;
    }
    conns[c] = Acquire(call.server);
    call.status = conns[c]->Send(call.pipeline);
  }
  for (size_t c = 0; c < calls.size(); ++c) {
    Call& call = calls[c];
    if (conns[c] == nullptr) continue;
    if (call.status.ok()) {
      call.status = conns[c]->Receive(call.pipeline, &call.replies);
    }
    if (!call.status.ok() && conns[c]->last_failure_was_stale()) {
      // The server closed the idle connection (it restarted): once more on
      // a new one, alone.
      conns[c] = Acquire(call.server);
      call.status = conns[c]->Execute(call.pipeline, &call.replies);
    }
    if (!call.status.ok() && call.status.IsUnavailable()) {
      MarkDown(call.server);
    }
    Release(call.server, std::move(conns[c]));
  }
  if (what.empty()) return;
  for (Call& call : calls) {
    if (!call.status.ok()) {
      call.status = Status(call.status.code(), call.status.message() + " (" +
                                                   std::string(what) + ")");
    }
  }
}

Result<size_t> ServerSet::ItemSizeMax(size_t i) {
  const size_t known = servers_[i]->item_size_max.load();
  if (known != 0) return known;
  std::string stats;
  SK_RETURN_IF_ERROR(Dump(i, "stats settings", 1 << 20, &stats));
  static constexpr std::string_view kName = "STAT item_size_max ";
  const size_t at = stats.find(kName);
  size_t value = 0;
  if (at != std::string::npos) {
    for (size_t p = at + kName.size(); p < stats.size(); ++p) {
      if (stats[p] < '0' || stats[p] > '9') break;
      value = value * 10 + static_cast<size_t>(stats[p] - '0');
    }
  }
  if (value == 0) {
    return Status::Unavailable(config_.store_name + ": " +
                               endpoint(i).ToString() +
                               ": stats settings has no item_size_max");
  }
  servers_[i]->item_size_max.store(value);
  return value;
}

Status ServerSet::Dump(size_t i, std::string_view command, size_t max_bytes,
                       std::string* out) {
  std::unique_ptr<Connection> conn = Acquire(i);
  Status st = conn->Dump(command, max_bytes, out);
  if (!st.ok() && conn->last_failure_was_stale()) {
    conn = Acquire(i);
    st = conn->Dump(command, max_bytes, out);
  }
  Release(i, std::move(conn));
  return st;
}

}  // namespace sessionkit::memcached
