// The store conformance suite on the Memcached store: one memcached (on the
// real clock, through OpenStore as applications open it, and on a fake
// clock), and a pool of three with replicas=1. The servers are started
// once for this binary; every test gets a key prefix of its own.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "conformance/store_conformance.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "sessionkit/stores/memcached.h"
#include "support/test_server.h"

namespace sessionkit::conformance {
namespace {

std::vector<test::TestServer*> g_servers;
// The stores' lock wake file lives here, under the build tree.
std::string g_dir;

class MemcachedEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto dir = test::MakeTempDir("memcached-conformance");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    g_dir = *dir;
    for (int i = 0; i < 3; ++i) {
      test::MemcachedOptions options;
      options.name = "memcached-conformance-" + std::to_string(i);
      auto server = test::StartMemcached(options);
      ASSERT_TRUE(server.ok()) << server.status().ToString();
      g_servers.push_back(std::move(*server).release());
    }
  }
  void TearDown() override {
    for (test::TestServer* server : g_servers) delete server;
    if (!g_dir.empty()) test::RemoveTempDirUnlessFailed(g_dir);
    g_servers.clear();
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new MemcachedEnvironment);

// The URL of the first `count` servers, with a prefix of its own.
Result<std::string> Url(size_t count, const std::string& query) {
  if (g_servers.size() < count) {
    return Status::Unavailable("memcached did not start");
  }
  static int n = 0;
  std::string url = "memcached://";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) url += ",";
    url += "127.0.0.1:" + std::to_string(g_servers[i]->port(0));
  }
  return url + "?wake_file=" + g_dir + "/wake&prefix=cf" + std::to_string(++n) +
         ":" + query;
}

Result<std::unique_ptr<Store>> Fresh(size_t count, const std::string& query,
                                     Env* env) {
  Result<std::string> url = Url(count, query);
  if (!url.ok()) return url.status();
  return OpenStore(*url, env);
}

StoreFactory Base(std::string name) {
  StoreFactory factory;
  factory.name = std::move(name);
  factory.gc_reports_removed = false;  // memcached expires items by itself
  factory.short_ttl = Duration(1000);  // its TTLs count whole seconds
  factory.expiry_slack = Duration(2500);
  return factory;
}

StoreFactory SingleFactory() {
  StoreFactory factory = Base("single");
  factory.make_fresh = [] { return Fresh(1, "", nullptr); };
  return factory;
}

StoreFactory FakeClockFactory() {
  StoreFactory factory = Base("fake_clock");
  factory.fake_clock =
      std::make_shared<test::FakeEnv>(test::FakeEnv::Scope::kRecordClocks);
  factory.make_fresh = [env = factory.fake_clock] {
    return Fresh(1, "", env.get());
  };
  return factory;
}

StoreFactory ReplicatedPoolFactory() {
  StoreFactory factory = Base("pool_of_3_replicas_1");
  factory.make_fresh = [] { return Fresh(3, "&replicas=1", nullptr); };
  return factory;
}

INSTANTIATE_STORE_CONFORMANCE(Memcached, SingleFactory(), FakeClockFactory(),
                              ReplicatedPoolFactory());

}  // namespace
}  // namespace sessionkit::conformance
