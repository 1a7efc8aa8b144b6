// Wake-ups and waiter counts of LMDB session locks, shared by every process
// on the host through a small file beside the LMDB data (see lmdb_store.h).
//
// <dir>/lock-wake holds kLockWakeSlots 32-bit futex words. A session's slot
// is LockHash(id) % kLockWakeSlots, so unrelated sessions may share a slot.
// A release bumps its slot's word and wakes every sleeper on it; a waiter
// reads the word before it tries the lock and sleeps only while the word
// still has that value, so a release between its try and its sleep is never
// missed.
//
// The waiter cap uses open file description (OFD) byte-range locks on the
// same file, far past its end: a waiter holds one byte of its session's
// range for as long as it waits. The kernel drops OFD locks when their file
// description closes, also when the process is killed, so a crashed waiter
// never keeps its place.
#ifndef SESSIONKIT_STORES_LMDB_LOCK_WAKE_H_
#define SESSIONKIT_STORES_LMDB_LOCK_WAKE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sessionkit::lmdb_internal {

inline constexpr char kLockWakeFile[] = "lock-wake";
inline constexpr uint32_t kLockWakeSlots = 4096;

// A hash of a session id, the same in every process and every build: it
// picks the session's wake slot and waiter range.
uint64_t LockHash(std::string_view id);

// Opens the file `path`, creating it with `mode` (less the umask) when
// missing and extending it to `bytes` when shorter, and maps its first
// `bytes` shared and writable into *out. 0, or the errno of what failed.
int MapSharedFile(const std::string& path, unsigned mode, size_t bytes,
                  void** out);

// One process's mapping of <dir>/lock-wake.
//
// Thread safety: Seq, Wait and Wake may be called concurrently from any
// thread (and process); Map and Unmap only while no other call runs.
class LockWake {
 public:
  // Opens <dir>/lock-wake, creating it with `mode` (less the umask) when
  // missing, and maps its words. 0, or the errno of what failed.
  int Map(const std::string& dir, unsigned mode);
  void Unmap();

  const std::string& path() const { return path_; }

  // The current word of the slot of `hash`.
  uint32_t Seq(uint64_t hash) const;
  // Sleeps until the slot's word is no longer `seq`, a Wake of the slot,
  // `timeout`, or a signal, whichever comes first.
  void Wait(uint64_t hash, uint32_t seq,
            std::chrono::nanoseconds timeout) const;
  // Bumps the slot's word and wakes everyone sleeping on the slot.
  void Wake(uint64_t hash) const;

 private:
  uint32_t* words_ = nullptr;
  std::string path_;
};

// A place among the at most `max_waiters` waiters of one session.
//
// Thread safety: a value owned by one waiting call. Fork: a child closes its
// copies of every place's descriptor (WaiterPlacesAtforkChild), so that a
// place is given back when its waiter returns, not when the child exits.
class WaiterPlace {
 public:
  WaiterPlace() = default;
  WaiterPlace(const WaiterPlace&) = delete;
  WaiterPlace& operator=(const WaiterPlace&) = delete;
  ~WaiterPlace();  // gives the place back

  // Takes a free place of the session `hash` in the wake file at `path`.
  // 0 when taken; EAGAIN when all `max_waiters` (at least 1) are taken;
  // another errno when the file cannot be opened or locked.
  int Take(const std::string& path, uint64_t hash, uint32_t max_waiters);

 private:
  int fd_ = -1;  // its own open file description: OFD locks live on it
};

// pthread_atfork handlers for the places, called from the store's own:
// Prepare holds the registry of open places across fork(), Parent releases
// it, Child closes the inherited descriptors and releases it.
void WaiterPlacesAtforkPrepare();
void WaiterPlacesAtforkParent();
void WaiterPlacesAtforkChild();

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LOCK_WAKE_H_
