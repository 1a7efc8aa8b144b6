// Real servers for integration tests: start a server binary (redis-server,
// memcached, later mariadbd and postgres) on 127.0.0.1 with ports chosen at
// run time and a data directory under SK_TEST_TMPDIR, wait until it answers,
// and stop it again, also when a test fails. Plus the misbehaving peers that
// timeout tests need: a listener that accepts and never answers, and a port
// where nothing listens.
//
// Processes started here never outlive the test process: each runs in its
// own process group, is stopped (SIGTERM, then SIGKILL) by its owner's
// destructor, and is killed by the kernel (PR_SET_PDEATHSIG) if the test
// process dies first. That signal fires when the *thread* that started the
// server exits, so start servers from the test's main thread (or from a
// thread that outlives them).
#ifndef SESSIONKIT_TESTS_SUPPORT_TEST_SERVER_H_
#define SESSIONKIT_TESTS_SUPPORT_TEST_SERVER_H_

#include <sys/types.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace sessionkit::test {

// --- Scratch directories ---------------------------------------------------

// The scratch directory of this test run: $SK_TEST_TMPDIR (set by ctest for
// every sk_add_test binary), else "test-tmp" in the current directory.
std::string TestTmpDir();

// Creates a new, empty directory "<TestTmpDir>/<prefix>.<pid>.<n>" (and its
// parents) and returns its path.
Result<std::string> MakeTempDir(std::string_view prefix);

// Removes `path` and everything below it. Refuses (and does nothing for) a
// path outside TestTmpDir(), so a bad argument cannot wipe anything else.
void RemoveTempDir(const std::string& path);

// RemoveTempDir, unless a test of this run has failed (what is there stays
// for the post-mortem) or SK_KEEP_TEST_DIRS is set in the environment.
void RemoveTempDirUnlessFailed(const std::string& path);

// --- Ports and probes ------------------------------------------------------

// A TCP port of 127.0.0.1 that was free a moment ago (bound to port 0, read
// back, closed). Another process may take it before it is used: starting a
// server on it must be retried with a new port on failure (TestServer does).
Result<int> PickFreePort();

// OK as soon as 127.0.0.1:`port` accepts a TCP connection; Unavailable when
// it did not within `timeout`.
Status WaitForPort(int port, Duration timeout);

// Connects to 127.0.0.1:`port`, sends `request` and reads until the reply
// holds at least `expected.size()` bytes, the peer closes, or `timeout`
// passes. OK when the reply begins with `expected`; otherwise Unavailable
// quoting what was received.
Status Probe(int port, std::string_view request, std::string_view expected,
             Duration timeout);

// Encodes a command as a RESP array ("*2\r\n$4\r\nAUTH\r\n..."), the form
// Redis, Sentinel and Cluster nodes accept for any bytes in arguments.
std::string RespCommand(const std::vector<std::string>& args);

// --- Running commands ------------------------------------------------------

struct CommandResult {
  int exit_code = 0;   // 128 + signal number when killed by a signal
  std::string output;  // stdout and stderr, interleaved
};

// Runs `argv` (argv[0] looked up on PATH, then /usr/sbin, /usr/local/sbin)
// in `cwd` (empty: the current directory) with stdin from /dev/null and
// waits for it. Unavailable when it cannot be started or runs longer than
// `timeout` (it is then killed). A non-zero exit is not an error: check
// exit_code.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 Duration timeout = Duration(30000),
                                 const std::string& cwd = "");

// The absolute path of `program` (PATH, then /usr/sbin, /usr/local/sbin),
// or NotFound.
Result<std::string> FindProgram(std::string_view program);

// --- Server processes ------------------------------------------------------

// How to start one server process.
struct ServerSpec {
  // Short name for messages and the log file, e.g. "redis".
  std::string name;
  // Program name (looked up as FindProgram does) or absolute path.
  std::string binary;
  // Working directory of the server; its stdout and stderr are appended to
  // "<dir>/<name>.log". Required; create it with MakeTempDir.
  std::string dir;
  // How many loopback ports to choose for each start.
  int port_count = 1;
  // The arguments after the program name, given the chosen ports. Called
  // again with new ports when a start is retried.
  std::function<std::vector<std::string>(const std::vector<int>& ports)> args;
  // Called before each start with the chosen ports, e.g. to write a config
  // file that names them. Optional.
  std::function<Status(const std::vector<int>& ports)> prepare;
  // Optional readiness probe: once every port accepts connections,
  // `probe_request` is sent to ports[probe_port] and the reply must begin
  // with `probe_reply` (e.g. "PING\r\n" / "+PONG").
  std::string probe_request;
  std::string probe_reply;
  size_t probe_port = 0;
  // Bound on one start, from spawn until the probe passes.
  Duration start_timeout{10000};
  // The signal Stop sends first, and the bound on the wait after it before
  // SIGKILL. (memcached takes a second to act on SIGTERM and keeps nothing
  // on disk: StartMemcached stops it with SIGKILL.)
  int stop_signal = SIGTERM;
  Duration stop_timeout{5000};
  // Remove `dir` when the TestServer is destroyed, unless a test of this
  // run has failed (its log then stays for the post-mortem) or
  // SK_KEEP_TEST_DIRS is set in the environment.
  bool owns_dir = false;
  // Starts tried, each with fresh ports, before giving up (a port chosen by
  // PickFreePort may have been taken meanwhile).
  int start_attempts = 3;
};

