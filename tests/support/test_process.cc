// The process and socket helpers of the test servers (test_process.h).
#include "support/test_process.h"

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

namespace sessionkit::test::internal {

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

std::string Quote(std::string_view bytes, size_t max) {
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

}  // namespace sessionkit::test::internal
