// The store conformance suite on the Redis store: plain TCP (database 0)
// and TLS (database 2, CA-verified), both with a password, against one
// redis-server started for this binary. Every test gets its own key prefix
// in a flushed database.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "conformance/store_conformance.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "support/test_server.h"

namespace sessionkit::conformance {
namespace {

constexpr char kPassword[] = "conformance-secret-pw";

test::RedisServer* g_server = nullptr;

class RedisEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    test::RedisServerOptions options;
    options.password = kPassword;
    options.tls = true;
    options.name = "redis-conformance";
    auto server = test::StartRedis(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    g_server = std::move(*server).release();
  }
  void TearDown() override {
    delete g_server;
    g_server = nullptr;
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new RedisEnvironment);

// Opens a store on a flushed database `db` with a prefix of its own.
Result<std::unique_ptr<Store>> Fresh(bool tls, int db) {
  if (g_server == nullptr) {
    return Status::Unavailable("redis-server did not start");
  }
  static int n = 0;
  Result<std::string> flushed =
      g_server->Cli({"-n", std::to_string(db), "FLUSHDB"});
  if (!flushed.ok()) return flushed.status();
  std::string url =
      std::string(tls ? "rediss" : "redis") + "://:" + kPassword +
      "@127.0.0.1:" +
      std::to_string(tls ? g_server->tls_port() : g_server->port()) + "/" +
      std::to_string(db) + "?prefix=cf" + std::to_string(++n) + ":";
  if (tls) url += "&tls_ca=" + g_server->ca_file();
  return OpenStore(url);
}

StoreFactory StandaloneFactory() {
  StoreFactory factory;
  factory.name = "standalone";
  factory.make_fresh = [] { return Fresh(false, 0); };
  factory.gc_reports_removed = false;  // Redis expires keys by itself
  factory.secrets = {kPassword};
  return factory;
}

StoreFactory TlsFactory() {
  StoreFactory factory;
  factory.name = "tls";
  factory.make_fresh = [] { return Fresh(true, 2); };
  factory.gc_reports_removed = false;
  factory.secrets = {kPassword};
  return factory;
}

INSTANTIATE_STORE_CONFORMANCE(Redis, StandaloneFactory(), TlsFactory());

}  // namespace
}  // namespace sessionkit::conformance
