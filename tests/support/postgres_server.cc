#include "support/postgres_server.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sessionkit::test {
namespace {

constexpr char kBinDir[] = "/usr/lib/postgresql/15/bin/";

std::string Quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += c;
  }
  return out + "'";
}

// When running as root: the prefix that runs a command as the postgres
// system user, after giving it `dirs`.
Result<std::vector<std::string>> AsPostgres(
    const std::vector<std::string>& dirs) {
  if (geteuid() != 0) return std::vector<std::string>{};
  const passwd* pw = getpwnam("postgres");
  if (pw == nullptr) {
    return Status::Unavailable(
        "running as root, and there is no postgres system user to run the "
        "server as (PostgreSQL refuses root)");
  }
  for (const std::string& d : dirs) {
    if (chown(d.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return Status::Unavailable("chown " + d + ": " + std::strerror(errno));
    }
  }
  // The uid change clears the parent-death signal TestServer set: setpriv
  // sets it again, so the server still dies with the test.
  return std::vector<std::string>{"setpriv",
                                  "--reuid=postgres",
                                  "--regid=postgres",
                                  "--init-groups",
                                  "--pdeathsig",
                                  "SIGKILL",
                                  "--"};
}

}  // namespace

std::string PostgresServer::Url(std::string_view query) const {
  std::string url = "postgres://" + options_.user + ":" + options_.password +
                    "@127.0.0.1:" + std::to_string(port()) + "/" +
                    options_.database;
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

Result<std::string> PostgresServer::Psql(const std::string& sql,
                                         const std::string& database) const {
  std::vector<std::string> argv = {
      std::string(kBinDir) + "psql",
      "-h",
      data_dir_,
      "-p",
      std::to_string(port()),
      "-U",
      "postgres",
      "-d",
      database.empty() ? options_.database : database,
      "-X",
      "-q",
      "-A",
      "-t",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      sql};
  Result<CommandResult> run = RunCommand(argv, Duration(30000));
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return Status::Unavailable("psql failed (exit " +
                               std::to_string(run->exit_code) +
                               "): " + run->output.substr(0, 1000));
  }
  return run->output;
}

Result<std::unique_ptr<PostgresServer>> StartPostgres(
    const PostgresServerOptions& options) {
  Result<std::string> dir = MakeTempDir(options.name);
  if (!dir.ok()) return dir.status();
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->options_ = options;
  server->data_dir_ = *dir + "/data";
  if (mkdir(server->data_dir_.c_str(), 0700) != 0) {
    return Status::Unavailable("mkdir " + server->data_dir_ + ": " +
                               std::strerror(errno));
  }
  Result<std::vector<std::string>> prefix =
      AsPostgres({*dir, server->data_dir_});
  if (!prefix.ok()) return prefix.status();

  std::vector<std::string> initdb = *prefix;
  initdb.insert(initdb.end(),
                {std::string(kBinDir) + "initdb", "-D", server->data_dir_, "-U",
                 "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                 "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"});
  Result<CommandResult> made = RunCommand(initdb, Duration(120000), *dir);
  if (!made.ok()) return made.status();
  if (made->exit_code != 0) {
    return Status::Unavailable("initdb failed (exit " +
                               std::to_string(made->exit_code) +
                               "): " + made->output.substr(0, 2000));
  }

  std::vector<std::string> settings = options.settings;
  if (options.tls) {
    const std::string tls = *dir + "/tls";
    if (mkdir(tls.c_str(), 0700) != 0) {
      return Status::Unavailable("mkdir " + tls + ": " + std::strerror(errno));
    }
    SK_RETURN_IF_ERROR(MakeTestCertificates(tls));
    SK_RETURN_IF_ERROR(
        AsPostgres({tls, tls + "/server.crt", tls + "/server.key"}).status());
    chmod((tls + "/server.key").c_str(), 0600);  // postgres insists
    server->ca_file_ = tls + "/ca.crt";
    settings.insert(settings.end(),
                    {"ssl=on", "ssl_cert_file=" + tls + "/server.crt",
                     "ssl_key_file=" + tls + "/server.key"});
  }

  ServerSpec spec;
  spec.name = options.name;
  spec.dir = *dir;
  spec.binary =
      prefix->empty() ? std::string(kBinDir) + "postgres" : prefix->front();
  spec.args = [prefix = *prefix, data = server->data_dir_,
               settings](const std::vector<int>& ports) {
    std::vector<std::string> args;
    if (!prefix.empty()) {
      args.assign(prefix.begin() + 1, prefix.end());
      args.push_back(std::string(kBinDir) + "postgres");
    }
    args.insert(args.end(), {"-D", data,
                             "-p", std::to_string(ports[0]),
                             "-c", "listen_addresses=127.0.0.1",
                             "-c", "unix_socket_directories=" + data,
                             "-c", "fsync=off",
                             "-c", "synchronous_commit=off",
                             "-c", "full_page_writes=off",
                             "-c", "shared_buffers=32MB",
                             "-c", "max_connections=200",
                             "-c", "logging_collector=off"});
    for (const std::string& s : settings) {
      args.insert(args.end(), {"-c", s});
    }
    return args;
  };
  spec.stop_signal = SIGINT;  // fast shutdown: ends the client sessions
  spec.owns_dir = true;
  Result<std::unique_ptr<TestServer>> process = TestServer::Start(spec);
  if (!process.ok()) return process.status();
  server->process_ = std::move(*process);

  // The port accepts before the server takes sessions: ask until it does.
  Result<std::string> ready = Status::Unavailable("not asked");
  for (int i = 0; i < 200; ++i) {
    ready = server->Psql("SELECT 1", "postgres");
    if (ready.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!ready.ok()) return ready.status();
  Result<std::string> role =
      server->Psql("CREATE ROLE " + options.user + " LOGIN PASSWORD " +
                       Quoted(options.password),
                   "postgres");
  if (!role.ok()) return role.status();
  Result<std::string> db = server->Psql(
      "CREATE DATABASE " + options.database + " OWNER " + options.user,
      "postgres");
  if (!db.ok()) return db.status();
  return server;
}

void PostgresEnvironment::SetUp() {
  Result<std::unique_ptr<PostgresServer>> server = StartPostgres(options_);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  *server_ = std::move(*server).release();
}

void PostgresEnvironment::TearDown() {
  delete *server_;
  *server_ = nullptr;
}

}  // namespace sessionkit::test
