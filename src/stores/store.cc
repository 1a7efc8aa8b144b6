#include "sessionkit/store.h"

#include <sys/random.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>

namespace sessionkit {
namespace {

Status LockingNotSupported(const Store& store) {
  return Status::NotSupported(store.name() +
                              ": this store does not support locking");
}

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
std::string MachineIdentity() {
  std::string id = FirstLine("/etc/machine-id");
  if (id.empty()) id = FirstLine("/var/lib/dbus/machine-id");
  id += '/';
  id += FirstLine("/proc/sys/kernel/random/boot_id");
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

// This machine as it appears in lock tokens: its name (for people reading
// the token) and its identity (for LockHolderIsGone); '|' cannot occur.
const std::string& HostName() {
  static const std::string host = [] {
    char buf[256] = {};
    std::string h = "localhost";
    if (gethostname(buf, sizeof buf - 1) == 0 && buf[0] != '\0') h = buf;
    for (char& c : h) {
      if (c == '|') c = '_';
    }
    return h + "~" + MachineIdentity();
  }();
  return host;
}

uint64_t RandomWord() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) == static_cast<ssize_t>(sizeof v)) return v;
  // Only uniqueness matters here (not secrecy): fall back to the address of
  // a stack variable mixed with the clock.
  return reinterpret_cast<uintptr_t>(&v) ^
         static_cast<uint64_t>(Clock::now().time_since_epoch().count());
}

}  // namespace

LockOwner LockOwner::Generate() {
  // One getrandom per thread and process, not per token: a random key and
  // a counter, mixed by splitmix64's finalizer (a bijection, so a thread's
  // tokens never repeat). A fork() child has another pid, and so draws a
  // key of its own instead of repeating its parent's next tokens.
  thread_local pid_t key_pid = 0;
  thread_local uint64_t key = 0;
  thread_local uint64_t counter = 0;
  const pid_t pid = getpid();
  if (pid != key_pid) {
    key_pid = pid;
    key = RandomWord();
    counter = 0;
  }
  uint64_t z = key + 0x9e3779b97f4a7c15ULL * ++counter;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char tail[48];
  snprintf(tail, sizeof tail, "|%ld|%016llx", static_cast<long>(pid),
           static_cast<unsigned long long>(z));
  return LockOwner{HostName() + tail};
}

bool LockHolderIsGone(std::string_view token) {
  const size_t bar1 = token.find('|');
  if (bar1 == std::string_view::npos) return false;
  const size_t bar2 = token.find('|', bar1 + 1);
  if (bar2 == std::string_view::npos) return false;
  if (token.substr(0, bar1) != HostName()) return false;
  const std::string_view pid_text = token.substr(bar1 + 1, bar2 - bar1 - 1);
  if (pid_text.empty() || pid_text.size() > 9) return false;
  long pid = 0;
  for (char c : pid_text) {
    if (c < '0' || c > '9') return false;
    pid = pid * 10 + (c - '0');
  }
  if (pid <= 0 || pid == getpid()) return false;
  // ESRCH: no such process. EPERM means it exists under another user.
  return kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

Result<LockedRead> Store::LockAndRead(std::string_view, const LockRequest&) {
  return LockingNotSupported(*this);
}

Status Store::WriteAndUnlock(std::string_view, std::string_view, Duration,
                             const LockOwner&) {
  return LockingNotSupported(*this);
}

Status Store::TouchAndUnlock(std::string_view, Duration, const LockOwner&) {
  return LockingNotSupported(*this);
}

Status Store::Unlock(std::string_view, const LockOwner&) {
  return LockingNotSupported(*this);
}

}  // namespace sessionkit
