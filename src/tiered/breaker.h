// The circuit breakers of the tiers (docs/tiers.md, a tier that is down):
// one per tier, kept in a file of shared memory that every process of the
// host maps, so that all the php-fpm workers of a host agree on which tier
// is down and a dead or blackholed tier costs the host one failed call per
// interval, not one per request.
//
// A breaker is closed (the tier is called), open (the tier is skipped
// until the interval is over) or probing (one caller on the host, which
// claimed the probe, calls the tier; everyone else skips it). A timeout
// (DeadlineExceeded, or an outage that took `slow_failure` or longer: the
// store waited for an answer that never came) opens it at once; `failures`
// other outages (Unavailable) in a row open it too. After the interval, the
// first caller claims the probe (a compare-and-swap on the slot): its success
// closes the breaker, its failure opens it for another interval. A claim that
// is never settled (the prober died) runs out after the interval, and the next
// caller probes. Any call that succeeds or answers NotFound closes the breaker
// and resets the count.
//
// The file: a header (magic and layout version) and kSlots slots, each
// found by the hash (LockHash) of its tier's name (the URL without
// password) with open addressing, so every store of tiers of the host that
// names the same tier shares its breaker. Everything in it is a 64-bit word
// read and written with atomics; times are on Env::BootClockMs(), which
// every process of the host shares. When the file cannot be used (path
// "off", an error, another layout, no free slot), the same rules run on
// this process's memory: each process then finds out by itself, and no
// request ever fails because of the breaker. But the lock handover
// (BeginStandIn) then holds within one process only: between processes,
// one of two updates may be lost once the first tier is back (docs/tiers.md).
//
// Slots are reused: a process marks its slots used at most every
// kBreakerSlotMark while it calls, and a slot nobody marked for
// kBreakerSlotIdle may be given to another tier when no slot is free (a
// host whose tiers change, such as test servers on new ports, never fills
// the file). Slots are claimed one at a time on the host (a lock on the
// file), so a tier never has two. A process that left its tier unused that
// long sees, when it marks the slot, that it was given away, and finds its
// tier's slot again.
#ifndef SESSIONKIT_TIERED_BREAKER_H_
#define SESSIONKIT_TIERED_BREAKER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"

