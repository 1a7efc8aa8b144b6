#include "stores/lmdb/lock_wake.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <mutex>
#include <vector>

namespace sessionkit::lmdb_internal {
namespace {

constexpr size_t kLockWakeBytes = kLockWakeSlots * sizeof(uint32_t);

// Waiter ranges: 2^30 ranges of 2^32 bytes each, starting at 2^32, far
// past the words (a range lock needs no data under it). More ranges than
// wake slots, so that two busy sessions rarely share a cap.
constexpr int kWaiterRangeBits = 30;
static_assert(sizeof(off_t) == 8, "waiter ranges need a 64-bit off_t");

long Futex(uint32_t* word, int op, uint32_t val, const timespec* timeout) {
  return syscall(SYS_futex, word, op, val, timeout, nullptr, 0);
}

// The descriptors of the places held in this process, for the fork child.
struct OpenPlaces {
  std::mutex mu;
  std::vector<int> fds;
};

OpenPlaces& GetOpenPlaces() {
  static OpenPlaces* places = new OpenPlaces;  // never destroyed: atfork
  return *places;
}

}  // namespace

uint64_t LockHash(std::string_view id) {
  // FNV-1a, then a murmur3 finaliser so that the low bits (the slot) depend
  // on every byte.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : id) {
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

int MapSharedFile(const std::string& path, unsigned mode, size_t bytes,
                  void** out) {
  const int fd =
      open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return errno;
  int rc = 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = errno;
  } else if (!S_ISREG(st.st_mode)) {
    rc = EINVAL;
  } else if (st.st_size < static_cast<off_t>(bytes) &&
             ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    // Creators racing here all extend to the same size; nobody shrinks.
    rc = errno;
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

int LockWake::Map(const std::string& dir, unsigned mode) {
  path_ = dir + "/" + kLockWakeFile;
  void* p = nullptr;
  const int rc = MapSharedFile(path_, mode, kLockWakeBytes, &p);
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

WaiterPlace::~WaiterPlace() {
  if (fd_ < 0) return;
  OpenPlaces& places = GetOpenPlaces();
  std::lock_guard<std::mutex> lock(places.mu);
  std::erase(places.fds, fd_);
  close(fd_);
}

void WaiterPlacesAtforkPrepare() { GetOpenPlaces().mu.lock(); }
void WaiterPlacesAtforkParent() { GetOpenPlaces().mu.unlock(); }
void WaiterPlacesAtforkChild() {
  // The parent's waiters still hold these places through their own
  // descriptors: the child's copies only kept them taken longer.
  OpenPlaces& places = GetOpenPlaces();
  for (int fd : places.fds) close(fd);
  places.fds.clear();
  places.mu.unlock();
}

int WaiterPlace::Take(const std::string& path, uint64_t hash,
                      uint32_t max_waiters) {
  // A descriptor of its own: OFD locks conflict only between different
  // open file descriptions, also between threads of one process.
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno;
  const uint64_t range = (hash >> (64 - kWaiterRangeBits)) + 1;
  const off_t base = static_cast<off_t>(range << 32);
  // Lowest free place first, so that a request with a smaller cap than the
  // waiters before it (ini_set per page) still sees them: the first
  // max_waiters places are the ones it counts.
  for (uint32_t n = 0; n < max_waiters; ++n) {
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = base + static_cast<off_t>(n);
    fl.l_len = 1;
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
      OpenPlaces& places = GetOpenPlaces();
      std::lock_guard<std::mutex> lock(places.mu);
      places.fds.push_back(fd);
      fd_ = fd;
      return 0;
    }
    if (errno != EAGAIN && errno != EACCES) {
      const int err = errno;
      close(fd);
      return err;
    }
  }
  close(fd);
  return EAGAIN;
}

}  // namespace sessionkit::lmdb_internal
