// The store conformance suite on the MariaDB/MySQL store, against one
// mariadbd started for this binary: on the real clock (through OpenStore,
// as applications open it) and on a fake clock (expiry and leases without
// sleeping). Every test gets tables of its own (table=t_<n>).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "conformance/store_conformance.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "support/mariadb_server.h"

namespace sessionkit::conformance {
namespace {

constexpr char kPassword[] = "conformance-secret-pw";

test::MariadbServer* g_server = nullptr;

class MariadbEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    test::MariadbServerOptions options;
    options.password = kPassword;
    options.name = "mariadb-conformance";
    auto server = test::StartMariadb(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    g_server = std::move(*server).release();
  }
  void TearDown() override {
    delete g_server;
    g_server = nullptr;
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new MariadbEnvironment);

Result<std::unique_ptr<Store>> Fresh(Env* env) {
  if (g_server == nullptr) return Status::Unavailable("mariadbd did not start");
  static int n = 0;
  return OpenStore(g_server->Url("table=t_" + std::to_string(++n)), env);
}

StoreFactory RealClockFactory() {
  StoreFactory factory;
  factory.name = "real_clock";
  factory.make_fresh = [] { return Fresh(nullptr); };
  factory.secrets = {kPassword};
  return factory;
}

StoreFactory FakeClockFactory() {
  StoreFactory factory;
  factory.name = "fake_clock";
  factory.fake_clock =
      std::make_shared<test::FakeEnv>(test::FakeEnv::Scope::kRecordClocks);
  factory.make_fresh = [env = factory.fake_clock] { return Fresh(env.get()); };
  factory.secrets = {kPassword};
  return factory;
}

INSTANTIATE_STORE_CONFORMANCE(Mysql, RealClockFactory(), FakeClockFactory());

}  // namespace
}  // namespace sessionkit::conformance
