// An OFD lock (fcntl F_OFD_SETLK/F_OFD_SETLKW) of one byte of a file: held
// by the open file description, so released when its last descriptor
// closes, also when the process dies. The LMDB lock table and the metrics
// file mark who is there with them.
#ifndef SESSIONKIT_STORES_OFD_LOCK_H_
#define SESSIONKIT_STORES_OFD_LOCK_H_

#include <errno.h>
#include <fcntl.h>

namespace sessionkit {

// Locks (F_WRLCK, F_RDLCK) or unlocks (F_UNLCK) byte `at` of `fd`; `wait`
// blocks until it is granted. 0, or the errno (EAGAIN: held elsewhere).
inline int OfdLockByte(int fd, short type, off_t at, bool wait) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = at;
  fl.l_len = 1;
  for (;;) {
    if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_OFD_LOCK_H_
