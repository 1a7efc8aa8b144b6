#include "support/mariadb_server.h"

#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

namespace sessionkit::test {

std::string MariadbServer::Url(const std::string& query) const {
  return "mysql://" + options_.user + ":" + options_.password +
         "@127.0.0.1:" + std::to_string(port()) + "/" + options_.database +
         (query.empty() ? "" : "?" + query);
}

Result<std::string> MariadbServer::Sql(const std::string& sql) const {
  Result<CommandResult> run =
      RunCommand({"mariadb", "--no-defaults", "--protocol=socket",
                  "--socket=" + socket(), "-uroot", "-N", "-B", "-e", sql},
                 Duration(30000));
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return Status::Unavailable("mariadb -e '" + sql.substr(0, 200) +
                               "' failed: " + run->output);
  }
  return run->output;
}

Result<std::unique_ptr<MariadbServer>> StartMariadb(
    const MariadbServerOptions& options) {
  Result<std::string> dir = MakeTempDir(options.name);
  if (!dir.ok()) return dir.status();
  const std::string data = *dir + "/data";
  const bool root = geteuid() == 0;
  std::vector<std::string> install = {
      "mariadb-install-db", "--no-defaults", "--datadir=" + data,
      "--auth-root-authentication-method=normal", "--skip-test-db",
      "--skip-name-resolve",
      // Its own temporary files beside the data: two installs at once
      // (tests of two binaries) could meet in /tmp.
      "--tmpdir=" + *dir};
  if (root) install.push_back("--user=root");
  Result<CommandResult> installed = RunCommand(install, Duration(60000), *dir);
  if (!installed.ok()) return installed.status();
  if (installed->exit_code != 0) {
    return Status::Unavailable("mariadb-install-db failed: " +
                               installed->output);
  }

  if (options.tls) SK_RETURN_IF_ERROR(MakeTestCertificates(*dir));

  ServerSpec spec;
  spec.name = options.name;
  spec.binary = "mariadbd";
  spec.dir = *dir;
  spec.owns_dir = true;
  spec.start_timeout = Duration(30000);
  spec.stop_timeout = Duration(15000);
  spec.args = [dir = *dir, data, root,
               tls = options.tls](const std::vector<int>& ports) {
    std::vector<std::string> args = {"--no-defaults",
                                     "--datadir=" + data,
                                     "--socket=" + dir + "/mysqld.sock",
                                     "--pid-file=" + dir + "/mariadbd.pid",
                                     "--port=" + std::to_string(ports[0]),
                                     "--bind-address=127.0.0.1",
                                     "--skip-name-resolve",
                                     "--tmpdir=" + dir,
                                     "--skip-log-bin",
                                     "--innodb-buffer-pool-size=32M",
                                     "--innodb-log-file-size=16M",
                                     "--innodb-flush-log-at-trx-commit=2",
                                     "--performance-schema=OFF",
                                     "--max-connections=1000",
                                     "--max-allowed-packet=64M"};
    if (root) args.push_back("--user=root");
    if (tls) {
      args.push_back("--ssl-ca=" + dir + "/ca.crt");
      args.push_back("--ssl-cert=" + dir + "/server.crt");
      args.push_back("--ssl-key=" + dir + "/server.key");
    }
    return args;
  };
  Result<std::unique_ptr<TestServer>> started = TestServer::Start(spec);
  if (!started.ok()) return started.status();

  std::unique_ptr<MariadbServer> server(new MariadbServer());
  server->options_ = options;
  server->process_ = std::move(*started);
  const std::string account = "'" + options.user + "'@'127.0.0.1'";
  Result<std::string> made =
      server->Sql("CREATE DATABASE IF NOT EXISTS `" + options.database + "`; " +
                  "CREATE USER IF NOT EXISTS " + account + " IDENTIFIED BY '" +
                  options.password + "'; GRANT ALL ON `" + options.database +
                  "`.* TO " + account + ";");
  if (!made.ok()) return made.status();
  return server;
}

MariadbEnvironment* MariadbEnvironment::Add(MariadbServerOptions options) {
  auto* env = new MariadbEnvironment(std::move(options));
  ::testing::AddGlobalTestEnvironment(env);  // gtest owns it
  return env;
}

void MariadbEnvironment::SetUp() {
  Result<std::unique_ptr<MariadbServer>> started = StartMariadb(options_);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  server_ = std::move(*started);
}

void MariadbEnvironment::TearDown() { server_.reset(); }

}  // namespace sessionkit::test
