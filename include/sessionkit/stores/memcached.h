// The Memcached store: sessions as memcached items on a pool of servers,
// placed as libmemcached's ketama places them (php-memcached agrees on every
// key), optionally kept on replicas, and locked with a lock item, over
// sessionkit's own connection layer and memcached's meta protocol.
//
//   memcached://h1[:11211],h2[:11211],...[?params]
//
// docs/memcached.md describes every parameter, placement, replicas, locking
// and the errors.
#ifndef SESSIONKIT_STORES_MEMCACHED_H_
#define SESSIONKIT_STORES_MEMCACHED_H_

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

struct MemcachedOptions {
  // The pool, in the order given: the order places replicas (see
  // docs/memcached.md). 1 to 64 servers, each host:port at most once.
  std::vector<HostPort> servers;
  // Each session is kept on its server and this many more (the servers that
  // follow it in the list): 0 to servers - 1.
  int replicas = 0;
  // Prepended to every key. At most 64 bytes of printable ASCII without
  // spaces.
  std::string prefix = "sk:";
  // Bounds the TCP connect and TLS handshake of a new connection.
  Duration connect_timeout{100};
  // Bounds one exchange: sending a pipeline and reading its replies.
  Duration read_timeout{250};
  // How long a server that refused a connection or timed out is left out
  // in this process: its sessions go to the next server of the ring (or
  // to their replicas) meanwhile, and one request then tries it again.
  Duration down_time{2000};
  // Whether the sessions of a server left out go to the next server of the
  // ring (or to their replicas) meanwhile. Off: a session stays on its own
  // servers, and a call for it fails (Unavailable) while its first server
  // is left out. Each process finds servers down by itself, so with
  // failover two processes can disagree on where a session lives, and a
  // server that comes back with the copies it held before is believed; a
  // store of tiers needs it off (its journal corrects the server that
  // missed writes), and opens its Memcached tiers so (docs/tiers.md).
  bool failover = true;
  TlsOptions tls;
  // The host-local file that wakes lock waiters (docs/memcached.md): a
  // waiter whose lock holder is a process of this host sleeps on it until
  // the release, instead of polling memcached. Shared by every process of
  // one user that gives the same path; created mode 0600. Empty: the
  // default, /dev/shm/sessionkit-wake-<uid> (without /dev/shm: in $TMPDIR,
  // else /tmp). "off": none, every waiter polls. Otherwise an absolute
  // path. A file that cannot be mapped only turns the wake-ups off.
  std::string wake_file;
  // A description for messages. FromUrl sets the redacted URL; empty:
  // OpenMemcachedStore derives one from the options.
  std::string name;
  // The clocks, sleeps, host and processes the store asks (env.h): expiry
  // and leases, kept to the millisecond in the items' values, are decided
  // on its wall clock; lock waits on its steady clock. nullptr:
  // Env::Default(). Not a URL setting.
  Env* env = nullptr;

  // Reads and checks the options of a memcached:// URL: the servers,
  // replicas, prefix, connect_timeout, read_timeout (timeout= sets both),
  // down_time, failover, wake_file, tls_ca, tls_cert, tls_key, tls_insecure
  // (any of them turns TLS on); the defaults above stand for those not given.
  // The one parser and validator of these settings. InvalidArgument naming the
  // parameter for a bad value.
  static Result<MemcachedOptions> FromUrl(const StoreUrl& url);
};

// Opens a Memcached store. Checks the options and loads the TLS files now
// (InvalidArgument naming the setting); connects lazily, on first use in
// each process. Connections are kept per process and dropped after fork()
// and after any error.
Result<std::unique_ptr<Store>> OpenMemcachedStore(
    const MemcachedOptions& options);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_MEMCACHED_H_
