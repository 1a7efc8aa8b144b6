// Host-local wake-ups of session lock waiters, shared by every process on
// the host that maps the same file: the LMDB store's <dir>/lock-wake, the
// Memcached store's wake_file (docs/memcached.md).
//
// The file holds kLockWakeSlots 32-bit futex words. A lock's slot is
// LockHash(<its name>) % kLockWakeSlots, so unrelated locks may share a
// slot (a shared slot only costs a spurious wake-up). A release bumps its
// slot's word and wakes every sleeper on it; a waiter reads the word before
// it tries the lock and sleeps only while the word still has that value, so
// a release between its try and its sleep is never missed.
//
// The mapping is MAP_SHARED: a child forked after Map shares it with its
// parent (and with every other process mapping the file), which is what
// wake-ups across php-fpm workers need.
#ifndef SESSIONKIT_STORES_LOCK_WAKE_H_
#define SESSIONKIT_STORES_LOCK_WAKE_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sessionkit {

inline constexpr uint32_t kLockWakeSlots = 4096;

// A hash of a lock's name (a session id, a lock key), the same in every
// process and every build: it picks the lock's wake slot (and the LMDB
// store's waiter range).
uint64_t LockHash(std::string_view name);

// Who may own a file that MapSharedFile maps.
enum class SharedFileOwner {
  kAnyone,      // whoever may open it (the permissions decide)
  kCallerOnly,  // the calling process's effective user, else EPERM
};

// Opens the regular file `path` (not through a symlink), creating it with
// `mode` (less the umask) when missing, checks its owner against `owner`,
// gives it `bytes` of storage (extending it when shorter; the storage is
// allocated now where the file system can, so that a full tmpfs fails here
// rather than with SIGBUS on first use), and maps its first `bytes` shared
// and writable into *out. 0, or the errno of what failed.
int MapSharedFile(const std::string& path, unsigned mode, SharedFileOwner owner,
                  size_t bytes, void** out);

// Gives the open file `fd` (`size` bytes now) `bytes` of storage, allocated
// now where the file system can (a store into a hole of a full disk or
// tmpfs is a SIGBUS, not an error), else extended. 0, or the errno of what
// failed.
int AllocateSharedFile(int fd, off_t size, size_t bytes);

// The default path of a host-shared file of the calling user, such as the
// Memcached store's wake file or the tiers' breaker file:
// <dir>/<prefix>-<euid>, where <dir> is /dev/shm when the caller may
// create files there, else $TMPDIR when it is absolute, else /tmp.
std::string DefaultSharedFilePath(std::string_view prefix);

// One process's mapping of a wake file.
//
// Thread safety: Seq, Wait and Wake may be called concurrently from any
// thread (and process); Map and Unmap only while no other call runs.
// Seq, Wait and Wake require mapped().
class LockWake {
 public:
  // Maps the wake file `path` (MapSharedFile with `mode` and `owner`).
  // 0, or the errno of what failed (then !mapped()).
  int Map(const std::string& path, unsigned mode, SharedFileOwner owner);
  // Unmaps it (nothing when not mapped).
  void Unmap();

  bool mapped() const { return words_ != nullptr; }
  // The path of the last Map.
  const std::string& path() const { return path_; }

  // The current word of the slot of `hash`.
  uint32_t Seq(uint64_t hash) const;
  // Sleeps until the slot's word is no longer `seq`, a Wake of the slot,
  // `timeout`, or a signal, whichever comes first (0 or less: returns at
  // once).
  void Wait(uint64_t hash, uint32_t seq,
            std::chrono::nanoseconds timeout) const;
  // Bumps the slot's word and wakes everyone sleeping on the slot.
  void Wake(uint64_t hash) const;

 private:
  uint32_t* words_ = nullptr;
  std::string path_;
};

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_LOCK_WAKE_H_
