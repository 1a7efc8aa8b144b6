// Feeds arbitrary bytes, as a lock owner token read back from a store (a
// record of another host, another program or a corrupted one), to the one
// parser of tokens (LockOwner::Parse) and to the questions every store asks
// about a holder (lock.h). Checks: no crash; a token Parse accepts is
// "host|pid|random" rendered again from its parts, with a pid of 1 to
// 999999999 and a host without '|'; the questions agree with the parts on a
// fake Env (this host, this pid, a table of live pids), and a token moved to
// the real host is on it for Env::Default().
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/env.h"
#include "sessionkit/lock.h"
#include "support/fake_env.h"

namespace sk = sessionkit;

namespace {

// Pids alive on the fake host besides its own (FakeEnv::kPid).
constexpr pid_t kAlive[] = {1, 77, 100, 31337};

void Check(bool condition) {
  if (!condition) abort();
}

sk::test::FakeEnv* Fake() {
  static sk::test::FakeEnv* env = [] {
    auto* e = new sk::test::FakeEnv();
    for (pid_t pid : kAlive) e->SetAlive(pid, true);
    return e;
  }();
  return env;
}

bool Alive(pid_t pid) {
  if (pid == sk::test::FakeEnv::kPid) return true;
  for (pid_t p : kAlive) {
    if (p == pid) return true;
  }
  return false;
}

// The view lies within `whole`.
bool Within(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() &&
         part.data() + part.size() <= whole.data() + whole.size();
}

void CheckParts(std::string_view token, const sk::LockOwner::Parts& parts) {
  Check(parts.pid > 0 && parts.pid <= 999'999'999);
  Check(parts.host.find('|') == std::string_view::npos);
  Check(Within(parts.host, token) && Within(parts.random, token));
  const std::string again = std::string(parts.host) + "|" +
                            std::to_string(parts.pid) + "|" +
                            std::string(parts.random);
  Check(again == token);
}

// The questions on the fake host, against what the parts say.
void CheckQuestions(std::string_view token,
                    const std::optional<sk::LockOwner::Parts>& parts) {
  sk::Env* env = Fake();
  const bool here = parts && parts->host == sk::test::FakeEnv::kHost;
  const bool other = here && parts->pid != sk::test::FakeEnv::kPid;
  const bool gone = other && !Alive(parts->pid);
  Check(sk::LockHolderIsOnThisHost(token, env) == here);
  Check(sk::LockHolderIsOtherProcessOfThisHost(token, env) == other);
  Check(sk::LockHolderIsGone(token, env) == gone);
}

// The same holder moved to the real host: on it, and another process of it
// unless it names this one. (Whether it is gone depends on the machine; it
// is gone only if it is another process.)
void CheckOnRealHost(const sk::LockOwner::Parts& parts) {
  sk::Env* env = sk::Env::Default();
  const std::string token = std::string(sk::LockOwner::ThisHost(env)) + "|" +
                            std::to_string(parts.pid) + "|" +
                            std::string(parts.random);
  const std::optional<sk::LockOwner::Parts> moved = sk::LockOwner::Parse(token);
  Check(moved && moved->pid == parts.pid && moved->random == parts.random);
  Check(sk::LockHolderIsOnThisHost(token, env));
  const bool other = parts.pid != getpid();
  Check(sk::LockHolderIsOtherProcessOfThisHost(token, env) == other);
  if (sk::LockHolderIsGone(token, env)) Check(other);
}

#ifdef SK_FUZZ_PLANTED
// The planted "bug" (scripts/fuzz-planted): a token of a process of this
// host with a pid of 100000 or more.
void Planted(const std::optional<sk::LockOwner::Parts>& parts) {
  if (parts && parts->host == sk::test::FakeEnv::kHost &&
      parts->pid >= 100'000) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: lock_owner_fuzzer\n");
    abort();
  }
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  const std::optional<sk::LockOwner::Parts> parts = sk::LockOwner::Parse(token);
  if (parts) CheckParts(token, *parts);
  CheckQuestions(token, parts);
  if (parts) CheckOnRealHost(*parts);
#ifdef SK_FUZZ_PLANTED
  Planted(parts);
#endif
  return 0;
}
