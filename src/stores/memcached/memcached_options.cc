// MemcachedOptions::FromUrl and ValidateMemcachedOptions: the one place
// each Memcached setting's syntax and range are written. The defaults are
// MemcachedOptions' own (include/sessionkit/stores/memcached.h); the names
// are the memcached row of the URL grammar (src/uri/schemes.cc).
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/store_url.h"
#include "sessionkit/stores/memcached.h"
#include "stores/lock_wake.h"
#include "stores/memcached/memcached_store.h"
#include "stores/net/tls_options.h"
#include "stores/setting_checks.h"

namespace sessionkit {
namespace {

constexpr size_t kMaxServers = 64;
constexpr Duration kMaxDownTime{3600 * 1000};

Status ReadSettings(const StoreUrl& url, MemcachedOptions* options) {
  Result<int64_t> replicas = url.IntParam("replicas", options->replicas);
  if (!replicas.ok()) return replicas.status();
  if (*replicas < 0 || *replicas > static_cast<int64_t>(kMaxServers)) {
    return Status::InvalidArgument("replicas=" + std::to_string(*replicas) +
                                   " is out of range");
  }
  options->replicas = static_cast<int>(*replicas);
  options->prefix = url.Param("prefix").value_or(options->prefix);
  Result<Duration> connect =
      url.DurationParam("connect_timeout", options->connect_timeout);
  if (!connect.ok()) return connect.status();
  options->connect_timeout = *connect;
  Result<Duration> read =
      url.DurationParam("read_timeout", options->read_timeout);
  if (!read.ok()) return read.status();
  options->read_timeout = *read;
  Result<Duration> down = url.DurationParam("down_time", options->down_time);
  if (!down.ok()) return down.status();
  options->down_time = *down;
  Result<bool> failover = url.BoolParam("failover", options->failover);
  if (!failover.ok()) return failover.status();
  options->failover = *failover;
  Result<std::string> wake = url.PathParam("wake_file", options->wake_file);
  if (!wake.ok()) return wake.status();
  options->wake_file = *wake;
  return net::ReadTlsParams(url, /*always=*/false, &options->tls);
}

}  // namespace

Result<MemcachedOptions> MemcachedOptions::FromUrl(const StoreUrl& url) {
  if (url.scheme != "memcached") {
    return Status::InvalidArgument(url.Redacted() +
                                   ": not a memcached:// store URL");
  }
  MemcachedOptions options;
  options.name = url.Redacted();
  if (!url.user.empty() || url.has_password) {
    return Status::InvalidArgument(
        options.name +
        ": memcached:// takes no user or password (memcached's SASL and "
        "ASCII authentication are not supported: keep the pool on a "
        "private network, or use TLS with tls_cert)");
  }
  options.servers = url.hosts;
  Status read = ReadSettings(url, &options);
  if (!read.ok()) {
    return Status::InvalidArgument(options.name + ": " + read.message());
  }
  SK_RETURN_IF_ERROR(memcached::ValidateMemcachedOptions(options));
  return options;
}

Result<std::unique_ptr<Store>> OpenMemcachedStore(const MemcachedOptions& in) {
  MemcachedOptions options = in;
  if (options.name.empty()) options.name = memcached::DefaultName(options);
  SK_RETURN_IF_ERROR(memcached::ValidateMemcachedOptions(options));
  std::vector<memcached::KetamaServer> pool;
  for (const HostPort& hp : options.servers) {
    pool.push_back({hp.host, hp.port, 1});
  }
  Result<memcached::KetamaRing> ring =
      memcached::KetamaRing::Create(pool, memcached::KetamaMode::kKetama);
  if (!ring.ok()) {
    return Status::InvalidArgument(options.name + ": " +
                                   ring.status().message());
  }
  std::shared_ptr<net::TlsContext> tls;
  if (options.tls.enabled) {
    Result<std::shared_ptr<net::TlsContext>> made =
        net::TlsContext::Create(options.tls, options.name);
    if (!made.ok()) return made.status();
    tls = *made;
  }
  return std::unique_ptr<Store>(std::make_unique<memcached::MemcachedStore>(
      std::move(options), std::move(ring).value(), std::move(tls)));
}

namespace memcached {

Status ValidateMemcachedOptions(const MemcachedOptions& options) {
  const std::string name =
      options.name.empty() ? DefaultName(options) : options.name;
  if (options.servers.empty() || options.servers.size() > kMaxServers) {
    return Status::InvalidArgument(name + ": give 1 to " +
                                   std::to_string(kMaxServers) +
                                   " memcached servers");
  }
  std::set<std::pair<std::string, uint16_t>> seen;
  for (const HostPort& hp : options.servers) {
    if (hp.host.empty() || hp.port == 0) {
      return Status::InvalidArgument(
          name + ": every memcached server needs a name and a port");
    }
    if (!seen.insert({hp.host, hp.port}).second) {
      return Status::InvalidArgument(
          name + ": " + net::Endpoint{hp.host, hp.port}.ToString() +
          " is given twice (a pool lists each server once)");
    }
  }
  if (options.replicas < 0 ||
      static_cast<size_t>(options.replicas) >= options.servers.size()) {
    return Status::InvalidArgument(
        name + ": replicas=" + std::to_string(options.replicas) +
        " is out of range: 0 to " + std::to_string(options.servers.size() - 1) +
        " (the servers given, less one)");
  }
  SK_RETURN_IF_ERROR(CheckKeyPrefix(name, options.prefix));
  SK_RETURN_IF_ERROR(
      CheckTimeouts(name, options.connect_timeout, options.read_timeout));
  if (options.down_time.count() < 1 || options.down_time > kMaxDownTime) {
    return Status::InvalidArgument(
        name + ": down_time must be between 1ms and 1h (got " +
        std::to_string(options.down_time.count()) + "ms)");
  }
  if (!options.wake_file.empty() && options.wake_file != kWakeFileOff &&
      options.wake_file[0] != '/') {
    return Status::InvalidArgument(
        name + ": wake_file must be an absolute path or \"" + kWakeFileOff +
        "\" (got \"" + options.wake_file + "\")");
  }
  return Status::OK();
}

std::string WakeFileOf(const MemcachedOptions& options) {
  if (options.wake_file == kWakeFileOff) return "";
  if (!options.wake_file.empty()) return options.wake_file;
  return DefaultSharedFilePath("sessionkit-wake");
}

std::string DefaultName(const MemcachedOptions& options) {
  std::string out = "memcached://";
  for (size_t i = 0; i < options.servers.size(); ++i) {
    if (i > 0) out += ",";
    out += net::Endpoint{options.servers[i].host, options.servers[i].port}
               .ToString();
  }
  return out;
}

}  // namespace memcached
}  // namespace sessionkit
