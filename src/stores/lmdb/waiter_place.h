// The waiter cap of LMDB session locks. It lives in <dir>/lock-wake, the
// LMDB store's wake file (stores/lock_wake.h), far past its words.
//
// The cap uses open file description (OFD) byte-range locks on that file: a
// waiter holds one byte of its session's range for as long as it waits.
// The kernel drops OFD locks when their file description closes, also when
// the process is killed, so a crashed waiter never keeps its place.
#ifndef SESSIONKIT_STORES_LMDB_WAITER_PLACE_H_
#define SESSIONKIT_STORES_LMDB_WAITER_PLACE_H_

#include <cstdint>
#include <string>

namespace sessionkit::lmdb_internal {

// The LMDB store's wake file in its directory, which also holds the cap.
inline constexpr char kLockWakeFile[] = "lock-wake";

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

  // Takes a free place of the session `hash` (LockHash of its id) in the
  // wake file at `path`.
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

#endif  // SESSIONKIT_STORES_LMDB_WAITER_PLACE_H_
