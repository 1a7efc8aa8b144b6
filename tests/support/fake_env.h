// FakeEnv: an Env (include/sessionkit/env.h) for tests, whose clocks move
// only when the test (or a sleep) moves them, on a fixed host and pid, with
// a table of live processes and a seeded, predictable randomness. It is
// never part of the library: only tests link it.
#ifndef SESSIONKIT_TESTS_SUPPORT_FAKE_ENV_H_
#define SESSIONKIT_TESTS_SUPPORT_FAKE_ENV_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"

namespace sessionkit::test {

// Thread safety: every method may be called concurrently.
class FakeEnv final : public Env {
 public:
  // What the fake replaces.
  enum class Scope {
    // Everything: sleeps and timed waits return at once and move the
    // clocks instead (a timed wait polls its primitive without blocking).
    kAll,
    // The wall clock and the boot clock only (and the boot id once
    // SetBootId is called): session expiries and lock leases follow the
    // test's hand, while waits, sleeps and the steady clock stay real, and
    // so do the host, the pids and randomness (Env::Default()'s). For tests
    // whose threads or processes wait for each other in real time.
    kRecordClocks,
  };

  static constexpr int64_t kStartWallMs = 1'700'000'000'000;
  static constexpr int64_t kStartBootMs = 123'456;
  static constexpr char kBootId[] = "0b7a1e8d-2f4c-4d2a-9c1e-5f6a7b8c9d0e";
  static constexpr char kHost[] = "fake-host~00000000000000fe";
  static constexpr pid_t kPid = 4242;

  explicit FakeEnv(Scope scope = Scope::kAll);

  // --- Env
  TimePoint WallNow() override;
  SteadyTime SteadyNow() override;
  int64_t BootClockMs() override;
  std::string_view BootId() override;
  void SleepFor(std::chrono::nanoseconds d) override;
  void WaitFor(
      std::chrono::nanoseconds timeout,
      const std::function<void(std::chrono::nanoseconds)>& wait) override;
  Status RandomBytes(void* buf, size_t len) override;
  std::string_view HostName() override;
  pid_t Pid() override;
  bool ProcessExists(pid_t pid) override;

  // --- The test's hand

  // Time passes: the wall, steady and boot clocks all move by `d`.
  void Advance(std::chrono::nanoseconds d);
  // The wall clock alone jumps to `t` (NTP, an operator): steps it.
  void SetWallNow(TimePoint t);
  // The boot clock alone is set (a new boot starts it again).
  void SetBootClockMs(int64_t ms);
  void SetBootId(std::string id);
  void SetHostName(std::string host);
  void SetPid(pid_t pid);
  // Whether a process `pid` exists (the table of live pids; the fake's own
  // pid always does).
  void SetAlive(pid_t pid, bool alive);

  // The timeouts of every SleepFor and WaitFor so far, oldest first.
  std::vector<std::chrono::nanoseconds> Sleeps() const;

 private:
  void AdvanceLocked(std::chrono::nanoseconds d);

  const Scope scope_;
  mutable std::mutex mu_;
  int64_t wall_ns_;  // since the Unix epoch
  std::chrono::nanoseconds steady_{std::chrono::seconds(1000)};
  int64_t boot_ns_;
  // Every boot id and host name set so far (the views handed out stay
  // valid); the current one is the last.
  std::deque<std::string> boot_ids_{kBootId};
  bool boot_id_set_ = false;
  std::deque<std::string> hosts_{kHost};
  pid_t pid_ = kPid;
  std::set<pid_t> alive_;
  uint64_t random_state_ = 0x5eed;
  std::vector<std::chrono::nanoseconds> sleeps_;
};

}  // namespace sessionkit::test

#endif  // SESSIONKIT_TESTS_SUPPORT_FAKE_ENV_H_
