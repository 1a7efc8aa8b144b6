// The Redis and Memcached servers of the tests (test_server.h).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "support/test_process.h"
#include "support/test_server.h"

namespace sessionkit::test {

using internal::JoinArgs;
using internal::Quote;
using internal::SleepMs;
using internal::SteadyClock;
using internal::WriteFile;

// --- Redis -----------------------------------------------------------------

Status MakeTestCertificates(const std::string& dir) {
  const std::string leaf_ext =
      "basicConstraints=CA:FALSE\n"
      "keyUsage=critical,digitalSignature,keyEncipherment\n";
  SK_RETURN_IF_ERROR(WriteFile(
      dir + "/server.ext", leaf_ext +
                               "extendedKeyUsage=serverAuth\n"
                               "subjectAltName=IP:127.0.0.1,DNS:localhost\n"));
  SK_RETURN_IF_ERROR(WriteFile(dir + "/client.ext",
                               leaf_ext + "extendedKeyUsage=clientAuth\n"));
  // EC keys: generated in milliseconds, unlike RSA.
  std::vector<std::vector<std::string>> steps = {
      {"openssl",
       "req",
       "-x509",
       "-new",
       "-nodes",
       "-newkey",
       "ec",
       "-pkeyopt",
       "ec_paramgen_curve:prime256v1",
       "-keyout",
       "ca.key",
       "-out",
       "ca.crt",
       "-days",
       "2",
       "-subj",
       "/CN=sessionkit test CA",
       "-addext",
       "basicConstraints=critical,CA:TRUE",
       "-addext",
       "keyUsage=critical,keyCertSign,cRLSign"}};
  // A key and a certificate signed by the CA, for each of the two roles.
  for (const auto& [leaf, subject] :
       {std::pair<std::string, std::string>{"server", "/CN=127.0.0.1"},
        {"client", "/CN=sessionkit test client"}}) {
    steps.push_back({"openssl", "req", "-new", "-nodes", "-newkey", "ec",
                     "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout",
                     leaf + ".key", "-out", leaf + ".csr", "-subj", subject});
    steps.push_back({"openssl", "x509", "-req", "-in", leaf + ".csr", "-CA",
                     "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                     leaf + ".crt", "-days", "2", "-extfile", leaf + ".ext"});
  }
  for (const auto& argv : steps) {
    Result<CommandResult> run = RunCommand(argv, Duration(30000), dir);
    if (!run.ok()) return run.status();
    if (run->exit_code != 0) {
      return Status::Unavailable(JoinArgs(argv) + " failed (exit " +
                                 std::to_string(run->exit_code) +
                                 "): " + run->output);
    }
  }
  return Status::OK();
}

namespace {

std::string RedisProbe(const std::string& password) {
  std::string probe;
  if (!password.empty()) probe = RespCommand({"AUTH", password});
  return probe + RespCommand({"PING"});
}

std::string RedisProbeReply(const std::string& password) {
  return password.empty() ? "+PONG" : "+OK\r\n+PONG";
}

}  // namespace

std::string RedisServer::UseTlsFiles(const std::string& dir,
                                     bool auth_clients) {
  ca_file_ = dir + "/ca.crt";
  cert_file_ = dir + "/server.crt";
  key_file_ = dir + "/server.key";
  client_cert_file_ = dir + "/client.crt";
  client_key_file_ = dir + "/client.key";
  return "tls-cert-file " + cert_file_ + "\ntls-key-file " + key_file_ +
         "\ntls-client-cert-file " + client_cert_file_ +
         "\ntls-client-key-file " + client_key_file_ + "\ntls-ca-cert-file " +
         ca_file_ + "\ntls-auth-clients " + (auth_clients ? "yes" : "no") +
         "\n";
}

Status RedisServer::WaitForTlsPing() const {
  const auto deadline = SteadyClock::now() + std::chrono::seconds(10);
  for (;;) {
    Result<std::string> pong = Cli({"PING"});
    if (pong.ok() && *pong == "PONG\n") return Status::OK();
    if (SteadyClock::now() >= deadline) {
      return Status::Unavailable(
          "127.0.0.1:" + std::to_string(tls_port()) +
          " did not answer PING over TLS within 10 s: " +
          (pong.ok() ? Quote(*pong) : pong.status().message()) + "; end of " +
          process_->log_path() + ":\n" + process_->LogTail());
    }
    SleepMs(20);
  }
}

Result<std::unique_ptr<RedisServer>> StartRedis(
    const RedisServerOptions& options) {
  Result<std::string> dir = MakeTempDir(options.name);
  if (!dir.ok()) return dir.status();
  auto redis = std::unique_ptr<RedisServer>(new RedisServer());
  redis->tls_ = options.tls;
  redis->plain_ = !(options.tls && options.tls_only);
  redis->cluster_ = options.cluster;
  redis->password_ = options.password;
  std::string tls_conf;
  if (options.tls) {
    std::string tls_dir = options.tls_dir;
    if (tls_dir.empty()) {
      SK_RETURN_IF_ERROR(MakeTestCertificates(*dir));
      tls_dir = *dir;
    }
    tls_conf = redis->UseTlsFiles(tls_dir, options.tls_auth_clients);
    if (options.tls_only) {
      tls_conf += "tls-replication yes\n";
      if (options.cluster) tls_conf += "tls-cluster yes\n";
    }
  }
  // Settings live in a file, so a password does not show in `ps`, and
  // extra_config lines come last so they override the defaults here. Only
  // the ports, chosen per attempt, are given on the command line.
  std::string conf =
      "bind 127.0.0.1\n"
      "daemonize no\n"
      "save \"\"\n"
      "appendonly no\n"
      "dir " +
      *dir +
      "\n"
      "logfile \"\"\n";  // stdout, which TestServer appends to <name>.log
  if (!options.password.empty()) {
    conf += "requirepass " + options.password + "\n";
  }
  conf += tls_conf;
  if (options.cluster) {
    conf +=
        "cluster-enabled yes\n"
        "cluster-config-file nodes.conf\n"
        "cluster-node-timeout 2000\n";
  }
  for (const std::string& line : options.extra_config) conf += line + "\n";
  const std::string conf_path = *dir + "/redis.conf";
  SK_RETURN_IF_ERROR(WriteFile(conf_path, conf));

  ServerSpec spec;
  spec.name = options.name;
  spec.binary = "redis-server";
  spec.dir = *dir;
  const bool plain = redis->plain_;
  spec.port_count =
      (plain ? 1 : 0) + (options.tls ? 1 : 0) + (options.cluster ? 1 : 0);
  spec.args = [conf_path, plain, tls = options.tls,
               cluster = options.cluster](const std::vector<int>& ports) {
    std::vector<std::string> args = {conf_path, "--port",
                                     plain ? std::to_string(ports[0]) : "0"};
    size_t next = plain ? 1 : 0;
    if (tls) {
      args.insert(args.end(), {"--tls-port", std::to_string(ports[next++])});
    }
    if (cluster) {
      args.insert(args.end(),
                  {"--cluster-port", std::to_string(ports[next++])});
    }
    return args;
  };
  spec.owns_dir = true;
  if (plain) {
    spec.probe_request = RedisProbe(options.password);
    spec.probe_reply = RedisProbeReply(options.password);
  }
  Result<std::unique_ptr<TestServer>> process = TestServer::Start(spec);
  if (!process.ok()) return process.status();
  redis->process_ = std::move(*process);
  if (!plain) SK_RETURN_IF_ERROR(redis->WaitForTlsPing());
  return redis;
}

Result<std::unique_ptr<RedisServer>> StartRedisSentinel(
    const RedisSentinelOptions& options) {
  if (options.master_port <= 0) {
    return Status::InvalidArgument("StartRedisSentinel: master_port not set");
  }
  Result<std::string> dir = MakeTempDir(options.name);
  if (!dir.ok()) return dir.status();
  if (options.tls && options.tls_dir.empty()) {
    return Status::InvalidArgument("StartRedisSentinel: tls without tls_dir");
  }
  auto sentinel = std::unique_ptr<RedisServer>(new RedisServer());
  sentinel->password_ = options.password;
  sentinel->tls_ = options.tls;
  sentinel->plain_ = !options.tls;
  const std::string& m = options.master_name;
  // Sentinel rewrites this file with what it learns; a Restart reads it back.
  std::string conf =
      "bind 127.0.0.1\n"
      "daemonize no\n"
      "dir " +
      *dir +
      "\n"
      "logfile \"\"\n"
      "sentinel monitor " +
      m + " 127.0.0.1 " + std::to_string(options.master_port) + " " +
      std::to_string(options.quorum) + "\n" +
      "sentinel down-after-milliseconds " + m + " " +
      std::to_string(options.down_after.count()) + "\n" +
      "sentinel failover-timeout " + m + " " +
      std::to_string(options.failover_timeout.count()) + "\n" +
      "sentinel parallel-syncs " + m + " 1\n";
  if (!options.master_password.empty()) {
    conf += "sentinel auth-pass " + m + " " + options.master_password + "\n";
  }
  if (!options.password.empty()) {
    conf += "requirepass " + options.password + "\n";
  }
  if (options.tls) {
    conf += sentinel->UseTlsFiles(options.tls_dir, options.tls_auth_clients) +
            "tls-replication yes\n";
  }
  const std::string conf_path = *dir + "/sentinel.conf";
  SK_RETURN_IF_ERROR(WriteFile(conf_path, conf));

  ServerSpec spec;
  spec.name = options.name;
  spec.binary = "redis-server";
  spec.dir = *dir;
  spec.args = [conf_path, tls = options.tls](const std::vector<int>& ports) {
    const std::string port = std::to_string(ports[0]);
    if (tls) {
      return std::vector<std::string>{conf_path, "--sentinel", "--port",
                                      "0",       "--tls-port", port};
    }
    return std::vector<std::string>{conf_path, "--sentinel", "--port", port};
  };
  spec.owns_dir = true;
  if (!options.tls) {
    spec.probe_request = RedisProbe(options.password);
    spec.probe_reply = RedisProbeReply(options.password);
  }
  Result<std::unique_ptr<TestServer>> process = TestServer::Start(spec);
  if (!process.ok()) return process.status();
  sentinel->process_ = std::move(*process);
  if (options.tls) SK_RETURN_IF_ERROR(sentinel->WaitForTlsPing());
  return sentinel;
}

Result<std::string> RedisServer::Cli(
    const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"redis-cli", "-h", "127.0.0.1", "-p",
                                   std::to_string(client_port())};
  if (!plain_) {
    argv.insert(argv.end(), {"--tls", "--cacert", ca_file_, "--cert",
                             client_cert_file_, "--key", client_key_file_});
  }
  if (!password_.empty()) {
    argv.insert(argv.end(), {"-a", password_, "--no-auth-warning"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  Result<CommandResult> run = RunCommand(argv, Duration(30000));
  if (!run.ok()) return run.status();
  const std::string& out = run->output;
  // redis-cli exits 0 after an error reply; its output names the error.
  static constexpr const char* kErrors[] = {"(error)",
                                            "ERR ",
                                            "WRONGTYPE ",
                                            "NOAUTH ",
                                            "WRONGPASS ",
                                            "NOPERM ",
                                            "READONLY ",
                                            "MOVED ",
                                            "ASK ",
                                            "CLUSTERDOWN ",
                                            "LOADING ",
                                            "BUSY ",
                                            "NOSCRIPT ",
                                            "MASTERDOWN ",
                                            "EXECABORT ",
                                            "AUTH failed",
                                            "Could not connect"};
  bool error_reply = false;
  for (const char* e : kErrors) error_reply |= out.rfind(e, 0) == 0;
  if (run->exit_code != 0 || error_reply) {
    // The arguments are quoted, the password (-a) is not.
    return Status::Unavailable("redis-cli -p " + std::to_string(client_port()) +
                               " " + JoinArgs(args) + " failed (exit " +
                               std::to_string(run->exit_code) +
                               "): " + Quote(out, 500));
  }
  return out;
}

std::string RedisCluster::SeedList() const {
  std::string out;
  for (const auto& node : nodes_) {
    if (!out.empty()) out += ',';
    out += "127.0.0.1:" + std::to_string(node->client_port());
  }
  return out;
}

RedisCluster::~RedisCluster() {
  nodes_.clear();
  if (!tls_dir_.empty()) RemoveTempDirUnlessFailed(tls_dir_);
}

Status RedisCluster::WaitHealthy(Duration timeout) const {
  const auto deadline = SteadyClock::now() + timeout;
  for (const auto& node : nodes_) {
    if (!node->process().running()) continue;
    std::string last;
    for (;;) {
      Result<std::string> info = node->Cli({"CLUSTER", "INFO"});
      last = info.ok() ? *info : info.status().ToString();
      if (info.ok() && info->find("cluster_state:ok") != std::string::npos &&
          info->find("cluster_slots_ok:16384") != std::string::npos) {
        break;
      }
      if (SteadyClock::now() >= deadline) {
        return Status::Unavailable(
            "the cluster node on 127.0.0.1:" +
            std::to_string(node->client_port()) + " is not healthy after " +
            std::to_string(timeout.count()) + " ms: " + Quote(last, 400));
      }
      SleepMs(50);
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<RedisCluster>> StartRedisCluster(
    const RedisClusterOptions& options) {
  if (options.masters < 3) {
    return Status::InvalidArgument(
        "StartRedisCluster: redis-cli --cluster create needs 3 masters or "
        "more");
  }
  auto cluster = std::unique_ptr<RedisCluster>(new RedisCluster());
  if (options.tls && options.tls_dir.empty()) {
    Result<std::string> tls_dir = MakeTempDir(options.name + "-tls");
    if (!tls_dir.ok()) return tls_dir.status();
    cluster->tls_dir_ = *tls_dir;
    SK_RETURN_IF_ERROR(MakeTestCertificates(*tls_dir));
  }
  const int total = options.masters * (1 + options.replicas_per_master);
  std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
  for (int i = 0; i < total; ++i) {
    RedisServerOptions node;
    node.password = options.password;
    node.cluster = true;
    node.tls = node.tls_only = options.tls;
    node.tls_dir =
        options.tls_dir.empty() ? cluster->tls_dir_ : options.tls_dir;
    node.tls_auth_clients = options.tls_auth_clients;
    if (!options.password.empty()) {
      node.extra_config.push_back("masterauth " + options.password);
    }
    node.extra_config.insert(node.extra_config.end(),
                             options.extra_config.begin(),
                             options.extra_config.end());
    node.name = options.name + "-" + std::to_string(i);
    Result<std::unique_ptr<RedisServer>> started = StartRedis(node);
    if (!started.ok()) return started.status();
    argv.push_back("127.0.0.1:" + std::to_string((*started)->client_port()));
    cluster->nodes_.push_back(std::move(*started));
  }
  argv.insert(argv.end(),
              {"--cluster-replicas",
               std::to_string(options.replicas_per_master), "--cluster-yes"});
  if (!options.password.empty()) {
    argv.insert(argv.end(), {"-a", options.password, "--no-auth-warning"});
  }
  if (options.tls) {
    const RedisServer& first = *cluster->nodes_.front();
    argv.insert(argv.end(),
                {"--tls", "--cacert", first.ca_file(), "--cert",
                 first.client_cert_file(), "--key", first.client_key_file()});
  }
  Result<CommandResult> created = RunCommand(argv, Duration(60000));
  if (!created.ok()) return created.status();
  if (created->exit_code != 0 ||
      created->output.find("[OK] All 16384 slots covered") ==
          std::string::npos) {
    return Status::Unavailable("redis-cli --cluster create failed (exit " +
                               std::to_string(created->exit_code) +
                               "): " + Quote(created->output, 2000));
  }
  SK_RETURN_IF_ERROR(cluster->WaitHealthy());
  return cluster;
}

// --- Memcached -------------------------------------------------------------

Result<std::unique_ptr<TestServer>> StartMemcached(
    const MemcachedOptions& options) {
  Result<std::string> dir = MakeTempDir(options.name);
  if (!dir.ok()) return dir.status();
  ServerSpec spec;
  spec.name = options.name;
  spec.binary = "memcached";
  spec.dir = *dir;
  spec.args = [options](const std::vector<int>& ports) {
    std::vector<std::string> args = {
        "-l", "127.0.0.1", "-p", std::to_string(ports[0]),
        "-U", "0",         "-I", options.max_item_size,
        "-m", "64"};
    if (geteuid() == 0) args.insert(args.end(), {"-u", "root"});
    args.insert(args.end(), options.extra_args.begin(),
                options.extra_args.end());
    return args;
  };
  spec.owns_dir = true;
  spec.stop_signal = SIGKILL;
  spec.probe_request = "version\r\n";
  spec.probe_reply = "VERSION ";
  return TestServer::Start(spec);
}

}  // namespace sessionkit::test
