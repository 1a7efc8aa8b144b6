// Mapping <dir>/lock-table and judging its header (lock_table.h).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "sessionkit/lock.h"
#include "stores/lmdb/lock_table.h"
#include "stores/lmdb/lock_table_layout.h"
#include "stores/lock_wake.h"

namespace sessionkit::lmdb_internal {

Digest DigestOf(std::string_view text) {
  Digest d;
  crypto_generichash(d.data(), d.size(),
                     reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), nullptr, 0);
  return d;
}

pid_t LocalPidOf(std::string_view token, sessionkit::Env* os) {
  if (!LockHolderIsOnThisHost(token, os)) return 0;
  const auto parts = LockOwner::Parse(token);
  return parts ? parts->pid : 0;
}

int LockTable::Map(const std::string& path, unsigned mode,
                   const LmdbLockTableGeometry& geometry, const BootId& boot,
                   std::string* error) {
  path_ = path;
  buckets_ = geometry.buckets ? geometry.buckets : kDefaultGeometry.buckets;
  entries_ = geometry.entries ? geometry.entries : kDefaultGeometry.entries;
  waiters_ = geometry.waiters ? geometry.waiters : kDefaultGeometry.waiters;
  bucket_bytes_ = BucketBytes(entries_, waiters_);
  bytes_ = kTableHeaderBytes + buckets_ * bucket_bytes_;
  // The header is judged and written under flock(): openers wait for an
  // initialisation in progress.
  const int fd =
      open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return errno;
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      const int err = errno;
      close(fd);
      return err;
    }
  }
  void* p = nullptr;
  int rc = MapSharedFile(path, mode, SharedFileOwner::kAnyone, bytes_, &p);
  if (rc == 0) {
    TableHeader* h = static_cast<TableHeader*>(p);
    static constexpr char kZero[8] = {};
    const bool fresh = std::memcmp(h->magic, kZero, 8) == 0;
    const auto geometry_text = [](uint32_t b, uint32_t e, uint32_t w) {
      return std::to_string(b) + " buckets of " + std::to_string(e) +
             " entries and " + std::to_string(w) + " waiters";
    };
    if (!fresh && std::memcmp(h->magic, kTableMagic, 8) != 0) {
      *error = "the lock table " + path +
               " has a foreign or damaged header (not a sessionkit lock "
               "table); remove it while no process uses the store";
      rc = EINVAL;
    } else if (fresh || std::memcmp(h->boot, boot.data(), 16) != 0) {
      // New, or of another boot: no process of this boot maps it.
      std::memset(static_cast<char*>(p) + kTableHeaderBytes, 0,
                  bytes_ - kTableHeaderBytes);
      pthread_mutexattr_t attr;
      pthread_mutexattr_init(&attr);
      pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
      pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
      for (uint32_t i = 0; i < buckets_; ++i) {
        pthread_mutex_init(
            &reinterpret_cast<Bucket*>(static_cast<char*>(p) +
                                       kTableHeaderBytes + i * bucket_bytes_)
                 ->mu,
            &attr);
      }
      pthread_mutexattr_destroy(&attr);
      h->version = kTableVersion;
      h->buckets = buckets_;
      h->entries = entries_;
      h->waiters = waiters_;
      std::memcpy(h->boot, boot.data(), 16);
      std::atomic_thread_fence(std::memory_order_release);
      std::memcpy(h->magic, kTableMagic, 8);
      msync(p, kTableHeaderBytes, MS_ASYNC);
    } else if (h->version != kTableVersion) {
      *error = "the lock table " + path + " has format version " +
               std::to_string(h->version) + " and this build uses " +
               std::to_string(kTableVersion) +
               ": processes of another sessionkit version use this store "
               "directory";
      rc = EINVAL;
    } else if (h->buckets != buckets_ || h->entries != entries_ ||
               h->waiters != waiters_) {
      *error = "the lock table " + path + " has " +
               geometry_text(h->buckets, h->entries, h->waiters) +
               " and this process asks for " +
               geometry_text(buckets_, entries_, waiters_);
      rc = EINVAL;
    }
    if (rc == 0) {
      base_ = p;
    } else {
      munmap(p, bytes_);
    }
  }
  close(fd);  // drops the flock; the mapping stays
  return rc;
}

void LockTable::Unmap() {
  if (base_ != nullptr) munmap(base_, bytes_);
  base_ = nullptr;
}

}  // namespace sessionkit::lmdb_internal
