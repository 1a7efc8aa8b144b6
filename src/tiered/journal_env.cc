// Opening a journal's LMDB environment once per process and directory
// (again in a forked child), and the transactions of the journal
// (journal_env.h).
#include "tiered/journal_env.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>

#include "stores/fork_generation.h"
#include "stores/lmdb/lmdb_store.h"
#include "tiered/journal_layout.h"

namespace sessionkit::tiered {
namespace {

// Readers one environment allows: every worker of a large PHP-FPM pool may
// read at once.
constexpr unsigned kMaxReaders = 1024;
// What every Put leaves free for the drainers: a 32nd of the map, within
// these bounds.
constexpr uint64_t kMinReserveBytes = 64ull << 10;
constexpr uint64_t kMaxReserveBytes = 1ull << 20;
// Re-maps a transaction tries after another process grew the map.
constexpr int kMaxRemaps = 3;
// Room on disk past the last commit that any write transaction may take
// beyond its data: the pages it copies on write (CheckReserve's
// kPagesOfAPut and more) besides the free list, which EnsureRoom adds.
constexpr uint64_t kTxnRoomBytes = 1ull << 20;
// The unit in which the map is allocated on disk.
constexpr uint64_t kAllocationStep = 1ull << 20;

// The environments open in this process, by canonical directory. Its mutex
// serialises opening, and is held across fork() so that a child never
// inherits it locked.
struct Registry {
  std::mutex mu;
  std::map<std::string, std::weak_ptr<JournalEnv>> envs;
};

Registry& GetRegistry() {
  static Registry* registry = new Registry;  // outlives every journal
  return *registry;
}

void InstallForkHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    GetRegistry();
    ForkGeneration();  // its handler first: the child sees the new count
    pthread_atfork([] { GetRegistry().mu.lock(); },
                   [] { GetRegistry().mu.unlock(); },
                   [] { GetRegistry().mu.unlock(); });
  });
}

std::string Name(const std::string& dir) { return "journal " + dir; }

// The Status of LMDB or errno code `rc` while doing `what` in `dir`.
Status ErrorOf(const std::string& dir, uint64_t map_size, std::string_view what,
               int rc) {
  std::string msg = Name(dir) + ": " + std::string(what) + ": ";
  switch (rc) {
    case MDB_MAP_FULL:
      return Status::ResourceExhausted(
          msg + "the journal is full (map_size=" +
          lmdb_internal::FormatSize(map_size) +
          "): raise its map_size, or let the backlog drain");
    case ENOSPC:
    case EDQUOT:
      return Status::ResourceExhausted(
          msg +
          "the disk has no room for the journal to grow: free space "
          "on the disk that holds it");
    case ENOMEM:
      return Status::ResourceExhausted(
          msg + "map_size=" + lmdb_internal::FormatSize(map_size) +
          " cannot be mapped; lower map_size");
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_CORRUPTED:
      return Status::Corrupt(msg + mdb_strerror(rc));
    case ENOTDIR:
    case EINVAL:
      return Status::InvalidArgument(msg + mdb_strerror(rc));
    default:
      return Status::Unavailable(msg + mdb_strerror(rc));
  }
}

