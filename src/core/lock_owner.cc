// LockOwner: making lock tokens, and the one parser of their format that
// every question about a holder goes through (lock.h).
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/lock.h"

namespace sessionkit {
namespace {

uint64_t RandomWord(Env* env) {
  uint64_t v = 0;
  if (env->RandomBytes(&v, sizeof v).ok()) return v;
  // Only uniqueness matters here (not secrecy): fall back to the address of
  // a stack variable mixed with the clock.
  return reinterpret_cast<uintptr_t>(&v) ^
         static_cast<uint64_t>(env->WallNow().time_since_epoch().count());
}

// The parts of `token` when its holder is a process of `env`'s host.
std::optional<LockOwner::Parts> OnThisHost(std::string_view token, Env* env) {
  std::optional<LockOwner::Parts> parts = LockOwner::Parse(token);
  if (parts && parts->host != LockOwner::ThisHost(env)) parts.reset();
  return parts;
}

}  // namespace

LockOwner LockOwner::Generate(Env* env) {
  env = Env::OrDefault(env);
  // One draw of randomness per thread and process, not per token: a random
  // key and a counter, mixed by splitmix64's finalizer (a bijection, so a
  // thread's tokens never repeat). A fork() child has another pid, and so
  // draws a key of its own instead of repeating its parent's next tokens.
  thread_local const Env* key_env = nullptr;
  thread_local pid_t key_pid = 0;
  thread_local uint64_t key = 0;
  thread_local uint64_t counter = 0;
  const pid_t pid = env->Pid();
  if (pid != key_pid || env != key_env) {
    key_env = env;
    key_pid = pid;
    key = RandomWord(env);
    counter = 0;
  }
  uint64_t z = key + 0x9e3779b97f4a7c15ULL * ++counter;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char tail[48];
  snprintf(tail, sizeof tail, "|%ld|%016llx", static_cast<long>(pid),
           static_cast<unsigned long long>(z));
  LockOwner owner;
  owner.token.reserve(env->HostName().size() + sizeof tail);
  owner.token.append(env->HostName());
  owner.token.append(tail);
  return owner;
}

std::optional<LockOwner::Parts> LockOwner::Parse(std::string_view token) {
  const size_t bar1 = token.find('|');
  if (bar1 == std::string_view::npos) return std::nullopt;
  const size_t bar2 = token.find('|', bar1 + 1);
  if (bar2 == std::string_view::npos) return std::nullopt;
  const std::string_view pid_text = token.substr(bar1 + 1, bar2 - bar1 - 1);
  // Digits as Generate writes them: 1 to 9, no leading zero (so that a
  // holder has one spelling, and a token is its parts put together again).
  if (pid_text.empty() || pid_text.size() > 9 || pid_text[0] == '0') {
    return std::nullopt;
  }
  long pid = 0;
  for (char c : pid_text) {
    if (c < '0' || c > '9') return std::nullopt;
    pid = pid * 10 + (c - '0');
  }
  if (pid <= 0) return std::nullopt;
  Parts parts;
  parts.host = token.substr(0, bar1);
  parts.pid = static_cast<pid_t>(pid);
  parts.random = token.substr(bar2 + 1);
  return parts;
}

std::string_view LockOwner::ThisHost(Env* env) {
  return Env::OrDefault(env)->HostName();
}

bool LockHolderIsOnThisHost(std::string_view token, Env* env) {
  return OnThisHost(token, env).has_value();
}

bool LockHolderIsOtherProcessOfThisHost(std::string_view token, Env* env) {
  env = Env::OrDefault(env);
  const std::optional<LockOwner::Parts> parts = OnThisHost(token, env);
  return parts && parts->pid != env->Pid();
}

bool LockHolderIsGone(std::string_view token, Env* env) {
  env = Env::OrDefault(env);
  const std::optional<LockOwner::Parts> parts = OnThisHost(token, env);
  return parts && parts->pid != env->Pid() && !env->ProcessExists(parts->pid);
}

}  // namespace sessionkit
