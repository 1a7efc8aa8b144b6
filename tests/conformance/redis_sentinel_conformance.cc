// The store conformance suite on Redis Sentinel (a master, a replica, three
// sentinels), linked into redis_sentinel_test, whose gtest Environment starts
// the servers.
#include "conformance/redis_topology_factories.h"
#include "conformance/store_conformance.h"

namespace sessionkit::conformance {
namespace {

INSTANTIATE_STORE_CONFORMANCE(RedisSentinel, redis::SentinelFactory());

}  // namespace
}  // namespace sessionkit::conformance
