#include "support/test_server.h"

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

namespace sessionkit::test {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

std::string Errno(int err) { return std::strerror(err); }

void SleepMs(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

int RemainingMs(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - SteadyClock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// A socket bound to 127.0.0.1:0 (not listening); fills *port.
Result<int> BindEphemeral(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable("socket(): " + Errno(errno));
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    close(fd);
    return Status::Unavailable("cannot bind a port on 127.0.0.1: " +
                               Errno(err));
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

Result<std::vector<int>> PickFreePorts(int count) {
  // All sockets stay bound until every port is read, so the ports differ.
  std::vector<int> fds, ports;
  Status error;
  for (int i = 0; i < count; ++i) {
    int port = 0;
    Result<int> fd = BindEphemeral(&port);
    if (!fd.ok()) {
      error = fd.status();
      break;
    }
    fds.push_back(*fd);
    ports.push_back(port);
  }
  for (int fd : fds) close(fd);
  if (!error.ok()) return error;
  return ports;
}

// Connects to 127.0.0.1:port within `timeout_ms`; the socket or -errno.
int ConnectLoopback(int port, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  sockaddr_in addr = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      int err = errno;
      close(fd);
      return -err;
    }
    pollfd p{fd, POLLOUT, 0};
    int n = poll(&p, 1, timeout_ms);
    int err = 0;
    socklen_t len = sizeof err;
    if (n <= 0) {
      err = n == 0 ? ETIMEDOUT : errno;
    } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = errno;
    }
    if (err != 0) {
      close(fd);
      return -err;
    }
  }
  return fd;
}

std::string Quote(std::string_view bytes, size_t max = 200) {
  std::string out = "\"";
  for (unsigned char c : bytes.substr(0, max)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += bytes.size() > max ? "\"..." : "\"";
  return out;
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  }
  return "ended (status " + std::to_string(status) + ")";
}

std::string JoinArgs(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a.empty() ? "\"\"" : a;
  }
  return out;
}

// Forks and execs `program` with `argv` (argv[0] included) in `cwd`, stdin
// from /dev/null and stdout+stderr on `out_fd`. The child leads a new process
// group and gets SIGKILL when this thread exits. Returns once exec succeeded.
Result<pid_t> SpawnProcess(const std::string& program,
                           const std::vector<std::string>& argv,
                           const std::string& cwd, int out_fd) {
  // Everything the child needs is prepared here: between fork and exec only
  // async-signal-safe calls are allowed (other threads may hold malloc's
  // lock at the moment of fork).
  std::vector<char*> cargv;
  for (const std::string& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const char* path = program.c_str();
  const char* dir = cwd.empty() ? nullptr : cwd.c_str();
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0)
    return Status::Unavailable("open /dev/null: " + Errno(errno));
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close(devnull);
    return Status::Unavailable("pipe2(): " + Errno(err));
  }
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, nullptr);  // an ignored SIGPIPE is inherited
    dup2(devnull, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    // The error pipe becomes fd 3; every other descriptor of the test
    // process (sockets, listeners) is closed so the server holds none.
    dup2(err_pipe[1], 3);
    fcntl(3, F_SETFD, FD_CLOEXEC);
    close_range(4, ~0U, 0);
    char tag = 'd';
    if (dir == nullptr || chdir(dir) == 0) {
      tag = 'x';
      execv(path, cargv.data());
    }
    int err = errno;
    char msg[1 + sizeof err];
    msg[0] = tag;
    std::memcpy(msg + 1, &err, sizeof err);
    (void)!write(3, msg, sizeof msg);
    _exit(127);
  }
  int fork_errno = errno;
  close(devnull);
  close(err_pipe[1]);
  if (pid < 0) {
    close(err_pipe[0]);
    return Status::Unavailable("fork(): " + Errno(fork_errno));
  }
  setpgid(pid, pid);  // also here, so kill(-pid) works at once; may fail
  char msg[1 + sizeof(int)];
  ssize_t n;
  do {
    n = read(err_pipe[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n <= 0) return pid;  // the pipe closed on exec
  int err = 0;
  std::memcpy(&err, msg + 1, sizeof err);
  int status;
  waitpid(pid, &status, 0);
  if (msg[0] == 'd') {
    return Status::Unavailable("cannot enter the directory " + cwd + ": " +
                               Errno(err));
  }
  return Status::Unavailable("cannot run " + program + ": " + Errno(err));
}

Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return Status::Unavailable("cannot write " + path);
  return Status::OK();
}

}  // namespace

