// Env: what sessionkit asks of the operating system about time, the host
// and its processes, behind one interface (leveldb's idea), so that the
// engine, the stores and their locks can run on a fake one in tests.
//
// The engine, the lock code and the stores read clocks, sleep, wait, draw
// random bits and ask about the host and its processes only through their
// Env. They find it in their options (EngineOptions::env, LmdbOptions::env,
// RedisOptions::env); nullptr there means Env::Default().
//
// Not through an Env given in options, on purpose:
//  - Session ids (GenerateSessionId) always draw from Env::Default(), the
//    OS CSPRNG: no Env handed to the engine can make them predictable.
//  - Kernel waits bounded in real time keep the steady clock: the Redis
//    connection layer (socket deadlines around ppoll; a pooled connection
//    also serves stores of other Envs) and the time limit of the LMDB
//    check's child (poll). A fake clock would not move while they block.
//  - The once-per-boot check of an LMDB directory (lmdb_check.h) is about
//    the machine's real boot: it asks Env::Default().
//  - Fork detection of LMDB handles reads the kernel's pid: LMDB names its
//    readers by it.
#ifndef SESSIONKIT_ENV_H_
#define SESSIONKIT_ENV_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace sessionkit {

using SteadyTime = std::chrono::steady_clock::time_point;

// Thread safety: every method of every Env may be called concurrently from
// any thread. Env::Default() lives as long as the process.
class Env {
 public:
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  virtual ~Env();

  // The real Env: the OS's clocks, sleeps, getrandom, host and processes.
  // Never destroyed, never replaced.
  static Env* Default();

  // `env`, or Default() when `env` is null (what an options field holds).
  static Env* OrDefault(Env* env) { return env != nullptr ? env : Default(); }

  // --- Clocks

  // The wall clock (CLOCK_REALTIME), which session expiries are written on.
  // It may step (NTP, an operator's `date -s`).
  virtual TimePoint WallNow() = 0;

  // A clock of this process that never steps (std::chrono::steady_clock):
  // deadlines and the lengths of waits.
  virtual SteadyTime SteadyNow() = 0;

  // Milliseconds on a clock that every process of the host shares, that
  // no wall-clock step moves and that counts from the host's boot, time in
  // suspend included (CLOCK_BOOTTIME). It starts again at every boot,
  // which BootId() tells apart. Lock leases that other processes judge run
  // on it.
  virtual int64_t BootClockMs() = 0;

  // The id of this boot of the host, a UUID as the kernel writes it
  // ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"); empty when unknown. Valid as
  // long as the Env.
  virtual std::string_view BootId() = 0;

  // --- Sleeps and timed waits

  // Returns after `d` (at once when `d` is not positive).
  virtual void SleepFor(std::chrono::nanoseconds d) = 0;

  // A timed wait on a wake-up primitive the caller owns (a futex word, a
  // blocking pop on a server): calls `wait` once with the longest it may
  // block, at most `timeout`; `wait` returns when woken or when that time
  // is over. The real Env passes `timeout`. A fake one may pass less (0: a
  // poll that does not block) and move its clocks by `timeout` instead, so
  // that a wait loop under test runs on its time.
  virtual void WaitFor(
      std::chrono::nanoseconds timeout,
      const std::function<void(std::chrono::nanoseconds)>& wait) = 0;

  // --- Randomness

  // Fills `buf` with `len` random bytes; Unavailable when the source
  // fails. The real Env reads the OS CSPRNG (getrandom).
  virtual Status RandomBytes(void* buf, size_t len) = 0;

  // --- The host and its processes

  // This host as lock tokens name it: the host name, '~' and 16 hex digits
  // that tell this machine, this boot and this pid namespace apart from
  // every other (two hosts of one name, a rebooted host and two containers
  // differ in them). Never contains '|'; the same for the Env's whole life
  // and valid as long as it.
  virtual std::string_view HostName() = 0;

  // The calling process's id.
  virtual pid_t Pid() = 0;

  // False only when no process of this host (this pid namespace) has the
  // id `pid`: a process of another user and a zombie not yet reaped exist.
  // True for a `pid` that is not positive (it names no single process).
  virtual bool ProcessExists(pid_t pid) = 0;
};

}  // namespace sessionkit

#endif  // SESSIONKIT_ENV_H_
