#include "stores/lmdb/pid_namespace_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace sessionkit::lmdb_internal {
namespace {

std::atomic<uint64_t> g_namespace_for_testing{0};

constexpr off_t kCheckByte = 0;  // exclusive, around one check
constexpr off_t kUsersByte = 1;  // shared, by every user

// An OFD lock of `type` on one byte; waits when `wait`. 0 or errno.
int LockByte(int fd, off_t byte, short type, bool wait) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  for (;;) {
    if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

// The namespace recorded in the file; 0 when empty or unreadable.
uint64_t Recorded(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  return strtoull(buf, nullptr, 10);
}

int Record(int fd, uint64_t ns) {
  char buf[32];
  const int len =
      snprintf(buf, sizeof buf, "%llu\n", static_cast<unsigned long long>(ns));
  if (ftruncate(fd, 0) != 0) return errno;
  if (pwrite(fd, buf, len, 0) != len) return errno != 0 ? errno : EIO;
  return 0;
}

}  // namespace

uint64_t CurrentPidNamespace() {
  const uint64_t fake = g_namespace_for_testing.load();
  if (fake != 0) return fake;
  struct stat st;
  if (stat("/proc/self/ns/pid", &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

void SetPidNamespaceForTesting(uint64_t ns) {
  g_namespace_for_testing.store(ns);
}

int PidNamespaceGuard::Acquire(const std::string& dir, unsigned mode,
                               uint64_t* other) {
  const uint64_t ns = CurrentPidNamespace();
  if (ns == 0) return 0;
  const std::string path = dir + "/" + kPidNamespaceFile;
  const int fd =
      open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return errno;
  struct stat st;
  int rc = fstat(fd, &st) != 0 ? errno : (S_ISREG(st.st_mode) ? 0 : EINVAL);
  if (rc == 0) rc = LockByte(fd, kCheckByte, F_WRLCK, /*wait=*/true);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  const uint64_t recorded = Recorded(fd);
  if (recorded == ns) {
    // No taker holds the users' byte exclusively: it would hold the check
    // byte too.
    rc = LockByte(fd, kUsersByte, F_RDLCK, /*wait=*/true);
  } else {
    rc = LockByte(fd, kUsersByte, F_WRLCK, /*wait=*/false);
    if (rc == EAGAIN || rc == EACCES) {
      *other = recorded;
      rc = EBUSY;
    } else if (rc == 0) {
      // Nobody uses the directory: it is this namespace's now. Then share.
      rc = Record(fd, ns);
      if (rc == 0) rc = LockByte(fd, kUsersByte, F_RDLCK, /*wait=*/false);
    }
  }
  if (rc != 0) {
    close(fd);  // drops both locks
    return rc;
  }
  LockByte(fd, kCheckByte, F_UNLCK, /*wait=*/false);
  fd_ = fd;
  return 0;
}

void PidNamespaceGuard::Release() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace sessionkit::lmdb_internal