// One running server process, stopped by the destructor.
//
// Thread safety: not thread-safe; use one TestServer from one thread (the
// accessors may be read from any thread while no method runs).
class TestServer {
 public:
  // Starts the server and waits until it is ready (see ServerSpec). On
  // failure nothing is left running and the error quotes the end of the
  // server's log.
  static Result<std::unique_ptr<TestServer>> Start(ServerSpec spec);

  // Stops the server (as Stop) if it is running; removes the directory if
  // spec.owns_dir says so.
  ~TestServer();

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // The ports chosen at start; kept across Restart.
  int port(size_t i = 0) const { return ports_.at(i); }
  const std::vector<int>& ports() const { return ports_; }
  // The server's pid (also its process group id); 0 when not running.
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ != 0; }
  const std::string& dir() const { return spec_.dir; }
  const std::string& log_path() const { return log_path_; }

  // Up to the last `max_bytes` of the log, for failure messages.
  std::string LogTail(size_t max_bytes = 2000) const;

  // Sends spec.stop_signal (SIGTERM) to the server's process group, waits up
  // to spec.stop_timeout, then sends SIGKILL; the process is reaped either
  // way. OK when it was not running. Internal if it exited with a non-zero
  // status, on another signal than stop_signal, or had to be killed.
  Status Stop();

  // Kills the process group with SIGKILL at once and reaps it, like a crash
  // or a power cut (for failover tests). OK when it was not running.
  Status Kill();

  // Stops the server if running, then starts it again with the same ports,
  // arguments and directory, and waits until it is ready. Not retried on
  // other ports: clients know these ones.
  Status Restart();

  // SIGSTOP / SIGCONT to the process group: a server that still accepts
  // connections (the kernel completes handshakes) but answers nothing until
  // resumed.
  Status Pause();
  Status Resume();

 private:
  explicit TestServer(ServerSpec spec);
  // One spawn on ports_, waiting until ready.
  Status StartOnce();
  Status Spawn();
  Status WaitReady();
  // Waits up to `timeout` for the leader to exit; sweeps the group with
  // SIGKILL and reaps. Sets *exit_status (waitpid form); false on timeout.
  bool WaitExit(Duration timeout, int* exit_status);

  ServerSpec spec_;
  std::string program_;
  std::string log_path_;
  std::vector<int> ports_;
  pid_t pid_ = 0;
  bool paused_ = false;
};

// --- Misbehaving peers -----------------------------------------------------

// A TCP listener on 127.0.0.1 that accepts every connection and never sends
// a byte nor closes it: a server that hangs. Clients connect at once and
// then wait for a reply that never comes (read-timeout tests).
//
// Thread safety: port() and accepted() may be called from any thread.
class BlackholeListener {
 public:
  static Result<std::unique_ptr<BlackholeListener>> Start();
  // Closes the listener and every accepted connection.
  ~BlackholeListener();

  BlackholeListener(const BlackholeListener&) = delete;
  BlackholeListener& operator=(const BlackholeListener&) = delete;

  int port() const { return port_; }
  // Connections accepted so far.
  int accepted() const { return accepted_.load(); }

 private:
  BlackholeListener() = default;
  void Run();

  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};  // a pipe: writing wakes Run to exit
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::vector<int> connections_;  // owned by the Run thread until it ends
  std::thread thread_;
};

// A port of 127.0.0.1 where nothing listens: connecting is refused at once
// (ECONNREFUSED). The port stays bound, without listening, for the object's
// life, so no other process can start listening there and a client's
// ephemeral port can never equal it (which could otherwise make a TCP
// connection to itself).
//
// Thread safety: port() may be called from any thread.
class ClosedPort {
 public:
  static Result<std::unique_ptr<ClosedPort>> Make();
  ~ClosedPort();

  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;

  int port() const { return port_; }

 private:
  ClosedPort() = default;
  int fd_ = -1;
  int port_ = 0;
};

