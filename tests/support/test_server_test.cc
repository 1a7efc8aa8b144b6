#include "support/test_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "support/test_status.h"

namespace sessionkit::test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using SteadyClock = std::chrono::steady_clock;

// True while `pid` exists and is not a zombie waiting to be reaped by
// someone else (an orphan's reaper may be slow, or absent in a container).
bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0) return errno != ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  return line[paren + 2] != 'Z';
}

bool GoneWithin(pid_t pid, std::chrono::milliseconds bound) {
  const auto deadline = SteadyClock::now() + bound;
  while (ProcessAlive(pid)) {
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Connects to 127.0.0.1:port (blocking); the socket, or -errno.
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

// --- Directories, ports, commands ------------------------------------------

TEST(TempDirTest, MakesFreshDirectoriesUnderTheScratchDir) {
  Result<std::string> a = MakeTempDir("support");
  Result<std::string> b = MakeTempDir("support");
  SK_ASSERT_OK(a);
  SK_ASSERT_OK(b);
  EXPECT_NE(*a, *b);
  EXPECT_THAT(*a, StartsWith(TestTmpDir() + "/support."));
  EXPECT_TRUE(fs::is_directory(*a));
  EXPECT_TRUE(fs::is_empty(*a));
  std::ofstream(*a + "/file") << "x";
  fs::create_directory(*a + "/sub");
  RemoveTempDir(*a);
  RemoveTempDir(*b);
  EXPECT_FALSE(fs::exists(*a));
  EXPECT_FALSE(fs::exists(*b));
}

TEST(TempDirTest, RefusesToRemoveOutsideTheScratchDir) {
  // A sibling of the scratch dir (still inside the build tree).
  const fs::path outside = fs::path(TestTmpDir()).parent_path() /
                           ("sk-outside." + std::to_string(getpid()));
  fs::create_directories(outside);
  std::ofstream(outside / "keep") << "x";
  RemoveTempDir(outside.string());
  RemoveTempDir(TestTmpDir() + "/../" + outside.filename().string());
  RemoveTempDir(TestTmpDir());  // the scratch dir itself
  EXPECT_TRUE(fs::exists(outside / "keep"));
  EXPECT_TRUE(fs::exists(TestTmpDir()));
  fs::remove_all(outside);
}

TEST(PortTest, PickFreePortGivesABindablePort) {
  Result<int> port = PickFreePort();
  SK_ASSERT_OK(port);
  EXPECT_GT(*port, 0);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(*port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << strerror(errno);
  close(fd);
}

TEST(RunCommandTest, CapturesOutputAndExitCode) {
  Result<CommandResult> run =
      RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  SK_ASSERT_OK(run);
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_THAT(run->output, HasSubstr("out\n"));
  EXPECT_THAT(run->output, HasSubstr("err\n"));
}

TEST(RunCommandTest, KillsACommandThatRunsTooLong) {
  const auto start = SteadyClock::now();
  Result<CommandResult> run = RunCommand({"sleep", "10"}, Duration(200));
  EXPECT_TRUE(run.status().IsUnavailable()) << run.status().ToString();
  EXPECT_LT(SteadyClock::now() - start, std::chrono::seconds(3));
}

TEST(RunCommandTest, MissingProgramIsNotFound) {
  Result<CommandResult> run = RunCommand({"sk-no-such-program"});
  EXPECT_TRUE(run.status().IsNotFound()) << run.status().ToString();
}

// --- Generic servers -------------------------------------------------------

TEST(TestServerTest, AServerThatExitsAtStartFailsWithItsLog) {
  Result<std::string> dir = MakeTempDir("failing");
  SK_ASSERT_OK(dir);
  ServerSpec spec;
  spec.name = "failing";
  spec.binary = "sh";
  spec.dir = *dir;
  spec.start_attempts = 2;
  spec.args = [](const std::vector<int>& ports) {
    return std::vector<std::string>{
        "-c", "echo cannot listen on " + std::to_string(ports[0]) + "; exit 1"};
  };
  Result<std::unique_ptr<TestServer>> server = TestServer::Start(spec);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("cannot listen on"));
  EXPECT_THAT(server.status().message(), HasSubstr("2 attempts"));
  RemoveTempDir(*dir);
}

TEST(TestServerTest, AServerThatNeverListensTimesOutAndIsKilled) {
  Result<std::string> dir = MakeTempDir("silent");
  SK_ASSERT_OK(dir);
  ServerSpec spec;
  spec.name = "silent";
  spec.binary = "sh";
  spec.dir = *dir;
  spec.start_attempts = 1;
  spec.start_timeout = Duration(300);
  spec.args = [dir = *dir](const std::vector<int>&) {
    return std::vector<std::string>{"-c",
                                    "echo $$ > " + dir + "/pid; exec sleep 30"};
  };
  Result<std::unique_ptr<TestServer>> server = TestServer::Start(spec);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("did not accept"));
  pid_t pid = 0;
  std::ifstream(*dir + "/pid") >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(GoneWithin(pid, std::chrono::milliseconds(1000)));
  RemoveTempDir(*dir);
}

// --- Redis -----------------------------------------------------------------

TEST(RedisServerTest, StartsAnswersAndStopsLeavingNoProcess) {
  Result<std::unique_ptr<RedisServer>> redis = StartRedis();
  SK_ASSERT_OK(redis);
  const pid_t pid = (*redis)->process().pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(ProcessAlive(pid));
  SK_EXPECT_OK(Probe((*redis)->port(), "PING\r\n", "+PONG", Duration(1000)));
  Result<std::string> info = (*redis)->Cli({"CONFIG", "GET", "save"});
  SK_ASSERT_OK(info);
  EXPECT_EQ(*info, "save\n\n") << "persistence is on";
  info = (*redis)->Cli({"CONFIG", "GET", "appendonly"});
  SK_ASSERT_OK(info);
  EXPECT_EQ(*info, "appendonly\nno\n");
  const std::string log = (*redis)->process().log_path();

  SK_EXPECT_OK((*redis)->process().Stop());
  EXPECT_FALSE((*redis)->process().running());
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_FALSE(WaitForPort((*redis)->port(), Duration(100)).ok());
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("Ready to accept connections"));
}

