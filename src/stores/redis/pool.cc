#include "stores/redis/pool.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "stores/fork_generation.h"

namespace sessionkit::redis {
namespace {

struct Registry {
  std::mutex mu;
  // Never shrinks: a pool lives as long as the process.
  std::map<std::string, std::shared_ptr<ConnectionPool>> pools;
};

// Leaked on purpose: no static destructor may close sockets while another
// thread still uses them at exit.
Registry& GetRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

// Holds every pool lock across fork(), so that the child finds them free and
// no pool is caught half-updated.
struct ForkHandlers {
  static void Prepare() {
    Registry& r = GetRegistry();
    r.mu.lock();
    for (auto& [key, pool] : r.pools) pool->mu_.lock();
  }
  static void Parent() {
    Registry& r = GetRegistry();
    for (auto& [key, pool] : r.pools) pool->mu_.unlock();
    r.mu.unlock();
  }
  static void Child() { Parent(); }
};

std::shared_ptr<ConnectionPool> ConnectionPool::ForKey(
    const std::string& key, const ConnectionOptions& config) {
  static std::once_flag once;
  std::call_once(once, [] {
    pthread_atfork(&ForkHandlers::Prepare, &ForkHandlers::Parent,
                   &ForkHandlers::Child);
  });
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.pools.find(key);
  if (it == r.pools.end()) {
    it = r.pools.emplace(key, std::make_shared<ConnectionPool>(config)).first;
  }
  return it->second;
}

ConnectionPool::ConnectionPool(ConnectionOptions config)
    : config_(std::move(config)), generation_(ForkGeneration()) {}

std::unique_ptr<Connection> ConnectionPool::Acquire(const Endpoint& endpoint) {
  const uint64_t gen = ForkGeneration();
  const std::string key = endpoint.ToString();
  // Connections to close: destroyed outside the lock.
  std::vector<std::unique_ptr<Connection>> drop;
  std::unique_ptr<Connection> conn;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (generation_ != gen) {
        // Inherited from the parent process: close our copies unused.
        for (auto& [unused, list] : idle_) {
          for (auto& c : list) drop.push_back(std::move(c));
        }
        idle_.clear();
        generation_ = gen;
      }
      auto it = idle_.find(key);
      if (it == idle_.end() || it->second.empty()) break;
      conn = std::move(it->second.back());
      it->second.pop_back();
    }
    if (conn->CheckIdle()) return conn;
    drop.push_back(std::move(conn));
  }
  ConnectionOptions options = config_;
  options.endpoint = endpoint;
  options.stats = &stats_;
  conn = std::make_unique<Connection>(std::move(options));
  conn->set_generation(gen);
  return conn;
}

void ConnectionPool::Release(std::unique_ptr<Connection> conn) {
  if (conn == nullptr || !conn->usable()) return;
  const uint64_t gen = ForkGeneration();
  if (conn->generation() != gen) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (generation_ != gen) return;
  auto& list = idle_[conn->endpoint().ToString()];
  if (list.size() < kMaxIdlePerServer) list.push_back(std::move(conn));
  // Otherwise the pool is full: `conn` closes when the parameter is
  // destroyed, after the lock is released.
}

size_t ConnectionPool::IdleCountForTesting() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& [unused, list] : idle_) n += list.size();
  return n;
}

int ConnectionPool::NoteReplicas(const Endpoint& endpoint, int replicas) {
  std::lock_guard<std::mutex> lock(mu_);
  int& most = most_replicas_[endpoint.ToString()];
  most = std::max(most, replicas);
  seen_replicas_ = seen_replicas_ || replicas > 0;
  return most;
}

bool ConnectionPool::SeenReplicas() {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_replicas_;
}

}  // namespace sessionkit::redis