// --- Redis -----------------------------------------------------------------

struct RedisServerOptions {
  // requirepass; empty: no AUTH needed.
  std::string password;
  // Also listen with TLS on tls_port(), with the certificates of
  // MakeTestCertificates: made in the data directory, or those of tls_dir.
  // Clients need no certificate of their own unless tls_auth_clients. The
  // server's own TLS connections (replication, cluster bus) present
  // client.crt.
  bool tls = false;
  // With tls: a directory MakeTestCertificates wrote, whose CA and
  // certificates every server of a topology shares (so that one tls_ca
  // verifies them all, and they verify each other). Empty: new ones.
  std::string tls_dir;
  // With tls: no plain port ("port 0"), so nothing reaches the server
  // without TLS; port() is 0 and Cli() talks TLS. Replication goes over TLS
  // (tls-replication yes), and with cluster the cluster bus too, and the
  // ports the node announces are its TLS ports (tls-cluster yes).
  bool tls_only = false;
  // With tls: clients must present a certificate signed by the CA
  // (tls-auth-clients yes; otherwise "no").
  bool tls_auth_clients = false;
  // Run as a Redis Cluster node (cluster-enabled, nodes.conf in the data
  // directory, cluster-node-timeout 2000 ms) with its cluster bus on a port
  // of its own (cluster_bus_port(); not port + 10000, which may be taken or
  // above 65535). The node holds no slots: see StartRedisCluster.
  bool cluster = false;
  // redis.conf lines appended last (so they win), e.g. "maxmemory 1mb",
  // "replicaof 127.0.0.1 6380" (with a password, add "masterauth ...").
  std::vector<std::string> extra_config;
  // Names the data directory and log ("redis.<pid>.<n>/redis.log").
  std::string name = "redis";
};

struct RedisSentinelOptions;

// A redis-server started by StartRedis: runs in the foreground
// (daemonize no), with persistence off (save "", appendonly no), bound to
// 127.0.0.1, logging to "<dir>/<name>.log". These settings are in
// "<dir>/redis.conf", before options.extra_config (which may override them);
// only the ports are on the command line. The data directory is removed with
// the server unless a test failed (see ServerSpec::owns_dir).
//
// Thread safety: as TestServer.
class RedisServer {
 public:
  // The plain TCP port (open also with tls); 0 with tls_only.
  int port() const { return plain_ ? process_->port(0) : 0; }
  // The TLS port; 0 without options.tls.
  int tls_port() const { return tls_ ? process_->port(plain_ ? 1 : 0) : 0; }
  // The cluster bus port; 0 without options.cluster.
  int cluster_bus_port() const {
    return cluster_ ? process_->port((plain_ ? 1 : 0) + (tls_ ? 1 : 0)) : 0;
  }
  // The port clients use: port(), or tls_port() with tls_only.
  int client_port() const { return plain_ ? port() : tls_port(); }
  const std::string& dir() const { return process_->dir(); }
  // With tls: PEM files (in dir() or options.tls_dir). ca_file() verifies
  // server_cert_file() and client_cert_file().
  const std::string& ca_file() const { return ca_file_; }
  const std::string& server_cert_file() const { return cert_file_; }
  const std::string& server_key_file() const { return key_file_; }
  const std::string& client_cert_file() const { return client_cert_file_; }
  const std::string& client_key_file() const { return client_key_file_; }
  const std::string& password() const { return password_; }

  // The process, for Stop / Kill / Restart / Pause.
  TestServer& process() { return *process_; }

  // Runs `redis-cli -h 127.0.0.1 -p port() [auth] args...` (with tls_only:
  // `--tls` with the CA and client certificate, on tls_port()) and returns
  // its output (redis-cli's plain form, e.g. "PONG\n"). Unavailable when
  // redis-cli fails or the output begins with an error code (ERR, NOAUTH,
  // MOVED, READONLY, ...): redis-cli exits 0 after an error reply, so a
  // value that itself begins with such a word reads as an error here.
  Result<std::string> Cli(const std::vector<std::string>& args) const;

 private:
  friend Result<std::unique_ptr<RedisServer>> StartRedis(
      const RedisServerOptions& options);
  friend Result<std::unique_ptr<RedisServer>> StartRedisSentinel(
      const RedisSentinelOptions& options);
  // Sets the TLS files of `dir` (see MakeTestCertificates) and returns the
  // redis.conf lines that use them.
  std::string UseTlsFiles(const std::string& dir, bool auth_clients);
  // Without a plain port to probe: PING through Cli until it answers PONG
  // (10 s at most), which also checks the TLS settings.
  Status WaitForTlsPing() const;