// --- Scratch directories ---------------------------------------------------

std::string TestTmpDir() {
  const char* env = std::getenv("SK_TEST_TMPDIR");
  std::error_code ec;
  fs::path base =
      env != nullptr && *env != '\0' ? fs::path(env) : fs::path("test-tmp");
  fs::path abs = fs::absolute(base, ec);
  return (ec ? base : abs).lexically_normal().string();
}

Result<std::string> MakeTempDir(std::string_view prefix) {
  static std::atomic<int> counter{0};
  const std::string base = TestTmpDir();
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) {
    return Status::Unavailable("cannot create the test directory " + base +
                               ": " + ec.message());
  }
  for (int tries = 0; tries < 1000; ++tries) {
    std::string path = base + "/" + std::string(prefix) + "." +
                       std::to_string(getpid()) + "." +
                       std::to_string(counter.fetch_add(1));
    if (mkdir(path.c_str(), 0700) == 0) return path;
    if (errno != EEXIST) {
      return Status::Unavailable("cannot create " + path + ": " + Errno(errno));
    }
  }
  return Status::Unavailable("cannot find a free directory name under " + base);
}

void RemoveTempDir(const std::string& path) {
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(TestTmpDir(), ec);
  if (ec) return;
  const fs::path target = fs::weakly_canonical(path, ec);
  if (ec) return;
  // Only strictly below the scratch directory.
  auto [b, t] =
      std::mismatch(base.begin(), base.end(), target.begin(), target.end());
  if (b != base.end() || t == target.end()) return;
  fs::remove_all(target, ec);
}

void RemoveTempDirUnlessFailed(const std::string& path) {
  if (std::getenv("SK_KEEP_TEST_DIRS") == nullptr &&
      !::testing::Test::HasFailure() &&
      !::testing::UnitTest::GetInstance()->Failed()) {
    RemoveTempDir(path);
  }
}

// --- Ports and probes ------------------------------------------------------

Result<int> PickFreePort() {
  Result<std::vector<int>> ports = PickFreePorts(1);
  if (!ports.ok()) return ports.status();
  return ports->front();
}

Status WaitForPort(int port, Duration timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  int err = 0;
  for (;;) {
    int fd = ConnectLoopback(port,
                             std::max(1, std::min(100, RemainingMs(deadline))));
    if (fd >= 0) {
      close(fd);
      return Status::OK();
    }
    err = -fd;
    if (SteadyClock::now() >= deadline) break;
    SleepMs(10);
  }
  return Status::Unavailable("127.0.0.1:" + std::to_string(port) +
                             " did not accept a connection within " +
                             std::to_string(timeout.count()) +
                             " ms (last error: " + Errno(err) + ")");
}

Status Probe(int port, std::string_view request, std::string_view expected,
             Duration timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  const std::string where = "127.0.0.1:" + std::to_string(port);
  int fd = ConnectLoopback(port, std::max(1, RemainingMs(deadline)));
  if (fd < 0) {
    return Status::Unavailable(where + ": cannot connect: " + Errno(-fd));
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n =
        send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, RemainingMs(deadline)) > 0) continue;
    }
    close(fd);
    return Status::Unavailable(where + ": cannot send the probe " +
                               Quote(request));
  }
  std::string reply;
  bool closed = false;
  while (reply.size() < expected.size()) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, RemainingMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      closed = true;
      break;
    }
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (reply.compare(0, expected.size(), expected) == 0) return Status::OK();
  return Status::Unavailable(where + ": the probe " + Quote(request) + " got " +
                             Quote(reply) +
                             (closed ? " and the connection closed" : "") +
                             ", expected " + Quote(expected) + "...");
}

