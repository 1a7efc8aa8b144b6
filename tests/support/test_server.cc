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

#include "support/test_process.h"

namespace sessionkit::test {

namespace {

namespace fs = std::filesystem;

}  // namespace

using internal::BindEphemeral;
using internal::ConnectLoopback;
using internal::DescribeExit;
using internal::Errno;
using internal::JoinArgs;
using internal::Loopback;
using internal::PickFreePorts;
using internal::Quote;
using internal::RemainingMs;
using internal::SleepMs;
using internal::SpawnProcess;
using internal::SteadyClock;
using internal::WriteFile;

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

}  // namespace sessionkit::test
