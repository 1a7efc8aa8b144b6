// The store conformance suite on the MariaDB/MySQL store, against one
// mariadbd started for this binary: on the real clock (through OpenStore,
// as applications open it) in plain TCP and over TLS (the certificate
// verified), and on a fake clock (expiry and leases without sleeping).
// Every test gets tables of its own (table=t_<n>).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "conformance/store_conformance.h"
#include "sessionkit/frame.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "support/mariadb_server.h"
#include "support/test_status.h"

namespace sessionkit::conformance {
namespace {

constexpr char kPassword[] = "conformance-secret-pw";

test::MariadbEnvironment* const kMariadb = test::MariadbEnvironment::Add(
    {.password = kPassword, .tls = true, .name = "mariadb-conformance"});

Result<std::unique_ptr<Store>> Fresh(Env* env, bool tls = false) {
  const test::MariadbServer* server = kMariadb->server();
  if (server == nullptr) return Status::Unavailable("mariadbd did not start");
  static int n = 0;
  std::string query = "table=t_" + std::to_string(++n);
  query += tls ? "&sslmode=verify_identity&tls_ca=" + server->ca_file()
               : "&sslmode=disabled";
  return OpenStore(server->Url(query), env);
}

StoreFactory RealClockFactory() {
  StoreFactory factory;
  factory.name = "real_clock";
  factory.make_fresh = [] { return Fresh(nullptr); };
  factory.secrets = {kPassword};
  factory.writes_unless_newer = true;
  return factory;
}

StoreFactory TlsFactory() {
  StoreFactory factory;
  factory.name = "tls";
  factory.make_fresh = [] { return Fresh(nullptr, true); };
  factory.secrets = {kPassword};
  factory.writes_unless_newer = true;
  return factory;
}

StoreFactory FakeClockFactory() {
  StoreFactory factory;
  factory.name = "fake_clock";
  factory.fake_clock =
      std::make_shared<test::FakeEnv>(test::FakeEnv::Scope::kRecordClocks);
  factory.make_fresh = [env = factory.fake_clock] { return Fresh(env.get()); };
  factory.secrets = {kPassword};
  factory.writes_unless_newer = true;
  return factory;
}

// A value that a text statement would carry as hex over MariaDB's default
// max_allowed_packet breaks no connection: the whole batch is left to the
// caller's locked path (NotSupported), nothing written.
TEST(MysqlWriteUnlessNewerTest, AValueTooLargeForOneStatementIsNotSent) {
  Result<std::unique_ptr<Store>> store = Fresh(nullptr);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  FrameHeader header;
  header.session_version = 1;
  const std::string small = EncodeFrame(header, "small"),
                    big = EncodeFrame(header, std::string(2 << 20, 'x'));
  const std::string small_id = "unlessnewer0123456789small",
                    big_id = "unlessnewer0123456789big";
  Status st = (*store)->WriteUnlessNewer(
      {{small_id, small, Duration(60000)}, {big_id, big, Duration(60000)}});
  EXPECT_TRUE(st.IsNotSupported()) << st.ToString();
  EXPECT_TRUE((*store)->Read(small_id).status().IsNotFound());
  SK_EXPECT_OK((*store)->Health());
}

INSTANTIATE_STORE_CONFORMANCE(Mysql, RealClockFactory(), TlsFactory(),
                              FakeClockFactory());

}  // namespace
}  // namespace sessionkit::conformance