std::string RespCommand(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  }
  return out;
}

// --- Running commands ------------------------------------------------------

Result<std::string> FindProgram(std::string_view program) {
  const std::string name(program);
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) == 0) return name;
    return Status::NotFound(name + " is not an executable file");
  }
  std::string dirs;
  if (const char* path = std::getenv("PATH")) dirs = path;
  dirs += ":/usr/sbin:/usr/local/sbin:/sbin";
  std::stringstream in(dirs);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return Status::NotFound(name +
                          " was not found on PATH (nor in /usr/sbin, "
                          "/usr/local/sbin); is its package installed?");
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 Duration timeout, const std::string& cwd) {
  if (argv.empty()) return Status::InvalidArgument("RunCommand: empty argv");
  Result<std::string> program = FindProgram(argv[0]);
  if (!program.ok()) return program.status();
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return Status::Unavailable("pipe2(): " + Errno(errno));
  }
  Result<pid_t> pid = SpawnProcess(*program, argv, cwd, out[1]);
  close(out[1]);
  if (!pid.ok()) {
    close(out[0]);
    return pid.status();
  }
  const auto deadline = SteadyClock::now() + timeout;
  CommandResult result;
  bool timed_out = false;
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    int ready = poll(&p, 1, RemainingMs(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      timed_out = true;
      break;
    }
    char buf[4096];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  if (timed_out) kill(-*pid, SIGKILL);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status::Unavailable(JoinArgs(argv) + " did not finish within " +
                               std::to_string(timeout.count()) +
                               " ms; output: " + Quote(result.output, 500));
  }
  result.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// --- TestServer ------------------------------------------------------------

TestServer::TestServer(ServerSpec spec) : spec_(std::move(spec)) {}

TestServer::~TestServer() {
  (void)Stop();
  if (spec_.owns_dir) RemoveTempDirUnlessFailed(spec_.dir);
}

Result<std::unique_ptr<TestServer>> TestServer::Start(ServerSpec spec) {
  if (spec.name.empty() || spec.dir.empty() || !spec.args) {
    return Status::InvalidArgument(
        "TestServer: the spec needs a name, a dir and args");
  }
  if (spec.port_count < 1 ||
      (!spec.probe_request.empty() &&
       spec.probe_port >= static_cast<size_t>(spec.port_count))) {
    return Status::InvalidArgument("TestServer " + spec.name +
                                   ": bad port_count or probe_port");
  }
  Result<std::string> program = FindProgram(spec.binary);
  if (!program.ok()) return program.status();
  std::unique_ptr<TestServer> server(new TestServer(std::move(spec)));
  server->program_ = *program;
  server->log_path_ = server->spec_.dir + "/" + server->spec_.name + ".log";
  Status last;
  const int attempts = std::max(1, server->spec_.start_attempts);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    Result<std::vector<int>> ports = PickFreePorts(server->spec_.port_count);
    if (!ports.ok()) return ports.status();
    server->ports_ = *ports;
    last = server->StartOnce();
    if (last.ok()) return server;
  }
  return Status(last.code(), server->spec_.name + " (" + server->program_ +
                                 ") did not start in " +
                                 std::to_string(attempts) +
                                 " attempts: " + last.message());
}

Status TestServer::StartOnce() {
  if (spec_.prepare) SK_RETURN_IF_ERROR(spec_.prepare(ports_));
  SK_RETURN_IF_ERROR(Spawn());
  Status ready = WaitReady();
  if (!ready.ok()) {
    (void)Kill();
    return Status(ready.code(), ready.message() + "; end of " + log_path_ +
                                    ":\n" + LogTail());
  }
  return Status::OK();
}

Status TestServer::Spawn() {
  std::vector<std::string> argv = {program_};
  for (std::string& a : spec_.args(ports_)) argv.push_back(std::move(a));
  int log =
      open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) {
    return Status::Unavailable("cannot open " + log_path_ + ": " +
                               Errno(errno));
  }
  std::string banner = "=== sessionkit test: " + JoinArgs(argv) + "\n";
  (void)!write(log, banner.data(), banner.size());
  Result<pid_t> pid = SpawnProcess(program_, argv, spec_.dir, log);
  close(log);
  if (!pid.ok()) return pid.status();
  pid_ = *pid;
  paused_ = false;
  return Status::OK();
}

