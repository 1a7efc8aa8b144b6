// Mapping <dir>/lock-table and judging its header (lock_table.h).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "sessionkit/lock.h"
#include "stores/lmdb/lock_table.h"
#include "stores/lmdb/lock_table_layout.h"
#include "stores/lock_wake.h"
#include "stores/ofd_lock.h"

namespace sessionkit::lmdb_internal {

Digest LockTable::DigestOf(std::string_view text) const {
  static_assert(crypto_shorthash_siphashx24_BYTES == sizeof(Digest));
  Digest d;
  crypto_shorthash_siphashx24(
      d.data(), reinterpret_cast<const unsigned char*>(text.data()),
      text.size(), key_);
  return d;
}

pid_t LocalPidOf(std::string_view token, sessionkit::Env* os) {
  if (!LockHolderIsOnThisHost(token, os)) return 0;
  const auto parts = LockOwner::Parse(token);
  return parts ? parts->pid : 0;
}

namespace {

std::string TableGeometryText(uint32_t b, uint32_t e, uint32_t w) {
  return std::to_string(b) + " buckets of " + std::to_string(e) +
         " entries and " + std::to_string(w) + " waiters";
}

// Zeroes the buckets of the table at `p` and writes its header, the magic
// last.
void InitialiseTable(void* p, size_t bytes, uint32_t buckets, uint32_t entries,
                     uint32_t waiters, size_t bucket_bytes,
                     const BootId& boot) {
  TableHeader* h = static_cast<TableHeader*>(p);
  std::memset(h->magic, 0, sizeof h->magic);
  std::memset(static_cast<char*>(p) + kTableHeaderBytes, 0,
              bytes - kTableHeaderBytes);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  for (uint32_t i = 0; i < buckets; ++i) {
    pthread_mutex_init(
        &reinterpret_cast<LockTable::Bucket*>(
             static_cast<char*>(p) + kTableHeaderBytes + i * bucket_bytes)
             ->mu,
        &attr);
  }
  pthread_mutexattr_destroy(&attr);
  h->version = kTableVersion;
  h->buckets = buckets;
  h->entries = entries;
  h->waiters = waiters;
  std::memcpy(h->boot, boot.data(), 16);
  randombytes_buf(h->key, sizeof h->key);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(h->magic, kTableMagic, 8);
}

}  // namespace

int LockTable::Map(const std::string& path, unsigned mode,
                   const LmdbLockTableGeometry& geometry, const BootId& boot,
                   std::string* error) {
  path_ = path;
  buckets_ = geometry.buckets ? geometry.buckets : kDefaultGeometry.buckets;
  entries_ = geometry.entries ? geometry.entries : kDefaultGeometry.entries;
  waiters_ = geometry.waiters ? geometry.waiters : kDefaultGeometry.waiters;
  bucket_bytes_ = BucketBytes(entries_, waiters_);
  bytes_ = kTableHeaderBytes + buckets_ * bucket_bytes_;
  // Byte 0 of the file: a short exclusive lock around the check of the
  // header. Byte 1: a shared lock every process holds while it maps the
  // table (the kernel drops it when the process dies), so that the table is
  // (re)initialised only when nobody maps it.
  const int fd =
      open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return errno;
  int rc = OfdLockByte(fd, F_WRLCK, 0, /*wait=*/true);
  void* p = nullptr;
  if (rc == 0) {
    rc = MapSharedFile(path, mode, SharedFileOwner::kAnyone, bytes_, &p);
  }
  if (rc == 0) {
    TableHeader* h = static_cast<TableHeader*>(p);
    static constexpr char kZero[8] = {};
    const bool fresh = std::memcmp(h->magic, kZero, 8) == 0;
    const bool other_boot = std::memcmp(h->boot, boot.data(), 16) != 0;
    const bool alone = OfdLockByte(fd, F_WRLCK, 1, /*wait=*/false) == 0;
    if (!fresh && std::memcmp(h->magic, kTableMagic, 8) != 0) {
      *error = "the lock table " + path +
               " has a foreign or damaged header (not a sessionkit lock "
               "table); remove it while no process uses the store";
      rc = EINVAL;
    } else if ((fresh || other_boot || h->version != kTableVersion ||
                h->buckets != buckets_ || h->entries != entries_ ||
                h->waiters != waiters_) &&
               alone) {
      // New, of another boot, or of another format or geometry (an upgrade
      // after every old process stopped), with nobody mapping it: start
      // afresh.
      InitialiseTable(p, bytes_, buckets_, entries_, waiters_, bucket_bytes_,
                      boot);
    } else if (fresh) {
      *error =
          "the lock table " + path + " has no header while processes map it";
      rc = EBUSY;
    } else if (h->version != kTableVersion) {
      *error = "the lock table " + path + " has format version " +
               std::to_string(h->version) + " and this build uses " +
               std::to_string(kTableVersion) +
               ": processes of another sessionkit version use this store "
               "directory (stop them; the table is rebuilt once none "
               "maps it)";
      rc = EINVAL;
    } else if (h->buckets != buckets_ || h->entries != entries_ ||
               h->waiters != waiters_) {
      *error = "the lock table " + path + " has " +
               TableGeometryText(h->buckets, h->entries, h->waiters) +
               " and this process asks for " +
               TableGeometryText(buckets_, entries_, waiters_);
      rc = EINVAL;
    }
    // Of another boot but mapped (a process that reports another boot id):
    // used as it is; locks of another boot id count as gone.
    if (rc == 0) rc = OfdLockByte(fd, F_RDLCK, 1, /*wait=*/false);
    if (rc == 0) {
      base_ = p;
      std::memcpy(key_, h->key, sizeof key_);
    } else {
      munmap(p, bytes_);
    }
  }
  (void)OfdLockByte(fd, F_UNLCK, 0, /*wait=*/false);
  if (rc == 0) {
    fd_ = fd;  // holds byte 1 while mapped
  } else {
    close(fd);
  }
  return rc;
}

void LockTable::Unmap() {
  if (base_ != nullptr) munmap(base_, bytes_);
  base_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace sessionkit::lmdb_internal