TEST(RedisServerTest, DestructorStopsTheServer) {
  pid_t pid = 0;
  {
    Result<std::unique_ptr<RedisServer>> redis = StartRedis();
    SK_ASSERT_OK(redis);
    pid = (*redis)->process().pid();
    ASSERT_TRUE(ProcessAlive(pid));
  }
  EXPECT_FALSE(ProcessAlive(pid));
}

// What the crashing child of the test below tells its parent.
struct ChildReport {
  pid_t pid = 0;  // of the redis-server it started
  char dir[1024] = {};
};

TEST(RedisServerTest, ServerDiesWithACrashedTestProcess) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(nullptr);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A test process that crashes while its server runs.
    Result<std::unique_ptr<RedisServer>> redis = StartRedis();
    ChildReport report;
    if (redis.ok()) {
      report.pid = (*redis)->process().pid();
      snprintf(report.dir, sizeof report.dir, "%s", (*redis)->dir().c_str());
    }
    (void)!write(fds[1], &report, sizeof report);
    signal(SIGABRT, SIG_DFL);
    abort();
  }
  close(fds[1]);
  ChildReport report;
  ASSERT_EQ(read(fds[0], &report, sizeof report),
            static_cast<ssize_t>(sizeof report));
  close(fds[0]);
  int status;
  waitpid(child, &status, 0);
  const pid_t server = report.pid;
  ASSERT_GT(server, 0) << "the child could not start redis";
  RemoveTempDir(report.dir);
  EXPECT_TRUE(GoneWithin(server, std::chrono::milliseconds(2000)))
      << "redis-server " << server << " outlived its crashed test process";
  if (ProcessAlive(server)) kill(server, SIGKILL);
}

TEST(RedisServerTest, KillAndRestartKeepThePortAndLoseTheData) {
  Result<std::unique_ptr<RedisServer>> redis = StartRedis();
  SK_ASSERT_OK(redis);
  RedisServer& r = **redis;
  SK_ASSERT_OK(r.Cli({"SET", "k", "v"}));
  const pid_t first = r.process().pid();
  const int port = r.port();

  SK_ASSERT_OK(r.process().Kill());
  EXPECT_FALSE(ProcessAlive(first));
  EXPECT_FALSE(WaitForPort(port, Duration(100)).ok());

  SK_ASSERT_OK(r.process().Restart());
  EXPECT_EQ(r.port(), port);
  EXPECT_NE(r.process().pid(), first);
  Result<std::string> got = r.Cli({"EXISTS", "k"});
  SK_ASSERT_OK(got);
  EXPECT_EQ(*got, "0\n") << "data survived a kill: persistence is on";
}

