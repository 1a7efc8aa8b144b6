// The store conformance suite on the PostgreSQL store, against one postgres
// started for this binary (a role with a password, over TCP on 127.0.0.1):
// once on the real clock, and once on a fake one (the store passes its own
// clock's time to the server, so expiry and leases follow the test's
// hand). Every test gets a table of its own (the store creates it on first
// use).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "conformance/store_conformance.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"
#include "support/fake_env.h"
#include "support/postgres_server.h"

namespace sessionkit::conformance {
namespace {

test::PostgresServer* g_server = nullptr;

test::PostgresServerOptions ServerOptions() {
  test::PostgresServerOptions options;
  options.password = "conformance-secret-pw";
  options.name = "postgres-conformance";
  return options;
}
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(
    new test::PostgresEnvironment(ServerOptions(), &g_server));

Result<std::unique_ptr<Store>> Fresh(Env* env, const std::string& more = "") {
  if (g_server == nullptr) return Status::Unavailable("postgres did not start");
  static int n = 0;
  Result<StoreUrl> url = ParseStoreUrl(
      g_server->Url("table=cf" + std::to_string(++n) +
                    "&connect_timeout=2s&read_timeout=5s" + more));
  if (!url.ok()) return url.status();
  return OpenStore(*url, env);
}

StoreFactory RealClockFactory() {
  StoreFactory factory;
  factory.name = "real_clock";
  factory.make_fresh = [] { return Fresh(nullptr); };
  factory.secrets = {"conformance-secret-pw"};
  factory.writes_unless_newer = true;
  return factory;
}

StoreFactory FakeClockFactory() {
  StoreFactory factory;
  factory.name = "fake_clock";
  factory.fake_clock =
      std::make_shared<test::FakeEnv>(test::FakeEnv::Scope::kRecordClocks);
  // With commits acknowledged before the flush (sync=off): the same
  // contract.
  factory.make_fresh = [env = factory.fake_clock] {
    return Fresh(env.get(), "&sync=off");
  };
  factory.secrets = {"conformance-secret-pw"};
  factory.writes_unless_newer = true;
  return factory;
}

INSTANTIATE_STORE_CONFORMANCE(Postgres, RealClockFactory(), FakeClockFactory());

}  // namespace
}  // namespace sessionkit::conformance
