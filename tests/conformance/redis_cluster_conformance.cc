// The store conformance suite on Redis Cluster (three masters), linked into
// redis_cluster_test, whose gtest Environment starts the servers.
#include "conformance/redis_topology_factories.h"
#include "conformance/store_conformance.h"

namespace sessionkit::conformance {
namespace {

INSTANTIATE_STORE_CONFORMANCE(RedisCluster, redis::ClusterFactory());

}  // namespace
}  // namespace sessionkit::conformance
