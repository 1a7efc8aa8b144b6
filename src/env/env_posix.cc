// Env::Default(): the Env of the operating system (Linux).
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "sessionkit/env.h"

namespace sessionkit {
namespace {

// The first line of `path` (empty when it cannot be read).
std::string FirstLine(const char* path) {
  std::string line;
  if (FILE* f = std::fopen(path, "re")) {
    char buf[128] = {};
    if (std::fgets(buf, sizeof buf, f) != nullptr) line = buf;
    std::fclose(f);
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.pop_back();
  }
  return line;
}

// What tells this machine, this boot and this pid namespace apart from every
// other: two hosts with the same name, a rebooted host, and two containers
// sharing a store all differ in it, so a pid in a lock token is only ever
// checked where it means the same process.
std::string MachineIdentity(const std::string& boot_id) {
  std::string id = FirstLine("/etc/machine-id");
  if (id.empty()) id = FirstLine("/var/lib/dbus/machine-id");
  id += '/';
  id += boot_id;
  id += '/';
  char ns[64] = {};
  const ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
  if (n > 0) id.append(ns, static_cast<size_t>(n));
  // FNV-1a: a short, stable digest (not a secret).
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ULL;
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

class PosixEnv final : public Env {
 public:
  PosixEnv()
      : boot_id_(FirstLine("/proc/sys/kernel/random/boot_id")),
        host_(MakeHostName(boot_id_)) {}

  TimePoint WallNow() override { return Clock::now(); }

  SteadyTime SteadyNow() override { return std::chrono::steady_clock::now(); }

  int64_t BootClockMs() override {
    timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
  }

  std::string_view BootId() override { return boot_id_; }

  void SleepFor(std::chrono::nanoseconds d) override {
    if (d.count() > 0) std::this_thread::sleep_for(d);
  }

  void WaitFor(
      std::chrono::nanoseconds timeout,
      const std::function<void(std::chrono::nanoseconds)>& wait) override {
    wait(timeout);
  }

  Status RandomBytes(void* buf, size_t len) override {
    unsigned char* out = static_cast<unsigned char*>(buf);
    size_t done = 0;
    while (done < len) {
      const ssize_t n = getrandom(out + done, len - done, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::Unavailable(std::string("getrandom failed: ") +
                                   std::strerror(errno));
      }
      done += static_cast<size_t>(n);
    }
    return Status::OK();
  }

  std::string_view HostName() override { return host_; }

  pid_t Pid() override { return getpid(); }

  bool ProcessExists(pid_t pid) override {
    if (pid <= 0) return true;  // kill() would signal a process group
    // ESRCH: no such process. EPERM means it exists under another user.
    return kill(pid, 0) == 0 || errno != ESRCH;
  }

 private:
  // The machine's name ('|' made '_': it separates a token's fields) and
  // its identity.
  static std::string MakeHostName(const std::string& boot_id) {
    char buf[256] = {};
    std::string h = "localhost";
    if (gethostname(buf, sizeof buf - 1) == 0 && buf[0] != '\0') h = buf;
    for (char& c : h) {
      if (c == '|') c = '_';
    }
    return h + "~" + MachineIdentity(boot_id);
  }

  const std::string boot_id_;
  const std::string host_;
};

}  // namespace

Env::~Env() = default;

Env* Env::Default() {
  static Env* const env = new PosixEnv;  // never destroyed
  return env;
}

}  // namespace sessionkit
