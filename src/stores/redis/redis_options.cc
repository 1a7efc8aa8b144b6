// RedisOptions::FromUrl, ValidateRedisOptions and OpenRedisStore: the one
// place each Redis setting's syntax (the reader FromUrl uses) and range or
// rule (the check in ValidateRedisOptions) are written. The defaults are
// RedisOptions' own (include/sessionkit/stores/redis.h); the names are the
// redis rows of the URL grammar (src/uri/schemes.cc).
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sessionkit/store_url.h"
#include "sessionkit/stores/redis.h"
#include "stores/net/tls_options.h"
#include "stores/redis/cluster_topology.h"
#include "stores/redis/connection.h"
#include "stores/redis/pool.h"
#include "stores/redis/redis_store.h"
#include "stores/redis/sentinel_topology.h"
#include "stores/redis/topology.h"
#include "stores/setting_checks.h"

namespace sessionkit {
namespace {

constexpr size_t kMaxHosts = 64;
// A durable write holds its request this long at most for the replicas.
constexpr Duration kMaxDurableTimeout{60000};

// Reads tls_* into options->tls: rediss:// always uses TLS; Sentinel and
// Cluster URLs (there is no rediss+sentinel) turn it on when any tls_*
// parameter is given.
Status ReadTls(const StoreUrl& url, RedisOptions* options) {
  if (url.scheme != "rediss" && options->mode == RedisMode::kStandalone) {
    return Status::OK();
  }
  return net::ReadTlsParams(url, url.scheme == "rediss", &options->tls);
}

// durable=off|all|N: 0, RedisOptions::kDurableAll or N (its range is
// ValidateRedisOptions').
Result<int> ParseDurable(std::string_view text) {
  if (text == "off" || text == "0") return 0;
  if (text == "all") return RedisOptions::kDurableAll;
  int n = 0;
  bool digits = !text.empty() && text.size() <= 9;
  for (char c : text) {
    digits = digits && c >= '0' && c <= '9';
    if (digits) n = n * 10 + (c - '0');
  }
  if (!digits) {
    return Status::InvalidArgument(
        "durable=" + std::string(text.substr(0, 40)) +
        ": expected off, all, or the number of replicas that must "
        "acknowledge a write (1 to " +
        std::to_string(RedisOptions::kMaxDurableReplicas) + ")");
  }
  return n;
}

// Reads the parameters and path of `url` over the defaults in `options`;
// their ranges and rules are ValidateRedisOptions'.
Status ReadSettings(const StoreUrl& url, RedisOptions* options) {
  if (options->mode == RedisMode::kSentinel) {
    // The path is the master name (checked by the URL parser); the
    // database comes from db=.
    options->master_name = url.path;
    if (std::optional<std::string> sp = url.Param("sentinel_password")) {
      options->sentinel_password = *sp;
      options->has_sentinel_password = true;
    }
  }
  if (options->mode != RedisMode::kCluster) {
    // redis://host/3 or db=3; redis+sentinel://.../master?db=3.
    Result<int64_t> db = url.IntParam("db", options->db);
    if (!db.ok()) return db.status();
    options->db = *db;
  }
  options->prefix = url.Param("prefix").value_or(options->prefix);
  Result<Duration> connect =
      url.DurationParam("connect_timeout", options->connect_timeout);
  if (!connect.ok()) return connect.status();
  options->connect_timeout = *connect;
  Result<Duration> read =
      url.DurationParam("read_timeout", options->read_timeout);
  if (!read.ok()) return read.status();
  options->read_timeout = *read;
  if (std::optional<std::string> durable = url.Param("durable")) {
    Result<int> replicas = ParseDurable(*durable);
    if (!replicas.ok()) return replicas.status();
    options->durable = *replicas;
  }
  Result<Duration> wait =
      url.DurationParam("durable_timeout", options->durable_timeout);
  if (!wait.ok()) return wait.status();
  options->durable_timeout = *wait;
  return ReadTls(url, options);
}

// Opens checked options: each way in checks them once.
Result<std::unique_ptr<Store>> OpenChecked(RedisOptions options) {
  redis::ConnectionOptions config;
  config.store_name = options.name;
  config.connect_timeout = options.connect_timeout;
  config.read_timeout = options.read_timeout;
  config.user = options.user;
  config.password = options.password;
  config.has_password = options.has_password;
  config.db = options.db;
  if (options.tls.enabled) {
    auto tls = redis::TlsContext::Create(options.tls, options.name);
    if (!tls.ok()) return tls.status();
    config.tls = *tls;
  }
  // A pool that already exists keeps its own TLS context; the one just
  // loaded then only served to check the files.
  std::shared_ptr<redis::ConnectionPool> pool =
      redis::ConnectionPool::ForKey(redis::PoolKey(options), config);
  std::unique_ptr<redis::Topology> topology;
  switch (options.mode) {
    case RedisMode::kStandalone:
      topology = std::make_unique<redis::StandaloneTopology>(
          redis::Endpoint{options.hosts[0].host, options.hosts[0].port});
      break;
    case RedisMode::kSentinel: {
      // The sentinels' own connections: their password, no user, no
      // database; pooled apart from the data connections.
      redis::ConnectionOptions sentinel_config = config;
      sentinel_config.user.clear();
      sentinel_config.password = options.sentinel_password;
      sentinel_config.has_password = options.has_sentinel_password;
      sentinel_config.db = 0;
      std::string key = redis::PoolKey(options);
      key.append("\0sentinels", 10);
      topology = std::make_unique<redis::SentinelTopology>(
          options, pool, redis::ConnectionPool::ForKey(key, sentinel_config));
      break;
    }
    case RedisMode::kCluster:
      topology = std::make_unique<redis::ClusterTopology>(options, pool);
      break;
  }
  return std::unique_ptr<Store>(std::make_unique<redis::RedisStore>(
      std::move(options), std::move(pool), std::move(topology)));
}

}  // namespace

Result<RedisOptions> RedisOptions::FromUrl(const StoreUrl& url) {
  const bool sentinel = url.scheme == "redis+sentinel";
  const bool cluster = url.scheme == "redis+cluster";
  if (url.scheme != "redis" && url.scheme != "rediss" && !sentinel &&
      !cluster) {
    return Status::InvalidArgument(
        url.Redacted() +
        ": not a redis://, rediss://, redis+sentinel:// or redis+cluster:// "
        "store URL");
  }
  RedisOptions options;
  options.name = url.Redacted();
  options.mode = sentinel  ? RedisMode::kSentinel
                 : cluster ? RedisMode::kCluster
                           : RedisMode::kStandalone;
  options.hosts = url.hosts;
  options.user = url.user;
  options.password = url.password;
  options.has_password = url.has_password;
  Status read = ReadSettings(url, &options);
  if (!read.ok()) {
    return Status::InvalidArgument(options.name + ": " + read.message());
  }
  SK_RETURN_IF_ERROR(redis::ValidateRedisOptions(options));
  return options;
}

Result<std::unique_ptr<Store>> OpenRedisStore(const RedisOptions& in) {
  RedisOptions options = in;
  if (options.name.empty()) options.name = redis::DefaultName(options);
  SK_RETURN_IF_ERROR(redis::ValidateRedisOptions(options));
  return OpenChecked(std::move(options));
}

Result<std::unique_ptr<Store>> OpenRedisStore(const StoreUrl& url) {
  Result<RedisOptions> options = RedisOptions::FromUrl(url);
  if (!options.ok()) return options.status();
  return OpenChecked(std::move(options).value());
}

namespace redis {

namespace {

// The hosts and the master name, as the mode wants them.
Status ValidateTopology(const RedisOptions& options, const std::string& name) {
  if (options.mode == RedisMode::kStandalone && options.hosts.size() != 1) {
    return Status::InvalidArgument(
        name + ": a standalone Redis store takes exactly one host, got " +
        std::to_string(options.hosts.size()));
  }
  if (options.hosts.empty()) {
    return Status::InvalidArgument(name +
                                   (options.mode == RedisMode::kSentinel
                                        ? ": give at least one sentinel host"
                                        : ": give at least one cluster node"));
  }
  if (options.hosts.size() > kMaxHosts) {
    return Status::InvalidArgument(name + ": at most " +
                                   std::to_string(kMaxHosts) +
                                   " hosts may be given");
  }
  for (const HostPort& hp : options.hosts) {
    if (hp.host.empty() || hp.port == 0) {
      return Status::InvalidArgument(
          name + ": every Redis host needs a name and a port");
    }
  }
  if (options.mode == RedisMode::kSentinel) {
    if (options.master_name.empty()) {
      return Status::InvalidArgument(
          name +
          ": give the master name, as in "
          "redis+sentinel://h1:26379,h2:26379/mymaster");
    }
    for (char c : options.master_name) {
      if (c <= 0x20 || c >= 0x7f) {
        return Status::InvalidArgument(
            name +
            ": the master name must be printable ASCII without "
            "spaces");
      }
    }
  } else if (!options.master_name.empty() || options.has_sentinel_password) {
    return Status::InvalidArgument(
        name +
        ": a master name and sentinel_password are for "
        "redis+sentinel:// only");
  }
  return Status::OK();
}

}  // namespace

Status ValidateRedisOptions(const RedisOptions& options) {
  const std::string name =
      options.name.empty() ? DefaultName(options) : options.name;
  SK_RETURN_IF_ERROR(ValidateTopology(options, name));
  if (options.mode == RedisMode::kCluster && options.db != 0) {
    return Status::InvalidArgument(
        name + ": Redis Cluster has only database 0 (got db=" +
        std::to_string(options.db) + ")");
  }
  if (options.db < 0 || options.db > std::numeric_limits<int32_t>::max()) {
    return Status::InvalidArgument(name + ": db=" + std::to_string(options.db) +
                                   " is out of range (0 to 2147483647)");
  }
  SK_RETURN_IF_ERROR(CheckKeyPrefix(
      name, options.prefix, "{}",
      "may not contain '{' or '}' (sessionkit puts the session id in braces, "
      "a Redis Cluster hash tag)"));
  SK_RETURN_IF_ERROR(
      CheckTimeouts(name, options.connect_timeout, options.read_timeout));
  if (options.durable < RedisOptions::kDurableAll ||
      options.durable > RedisOptions::kMaxDurableReplicas) {
    return Status::InvalidArgument(
        name + ": durable=" + std::to_string(options.durable) +
        " is out of range: off, all, or 1 to " +
        std::to_string(RedisOptions::kMaxDurableReplicas) + " replicas");
  }
  if (options.durable_timeout.count() < 1 ||
      options.durable_timeout > kMaxDurableTimeout) {
    return Status::InvalidArgument(
        name + ": durable_timeout must be between 1ms and " +
        std::to_string(kMaxDurableTimeout.count() / 1000) + "s (got " +
        std::to_string(options.durable_timeout.count()) + "ms)");
  }
  if (!options.tls.enabled &&
      (!options.tls.ca_file.empty() || !options.tls.cert_file.empty() ||
       !options.tls.key_file.empty() || options.tls.insecure)) {
    return Status::InvalidArgument(
        name + ": TLS settings are given but TLS is off: use rediss://");
  }
  return Status::OK();
}

std::string PoolKey(const RedisOptions& o) {
  // NUL-separated: no field can fake another's boundary.
  std::string key;
  auto add = [&key](std::string_view field) {
    key.append(field);
    key.push_back('\0');
  };
  add(std::to_string(static_cast<int>(o.mode)));
  for (const HostPort& hp : o.hosts) {
    add(hp.host);
    add(std::to_string(hp.port));
  }
  add(o.user);
  add(o.has_password ? "p" : "-");
  add(o.password);
  add(o.master_name);
  add(o.has_sentinel_password ? "p" : "-");
  add(o.sentinel_password);
  add(std::to_string(o.db));
  add(o.prefix);
  add(std::to_string(o.connect_timeout.count()));
  add(std::to_string(o.read_timeout.count()));
  add(o.tls.enabled ? "tls" : "tcp");
  add(o.tls.ca_file);
  add(o.tls.cert_file);
  add(o.tls.key_file);
  add(o.tls.insecure ? "insecure" : "verify");
  add(o.name);
  return key;
}

std::string DefaultName(const RedisOptions& o) {
  std::string out = o.mode == RedisMode::kSentinel  ? "redis+sentinel://"
                    : o.mode == RedisMode::kCluster ? "redis+cluster://"
                    : o.tls.enabled                 ? "rediss://"
                                                    : "redis://";
  if (!o.user.empty() || o.has_password) {
    out += o.user;
    if (o.has_password) out += ":***";
    out += "@";
  }
  for (size_t i = 0; i < o.hosts.size(); ++i) {
    if (i > 0) out += ",";
    Endpoint ep{o.hosts[i].host, o.hosts[i].port};
    out += ep.ToString();
  }
  if (o.mode == RedisMode::kSentinel) {
    out += "/" + o.master_name;
    if (o.db != 0) out += "?db=" + std::to_string(o.db);
  } else if (o.mode == RedisMode::kStandalone) {
    out += "/" + std::to_string(o.db);
  }
  return out;
}

}  // namespace redis
}  // namespace sessionkit
