// Store factories for the Redis topologies whose servers take seconds to
// start: each is defined in its topology test (src/stores/redis/), which
// starts the servers once per binary, and instantiated here, in
// tests/conformance/, with every other store's instance.
#ifndef SESSIONKIT_TESTS_CONFORMANCE_REDIS_TOPOLOGY_FACTORIES_H_
#define SESSIONKIT_TESTS_CONFORMANCE_REDIS_TOPOLOGY_FACTORIES_H_

#include "conformance/store_conformance.h"

namespace sessionkit::redis {

// redis+sentinel:// on the binary's master, replica and three sentinels.
conformance::StoreFactory SentinelFactory();

// redis+cluster:// on the binary's three-master cluster.
conformance::StoreFactory ClusterFactory();

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_TESTS_CONFORMANCE_REDIS_TOPOLOGY_FACTORIES_H_
