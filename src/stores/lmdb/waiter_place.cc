#include "stores/lmdb/waiter_place.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace sessionkit::lmdb_internal {
namespace {

// Waiter ranges: 2^30 ranges of 2^32 bytes each, starting at 2^32, far
// past the words (a range lock needs no data under it). More ranges than
// wake slots, so that two busy sessions rarely share a cap.
constexpr int kWaiterRangeBits = 30;
static_assert(sizeof(off_t) == 8, "waiter ranges need a 64-bit off_t");

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