  std::unique_ptr<TestServer> process_;
  bool plain_ = true;
  bool tls_ = false;
  bool cluster_ = false;
  std::string password_;
  std::string ca_file_, cert_file_, key_file_;
  std::string client_cert_file_, client_key_file_;
};

// Starts a redis-server (see RedisServer) and waits until it answers PING.
Result<std::unique_ptr<RedisServer>> StartRedis(
    const RedisServerOptions& options = {});

struct RedisClusterOptions {
  int masters = 3;
  int replicas_per_master = 0;
  // requirepass and masterauth of every node; empty: none.
  std::string password;
  // redis.conf lines for every node (see RedisServerOptions).
  std::vector<std::string> extra_config;
  // Every node TLS-only (RedisServerOptions::tls_only: TLS cluster bus and
  // replication, TLS ports announced), all with the certificates of one CA
  // made for the cluster (or those of tls_dir, see RedisServerOptions);
  // clients need a certificate of that CA when tls_auth_clients.
  bool tls = false;
  std::string tls_dir;
  bool tls_auth_clients = false;
  // Node i is named "<name>-<i>".
  std::string name = "redis-cluster";
};

// The nodes of a Redis Cluster started by StartRedisCluster.
//
// Thread safety: as TestServer.
class RedisCluster {
 public:
  // Stops the nodes; then removes the certificates it made for options.tls
  // (unless a test failed, see RemoveTempDirUnlessFailed).
  ~RedisCluster();

  size_t size() const { return nodes_.size(); }
  // Node i (the first `masters` nodes are the masters as created; a
  // failover may change roles later).
  RedisServer& node(size_t i) { return *nodes_.at(i); }
  // "127.0.0.1:p0,127.0.0.1:p1,...": every node's client_port(), for a
  // redis+cluster:// URL.
  std::string SeedList() const;

  // Waits until every running node reports cluster_state:ok and sees
  // 16384 slots assigned and ok, e.g. after a failover or a restart.
  Status WaitHealthy(Duration timeout = Duration(15000)) const;

 private:
  friend Result<std::unique_ptr<RedisCluster>> StartRedisCluster(
      const RedisClusterOptions& options);
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::string tls_dir_;  // the certificates it made for options.tls
};

// Starts masters * (1 + replicas_per_master) cluster nodes, joins them with
// `redis-cli --cluster create` (slots spread evenly over the masters) and
// waits until the cluster is healthy.
Result<std::unique_ptr<RedisCluster>> StartRedisCluster(
    const RedisClusterOptions& options = {});

// Writes a self-signed CA ("ca.crt", "ca.key"), a server certificate for
// 127.0.0.1 and localhost signed by it ("server.crt", "server.key") and a
// client certificate signed by it ("client.crt", "client.key", for
// tls-auth-clients) into `dir` with the openssl CLI. Valid for two days.
Status MakeTestCertificates(const std::string& dir);

struct RedisSentinelOptions {
  std::string master_name = "mymaster";
  int master_port = 0;          // the master to monitor on 127.0.0.1
  std::string master_password;  // sentinel auth-pass; empty: none
  std::string password;         // the sentinel's own requirepass
  int quorum = 2;
  // Short, so failover tests finish within seconds.
  Duration down_after{1000};
  Duration failover_timeout{5000};
  // TLS: the sentinel listens with TLS only (tls_port(); port() is 0) with
  // the certificates of tls_dir (see RedisServerOptions), requires client
  // certificates when tls_auth_clients, and talks TLS to the master, its
  // replicas and the other sentinels (tls-replication yes), presenting
  // client.crt.
  bool tls = false;
  std::string tls_dir;  // required with tls
  bool tls_auth_clients = false;
  std::string name = "sentinel";
};

// Starts `redis-server <dir>/sentinel.conf --sentinel` (Debian's
// redis-sentinel is the same binary) monitoring options.master_port and waits
// until it answers PING (with tls: until its TLS port accepts connections).
// The returned server's client_port() is the sentinel port.
Result<std::unique_ptr<RedisServer>> StartRedisSentinel(
    const RedisSentinelOptions& options);

// --- Memcached -------------------------------------------------------------

struct MemcachedOptions {
  // Largest item (-I); the default fits 1 MiB values with their key.
  std::string max_item_size = "2m";
  std::vector<std::string> extra_args;
  std::string name = "memcached";
};

// Starts memcached on 127.0.0.1 (TCP only, no UDP) and waits until it
// answers "version".
Result<std::unique_ptr<TestServer>> StartMemcached(
    const MemcachedOptions& options = {});

}  // namespace sessionkit::test

#endif  // SESSIONKIT_TESTS_SUPPORT_TEST_SERVER_H_
