// The operations of the lock table (lock_table.h) on its buckets; mapping
// the file and its header: lock_table_file.cc.
#include "stores/lmdb/lock_table.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>

#include "sessionkit/store.h"
#include "stores/lmdb/lock_table_layout.h"

namespace sessionkit::lmdb_internal {

void (*g_lock_table_mid_update_for_testing)() = nullptr;

namespace {

long TableFutex(uint32_t* word, int op, uint32_t val, const timespec* timeout) {
  return syscall(SYS_futex, word, op, val, timeout, nullptr, 0);
}

uint32_t LoadTableWord(const uint32_t* w) {
  return std::atomic_ref<uint32_t>(*const_cast<uint32_t*>(w)).load();
}

bool HolderDead(pid_t pid, sessionkit::Env* os) {
  return pid > 0 && !os->ProcessExists(pid);
}

std::string TableText(const char* text, uint16_t len) {
  return len <= kTableTokenBytes ? std::string(text, len) : std::string();
}

void CopyTableText(std::string_view from, char* to, uint16_t* len) {
  *len = static_cast<uint16_t>(std::min<size_t>(from.size(), UINT16_MAX));
  std::memcpy(to, from.data(), std::min(from.size(), kTableTokenBytes));
}

// Views of one bucket: its head, then `entries` entries, then the waiters.
struct BucketView {
  LockTable::Bucket* b;
  uint32_t entries, waiters;
  TableEntry* e(uint32_t i) const {
    return reinterpret_cast<TableEntry*>(reinterpret_cast<char*>(b) +
                                         RoundUp64(sizeof(LockTable::Bucket))) +
           i;
  }
  TableWaiter* w(uint32_t i) const {
    return reinterpret_cast<TableWaiter*>(e(entries)) + i;
  }
};

bool EntryExpired(const TableEntry& en, const LockNow& now) {
  return en.boot != now.boot ||
         AddClamped(en.lease_end, kLockRecordRetention) <= now.boot_ms;
}

// Another owner may take the lock over: its process died, its lease ended
// (unless it is committing), or it is of another boot.
bool HolderBreakable(const TableEntry& en, const LockNow& now,
                     sessionkit::Env* os) {
  if (en.boot != now.boot || HolderDead(en.pid, os)) return true;
  return !en.committing && en.lease_end <= now.boot_ms;
}

// An entry whose holder is gone for good: of another boot, its process
// dead, or past its lease and kLockRecordRetention (also one whose commit
// never ended: a holder killed in it whose pid another process reuses).
bool HolderGone(const TableEntry& en, const LockNow& now, sessionkit::Env* os) {
  return EntryExpired(en, now) || HolderDead(en.pid, os);
}

int64_t EntryLeaseLeft(const TableEntry& en, const LockNow& now) {
  if (en.boot != now.boot) return 0;
  return en.lease_end > now.boot_ms ? en.lease_end - now.boot_ms : 0;
}

void SetEntryHolder(const BucketView& v, uint32_t i, const Digest& token,
                    std::string_view text, const char* raw, uint16_t raw_len,
                    pid_t pid, int64_t lease_ms, const LockNow& now) {
  TableEntry& en = *v.e(i);
  v.b->dirty = i + 1;  // Repair ends a holder left half written
  en.holder = token;
  if (g_lock_table_mid_update_for_testing != nullptr) {
    g_lock_table_mid_update_for_testing();
  }
  if (raw != nullptr) {
    en.token_len = raw_len;
    std::memcpy(en.token, raw, kTableTokenBytes);
  } else {
    CopyTableText(text, en.token, &en.token_len);
  }
  en.pid = pid;
  en.boot = now.boot;
  en.lease_end = AddClamped(now.boot_ms, Duration(lease_ms));
  en.committing = 0;
  en.held = 1;
  v.b->dirty = 0;
}

void DropWaiter(const BucketView& v, TableWaiter* w) {
  w->used = 0;
  if (v.b->queued > 0) --v.b->queued;
}

bool EntryHasWaiters(const BucketView& v, uint32_t i) {
  if (v.b->queued == 0) return false;
  for (uint32_t k = 0; k < v.waiters; ++k) {
    if (v.w(k)->used && v.w(k)->entry == i) return true;
  }
  return false;
}

// The earliest live waiter of entry `i` not yet granted, or -1. Drops the
// records of waiters whose process died (granted or not); skips those whose
// deadline passed (they remove their own records).
int EarliestWaiter(const BucketView& v, uint32_t i, const LockNow& now,
                   sessionkit::Env* os) {
  int best = -1;
  if (v.b->queued == 0) return best;
  for (uint32_t k = 0; k < v.waiters; ++k) {
    TableWaiter& w = *v.w(k);
    if (!w.used || w.entry != i) continue;
    if (HolderDead(w.pid, os)) {  // also a grantee that died asleep
      DropWaiter(v, &w);
      continue;
    }
    if (w.granted || w.deadline < now.boot_ms) continue;
    if (best < 0 || static_cast<int32_t>(w.arrival - v.w(best)->arrival) < 0) {
      best = static_cast<int>(k);
    }
  }
  return best;
}

// Hands the lock of entry `i` to its earliest live waiter (`broken`: the
// holder a take-over ended, for its notice). False when nobody waits: the
// lock is then free (and the entry too once no record names it).
bool HandOff(const BucketView& v, uint32_t i, const LockNow& now,
             sessionkit::Env* os, const std::string* broken) {
  TableEntry& en = *v.e(i);
  const int k = EarliestWaiter(v, i, now, os);
  if (k < 0) {
    en.held = 0;
    en.committing = 0;
    if (!EntryHasWaiters(v, i)) en.used = 0;
    return false;
  }
  TableWaiter& w = *v.w(k);
  SetEntryHolder(v, i, w.owner, {}, w.text, w.text_len, w.holder_pid,
                 w.lease_ms, now);
  w.broken = broken != nullptr && !broken->empty();
  if (w.broken) CopyTableText(*broken, en.broken, &en.broken_len);
  w.granted = 1;
  std::atomic_ref<uint32_t>(w.word).fetch_add(1);
  TableFutex(&w.word, FUTEX_WAKE, INT_MAX, nullptr);
  return true;
}

// Makes a bucket whose mutex holder died consistent again.
void RepairBucket(const BucketView& v, const LockNow& now,
                  sessionkit::Env* os) {
  for (uint32_t k = 0; k < v.waiters; ++k) {
    TableWaiter& w = *v.w(k);
    if (!w.used) continue;
    if (w.entry >= v.entries || !v.e(w.entry)->used || HolderDead(w.pid, os)) {
      w.used = 0;
    }
  }
  if (v.b->dirty != 0) {
    const uint32_t i = v.b->dirty - 1;
    if (i < v.entries) {
      v.e(i)->held = 0;
      for (uint32_t k = 0; k < v.waiters; ++k) {
        if (v.w(k)->used && v.w(k)->entry == i) v.w(k)->granted = 0;
      }
    }
    v.b->dirty = 0;
  }
  v.b->queued = 0;  // counted again: the dead process may have been counting
  for (uint32_t k = 0; k < v.waiters; ++k) v.b->queued += v.w(k)->used != 0;
  for (uint32_t i = 0; i < v.entries; ++i) {
    if (v.e(i)->used && !v.e(i)->held) HandOff(v, i, now, os, nullptr);
  }
}

int FindEntry(const BucketView& v, const Digest& id) {
  for (uint32_t i = 0; i < v.entries; ++i) {
    if (v.e(i)->used && v.e(i)->id == id) return static_cast<int>(i);
  }
  return -1;
}

// A free entry for `id`: unused, or one whose holder counts as gone with
// nobody queued. -1 when the bucket is full.
int AllocEntry(const BucketView& v, const Digest& id, const LockNow& now,
               sessionkit::Env* os) {
  int pick = -1;
  for (uint32_t i = 0; i < v.entries && pick < 0; ++i) {
    if (!v.e(i)->used) pick = static_cast<int>(i);
  }
  for (uint32_t i = 0; i < v.entries && pick < 0; ++i) {
    const TableEntry& en = *v.e(i);
    if ((!en.held || HolderGone(en, now, os)) && !EntryHasWaiters(v, i)) {
      pick = static_cast<int>(i);
    }
  }
  if (pick < 0) return -1;
  TableEntry& en = *v.e(pick);
  en.held = 0;
  en.committing = 0;
  en.id = id;
  en.arrivals = 0;
  en.used = 1;
  ++v.b->allocs;
  return pick;
}

}  // namespace

LockTable::Bucket* LockTable::BucketAt(uint64_t n) const {
  return reinterpret_cast<Bucket*>(static_cast<char*>(base_) +
                                   kTableHeaderBytes + n * bucket_bytes_);
}

LockTable::Bucket* LockTable::BucketOf(const Digest& id) const {
  uint64_t h;
  std::memcpy(&h, id.data(), sizeof h);
  return BucketAt(h % buckets_);
}

bool LockTable::Lock(Bucket* b, sessionkit::Env* os, const LockNow* now) {
  const int rc = pthread_mutex_lock(&b->mu);
  if (rc == 0) return true;
  if (rc != EOWNERDEAD) return false;
  // Its holder died at any instruction: make the bucket consistent first.
  RepairBucket(BucketView{b, entries_, waiters_}, *now, os);
  return pthread_mutex_consistent(&b->mu) == 0;
}

void LockTable::Unlock(Bucket* b) { pthread_mutex_unlock(&b->mu); }

StepResult LockTable::Try(const Digest& id, const Claimant& c,
                          const LockNow& now, bool enqueue, int64_t deadline_ms,
                          sessionkit::Env* os) {
  StepResult r;
  Bucket* b = BucketOf(id);
  if (!Lock(b, os, &now)) return r;
  const BucketView v{b, entries_, waiters_};
  int i = FindEntry(v, id);
  if (i < 0) i = AllocEntry(v, id, now, os);
  if (i < 0) {
    Unlock(b);
    r.step = Step::kFull;
    return r;
  }
  TableEntry& en = *v.e(i);
  bool free = !en.held || en.holder == c.token;
  if (en.held && en.holder != c.token && HolderBreakable(en, now, os)) {
    r.broken = TableText(en.token, en.token_len);
    free = true;
  }
  if (free) {
    // Nobody barges in: a queued waiter goes first.
    const bool own = en.held && en.holder == c.token;
    if (own || EarliestWaiter(v, i, now, os) < 0) {
      SetEntryHolder(v, i, c.token, c.text, nullptr, 0, c.pid, c.lease_ms, now);
      Unlock(b);
      r.step = Step::kTaken;
      return r;
    }
    HandOff(v, i, now, os, &r.broken);
    r.broken.clear();
  }
  r.holder = TableText(en.token, en.token_len);
  r.lease_left_ms = EntryLeaseLeft(en, now);
  r.step = Step::kHeld;
  if (enqueue) {
    r.step = Step::kNoRoom;
    for (uint32_t k = 0; k < waiters_; ++k) {
      TableWaiter& w = *v.w(k);
      if (w.used) continue;
      w.entry = static_cast<uint32_t>(i);
      w.owner = c.token;
      CopyTableText(c.text, w.text, &w.text_len);
      w.pid = c.self_pid;
      w.holder_pid = c.pid;
      w.arrival = en.arrivals++;
      w.lease_ms = c.lease_ms;
      w.deadline = deadline_ms;
      w.granted = 0;
      w.broken = 0;
      w.used = 1;  // last: a half-written record is never seen as used
      ++b->queued;
      r.ticket = {static_cast<int32_t>(k), w.arrival, LoadTableWord(&w.word)};
      r.step = Step::kQueued;
      break;
    }
  }
  Unlock(b);
  return r;
}

StepResult LockTable::Poll(const Digest& id, const Claimant& c, const Ticket& t,
                           const LockNow& now, sessionkit::Env* os) {
  StepResult r;
  Bucket* b = BucketOf(id);
  if (!Lock(b, os, &now)) return r;
  const BucketView v{b, entries_, waiters_};
  TableWaiter& w = *v.w(t.slot);
  if (!w.used || w.arrival != t.arrival || w.owner != c.token) {
    Unlock(b);  // a repair dropped the record: queue again
    r.step = Step::kNoRoom;
    return r;
  }
  TableEntry& en = *v.e(w.entry);
  // The entry says who holds the lock: a grant whose maker died between
  // the holder and the flag counts; a grant taken over while this waiter
  // slept past its lease does not (it queues on in its place).
  w.granted = en.held && en.holder == w.owner;
  if (!w.granted && (!en.held || HolderBreakable(en, now, os))) {
    const std::string broken =
        en.held ? TableText(en.token, en.token_len) : std::string();
    HandOff(v, w.entry, now, os, &broken);
  }
  if (w.granted) {
    if (w.broken) r.broken = TableText(en.broken, en.broken_len);
    DropWaiter(v, &w);
    Unlock(b);
    r.step = Step::kTaken;
    return r;
  }
  r.holder = TableText(en.token, en.token_len);
  r.lease_left_ms = EntryLeaseLeft(en, now);
  r.ticket = {t.slot, t.arrival, LoadTableWord(&w.word)};
  r.step = Step::kQueued;
  Unlock(b);
  return r;
}

bool LockTable::Leave(const Digest& id, const Claimant& c, const Ticket& t,
                      std::string* broken, const LockNow& now,
                      sessionkit::Env* os) {
  Bucket* b = BucketOf(id);
  if (!Lock(b, os, &now)) return false;
  const BucketView v{b, entries_, waiters_};
  TableWaiter& w = *v.w(t.slot);
  bool granted = false;
  if (w.used && w.arrival == t.arrival && w.owner == c.token) {
    TableEntry& en = *v.e(w.entry);
    granted = en.held && en.holder == w.owner;  // as in Poll
    if (granted && w.broken) *broken = TableText(en.broken, en.broken_len);
    DropWaiter(v, &w);
    if (!en.held && !EntryHasWaiters(v, w.entry)) en.used = 0;
  }
  Unlock(b);
  return granted;
}

void LockTable::WaitWord(const Ticket& t, const Digest& id,
                         std::chrono::nanoseconds timeout) const {
  if (timeout.count() <= 0) return;
  const BucketView v{BucketOf(id), entries_, waiters_};
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  TableFutex(&v.w(t.slot)->word, FUTEX_WAIT, t.seq, &ts);
}

OwnerState LockTable::BeginCommit(const Digest& id, const Digest& token,
                                  const LockNow& now, sessionkit::Env* os,
                                  bool* error) {
  *error = false;
  Bucket* b = BucketOf(id);
  if (!Lock(b, os, &now)) {
    *error = true;
    return OwnerState::kNotLocked;
  }
  const BucketView v{b, entries_, waiters_};
  const int i = FindEntry(v, id);
  OwnerState s = OwnerState::kOwner;
  if (i < 0 || !v.e(i)->held) {
    s = OwnerState::kNotLocked;
  } else if (v.e(i)->holder != token) {
    s = OwnerState::kOtherOwner;
  } else if (EntryExpired(*v.e(i), now)) {
    s = OwnerState::kGone;
  } else {
    v.e(i)->committing = 1;
  }
  Unlock(b);
  return s;
}

bool LockTable::EndCommit(const Digest& id, const Digest& token, bool committed,
                          const LockNow& now, sessionkit::Env* os) {
  Bucket* b = BucketOf(id);
  if (!Lock(b, os, &now)) return true;
  const BucketView v{b, entries_, waiters_};
  const int i = FindEntry(v, id);
  bool wake = false;
  if (i >= 0 && v.e(i)->held && v.e(i)->holder == token) {
    if (committed) {
      wake = !HandOff(v, i, now, os, nullptr) && b->overflow > 0;
    } else {
      v.e(i)->committing = 0;  // a failed commit keeps the lock
    }
  }
  Unlock(b);
  return wake;
}

bool LockTable::Release(const Digest& id, const Digest& token,
                        const LockNow& now, sessionkit::Env* os, bool* wake) {
  *wake = false;
  Bucket* b = BucketOf(id);
  if (!Lock(b, os, &now)) return false;
  const BucketView v{b, entries_, waiters_};
  const int i = FindEntry(v, id);
  const bool own = i >= 0 && v.e(i)->held && v.e(i)->holder == token;
  if (own) *wake = !HandOff(v, i, now, os, nullptr) && b->overflow > 0;
  Unlock(b);
  return own;
}

bool LockTable::Held(const Digest& id, const LockNow& now, sessionkit::Env* os,
                     bool* error) {
  Bucket* b = BucketOf(id);
  *error = !Lock(b, os, &now);
  if (*error) return false;
  const BucketView v{b, entries_, waiters_};
  const int i = FindEntry(v, id);
  const bool held =
      i >= 0 && v.e(i)->held && !HolderBreakable(*v.e(i), now, os);
  Unlock(b);
  return held;
}

bool LockTable::BeginDestroy(const Digest& id, const Claimant& c,
                             const LockNow& now, sessionkit::Env* os,
                             bool force, bool* full, uint32_t* allocs) {
  *full = false;
  *allocs = 0;
  Bucket* b = BucketOf(id);
  if (!Lock(b, os, &now)) {
    *full = true;  // nobody can lock the session either
    return false;
  }
  const BucketView v{b, entries_, waiters_};
  int i = FindEntry(v, id);
  if (i < 0) i = AllocEntry(v, id, now, os);
  if (i < 0) {
    *full = true;
    *allocs = b->allocs;
  } else if (v.e(i)->held && v.e(i)->committing && !force &&
             !HolderGone(*v.e(i), now, os)) {
    i = -1;  // a write in flight: its commit comes first
  } else {
    SetEntryHolder(v, i, c.token, c.text, nullptr, 0, c.pid, c.lease_ms, now);
    v.e(i)->committing = 1;
  }
  Unlock(b);
  return i >= 0;
}

void LockTable::CountOverflow(const Digest& id, int delta, const LockNow& now,
                              sessionkit::Env* os) {
  Bucket* b = BucketOf(id);
  if (!Lock(b, os, &now)) return;
  if (delta > 0 || b->overflow > 0) b->overflow += delta;
  Unlock(b);
}

void LockTable::Sweep(const LockNow& now, sessionkit::Env* os) {
  for (uint32_t n = 0; n < buckets_; ++n) {
    Bucket* b = BucketAt(n);
    if (!Lock(b, os, &now)) continue;
    const BucketView v{b, entries_, waiters_};
    for (uint32_t i = 0; i < entries_; ++i) {
      TableEntry& en = *v.e(i);
      if (!en.used) continue;
      if (!en.held) {
        if (!EntryHasWaiters(v, i)) en.used = 0;
      } else if (HolderGone(en, now, os)) {
        // A dead holder's entry too: nobody may ask for its session again,
        // and a bucket of such entries would refuse every other session.
        const std::string broken = TableText(en.token, en.token_len);
        HandOff(v, i, now, os, &broken);
      }
    }
    Unlock(b);
  }
}

void LockTable::CountForTesting(const LockNow& now, sessionkit::Env* os,
                                size_t* held, size_t* queued) {
  *held = *queued = 0;
  for (uint32_t n = 0; n < buckets_; ++n) {
    Bucket* b = BucketAt(n);
    if (!Lock(b, os, &now)) continue;
    const BucketView v{b, entries_, waiters_};
    for (uint32_t i = 0; i < entries_; ++i) {
      *held += v.e(i)->used && v.e(i)->held;
    }
    for (uint32_t k = 0; k < waiters_; ++k) *queued += v.w(k)->used != 0;
    Unlock(b);
  }
}

}  // namespace sessionkit::lmdb_internal