// Opens e->env in e->dir. 0 or an LMDB code; *what: the step that failed.
int OpenHandleWith(JournalEnv* e, unsigned flags, std::string_view* what) {
  *what = "cannot create an LMDB handle";
  int rc = mdb_env_create(&e->env);
  if (rc != 0) return rc;
  *what = "cannot configure the LMDB environment";
  // Never below data.mdb's size (lmdb_internal::SetMapSize): written
  // through its map, LMDB cuts the file to the map as it maps it.
  if ((rc = mdb_env_set_mapsize(
           e->env,
           std::max(e->map_size, lmdb_internal::DataFileBytes(e->dir)))) != 0 ||
      (rc = mdb_env_set_maxreaders(e->env, kMaxReaders)) != 0) {
    return rc;
  }
  *what = "cannot allocate the reader table (lock.mdb)";
  if ((rc = lmdb_internal::AllocateLockFile(e->dir, kMaxReaders, 0600)) != 0) {
    return rc;
  }
  *what = "cannot open the LMDB environment";
  if ((rc = mdb_env_open(e->env, e->dir.c_str(), flags, 0600)) != 0) return rc;
  // A map another process grew stays grown: the larger of the two sizes.
  *what = "cannot size the map";
  if ((rc = lmdb_internal::SetMapSize(e->env, 0)) != 0) return rc;
  MDB_envinfo info;
  if ((rc = mdb_env_info(e->env, &info)) != 0) return rc;
  if (info.me_mapsize < e->map_size &&
      (rc = lmdb_internal::SetMapSize(e->env, e->map_size)) != 0) {
    return rc;
  }
  MDB_stat stat;
  if ((rc = mdb_env_stat(e->env, &stat)) != 0) return rc;
  e->page_size = stat.ms_psize;
  return 0;
}

// For a journal written through its map: allocates on disk what a write
// transaction of `data_bytes` may touch past the last commit (LMDB sizes
// data.mdb to the map as a sparse file, and a store into a hole that a full
// disk cannot fill is a SIGBUS, not an error). Run under LMDB's write lock,
// so that no other commit moves the end meanwhile. 0 or an errno code.
int EnsureRoom(JournalEnv* e, size_t data_bytes) {
  if (!e->writemap) return 0;
  MDB_envinfo info;
  int rc = mdb_env_info(e->env, &info);
  if (rc != 0) return rc;
  if (e->allocated >= info.me_mapsize) return 0;
  // Its data twice (the record, and the pages split around it), the
  // reserve a Put tries, and the free list LMDB records at the commit (8
  // bytes per free page at most).
  const uint64_t room = 2 * static_cast<uint64_t>(data_bytes) +
                        e->reserve_bytes + kTxnRoomBytes +
                        info.me_mapsize / 512;
  const uint64_t need = (info.me_last_pgno + 1) * e->page_size + room;
  if (need <= e->allocated) return 0;
  // An eighth more, in whole steps: few calls as the journal grows.
  uint64_t target = need + need / 8 + kAllocationStep - 1;
  target = std::min(target - target % kAllocationStep, info.me_mapsize);
  if (e->disk_room_for_testing != 0 && target > e->disk_room_for_testing) {
    if (need > e->disk_room_for_testing) return ENOSPC;
    target = e->disk_room_for_testing;
  }
  if ((rc = lmdb_internal::AllocateWriteMap(e->env, target)) != 0) return rc;
  e->allocated = target;
  return 0;
}

// Opens e->env with `options`: written through the map (a commit costs no
// system call) when the filesystem can allocate it on disk, else through
// write calls. With sync, always through write calls: LMDB flushes a
// written map whole at each commit (msync), which is slower than flushing
// the pages written. 0 or an LMDB code; *what: the step that failed.
int OpenHandle(JournalEnv* e, const JournalOptions& options,
               std::string_view* what) {
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  if (!options.sync) flags |= MDB_NOSYNC;
  if (options.writemap && !options.sync) {
    int rc = OpenHandleWith(e, flags | MDB_WRITEMAP, what);
    e->writemap = true;
    if (rc == 0) rc = EnsureRoom(e, 0);
    if (rc == 0) return 0;
    // The filesystem cannot allocate, the disk has no room, or the open
    // failed: without the map written to, as before.
    e->writemap = false;
    e->allocated = 0;
    if (e->env != nullptr) mdb_env_close(e->env);
    e->env = nullptr;
  }
  return OpenHandleWith(e, flags, what);
}

