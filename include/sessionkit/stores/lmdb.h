// The embedded LMDB store: sessionkit's zero-setup default. One LMDB
// environment (a directory) shared by every process on the host.
#ifndef SESSIONKIT_STORES_LMDB_H_
#define SESSIONKIT_STORES_LMDB_H_

#include <cstdint>
#include <memory>
#include <string>

#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"

namespace sessionkit {

// When LMDB flushes a commit to disk. See docs/lmdb.md for what each mode
// risks and costs.
enum class LmdbSync {
  // Never fsync on commit (MDB_NOSYNC): as fast as PHP's files handler,
  // which never fsyncs either. A process crash loses nothing (the page cache
  // keeps the writes). An OS crash or power loss may lose the last seconds
  // of writes and, unless the filesystem keeps the order of writes (LMDB's
  // own warning; ext4 and XFS do not promise it), leave the database
  // corrupt: the first opening after the next boot checks it and, when it
  // is corrupt, moves it aside and starts empty (every session lost; see
  // docs/lmdb.md and `sessionkit check`). The default.
  kOff,
  // Flush the data pages of each commit, not its meta page
  // (MDB_NOMETASYNC): the database stays consistent after an OS crash or
  // power loss, which may undo the last commit only. One fdatasync per
  // commit (two per locked request): milliseconds on many disks.
  kMeta,
  // fsync every commit, data and meta page: nothing acknowledged is lost;
  // two flushes per commit.
  kFull,
};

// The size of an LMDB store's lock table (<dir>/lock-table, see
// docs/locking.md): hash buckets, lock entries per bucket, waiter records
// per bucket. For tests only (a tiny table); zeros take the defaults. Every
// process of a directory must use the same geometry.
struct LmdbLockTableGeometry {
  uint32_t buckets = 0;
  uint32_t entries = 0;
  uint32_t waiters = 0;
};

struct LmdbOptions {
  std::string path;  // directory; created if missing
  // The initial size of the memory map (address space, not disk: disk is
  // used only as data is written). A full map grows by itself, doubling,
  // up to map_max; a map that grew stays grown.
  uint64_t map_size = 1ull << 30;  // 1 GiB
  // The most the map may grow to. 0: what the disk can hold, i.e. the free
  // space of its filesystem when the store is opened plus the size of the
  // data file then (see docs/lmdb.md, "Capacity").
  uint64_t map_max = 0;
  LmdbSync sync = LmdbSync::kOff;
  unsigned max_readers = 512;  // concurrent reader slots
  // Commits write straight into a writable map (MDB_WRITEMAP) instead of
  // write(2) calls: a cheaper commit, but a stray write through a pointer
  // into the map corrupts the database, and the data file is preallocated
  // to the whole map (disk used up front). docs/lmdb.md has the numbers.
  bool writemap = false;
  // Mode of created files; created directories get it plus the x bits
  // where r is set (0600 → 0700, 0640 → 0750).
  unsigned file_mode = 0600;
  // The clocks (session expiry, lock leases and waits), host and processes
  // the store asks (env.h); nullptr: Env::Default(). Not a URL setting.
  Env* env = nullptr;
  // For tests only, not a URL setting: see LmdbLockTableGeometry.
  LmdbLockTableGeometry lock_table_for_testing;

  // Reads and checks the options of an lmdb:// URL (path, map_size, map_max,
  // sync, max_readers, writemap, mode; the defaults above stand for those
  // not given): the
  // one parser and validator of these settings. InvalidArgument naming the
  // parameter for a bad value.
  static Result<LmdbOptions> FromUrl(const StoreUrl& url);
};

// Opens (lazily: on first use in each process) the environment at
// options.path. Safe across fork(): a child never uses its parent's handle.
// InvalidArgument naming the setting for options out of range.
Result<std::unique_ptr<Store>> OpenLmdbStore(const LmdbOptions& options);

// The same for an lmdb:// URL, read with LmdbOptions::FromUrl: what
// OpenStore (open.h) calls for lmdb:// URLs.
Result<std::unique_ptr<Store>> OpenLmdbStore(const StoreUrl& url);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_LMDB_H_