Status TestServer::WaitReady() {
  const auto deadline = SteadyClock::now() + spec_.start_timeout;
  auto exited = [&](Status* error) {
    int status = 0;
    if (WaitExit(Duration(0), &status)) {
      *error = Status::Unavailable(spec_.name + " " + DescribeExit(status) +
                                   " while starting");
      return true;
    }
    return false;
  };
  Status error;
  for (int port : ports_) {
    for (;;) {
      if (exited(&error)) return error;
      int fd = ConnectLoopback(
          port, std::max(1, std::min(100, RemainingMs(deadline))));
      if (fd >= 0) {
        close(fd);
        break;
      }
      if (SteadyClock::now() >= deadline) {
        return Status::Unavailable(
            spec_.name +
            " did not accept connections on 127.0.0.1:" + std::to_string(port) +
            " within " + std::to_string(spec_.start_timeout.count()) + " ms");
      }
      SleepMs(10);
    }
  }
  if (!spec_.probe_request.empty()) {
    const int port = ports_[spec_.probe_port];
    for (;;) {
      if (exited(&error)) return error;
      Status probe =
          Probe(port, spec_.probe_request, spec_.probe_reply,
                Duration(std::max(1, std::min(1000, RemainingMs(deadline)))));
      if (probe.ok()) break;
      if (SteadyClock::now() >= deadline) {
        return Status::Unavailable(spec_.name +
                                   " did not answer its probe within " +
                                   std::to_string(spec_.start_timeout.count()) +
                                   " ms: " + probe.message());
      }
      SleepMs(20);
    }
  }
  // The port may have answered for another process that took it first.
  if (exited(&error)) return error;
  return Status::OK();
}

bool TestServer::WaitExit(Duration timeout, int* exit_status) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    siginfo_t info{};
    // WNOWAIT keeps the zombie: its pid, and so the process group id, cannot
    // be reused before the group is swept below.
    int rc = waitid(P_PID, static_cast<id_t>(pid_), &info,
                    WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && info.si_pid == pid_) break;
    if (rc != 0 && errno == EINTR) continue;
    if (rc != 0 && errno == ECHILD) {  // reaped elsewhere; nothing to wait for
      pid_ = 0;
      *exit_status = 0;
      return true;
    }
    if (SteadyClock::now() >= deadline) return false;
    SleepMs(5);
  }
  kill(-pid_, SIGKILL);  // children the server left in its group
  while (waitpid(pid_, exit_status, 0) < 0 && errno == EINTR) {
  }
  pid_ = 0;
  paused_ = false;
  return true;
}

Status TestServer::Stop() {
  if (pid_ == 0) return Status::OK();
  const pid_t pid = pid_;
  const int sig = spec_.stop_signal;
  kill(-pid, sig);
  if (paused_)
    kill(-pid, SIGCONT);  // a stopped process acts on SIGTERM only then
  int status = 0;
  if (WaitExit(spec_.stop_timeout, &status)) {
    if ((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
        (WIFSIGNALED(status) && WTERMSIG(status) == sig)) {
      return Status::OK();
    }
    return Status::Internal(spec_.name + " (pid " + std::to_string(pid) + ") " +
                            DescribeExit(status) + " on " + strsignal(sig));
  }
  kill(-pid, SIGKILL);
  if (!WaitExit(Duration(10000), &status)) {
    return Status::Internal(spec_.name + " (pid " + std::to_string(pid) +
                            ") survived SIGKILL for 10 s");
  }
  return Status::Internal(spec_.name + " (pid " + std::to_string(pid) +
                          ") ignored " + strsignal(sig) + " for " +
                          std::to_string(spec_.stop_timeout.count()) +
                          " ms and was killed");
}

Status TestServer::Kill() {
  if (pid_ == 0) return Status::OK();
  const pid_t pid = pid_;
  kill(-pid, SIGKILL);
  int status = 0;
  if (!WaitExit(Duration(10000), &status)) {
    return Status::Internal(spec_.name + " (pid " + std::to_string(pid) +
                            ") survived SIGKILL for 10 s");
  }
  return Status::OK();
}

Status TestServer::Restart() {
  if (pid_ != 0) {
    Status stopped = Stop();
    if (pid_ != 0) return stopped;
  }
  return StartOnce();
}

namespace {

// Whether every thread of process `pid` is stopped (state T in
// /proc/PID/task/TID/stat); false when one cannot be read.
bool AllThreadsStopped(pid_t pid) {
  std::error_code error;
  std::filesystem::directory_iterator tasks(
      "/proc/" + std::to_string(pid) + "/task", error);
  if (error) return false;
  for (const auto& task : tasks) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    // "TID (comm) S ...": the state follows the last ')'.
    size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size() ||
        stat[close + 2] != 'T') {
      return false;
    }
  }
  return true;
}

}  // namespace

