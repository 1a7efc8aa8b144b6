// A real PostgreSQL server for integration tests (Debian postgresql-15):
// initdb into a directory under TestTmpDir(), `postgres` on a free port of
// 127.0.0.1 with its Unix socket in the data directory (never the
// system's), a database and a role with a password for the tests
// (scram-sha-256 over the loopback, so a wrong password is refused), and
// stopped by pid. PostgreSQL refuses to run as root: when the tests run as
// root, initdb and postgres run as the `postgres` system user (setpriv) on
// a directory chowned to it.
#ifndef SESSIONKIT_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define SESSIONKIT_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/status.h"
#include "support/test_server.h"

namespace sessionkit::test {

struct PostgresServerOptions {
  // The role and database made for the tests (the role owns the database,
  // so it may create tables in its public schema).
  std::string user = "sk";
  std::string password = "sk-test-password";
  std::string database = "sk_test";
  // TLS on (ssl=on) with the certificates of MakeTestCertificates, made in
  // "<dir>/tls": ca_file() verifies the server as 127.0.0.1 or localhost.
  // Clients may still connect without TLS.
  bool tls = false;
  // More `-c name=value` settings of the server.
  std::vector<std::string> settings;
  // Names the directory and the log ("postgres.<pid>.<n>/postgres.log").
  std::string name = "postgres";
};

// Thread safety: as TestServer.
class PostgresServer {
 public:
  int port() const { return process_->port(); }
  const std::string& user() const { return options_.user; }
  const std::string& password() const { return options_.password; }
  const std::string& database() const { return options_.database; }
  const std::string& dir() const { return process_->dir(); }
  // With options.tls: the CA that signs the server certificate.
  const std::string& ca_file() const { return ca_file_; }

  // "postgres://user:password@127.0.0.1:port/database", then "?" and
  // `query` when not empty.
  std::string Url(std::string_view query = "") const;

  // The process, for Stop / Kill / Restart / Pause. Pause stops the
  // postmaster (new connections hang) but not the server processes of
  // connections made: PostgreSQL puts each in a process group of its own
  // (signal their pids, from pg_stat_activity, to stop those too).
  TestServer& process() { return *process_; }

  // Runs `sql` with psql as the superuser over the Unix socket, in
  // `database` (empty: the test database), and returns psql's unaligned,
  // tuples-only output. Unavailable quoting the output when psql fails.
  Result<std::string> Psql(const std::string& sql,
                           const std::string& database = "") const;

 private:
  friend Result<std::unique_ptr<PostgresServer>> StartPostgres(
      const PostgresServerOptions& options);

  PostgresServerOptions options_;
  std::string data_dir_;
  std::string ca_file_;
  std::unique_ptr<TestServer> process_;
};

// Initializes a cluster, starts it and creates the test role and database.
// Takes a few seconds: start one per test binary (a gtest Environment).
Result<std::unique_ptr<PostgresServer>> StartPostgres(
    const PostgresServerOptions& options = {});

// A gtest Environment that starts one postgres for the whole test binary
// (StartPostgres takes seconds: not once per test) and stops it at the end:
//   const auto* const kEnv = ::testing::AddGlobalTestEnvironment(
//       new PostgresEnvironment(options, &g_server));
// *server is set in SetUp (nullptr when the start failed, which fails the
// binary's tests) and reset in TearDown.
class PostgresEnvironment : public ::testing::Environment {
 public:
  PostgresEnvironment(PostgresServerOptions options, PostgresServer** server)
      : options_(std::move(options)), server_(server) {}
  void SetUp() override;
  void TearDown() override;

 private:
  PostgresServerOptions options_;
  PostgresServer** server_;
};

}  // namespace sessionkit::test

#endif  // SESSIONKIT_TESTS_SUPPORT_POSTGRES_SERVER_H_
