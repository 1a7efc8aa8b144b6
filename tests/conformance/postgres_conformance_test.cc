// The store conformance suite on the PostgreSQL store, against one postgres
// started for this binary (a role with a password, over TCP on 127.0.0.1).
// Every test gets a table of its own (the store creates it on first use).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "conformance/store_conformance.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "support/postgres_server.h"

namespace sessionkit::conformance {
namespace {

test::PostgresServer* g_server = nullptr;

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    test::PostgresServerOptions options;
    options.password = "conformance-secret-pw";
    options.name = "postgres-conformance";
    auto server = test::StartPostgres(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    g_server = std::move(*server).release();
  }
  void TearDown() override {
    delete g_server;
    g_server = nullptr;
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

Result<std::unique_ptr<Store>> Fresh() {
  if (g_server == nullptr) return Status::Unavailable("postgres did not start");
  static int n = 0;
  return OpenStore(g_server->Url("table=cf" + std::to_string(++n) +
                                 "&connect_timeout=2s&read_timeout=5s"));
}

StoreFactory PostgresFactory() {
  StoreFactory factory;
  factory.name = "standalone";
  factory.make_fresh = [] { return Fresh(); };
  factory.secrets = {"conformance-secret-pw"};
  return factory;
}

INSTANTIATE_STORE_CONFORMANCE(Postgres, PostgresFactory());

}  // namespace
}  // namespace sessionkit::conformance