// Opens the main database and checks the format record (writing it in a
// new journal).
Status CheckFormat(JournalEnv* e) {
  uint32_t found = 0;
  bool malformed = false;
  Status s =
      WithWriteTxn(e, "cannot read the format record", [&](MDB_txn* txn) {
        int rc = mdb_dbi_open(txn, nullptr, 0, &e->db);
        if (rc != 0) return rc;
        MDB_val key = Val(kFormatKey), value;
        rc = mdb_get(txn, e->db, &key, &value);
        if (rc == MDB_NOTFOUND) {
          // A new journal (or one whose every key is gone): this format.
          std::string v = EncodeFormat(kFormatVersion);
          MDB_val put = Val(v);
          return mdb_put(txn, e->db, &key, &put, 0);
        }
        if (rc != 0) return rc;
        malformed = !ParseFormat(View(value), &found);
        // Commits the handle of the main database either way.
        return 0;
      });
  SK_RETURN_IF_ERROR(s);
  if (malformed) {
    return Status::Corrupt(Name(e->dir) +
                           ": its format record is damaged; move the "
                           "directory aside to start an empty journal");
  }
  if (found > kFormatVersion) {
    return Status::NotSupported(
        Name(e->dir) + " is in format " + std::to_string(found) +
        ", written by a later release; this one reads up to format " +
        std::to_string(kFormatVersion));
  }
  return Status::OK();
}

// Remaps after another process grew the map (each write transaction
// allocates what it needs on disk: EnsureRoom).
int Remap(JournalEnv* e) {
  std::unique_lock<std::shared_mutex> lock(e->remap_mu);
  return lmdb_internal::SetMapSize(e->env, 0);
}

// Runs `fn` in a transaction (`flags`: 0 or MDB_RDONLY), with the retries
// of WithWriteTxn.
Status RunTxn(JournalEnv* e, unsigned flags, std::string_view what,
              const std::function<int(MDB_txn*)>& fn, size_t data_bytes) {
  int rc = 0;
  for (int attempt = 0; attempt <= kMaxRemaps; ++attempt) {
    {
      std::shared_lock<std::shared_mutex> lock(e->remap_mu);
      MDB_txn* txn = nullptr;
      rc = mdb_txn_begin(e->env, nullptr, flags, &txn);
      if (rc == 0 && flags == 0 && (rc = EnsureRoom(e, data_bytes)) != 0) {
        mdb_txn_abort(txn);
      } else if (rc == 0) {
        try {
          rc = fn(txn);
        } catch (...) {
          mdb_txn_abort(txn);  // never keep the write lock of every process
          throw;
        }
        if (rc == 0) {
          rc = mdb_txn_commit(txn);
        } else {
          mdb_txn_abort(txn);
          if (rc == kRcNoChange) return Status::OK();
        }
      }
    }
    if (rc == 0) return Status::OK();
    if (rc == MDB_MAP_RESIZED) {
      if ((rc = Remap(e)) != 0) break;
      continue;
    }
    if (rc == MDB_READERS_FULL && attempt == 0) {
      int dead = 0;
      mdb_reader_check(e->env, &dead);  // slots of processes that died
      continue;
    }
    break;
  }
  return ErrorOf(e->dir, e->map_size, what, rc);
}

}  // namespace

JournalEnv::~JournalEnv() {
  // An inherited handle is abandoned, never closed: mdb_env_close in a
  // child would release the parent's reader slots and file locks.
  if (!Mine()) return;
  if (env != nullptr) mdb_env_close(env);
  pid_namespace.Release();
}

bool JournalEnv::Mine() const {
  return generation == ForkGeneration() && pid == getpid();
}

Result<std::string> MakeJournalDir(const std::string& dir) {
  if (dir.empty() || dir.find('\0') != std::string::npos) {
    return Status::InvalidArgument(
        "journal: path must name a directory (it is empty or has a NUL)");
  }
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    const std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      const int err = errno;
      std::string msg =
          Name(dir) + ": cannot create " + part + ": " + strerror(err);
      if (err == ENOTDIR) return Status::InvalidArgument(std::move(msg));
      return Status::Unavailable(std::move(msg));
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(Name(dir) +
                                   ": path exists and is not a directory");
  }
  char real[PATH_MAX];
  if (realpath(dir.c_str(), real) == nullptr) {
    return Status::Unavailable(Name(dir) +
                               ": cannot resolve the path: " + strerror(errno));
  }
  return std::string(real);
}