TEST(RedisServerTest, PausedServerAcceptsButDoesNotAnswer) {
  Result<std::unique_ptr<RedisServer>> redis = StartRedis();
  SK_ASSERT_OK(redis);
  SK_ASSERT_OK((*redis)->process().Pause());
  EXPECT_FALSE(
      Probe((*redis)->port(), "PING\r\n", "+PONG", Duration(200)).ok());
  SK_ASSERT_OK((*redis)->process().Resume());
  SK_EXPECT_OK(Probe((*redis)->port(), "PING\r\n", "+PONG", Duration(1000)));
}

TEST(RedisServerTest, PasswordIsRequired) {
  RedisServerOptions options;
  options.password = "s3cret-Pw";
  Result<std::unique_ptr<RedisServer>> redis = StartRedis(options);
  SK_ASSERT_OK(redis);
  EXPECT_FALSE(
      Probe((*redis)->port(), "PING\r\n", "+PONG", Duration(500)).ok());
  SK_EXPECT_OK(Probe((*redis)->port(),
                     RespCommand({"AUTH", "s3cret-Pw"}) + RespCommand({"PING"}),
                     "+OK\r\n+PONG", Duration(1000)));
  Result<std::string> pong = (*redis)->Cli({"PING"});
  SK_ASSERT_OK(pong);
  EXPECT_EQ(*pong, "PONG\n");
}

TEST(RedisServerTest, ExtraConfigIsApplied) {
  RedisServerOptions options;
  options.extra_config = {"maxmemory 12mb", "databases 4"};
  Result<std::unique_ptr<RedisServer>> redis = StartRedis(options);
  SK_ASSERT_OK(redis);
  Result<std::string> got = (*redis)->Cli({"CONFIG", "GET", "maxmemory"});
  SK_ASSERT_OK(got);
  EXPECT_EQ(*got, "maxmemory\n12582912\n");
  EXPECT_FALSE((*redis)->Cli({"SELECT", "5"}).ok()) << "databases 4 ignored";
}

TEST(RedisServerTest, TlsPortVerifiesWithTheGeneratedCa) {
  RedisServerOptions options;
  options.tls = true;
  Result<std::unique_ptr<RedisServer>> redis = StartRedis(options);
  SK_ASSERT_OK(redis);
  RedisServer& r = **redis;
  ASSERT_GT(r.tls_port(), 0);
  EXPECT_NE(r.tls_port(), r.port());
  EXPECT_TRUE(fs::exists(r.ca_file()));

  // redis-cli verifies the server certificate against the CA by default.
  Result<CommandResult> run =
      RunCommand({"redis-cli", "--tls", "--cacert", r.ca_file(), "-h",
                  "127.0.0.1", "-p", std::to_string(r.tls_port()), "PING"});
  SK_ASSERT_OK(run);
  EXPECT_EQ(run->output, "PONG\n");
  // Also by name: the certificate is for localhost as well.
  run = RunCommand({"redis-cli", "--tls", "--cacert", r.ca_file(), "-h",
                    "localhost", "-p", std::to_string(r.tls_port()), "PING"});
  SK_ASSERT_OK(run);
  EXPECT_EQ(run->output, "PONG\n");
  // The TLS port does not speak plain text.
  EXPECT_FALSE(Probe(r.tls_port(), "PING\r\n", "+PONG", Duration(300)).ok());
  // The plain port still does.
  SK_EXPECT_OK(Probe(r.port(), "PING\r\n", "+PONG", Duration(1000)));
}

TEST(RedisServerTest, SentinelFindsTheMaster) {
  Result<std::unique_ptr<RedisServer>> master = StartRedis();
  SK_ASSERT_OK(master);
  RedisSentinelOptions options;
  options.master_port = (*master)->port();
  options.quorum = 1;
  Result<std::unique_ptr<RedisServer>> sentinel = StartRedisSentinel(options);
  SK_ASSERT_OK(sentinel);
  Result<std::string> addr =
      (*sentinel)->Cli({"SENTINEL", "get-master-addr-by-name", "mymaster"});
  SK_ASSERT_OK(addr);
  EXPECT_EQ(*addr, "127.0.0.1\n" + std::to_string((*master)->port()) + "\n");
}

