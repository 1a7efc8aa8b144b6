#include "tiered/breaker.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "stores/lock_wake.h"
#include "stores/ofd_lock.h"

namespace sessionkit::tiered {

// Every field a 64-bit word, so that the layout is the same in every
// build; 128 bytes, two cache lines. A change of any of it (or of kSlots)
// is a new kLayoutVersion.
struct Breakers::Slot {
  uint64_t key;          // LockHash of the tier's name (never 0); 0: free
  uint64_t word;         // state, prober and deadline (Pack)
  uint64_t consecutive;  // outages in a row
  uint64_t opened;
  uint64_t skipped;
  uint64_t failures;
  uint64_t last_failure_ms;
  uint64_t last_code;
  // Locks of this host's requests taken on a tier behind this one while it
  // was left out, and when the last was taken (BeginStandIn). Zero in a
  // file written before they were kept: the same layout.
  uint64_t stand_ins;
  uint64_t stood_in_ms;
  // When a process last marked it used (Breakers::Use); zero in a file
  // written before it was kept: idle.
  uint64_t used_ms;
  uint64_t reserved[5];
};

namespace {

// "SKBR" and the layout version.
constexpr uint64_t kMagic = 0x534B4252'00000000ull;
constexpr uint64_t kLayoutVersion = 1;
constexpr uint64_t kHead = kMagic | kLayoutVersion;
// The header: the head word, then reserved words (zero).
constexpr size_t kHeaderBytes = 64;
constexpr size_t kFileBytes =
    kHeaderBytes + Breakers::kSlots * sizeof(Breakers::Slot);
static_assert(sizeof(Breakers::Slot) == 128);

// The slot's word: bits 0-1 the state, 2-23 the thread that claimed the
// probe (a Linux thread id is below 2^22), 24-63 the deadline in boot
// clock milliseconds (34 years of uptime). One word, so that every change
// of state is one compare-and-swap.
constexpr int kTidShift = 2;
constexpr uint64_t kTidMask = (1ull << 22) - 1;
constexpr int kDeadlineShift = 24;

uint64_t Pack(BreakerState state, uint64_t tid, int64_t deadline_ms) {
  const uint64_t deadline = static_cast<uint64_t>(
      std::max<int64_t>(0, std::min<int64_t>(deadline_ms, (1ll << 40) - 1)));
  return deadline << kDeadlineShift | (tid & kTidMask) << kTidShift |
         static_cast<uint64_t>(state);
}
BreakerState StateOf(uint64_t w) { return static_cast<BreakerState>(w & 3); }
uint64_t TidOf(uint64_t w) { return (w >> kTidShift) & kTidMask; }
int64_t DeadlineOf(uint64_t w) {
  return static_cast<int64_t>(w >> kDeadlineShift);
}

uint64_t ThisThread() {
  return static_cast<uint64_t>(syscall(SYS_gettid)) & kTidMask;
}

std::atomic_ref<uint64_t> At(uint64_t& word) {
  return std::atomic_ref<uint64_t>(word);
}

}  // namespace

std::string DefaultBreakerPath() {
  return DefaultSharedFilePath("sessionkit-breaker");
}

Breakers::Breakers(const BreakerOptions& options,
                   const std::vector<std::string>& names)
    : env_(Env::OrDefault(options.env)),
      interval_ms_(std::max<int64_t>(1, options.interval.count())),
      failures_(std::max<uint32_t>(1, options.failures)),
      slow_failure_(options.slow_failure),
      own_(new Slot[names.size()]()),
      slots_(new std::atomic<Slot*>[names.size()]),
      marked_ms_(new std::atomic<int64_t>[names.size()]) {
  std::string path = options.path.empty() ? DefaultBreakerPath() : options.path;
  if (path != kBreakerOff) {
    void* p = nullptr;
    const int rc =
        MapSharedFile(path, 0600, SharedFileOwner::kCallerOnly, kFileBytes, &p);
    if (rc != 0) {
      note_ = "the breaker file " + path + " cannot be used (" +
              std::strerror(rc) + "): each process keeps its own";
    } else {
      uint64_t& head = *static_cast<uint64_t*>(p);
      uint64_t seen = 0;
      // A new file is zeros: the first process stamps it.
      if (At(head).compare_exchange_strong(seen, kHead) || seen == kHead) {
        map_ = p;
        path_ = path;
      } else {
        munmap(p, kFileBytes);
        note_ = "the breaker file " + path +
                " has another layout (another version of sessionkit, or "
                "not a breaker file): each process keeps its own";
      }
    }
  }
  const int64_t now = env_->BootClockMs();
  for (size_t i = 0; i < names.size(); ++i) {
    hashes_.push_back(std::max<uint64_t>(1, LockHash(names[i])));
    Slot* slot = map_ != nullptr ? Claim(hashes_[i]) : nullptr;
    if (map_ != nullptr && slot == nullptr && note_.empty()) {
      note_ = "the breaker file " + path_ +
              " is full (every slot used within " +
              std::to_string(kBreakerSlotIdle.count() / 60'000) +
              " minutes): some tiers' breakers are this process's";
    }
    slots_[i].store(slot != nullptr ? slot : &own_[i]);
    marked_ms_[i].store(now);
  }
}

Breakers::~Breakers() {
  if (map_ != nullptr) munmap(map_, kFileBytes);
}

Breakers::Slot* Breakers::table() const {
  return reinterpret_cast<Slot*>(static_cast<char*>(map_) + kHeaderBytes);
}

namespace {

uint64_t MarkOf(int64_t now_ms) {
  return static_cast<uint64_t>(std::max<int64_t>(1, now_ms));  // 0: idle
}

// Marks `slot` used, then tells whether it is still `hash`'s. A claim
// (ClaimLocked) changes the key, then checks the mark: one of the two sees
// the other, so a slot in use is never taken unnoticed.
bool Mark(Breakers::Slot& slot, uint64_t hash, int64_t now_ms) {
  At(slot.used_ms).store(MarkOf(now_ms));
  return At(slot.key).load() == hash;
}

// A slot given to a tier: used now, its breaker closed, its counts zero.
void Reset(Breakers::Slot& slot, int64_t now_ms) {
  At(slot.used_ms).store(MarkOf(now_ms));
  for (uint64_t* w : {&slot.word, &slot.consecutive, &slot.opened,
                      &slot.skipped, &slot.failures, &slot.last_failure_ms,
                      &slot.last_code, &slot.stand_ins, &slot.stood_in_ms}) {
    At(*w).store(0);
  }
}

}  // namespace

Breakers::Slot* Breakers::Claim(uint64_t hash) const {
  // Its slot, found without the lock: slots are never emptied (a reused one
  // gets another key), so a tier's slot comes before the first free one in
  // its sequence.
  const int64_t now = env_->BootClockMs();
  for (size_t k = 0; k < kSlots; ++k) {
    Slot& slot = table()[(hash + k) % kSlots];
    const uint64_t key = At(slot.key).load();
    if (key == hash && Mark(slot, hash, now)) return &slot;
    if (key == 0) break;
  }
  const int fd = open(path_.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return nullptr;
  // One claim at a time on the host: two processes never give a tier two
  // slots, nor take one slot for two tiers.
  Slot* slot = OfdLockByte(fd, F_WRLCK, 0, /*wait=*/true) == 0
                   ? ClaimLocked(hash)
                   : nullptr;
  close(fd);  // ends the lock
  return slot;
}

Breakers::Slot* Breakers::ClaimLocked(uint64_t hash) const {
  const int64_t now = env_->BootClockMs();
  Slot* idle = nullptr;
  uint64_t idle_mark = 0;
  for (size_t k = 0; k < kSlots; ++k) {
    Slot& slot = table()[(hash + k) % kSlots];
    uint64_t key = At(slot.key).load();
    if (key == 0 && At(slot.key).compare_exchange_strong(key, hash)) {
      Reset(slot, now);
      return &slot;
    }
    if (key == hash) {
      At(slot.used_ms).store(MarkOf(now));
      return &slot;
    }
    const uint64_t mark = At(slot.used_ms).load();
    const bool left = mark == 0 || (static_cast<int64_t>(mark) <= now &&
                                    now - static_cast<int64_t>(mark) >=
                                        kBreakerSlotIdle.count());
    if (left && (idle == nullptr || mark < idle_mark)) {
      idle = &slot;
      idle_mark = mark;
    }
  }
  if (idle == nullptr) return nullptr;
  uint64_t old = At(idle->key).load();
  if (!At(idle->key).compare_exchange_strong(old, hash)) return nullptr;
  if (At(idle->used_ms).load() != idle_mark) {
    // Marked since it was looked at: its tier is in use again.
    At(idle->key).store(old);
    return nullptr;
  }
  Reset(*idle, now);
  return idle;
}

Breakers::Slot& Breakers::Use(size_t i) const {
  Slot* slot = slots_[i].load(std::memory_order_acquire);
  if (map_ == nullptr) return *slot;
  const int64_t now = env_->BootClockMs();
  if (now - marked_ms_[i].load(std::memory_order_relaxed) <
      kBreakerSlotMark.count()) {
    return *slot;
  }
  marked_ms_[i].store(now, std::memory_order_relaxed);
  if (slot != &own_[i] && Mark(*slot, hashes_[i], now)) return *slot;
  // Given to another tier while this process left it unused (or none was
  // free): its tier's slot, found or claimed again. The state starts over
  // in a new slot, as in a new process.
  Slot* found = Claim(hashes_[i]);
  if (found == nullptr) found = &own_[i];
  slots_[i].store(found, std::memory_order_release);
  return *found;
}

Admission Breakers::Admit(size_t i, bool count) {
  Slot& s = Use(i);
  uint64_t w = At(s.word).load();
  if (StateOf(w) == BreakerState::kClosed) return Admission::kCall;
  const int64_t now = env_->BootClockMs();
  const uint64_t me = ThisThread();
  for (;;) {
    if (StateOf(w) == BreakerState::kClosed) return Admission::kCall;
    if (now < DeadlineOf(w)) {
      // The prober's own request may ask the tier again (its lock tier,
      // then its reads) before it settles the probe.
      if (StateOf(w) == BreakerState::kProbing && TidOf(w) == me) {
        return Admission::kCall;
      }
      if (count) At(s.skipped).fetch_add(1);
      return Admission::kSkip;
    }
    // Open and its interval is over, or a claim that was never settled ran
    // out: one caller wins the probe.
    if (At(s.word).compare_exchange_strong(
            w, Pack(BreakerState::kProbing, me, now + interval_ms_))) {
      return Admission::kProbe;
    }
  }
}

void Breakers::Record(size_t i, const Status& status, Duration took) {
  Slot& s = Use(i);
  if (status.ok() || status.IsNotFound()) {
    if (At(s.consecutive).load() != 0) At(s.consecutive).store(0);
    uint64_t w = At(s.word).load();
    while (StateOf(w) != BreakerState::kClosed &&
           !At(s.word).compare_exchange_weak(
               w, Pack(BreakerState::kClosed, 0, 0))) {
    }
    return;
  }
  if (!status.IsUnavailable() && !status.IsDeadlineExceeded()) return;
  const int64_t now = env_->BootClockMs();
  At(s.failures).fetch_add(1);
  At(s.last_failure_ms).store(static_cast<uint64_t>(now));
  At(s.last_code).store(static_cast<uint64_t>(status.code()));
  const uint64_t in_a_row = At(s.consecutive).fetch_add(1) + 1;
  uint64_t w = At(s.word).load();
  for (;;) {
    const BreakerState state = StateOf(w);
    // A timeout opens at once: the next caller would wait as long. A failed
    // probe (or any outage while one runs) opens it again.
    const bool open = status.IsDeadlineExceeded() || took >= slow_failure_ ||
                      in_a_row >= failures_ || state != BreakerState::kClosed;
    if (!open) return;
    if (At(s.word).compare_exchange_weak(
            w, Pack(BreakerState::kOpen, 0, now + interval_ms_))) {
      if (state != BreakerState::kOpen) At(s.opened).fetch_add(1);
      return;
    }
  }
}

void Breakers::Abandon(size_t i) {
  Slot& s = Use(i);
  uint64_t w = At(s.word).load();
  if (StateOf(w) != BreakerState::kProbing || TidOf(w) != ThisThread()) return;
  At(s.word).compare_exchange_strong(
      w, Pack(BreakerState::kOpen, 0, env_->BootClockMs()));
}

bool Breakers::Closed(size_t i) const {
  return StateOf(At(Use(i).word).load()) == BreakerState::kClosed;
}

void Breakers::BeginStandIn(size_t i) {
  Slot& s = Use(i);
  At(s.stood_in_ms).store(static_cast<uint64_t>(env_->BootClockMs()));
  At(s.stand_ins).fetch_add(1);
}

void Breakers::EndStandIn(size_t i) {
  Slot& s = Use(i);
  uint64_t n = At(s.stand_ins).load();
  // Never below zero: a count a killed process left up is not made up for.
  while (n > 0 && !At(s.stand_ins).compare_exchange_weak(n, n - 1)) {
  }
}

bool Breakers::StandInHeld(size_t i, Duration lease) const {
  Slot& s = Use(i);
  if (At(s.stand_ins).load() == 0) return false;
  const int64_t since = static_cast<int64_t>(At(s.stood_in_ms).load());
  return env_->BootClockMs() - since <= lease.count();
}

bool Breakers::StoodInWithin(size_t i, Duration window) const {
  const int64_t since = static_cast<int64_t>(At(Use(i).stood_in_ms).load());
  return since != 0 && env_->BootClockMs() - since <= window.count();
}

BreakerReport Breakers::Report(size_t i) const {
  Slot& s = Use(i);
  BreakerReport r;
  const uint64_t w = At(s.word).load();
  r.state = StateOf(w);
  r.until_ms = DeadlineOf(w);
  r.now_ms = env_->BootClockMs();
  r.consecutive = At(s.consecutive).load();
  r.opened = At(s.opened).load();
  r.skipped = At(s.skipped).load();
  r.failures = At(s.failures).load();
  r.last_failure_ms = static_cast<int64_t>(At(s.last_failure_ms).load());
  r.last_code = static_cast<StatusCode>(At(s.last_code).load());
  r.stand_ins = At(s.stand_ins).load();
  r.last_stood_in_ms = static_cast<int64_t>(At(s.stood_in_ms).load());
  r.shared = &s != &own_[i];
  return r;
}

}  // namespace sessionkit::tiered
