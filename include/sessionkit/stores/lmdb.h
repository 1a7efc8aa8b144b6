// The embedded LMDB store: sessionkit's zero-setup default. One LMDB
// environment (a directory) shared by every process on the host.
#ifndef SESSIONKIT_STORES_LMDB_H_
#define SESSIONKIT_STORES_LMDB_H_

#include <cstdint>
#include <memory>
#include <string>

#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"

namespace sessionkit {

// When LMDB flushes a commit to disk.
enum class LmdbSync {
  // Never fsync on commit (MDB_NOSYNC): as durable as PHP's files handler; a
  // process crash loses nothing, an OS crash or power loss may lose the last
  // seconds of writes and, on a filesystem that does not keep write order,
  // may leave the database unreadable (then delete the directory: sessions
  // are lost, nothing else is). The default.
  kOff,
  // Flush data but not the meta page (MDB_NOMETASYNC): an OS crash may undo
  // the last commit only.
  kMeta,
  // fsync every commit: nothing acknowledged is lost; far slower.
  kFull,
};

struct LmdbOptions {
  std::string path;                       // directory; created if missing
  uint64_t map_size = 1ull << 30;         // 1 GiB: the most it can hold
  LmdbSync sync = LmdbSync::kOff;
  unsigned max_readers = 512;             // concurrent reader slots
  // Mode of created files; created directories get it plus the x bits
  // where r is set (0600 → 0700, 0640 → 0750).
  unsigned file_mode = 0600;

  // Reads the options of an lmdb:// URL (path, map_size, sync, max_readers,
  // mode). InvalidArgument naming the parameter for a bad value.
  static Result<LmdbOptions> FromUrl(const StoreUrl& url);
};

// Opens (lazily: on first use in each process) the environment at
// options.path. Safe across fork(): a child never uses its parent's handle.
Result<std::unique_ptr<Store>> OpenLmdbStore(const LmdbOptions& options);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_LMDB_H_