TEST(RedisClusterTest, ThreeMastersCoverEverySlot) {
  Result<std::unique_ptr<RedisCluster>> cluster = StartRedisCluster();
  SK_ASSERT_OK(cluster);
  RedisCluster& c = **cluster;
  ASSERT_EQ(c.size(), 3u);
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_GT(c.node(i).cluster_bus_port(), 0);
    EXPECT_NE(c.node(i).cluster_bus_port(), c.node(i).port());
    Result<std::string> info = c.node(i).Cli({"CLUSTER", "INFO"});
    SK_ASSERT_OK(info);
    EXPECT_THAT(*info, HasSubstr("cluster_state:ok"));
    EXPECT_THAT(*info, HasSubstr("cluster_known_nodes:3"));
    EXPECT_THAT(*info, HasSubstr("cluster_size:3"));
  }
  const std::string seeds = c.SeedList();
  EXPECT_EQ(std::count(seeds.begin(), seeds.end(), ','), 2);
  // -c follows the MOVED redirect to the key's master.
  SK_ASSERT_OK(c.node(0).Cli({"-c", "SET", "some-key", "v"}));
  Result<std::string> got = c.node(1).Cli({"-c", "GET", "some-key"});
  SK_ASSERT_OK(got);
  EXPECT_EQ(*got, "v\n");
}

// --- Memcached -------------------------------------------------------------

TEST(MemcachedTest, StartsAndStores) {
  Result<std::unique_ptr<TestServer>> mc = StartMemcached();
  SK_ASSERT_OK(mc);
  SK_EXPECT_OK(Probe((*mc)->port(), "set k 0 0 1\r\nv\r\nget k\r\n",
                     "STORED\r\nVALUE k 0 1\r\nv\r\nEND", Duration(1000)));
  const pid_t pid = (*mc)->pid();
  SK_EXPECT_OK((*mc)->Stop());
  EXPECT_FALSE(ProcessAlive(pid));
}

// --- Misbehaving peers -----------------------------------------------------

TEST(BlackholeTest, AcceptsAndNeverAnswers) {
  Result<std::unique_ptr<BlackholeListener>> hole = BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  int fd = Connect((*hole)->port());
  ASSERT_GE(fd, 0) << strerror(-fd);
  ASSERT_EQ(send(fd, "PING\r\n", 6, MSG_NOSIGNAL), 6);
  const auto start = SteadyClock::now();
  pollfd p{fd, POLLIN, 0};
  // No byte and no close (either would make the socket readable).
  EXPECT_EQ(poll(&p, 1, 200), 0) << "the blackhole answered or closed";
  EXPECT_GE(SteadyClock::now() - start, std::chrono::milliseconds(190));
  for (int i = 0; i < 100 && (*hole)->accepted() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ((*hole)->accepted(), 1);
  close(fd);
}

TEST(BlackholeTest, ClosesConnectionsWhenDestroyed) {
  Result<std::unique_ptr<BlackholeListener>> hole = BlackholeListener::Start();
  SK_ASSERT_OK(hole);
  int fd = Connect((*hole)->port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 100 && (*hole)->accepted() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  hole->reset();
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 1000), 1);
  char c;
  EXPECT_EQ(recv(fd, &c, 1, 0), 0) << "expected an orderly close";
  close(fd);
}

TEST(ClosedPortTest, RefusesConnections) {
  Result<std::unique_ptr<ClosedPort>> closed = ClosedPort::Make();
  SK_ASSERT_OK(closed);
  const auto start = SteadyClock::now();
  int fd = Connect((*closed)->port());
  EXPECT_EQ(fd, -ECONNREFUSED);
  if (fd >= 0) close(fd);
  EXPECT_LT(SteadyClock::now() - start, std::chrono::milliseconds(100));
  EXPECT_FALSE(WaitForPort((*closed)->port(), Duration(50)).ok());
}

}  // namespace
}  // namespace sessionkit::test