namespace {

// This process's environment of `dir`: shared, or opened. Under the
// registry's mutex.
Result<std::shared_ptr<JournalEnv>> OpenLocked(Registry& registry,
                                               const std::string& dir,
                                               const JournalOptions& options) {
  auto it = registry.envs.find(dir);
  if (it != registry.envs.end()) {
    std::shared_ptr<JournalEnv> shared = it->second.lock();
    if (shared != nullptr && shared->Mine()) return shared;
  }
  auto e = std::make_shared<JournalEnv>();
  e->dir = dir;
  e->map_size = options.map_size;
  e->reserve_bytes = std::clamp<uint64_t>(options.map_size / 32,
                                          kMinReserveBytes, kMaxReserveBytes);
  e->disk_room_for_testing = options.disk_room_for_testing;
  e->pid = getpid();  // the kernel's: LMDB names its readers by it
  e->generation = ForkGeneration();
  uint64_t other_namespace = 0;
  const int held = e->pid_namespace.Acquire(dir, 0600, &other_namespace);
  if (held == EBUSY) {
    return Status::Unavailable(
        "journal " + dir +
        " is used by processes of another pid namespace (container): LMDB "
        "tells its readers apart by pid, which collide across pid "
        "namespaces; give each container its own journal= directory (pid "
        "namespace " +
        std::to_string(lmdb_internal::CurrentPidNamespace()) + " here, " +
        std::to_string(other_namespace) + " recorded in " + dir + "/" +
        lmdb_internal::kPidNamespaceFile + ")");
  }
  if (held != 0) {
    return Status::Unavailable("journal " + dir + ": " + strerror(held) +
                               " (on its " + lmdb_internal::kPidNamespaceFile +
                               " file)");
  }
  std::string_view what;
  const int rc = OpenHandle(e.get(), options, &what);
  if (rc != 0) {
    Status s = ErrorOf(dir, options.map_size, what, rc);
    if (e->env != nullptr) mdb_env_close(e->env);
    e->env = nullptr;
    return s;
  }
  // Free the reader slots of processes that died mid-read.
  int dead = 0;
  mdb_reader_check(e->env, &dead);
  SK_RETURN_IF_ERROR(CheckFormat(e.get()));
  for (auto i = registry.envs.begin(); i != registry.envs.end();) {
    i = i->second.expired() ? registry.envs.erase(i) : std::next(i);
  }
  registry.envs[dir] = e;
  return e;
}

}  // namespace

Status RefreshJournalEnv(const std::string& dir, const JournalOptions& options,
                         std::shared_ptr<JournalEnv>* env,
                         std::vector<std::shared_ptr<JournalEnv>>* abandoned) {
  InstallForkHandlers();
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (*env != nullptr && (*env)->Mine()) return Status::OK();  // meanwhile
  if (*env != nullptr) abandoned->push_back(std::move(*env));
  Result<std::shared_ptr<JournalEnv>> opened =
      OpenLocked(registry, dir, options);
  if (!opened.ok()) return opened.status();
  *env = *std::move(opened);
  return Status::OK();
}

void ReleaseJournalEnv(std::shared_ptr<JournalEnv>* env,
                       std::vector<std::shared_ptr<JournalEnv>>* abandoned) {
  std::lock_guard<std::mutex> lock(GetRegistry().mu);
  env->reset();
  abandoned->clear();  // inherited ones: freed, never closed (~JournalEnv)
}

Status WithWriteTxn(JournalEnv* e, std::string_view what,
                    const std::function<int(MDB_txn*)>& fn, size_t data_bytes) {
  return RunTxn(e, 0, what, fn, data_bytes);
}

Status WithReadTxn(JournalEnv* e, std::string_view what,
                   const std::function<int(MDB_txn*)>& fn) {
  return RunTxn(e, MDB_RDONLY, what, fn, 0);
}

}  // namespace sessionkit::tiered