namespace sessionkit::tiered {

struct BreakerOptions {
  // The shared file: empty for the default (DefaultBreakerPath()), "off"
  // for breakers of this process only, else an absolute path. Created mode
  // 0600; only a file of the calling user is used.
  std::string path;
  // How long an open breaker skips its tier, and how long a probe's claim
  // lasts.
  Duration interval{1000};
  // How many outages other than a timeout in a row open a breaker.
  uint32_t failures = 3;
  // An outage that took this long or longer counts as a timeout. The
  // stores report a server that does not answer in time as Unavailable,
  // like one that refuses at once; the time tells them apart.
  Duration slow_failure{50};
  // BootClockMs and nothing else; nullptr: Env::Default().
  Env* env = nullptr;
};

// How often a process that calls a tier marks its slot used, and how long
// a slot nobody marked stays its tier's when another tier needs one.
inline constexpr Duration kBreakerSlotMark{10'000};
inline constexpr Duration kBreakerSlotIdle{600'000};

// The `path` value that keeps the breakers in this process.
inline constexpr char kBreakerOff[] = "off";

// /dev/shm/sessionkit-breaker-<euid> (DefaultSharedFilePath).
std::string DefaultBreakerPath();

enum class BreakerState : uint64_t { kClosed = 0, kOpen = 1, kProbing = 2 };

// What Admit tells a caller about to call a tier.
enum class Admission {
  kSkip,   // open, or another caller probes: leave the tier out
  kCall,   // closed (or this thread's own probe): call it
  kProbe,  // this caller claimed the probe: call it and Record the answer
};

// One breaker as read now (Breakers::Report).
struct BreakerReport {
  BreakerState state = BreakerState::kClosed;
  // Open: when the tier is asked again; probing: when the claim runs out
  // (BootClockMs).
  int64_t until_ms = 0;
  int64_t now_ms = 0;
  uint64_t consecutive = 0;     // outages in a row
  uint64_t opened = 0;          // times it opened (a failed probe included)
  uint64_t skipped = 0;         // calls it left out
  uint64_t failures = 0;        // outages recorded
  int64_t last_failure_ms = 0;  // 0: none
  StatusCode last_code = StatusCode::kOk;
  uint64_t stand_ins = 0;        // locks held on a tier behind for this one
  int64_t last_stood_in_ms = 0;  // 0: none
  bool shared = false;  // in the host's file (else this process's memory)
};

// The breakers of one store's tiers.
//
// Thread safety: every method may be called concurrently from any thread
// and, through the shared file, from any process of the host.
class Breakers {
 public:
  // The slots of a file (part of its layout).
  static constexpr size_t kSlots = 512;

  // Breakers for tiers named `names`, by index. Never fails: a file that
  // cannot be used leaves them in this process (note() says why).
  Breakers(const BreakerOptions& options,
           const std::vector<std::string>& names);
  ~Breakers();
  Breakers(const Breakers&) = delete;
  Breakers& operator=(const Breakers&) = delete;

  // Whether tier `i` may be called now; may claim the probe. A kSkip with
  // `count` adds to the skipped calls.
  Admission Admit(size_t i, bool count = true);
  // Records how tier `i` answered, after a call that took `took`: an
  // outage (Unavailable, DeadlineExceeded) counts toward opening its
  // breaker (a timeout, or one that took slow_failure or longer, opens it
  // at once), OK and NotFound close it; other answers change nothing.
  void Record(size_t i, const Status& status, Duration took = Duration(0));
  // Gives back a probe this thread claimed (kProbe) but made no call with:
  // the next caller probes at once.
  void Abandon(size_t i);
  // Whether tier `i`'s breaker is closed now (claims nothing).
  bool Closed(size_t i) const;

  // The lock handover (docs/tiers.md, the lock tier). A request that takes
  // a session's lock on a tier behind `i` while `i` is left out calls
  // BeginStandIn(i) before it locks there and EndStandIn(i) once that lock
  // is ended. While StandInHeld(i, lease) (such a lock is held on this
  // host, and the last was taken within `lease`: a count a killed process
  // left up runs out), a request that locks on `i` also takes the lock on
  // the tiers behind, so that it waits for those holders.
  void BeginStandIn(size_t i);
  void EndStandIn(size_t i);
  bool StandInHeld(size_t i, Duration lease) const;
  // Whether a request of this host took a lock standing in for `i` within
  // `window` (held or since ended).
  bool StoodInWithin(size_t i, Duration window) const;

  // Tier `i`'s breaker now.
  BreakerReport Report(size_t i) const;

  // The file the breakers are kept in; empty when they are this process's.
  const std::string& path() const { return path_; }
  // Why some or all breakers are this process's although a file was asked
  // for ("" otherwise): set once, when the store is opened.
  const std::string& note() const { return note_; }

  // The words of one slot: the same in every process and build of this
  // layout (see kLayoutVersion in breaker.cc).
  struct Slot;

 private:
  // Tier `i`'s slot. Marks it used when kBreakerSlotMark has passed since
  // this process last did, and then finds the tier's slot again if it was
  // given to another tier meanwhile (or, when none was free, tries again).
  Slot& Use(size_t i) const;
  // The slot of `hash` in the file: its own, else a free one, else the one
  // left idle the longest (under a lock on the file's first byte); nullptr
  // when none.
  Slot* Claim(uint64_t hash) const;
  Slot* ClaimLocked(uint64_t hash) const;
  Slot* table() const;

  Env* const env_;
  const int64_t interval_ms_;
  const uint64_t failures_;
  const Duration slow_failure_;
  std::string path_;
  std::string note_;
  void* map_ = nullptr;           // the file, when mapped
  std::unique_ptr<Slot[]> own_;   // this process's slots, one per tier
  std::vector<uint64_t> hashes_;  // by tier: its slot's key
  // By tier: its slot in the file, else its own_ one.
  std::unique_ptr<std::atomic<Slot*>[]> slots_;
  // By tier: when this process last marked its slot used.
  std::unique_ptr<std::atomic<int64_t>[]> marked_ms_;
};

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_BREAKER_H_