Status TestServer::Pause() {
  if (pid_ == 0) return Status::Internal(spec_.name + " is not running");
  if (kill(-pid_, SIGSTOP) != 0) {
    return Status::Internal("SIGSTOP to " + spec_.name + ": " + Errno(errno));
  }
  paused_ = true;
  // kill() only queues the stop: each thread stops when it next runs, which
  // on a loaded machine can be after the test's next requests were served.
  // Return once all have stopped, so that "paused" means paused.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!AllThreadsStopped(pid_)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::Internal(spec_.name + " (pid " + std::to_string(pid_) +
                              ") did not stop within 5 s of SIGSTOP");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::OK();
}

Status TestServer::Resume() {
  if (pid_ == 0) return Status::Internal(spec_.name + " is not running");
  if (kill(-pid_, SIGCONT) != 0) {
    return Status::Internal("SIGCONT to " + spec_.name + ": " + Errno(errno));
  }
  paused_ = false;
  return Status::OK();
}

std::string TestServer::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_, std::ios::binary);
  if (!in) return "(no log)";
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (text.size() > max_bytes)
    text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

// --- BlackholeListener -----------------------------------------------------

Result<std::unique_ptr<BlackholeListener>> BlackholeListener::Start() {
  std::unique_ptr<BlackholeListener> hole(new BlackholeListener());
  Result<int> fd = BindEphemeral(&hole->port_);
  if (!fd.ok()) return fd.status();
  hole->listen_fd_ = *fd;
  if (listen(hole->listen_fd_, 128) != 0) {
    return Status::Unavailable("listen(): " + Errno(errno));
  }
  if (pipe2(hole->wake_fds_, O_CLOEXEC) != 0) {
    return Status::Unavailable("pipe2(): " + Errno(errno));
  }
  hole->thread_ = std::thread([h = hole.get()] { h->Run(); });
  return hole;
}

void BlackholeListener::Run() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    int ready = poll(p, 2, -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || p[1].revents != 0) break;
    if (p[0].revents & POLLIN) {
      int fd =
          accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        connections_.push_back(fd);  // held open, never read nor written
        accepted_.fetch_add(1);
      }
    }
  }
  for (int fd : connections_) close(fd);
  connections_.clear();
}

BlackholeListener::~BlackholeListener() {
  if (thread_.joinable()) {
    char byte = 0;
    (void)!write(wake_fds_[1], &byte, 1);
    thread_.join();
  }
  for (int fd : {listen_fd_, wake_fds_[0], wake_fds_[1]}) {
    if (fd >= 0) close(fd);
  }
}

// --- ClosedPort ------------------------------------------------------------

Result<std::unique_ptr<ClosedPort>> ClosedPort::Make() {
  std::unique_ptr<ClosedPort> closed(new ClosedPort());
  Result<int> fd = BindEphemeral(&closed->port_);
  if (!fd.ok()) return fd.status();
  closed->fd_ = *fd;
  return closed;
}

ClosedPort::~ClosedPort() {
  if (fd_ >= 0) close(fd_);
}

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
