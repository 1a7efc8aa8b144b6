// A real MariaDB server for integration tests: a data directory bootstrapped
// with mariadb-install-db under TestTmpDir(), mariadbd on a free 127.0.0.1
// port with its Unix socket inside that directory (never the system's),
// a test database and a user with a password. Started once per test binary
// (a gtest Environment): bootstrapping takes a couple of seconds.
#ifndef SESSIONKIT_TESTS_SUPPORT_MARIADB_SERVER_H_
#define SESSIONKIT_TESTS_SUPPORT_MARIADB_SERVER_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "sessionkit/status.h"
#include "support/test_server.h"

namespace sessionkit::test {

struct MariadbServerOptions {
  // The database created for the tests, and the user (at 127.0.0.1) with
  // every privilege on it.
  std::string database = "sk_test";
  std::string user = "sk";
  std::string password = "sk-test-pw";
  // Also accept TLS, with the certificates of MakeTestCertificates made in
  // the data directory (ca_file() verifies the server's, made for
  // 127.0.0.1). Clients may still connect without TLS.
  bool tls = false;
  // Names the data directory and log ("<name>.<pid>.<n>/<name>.log").
  std::string name = "mariadb";
};

// Thread safety: as TestServer.
class MariadbServer {
 public:
  int port() const { return process_->port(); }
  const std::string& database() const { return options_.database; }
  const std::string& user() const { return options_.user; }
  const std::string& password() const { return options_.password; }
  // The server's Unix socket (root connects there, without a password).
  std::string socket() const { return process_->dir() + "/mysqld.sock"; }
  // With options.tls: the CA that signs the server's certificate.
  std::string ca_file() const { return process_->dir() + "/ca.crt"; }

  // mysql://user:password@127.0.0.1:port/database, then "?" and `query`
  // when not empty.
  std::string Url(const std::string& query = "") const;

  // Runs `sql` as root with the mariadb client (over the socket); returns
  // its output (tab-separated, no column names). Unavailable when the
  // client fails, quoting its output.
  Result<std::string> Sql(const std::string& sql) const;

  // The process, for Stop / Kill / Restart / Pause.
  TestServer& process() { return *process_; }

 private:
  friend Result<std::unique_ptr<MariadbServer>> StartMariadb(
      const MariadbServerOptions& options);
  MariadbServerOptions options_;
  std::unique_ptr<TestServer> process_;
};

// Bootstraps a data directory, starts mariadbd (as root with --user=root
// when this process is root), waits until it accepts connections and
// creates the database and the user of `options`.
Result<std::unique_ptr<MariadbServer>> StartMariadb(
    const MariadbServerOptions& options = {});

// A gtest Environment that starts one MariadbServer for the test binary
// and stops it at the end. Register it at namespace scope:
//   test::MariadbEnvironment* const kMariadb = test::MariadbEnvironment::Add(
//       options);
// and ask it for the server in tests (null when the start failed, which
// failed the run already).
//
// Thread safety: as any gtest Environment; server() may be read from any
// thread while tests run.
class MariadbEnvironment : public ::testing::Environment {
 public:
  static MariadbEnvironment* Add(MariadbServerOptions options);

  void SetUp() override;
  void TearDown() override;

  MariadbServer* server() const { return server_.get(); }

 private:
  explicit MariadbEnvironment(MariadbServerOptions options)
      : options_(std::move(options)) {}
  MariadbServerOptions options_;
  std::unique_ptr<MariadbServer> server_;
};

}  // namespace sessionkit::test

#endif  // SESSIONKIT_TESTS_SUPPORT_MARIADB_SERVER_H_
