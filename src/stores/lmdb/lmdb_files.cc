// The sizes of the LMDB store's files: the map and data.mdb (with
// MDB_WRITEMAP the file is as large as the largest map), and the room the
// map and the reader table take on disk. Used by the store and the journal.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "stores/lmdb/lmdb_store.h"

namespace sessionkit {
namespace lmdb_internal {

int AllocateWriteMap(MDB_env* env, uint64_t bytes) {
  unsigned flags = 0;
  int rc = mdb_env_get_flags(env, &flags);
  if (rc != 0 || (flags & MDB_WRITEMAP) == 0) return rc;
  mdb_filehandle_t fd;
  MDB_envinfo info;
  if ((rc = mdb_env_get_fd(env, &fd)) != 0 ||
      (rc = mdb_env_info(env, &info)) != 0) {
    return rc;
  }
  // fallocate, not posix_fallocate: no slow writing of zeros where the
  // filesystem cannot allocate.
  const uint64_t len = std::min<uint64_t>(bytes, info.me_mapsize);
  return fallocate(fd, 0, 0, static_cast<off_t>(len)) == 0 ? 0 : errno;
}

uint64_t DataFileBytes(const std::string& dir) {
  struct stat st;
  const std::string path = dir + "/data.mdb";
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

int SetMapSize(MDB_env* env, uint64_t bytes) {
  unsigned flags = 0;
  int rc = mdb_env_get_flags(env, &flags);
  if (rc != 0) return rc;
  if ((flags & MDB_WRITEMAP) == 0) return mdb_env_set_mapsize(env, bytes);
  mdb_filehandle_t fd;
  MDB_envinfo info;
  struct stat st;
  if ((rc = mdb_env_get_fd(env, &fd)) != 0 ||
      (rc = mdb_env_info(env, &info)) != 0) {
    return rc;
  }
  if (fstat(fd, &st) != 0) return errno;
  // With MDB_WRITEMAP the file is as large as the largest map of any
  // process (each mapping sizes it): a map another process grew shows there
  // before its commit records it.
  const uint64_t file = static_cast<uint64_t>(st.st_size);
  const uint64_t floor = bytes == 0 ? std::max(file, info.me_mapsize) : file;
  return mdb_env_set_mapsize(env, std::max(bytes, floor));
}

int AllocateLockFile(const std::string& dir, unsigned max_readers,
                     mode_t mode) {
  const std::string path = dir + "/lock.mdb";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, mode);
  // LMDB opens it the same way next and says why it cannot (or, for a
  // read-only environment on a read-only filesystem, goes on without it).
  if (fd < 0) return 0;
  // A slot is a cache line (64 bytes); LMDB's header and mutexes take less
  // than a page. Past the file's end (FALLOC_FL_KEEP_SIZE): LMDB sizes a
  // new lock file itself, and a size here would set its number of slots.
  // A table made larger by another opener is allocated whole too.
  off_t bytes = static_cast<off_t>(max_readers) * 64 + 4096;
  struct stat st;
  if (fstat(fd, &st) == 0) bytes = std::max(bytes, st.st_size);
  int rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, bytes) == 0 ? 0 : errno;
  close(fd);
  return rc == EOPNOTSUPP || rc == ENOSYS ? 0 : rc;
}

}  // namespace lmdb_internal
}  // namespace sessionkit
