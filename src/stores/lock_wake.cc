#include "stores/lock_wake.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>

namespace sessionkit {
namespace {

constexpr size_t kLockWakeBytes = kLockWakeSlots * sizeof(uint32_t);

long Futex(uint32_t* word, int op, uint32_t val, const timespec* timeout) {
  return syscall(SYS_futex, word, op, val, timeout, nullptr, 0);
}

}  // namespace

int AllocateSharedFile(int fd, off_t size, size_t bytes) {
  // Allocated now: a tmpfs (/dev/shm) that is full refuses here, where a
  // hole would raise SIGBUS when a word is first touched. Creators racing
  // here all reserve the same bytes; nobody shrinks, nothing is zeroed.
  if (fallocate(fd, 0, 0, static_cast<off_t>(bytes)) == 0) return 0;
  if (errno != EOPNOTSUPP && errno != ENOSYS) return errno;
  // A file system without fallocate: extended, its blocks left to first use.
  if (size < static_cast<off_t>(bytes) &&
      ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    return errno;
  }
  return 0;
}

uint64_t LockHash(std::string_view name) {
  // FNV-1a, then a murmur3 finaliser so that the low bits (the slot) depend
  // on every byte.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

int MapSharedFile(const std::string& path, unsigned mode, SharedFileOwner owner,
                  size_t bytes, void** out) {
  const int fd =
      open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return errno;
  int rc = 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = errno;
  } else if (!S_ISREG(st.st_mode)) {
    rc = EINVAL;
  } else if (owner == SharedFileOwner::kCallerOnly && st.st_uid != geteuid()) {
    // Another user could truncate it under the mapping (SIGBUS here).
    rc = EPERM;
  } else {
    rc = AllocateSharedFile(fd, st.st_size, bytes);
  }
  if (rc == 0) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      rc = errno;
    } else {
      *out = p;
    }
  }
  close(fd);  // the mapping keeps the file
  return rc;
}

std::string DefaultSharedFilePath(std::string_view prefix) {
  // Shared memory where there is some; a php-fpm started with a cleared
  // environment has no TMPDIR.
  std::string dir = "/dev/shm";
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    const char* tmp = getenv("TMPDIR");
    dir = tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp";
  }
  return dir + "/" + std::string(prefix) + "-" + std::to_string(geteuid());
}

int LockWake::Map(const std::string& path, unsigned mode,
                  SharedFileOwner owner) {
  path_ = path;
  void* p = nullptr;
  const int rc = MapSharedFile(path_, mode, owner, kLockWakeBytes, &p);
  if (rc == 0) words_ = static_cast<uint32_t*>(p);
  return rc;
}

void LockWake::Unmap() {
  if (words_ != nullptr) munmap(words_, kLockWakeBytes);
  words_ = nullptr;
}

uint32_t LockWake::Seq(uint64_t hash) const {
  return std::atomic_ref<uint32_t>(words_[hash % kLockWakeSlots]).load();
}

void LockWake::Wait(uint64_t hash, uint32_t seq,
                    std::chrono::nanoseconds timeout) const {
  if (timeout.count() <= 0) return;
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  // Not FUTEX_PRIVATE_FLAG: the sleepers are in other processes too. A
  // word that already moved (EAGAIN), a timeout or EINTR all just return.
  Futex(&words_[hash % kLockWakeSlots], FUTEX_WAIT, seq, &ts);
}

void LockWake::Wake(uint64_t hash) const {
  uint32_t* word = &words_[hash % kLockWakeSlots];
  std::atomic_ref<uint32_t>(*word).fetch_add(1);
  Futex(word, FUTEX_WAKE, INT_MAX, nullptr);
}

}  // namespace sessionkit
