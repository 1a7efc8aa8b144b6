// The Redis store: sessions as Redis strings with a Redis expiry, over
// sessionkit's own connection layer (timeouts in milliseconds, pipelining,
// TLS, connections reused across requests and dropped after fork()).
//
//   redis://[user][:password]@host[:port][/db][?params]
//   rediss://...   (the same over TLS)
//   redis+sentinel://[:password@]h1:26379,h2:26379/mymaster[?params]
//   redis+cluster://[:password@]h1:7000,h2:7001,...[?params]
//
// docs/redis.md describes every parameter, the data layout and the errors.
#ifndef SESSIONKIT_STORES_REDIS_H_
#define SESSIONKIT_STORES_REDIS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/tls.h"

namespace sessionkit {

// How sessionkit finds the server a command goes to.
enum class RedisMode {
  kStandalone,  // redis://, rediss://: the one host given
  kSentinel,    // redis+sentinel://: the master the sentinels (hosts) name
  kCluster,     // redis+cluster://: the master of each key's hash slot
};

// TLS settings (rediss://; for redis+sentinel:// and redis+cluster://, any
// tls_* parameter turns TLS on, for every server and sentinel). A server
// requires a client certificate with tls-auth-clients yes.
using RedisTlsOptions = TlsOptions;

struct RedisOptions {
  RedisMode mode = RedisMode::kStandalone;
  // kStandalone: exactly one host. kSentinel: the sentinels, asked in
  // this order. kCluster: seed nodes, any of them (at least one).
  std::vector<HostPort> hosts;
  // kSentinel: the name of the master the sentinels monitor.
  std::string master_name;
  // kSentinel: AUTH for the sentinels themselves (their requirepass).
  std::string sentinel_password;
  bool has_sentinel_password = false;
  // ACL user (Redis 6+); empty: the default user.
  std::string user;
  // Sent with AUTH after connecting when has_password is set.
  std::string password;
  bool has_password = false;
  int64_t db = 0;  // SELECTed after connecting when not 0
  // Prepended to every key: key = prefix + "{" + id + "}".
  std::string prefix = "sk:";
  // Bounds the TCP connect and TLS handshake of a new connection.
  Duration connect_timeout{100};
  // Bounds one exchange: sending a pipeline and reading all its replies.
  Duration read_timeout{250};
  RedisTlsOptions tls;
  // Durable writes (docs/redis.md, "Durable writes"): a write of session
  // data (Write, Touch, WriteAndUnlock, TouchAndUnlock, Destroy) is
  // acknowledged only once this many replicas of the master acknowledged it
  // too: WAIT, in the same pipeline as the write. A shortfall fails the
  // write with Unavailable; it is never reported as done. 0: off (the
  // default: Redis replicates asynchronously). kDurableAll: every online
  // replica of the master, learnt with ROLE on each new connection to it
  // and, per master, never fewer than this process has seen it have (0 on
  // a master without replicas: nothing to wait for). Else 1 to
  // kMaxDurableReplicas. The lock records and Unlock are not waited for.
  static constexpr int kDurableAll = -1;
  static constexpr int kMaxDurableReplicas = 100;
  int durable = 0;
  // Bounds the wait for the replicas (WAIT's timeout); the exchange of a
  // durable write may take read_timeout plus this (and the server's timer
  // slack).
  Duration durable_timeout{250};
  // A description for messages; never holds a password. FromUrl sets the
  // redacted URL; empty: OpenRedisStore derives one from the options.
  std::string name;
  // The clocks, sleeps, host and processes the store asks (env.h): the
  // lock's waits and holders, expiries read back, pauses between retries;
  // nullptr: Env::Default(). Not a URL setting. Socket deadlines stay on
  // the steady clock (see connection.h).
  Env* env = nullptr;

  // Reads and checks the options of a redis://, rediss://, redis+sentinel://
  // or redis+cluster:// URL: user, password, db (path or db=; for sentinel
  // the path is master_name and the db comes from db=), sentinel_password,
  // prefix, connect_timeout, read_timeout (timeout= sets both), durable
  // ("off", "all" or a number of replicas), durable_timeout, tls_ca,
  // tls_cert, tls_key, tls_insecure; the defaults above stand for those
  // not given. The one parser and validator of these settings.
  // InvalidArgument naming the parameter for a bad value.
  static Result<RedisOptions> FromUrl(const StoreUrl& url);
};

// Opens a Redis store. Checks the options and loads the TLS files now
// (InvalidArgument naming the setting); connects lazily, on first use in
// each process. Stores with the same options share a process-wide pool of
// connections, which a forked child never uses.
Result<std::unique_ptr<Store>> OpenRedisStore(const RedisOptions& options);

// The same for a Redis URL, read with RedisOptions::FromUrl: what
// OpenStore (open.h) calls for the redis schemes.
Result<std::unique_ptr<Store>> OpenRedisStore(const StoreUrl& url);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_REDIS_H_
