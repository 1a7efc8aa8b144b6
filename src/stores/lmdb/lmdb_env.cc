// Opening the LMDB store's environment: once per process and directory,
// again in a forked child, shared by the stores of one process (see
// "Processes" in lmdb_env.h), and the re-map after another process grew
// the map.
#include "stores/lmdb/lmdb_env.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stores/fork_generation.h"
#include "stores/lmdb/lmdb_check.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/pid_namespace_guard.h"
#include "stores/lmdb/waiter_place.h"

namespace sessionkit {
namespace lmdb_internal {
namespace {

// --- Process-wide state -----------------------------------------------

// The environments open in this process, by canonical directory. Its mutex
// also serialises opening and closing, and is held across fork() so a child
// never inherits it locked or an environment half-opened.
struct Registry {
  std::mutex mu;
  std::map<std::string, std::weak_ptr<Env>> envs;
};

Registry& GetRegistry() {
  static Registry* registry = new Registry;  // never destroyed: see ~LmdbStore
  return *registry;
}

void AtforkPrepare() {
  GetRegistry().mu.lock();
  WaiterPlacesAtforkPrepare();
}
void AtforkParent() {
  WaiterPlacesAtforkParent();
  GetRegistry().mu.unlock();
}
void AtforkChild() {
  WaiterPlacesAtforkChild();
  GetRegistry().mu.unlock();
}

void InstallForkHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    GetRegistry();
    pthread_atfork(AtforkPrepare, AtforkParent, AtforkChild);
  });
}

// --- Directories --------------------------------------------------------

unsigned DirMode(unsigned file_mode) {
  // Directories need x wherever files have r, and the owner needs rwx.
  return (file_mode | ((file_mode & 0444) >> 2) | 0700) & 0777;
}

// Creates `path` and its missing parents (mkdir -p).
Status MakeDirs(const std::string& name, const std::string& path,
                unsigned mode) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::OK();
    return Status::InvalidArgument(name + ": " + path +
                                   " exists and is not a directory; the "
                                   "LMDB store needs a directory");
  }
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string part = path.substr(0, pos);
    if (part.empty() || part == "/") continue;
    if (mkdir(part.c_str(), mode) == 0) continue;
    const int err = errno;
    if (err == EEXIST) {
      if (stat(part.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
      return Status::InvalidArgument(name + ": cannot create the directory " +
                                     path + ": " + part +
                                     " is not a directory");
    }
    std::string msg =
        name + ": cannot create the directory " + part + ": " + strerror(err);
    if (err == ENOTDIR) return Status::InvalidArgument(std::move(msg));
    return Status::Unavailable(std::move(msg));
  }
  return Status::OK();
}

// --- Opening steps ----------------------------------------------------------

// The Status of the failed opening step `what` (LMDB or errno code `rc`),
// after closing what `e` had opened so far.
Status OpenFailed(Env* e, const std::string& name, uint64_t map_size,
                  std::string_view what, int rc) {
  std::string msg =
      name + ": " + std::string(what) + " " + e->dir + ": " + mdb_strerror(rc);
  if (e->env != nullptr) {
    mdb_env_close(e->env);
    e->env = nullptr;
  }
  e->wake.Unmap();
  e->table.Unmap();
  e->data_generation.Unmap();
  e->pid_namespace.Release();
  switch (rc) {
    case ENOTDIR:
    case EISDIR:
    case EINVAL:
      return Status::InvalidArgument(std::move(msg));
    case ENOMEM:
      return Status::ResourceExhausted(msg +
                                       " (map_size=" + FormatSize(map_size) +
                                       " could not be mapped; lower map_size)");
    case ENOSPC:
    case EDQUOT:
      return Status::ResourceExhausted(
          msg + " (free space on the disk that holds it)");
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::Corrupt(msg +
                             " (not an LMDB environment this "
                             "version can read)");
    default:
      return Status::Unavailable(std::move(msg));
  }
}

// Holds <dir>/pid-namespace for `e` (pid_namespace_guard.h): Unavailable
// while processes of another pid namespace use the directory.
Status HoldPidNamespace(Env* e, const std::string& name, unsigned file_mode) {
  uint64_t other_namespace = 0;
  int rc = e->pid_namespace.Acquire(e->dir, file_mode, &other_namespace);
  if (rc == EBUSY) {
    return Status::Unavailable(
        name + ": the LMDB directory " + e->dir +
        " is used by processes of another pid namespace (container): "
        "LMDB tells its readers apart by pid, which collide across pid "
        "namespaces; give each container its own directory or share the "
        "pid namespace (pid namespace " +
        std::to_string(CurrentPidNamespace()) + " here, " +
        std::to_string(other_namespace) + " recorded in " + e->dir + "/" +
        kPidNamespaceFile + ")");
  }
  if (rc != 0) {
    return Status::Unavailable(name + ": cannot open the LMDB environment in " +
                               e->dir + ": " + strerror(rc) + " (on its " +
                               kPidNamespaceFile + " file)");
  }
  return Status::OK();
}

// What the disk can hold for the map of `dir`: the free space of its
// filesystem (for users without the root reserve) plus the size of
// data.mdb. Asked of the OS directly, like the other file operations of
// this store: Env (env.h) is about clocks and processes, not filesystems.
// When it cannot be known, kMaxMapBytes: the disk then says when it is full.
uint64_t DiskLimit(const std::string& dir) {
  struct statvfs vfs;
  if (statvfs(dir.c_str(), &vfs) != 0) return kMaxMapBytes;
  struct stat st;
  const std::string data = dir + "/data.mdb";
  const uint64_t file =
      stat(data.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  const uint64_t free_bytes =
      static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
  return std::min(free_bytes + file, kMaxMapBytes);
}

// Sizes the map of `e` after mdb_env_open: the larger of map_size and the
// size the map grew to before (recorded in the file: a map that grew stays
// grown), and the limit of its growth. An LMDB or errno code.
int SizeMap(Env* e, const LmdbOptions& options) {
  int rc = SetMapSize(e->env, 0);  // the size recorded in the file
  if (rc != 0) return rc;
  MDB_envinfo info;
  if ((rc = mdb_env_info(e->env, &info)) != 0) return rc;
  if (info.me_mapsize < options.map_size) {
    rc = SetMapSize(e->env, options.map_size);
    if (rc != 0) return rc;
  }
  e->map_limit = options.map_max != 0 ? options.map_max : DiskLimit(e->dir);
  MDB_stat stat;
  if ((rc = mdb_env_stat(e->env, &stat)) != 0) return rc;
  e->fill_warn_pages = e->map_limit / 100 * kFillWarnPercent / stat.ms_psize;
  return 0;
}

// Creates, configures and opens e->env in e->dir (at the opening, and at a
// reopening after a compaction). 0, or the LMDB code and, in *what, the
// step that failed.
int OpenLmdbHandle(Env* e, const LmdbOptions& options, std::string_view* what) {
  *what = "cannot create an LMDB handle for";
  int rc = mdb_env_create(&e->env);
  if (rc != 0) return rc;
  *what = "cannot configure the LMDB environment in";
  // Not below data.mdb's size (SetMapSize): the open maps the file.
  if ((rc = mdb_env_set_mapsize(
           e->env, std::max(options.map_size, DataFileBytes(e->dir)))) != 0 ||
      (rc = mdb_env_set_maxreaders(e->env, options.max_readers)) != 0) {
    return rc;
  }
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  if (options.sync == LmdbSync::kOff) flags |= MDB_NOSYNC;
  if (options.sync == LmdbSync::kMeta) flags |= MDB_NOMETASYNC;
  if (options.writemap) flags |= MDB_WRITEMAP;
  *what = "cannot allocate the reader table (lock.mdb) of";
  if ((rc = AllocateLockFile(e->dir, options.max_readers, options.file_mode)) !=
      0) {
    return rc;
  }
  *what = "cannot open the LMDB environment in";
  if ((rc = mdb_env_open(e->env, e->dir.c_str(), flags, options.file_mode)) !=
      0) {
    return rc;
  }
  *what = "cannot size the map of the LMDB environment in";
  if ((rc = SizeMap(e, options)) != 0) return rc;
  *what = "writemap=on: cannot allocate the whole map on disk in";
  return AllocateWriteMap(e->env);
}

// Creates, configures and opens the LMDB environment of `e` in e->dir, and
// maps the lock wake-up and data generation files there.
Status OpenEnvironment(Env* e, const std::string& name,
                       const LmdbOptions& options) {
  auto fail = [&](std::string_view what, int rc) {
    return OpenFailed(e, name, options.map_size, what, rc);
  };
  // The session locks, of the boot the store's Env reports. Without it a
  // process would take every other process's lock for one of another boot,
  // and break it: two requests would hold one session.
  BootId boot{};
  if (!ParseBootId(sessionkit::Env::OrDefault(options.env)->BootId(), &boot)) {
    e->pid_namespace.Release();
    return Status::Unavailable(
        name +
        ": cannot read this boot's id (/proc/sys/kernel/random/boot_id), "
        "which the session locks of the host are told apart by; give the "
        "process /proc (a php-fpm pool with chroot: mount /proc inside it)");
  }
  int rc = e->data_generation.Map(e->dir, options.file_mode);
  if (rc != 0) {
    return fail(
        std::string("cannot map the file ") + kDataGenerationFile + " in", rc);
  }
  // Before mdb_env_open: a compaction that swaps data.mdb after this read
  // is seen by the first transaction (lmdb_compact.h).
  e->opened_generation = e->data_generation.Load();
  std::string_view what;
  rc = OpenLmdbHandle(e, options, &what);
  if (rc != 0) return fail(what, rc);
  rc = e->wake.Map(e->dir + "/" + kLockWakeFile, options.file_mode,
                   SharedFileOwner::kAnyone);
  if (rc != 0) {
    return fail(std::string("cannot map the lock wake-up file ") +
                    kLockWakeFile + " in",
                rc);
  }
  std::string why;
  rc = e->table.Map(e->dir + "/" + kLockTableFile, options.file_mode,
                    options.lock_table_for_testing, boot, &why);
  if (rc != 0) {
    Status s = fail(
        std::string("cannot map the lock table ") + kLockTableFile + " in", rc);
    return why.empty() ? s : Status::Unavailable(name + ": " + why);
  }
  return Status::OK();
}

// Opens the main database of `e` (it always exists, so a read-only
// transaction does it without taking the write lock). 0, or the LMDB code
// and, in *what, the step that failed.
int OpenMainDbHandle(Env* e, std::string_view* what) {
  for (int attempt = 0;; ++attempt) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(e->env, nullptr, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED && attempt < kMaxRemaps) {
      SetMapSize(e->env, 0);
      continue;
    }
    *what = "cannot read the LMDB environment in";
    if (rc != 0) return rc;
    *what = "cannot open the session database in";
    rc = mdb_dbi_open(txn, nullptr, 0, &e->db);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return rc;
    }
    return mdb_txn_commit(txn);  // commit keeps the handle
  }
}

Status OpenMainDb(Env* e, const std::string& name, uint64_t map_size) {
  std::string_view what;
  const int rc = OpenMainDbHandle(e, &what);
  if (rc != 0) return OpenFailed(e, name, map_size, what, rc);
  return Status::OK();
}

}  // namespace

Env::~Env() {
  if (env == nullptr && !data_generation.mapped()) return;
  // An inherited handle is abandoned, never closed: mdb_env_close in a child
  // would release the parent's reader slots and file locks. The kernel's
  // pid, never an Env's (env.h): LMDB names its readers by it, and a fake
  // Env's fixed pid would not change across fork().
  if (generation != ForkGeneration() || pid != getpid()) {
    return;
  }
  for (MDB_txn* txn : pool) mdb_txn_abort(txn);
  if (env != nullptr) mdb_env_close(env);
  wake.Unmap();
  table.Unmap();
  data_generation.Unmap();
  pid_namespace.Release();
}

// --- LmdbStore: the environment -------------------------------------------

LmdbStore::LmdbStore(LmdbOptions options)
    : options_(std::move(options)),
      name_("lmdb://" + options_.path),
      os_(sessionkit::Env::OrDefault(options_.env)) {
  InstallForkHandlers();
}

LmdbStore::~LmdbStore() {
  // Closing under the registry mutex: another store must not open the same
  // directory while this process is still closing it.
  std::lock_guard<std::mutex> lock(GetRegistry().mu);
  current_.store(nullptr, std::memory_order_relaxed);
  env_.reset();
  abandoned_.clear();
}

Result<unsigned> LmdbStore::EnvFlagsForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  unsigned flags = 0;
  const int rc = mdb_env_get_flags(e->env, &flags);
  if (rc != 0) return Error(e, "flags", {}, rc);
  return flags;
}

Status LmdbStore::Acquire(Env** out) {
  Env* e = current_.load(std::memory_order_acquire);
  if (e != nullptr && e->generation == ForkGeneration()) {
    *out = e;
    return Status::OK();
  }
  return OpenSlow(out);
}

Status LmdbStore::OpenSlow(Env** out) {
  // Once per boot, before this process maps the environment; not under the
  // registry mutex, which the fork handlers take (the check forks).
  SK_RETURN_IF_ERROR(CheckOncePerBoot());
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  const uint64_t generation = ForkGeneration();
  const pid_t pid = getpid();  // the kernel's (see ~Env)

  if (env_ != nullptr) {
    if (env_->generation == generation && env_->pid == pid) {
      *out = env_.get();  // another thread opened it meanwhile
      return Status::OK();
    }
    // Inherited from the parent process: keep the memory, never use it.
    current_.store(nullptr, std::memory_order_release);
    abandoned_.push_back(std::move(env_));
  }

  SK_RETURN_IF_ERROR(
      MakeDirs(name_, options_.path, DirMode(options_.file_mode)));
  char real[PATH_MAX];
  if (realpath(options_.path.c_str(), real) == nullptr) {
    return Status::Unavailable(name_ + ": cannot resolve the directory " +
                               options_.path + ": " + strerror(errno));
  }

  auto it = registry.envs.find(real);
  if (it != registry.envs.end()) {
    std::shared_ptr<Env> shared = it->second.lock();
    if (shared != nullptr && shared->generation == generation &&
        shared->pid == pid) {
      env_ = std::move(shared);
      current_.store(env_.get(), std::memory_order_release);
      *out = env_.get();
      return Status::OK();
    }
  }

  auto e = std::make_shared<Env>();
  e->dir = real;
  e->pool.reserve(kPoolCap);  // returning a transaction never allocates
  // Before LMDB claims a reader slot by this process's pid.
  SK_RETURN_IF_ERROR(HoldPidNamespace(e.get(), name_, options_.file_mode));
  SK_RETURN_IF_ERROR(OpenEnvironment(e.get(), name_, options_));
  e->pid = pid;
  e->generation = generation;

  // Free the reader slots of processes that died mid-read.
  int dead = 0;
  mdb_reader_check(e->env, &dead);

  SK_RETURN_IF_ERROR(OpenMainDb(e.get(), name_, options_.map_size));

  for (auto i = registry.envs.begin(); i != registry.envs.end();) {
    i = i->second.expired() ? registry.envs.erase(i) : std::next(i);
  }
  registry.envs[real] = e;
  env_ = std::move(e);
  current_.store(env_.get(), std::memory_order_release);
  *out = env_.get();
  return Status::OK();
}

Status LmdbStore::CheckOncePerBoot() {
  SK_RETURN_IF_ERROR(
      MakeDirs(name_, options_.path, DirMode(options_.file_mode)));
  std::string message;
  const int rc = CheckAfterBoot(options_.path, options_.file_mode,
                                options_.max_readers, &message);
  if (message.empty()) return Status::OK();
  message = name_ + ": " + message;
  // No logger reaches a store: the system log, and LastRecovery().
  syslog(LOG_WARNING, "sessionkit: %s", message.c_str());
  {
    std::lock_guard<std::mutex> lock(recovery_mu_);
    last_recovery_ = message;
  }
  if (rc != 0) return Status::Corrupt(message);
  return Status::OK();
}

std::string LmdbStore::LastRecovery() const {
  std::lock_guard<std::mutex> lock(recovery_mu_);
  return last_recovery_;
}

int LmdbStore::Remap(Env* e) {
  std::unique_lock<std::shared_mutex> lock(e->remap_mu);
  if (e->env == nullptr) return 0;  // a failed reopening: the retry reopens
  const int rc = SetMapSize(e->env, 0);
  return rc != 0 ? rc : AllocateWriteMap(e->env);
}

int LmdbStore::Reopen(Env* e) {
  std::unique_lock<std::shared_mutex> lock(e->remap_mu);
  const uint64_t generation = e->data_generation.Load();
  if (e->env != nullptr && generation == e->opened_generation) {
    return 0;  // another thread reopened it meanwhile
  }
  // No transaction of this process runs (remap_mu): close first, since
  // LMDB must not be open twice in one process (the second closing would
  // drop the first one's file locks on lock.mdb).
  {
    std::lock_guard<std::mutex> pool_lock(e->pool_mu);
    for (MDB_txn* txn : e->pool) mdb_txn_abort(txn);
    e->pool.clear();
  }
  if (e->env != nullptr) mdb_env_close(e->env);
  e->env = nullptr;
  std::string_view what;
  int rc = OpenLmdbHandle(e, options_, &what);
  if (rc == 0) rc = OpenMainDbHandle(e, &what);
  if (rc != 0) {
    if (e->env != nullptr) mdb_env_close(e->env);
    e->env = nullptr;  // the next transaction tries again
    return rc;
  }
  e->opened_generation = generation;
  return 0;
}

int LmdbStore::Grow(Env* e, bool gc_step) {
  std::unique_lock<std::shared_mutex> lock(e->remap_mu);
  if (e->env == nullptr) return 0;  // a failed reopening: the retry reopens
  MDB_envinfo info;
  MDB_stat stat;
  int rc = mdb_env_info(e->env, &info);
  if (rc != 0 || (rc = mdb_env_stat(e->env, &stat)) != 0) return rc;
  const uint64_t before = info.me_mapsize;
  // Another process may have grown it already: take the size its commit
  // recorded in the file (or its map gave the file) when that is larger.
  if ((rc = SetMapSize(e->env, 0)) != 0) return rc;
  if ((rc = mdb_env_info(e->env, &info)) != 0) return rc;
  if (info.me_mapsize > before) return 0;
  uint64_t next =
      gc_step ? before + kGcSlackBytes : std::min(before * 2, e->map_limit);
  next -= next % stat.ms_psize;
  if (next <= before) {
    rc = SetMapSize(e->env, before);
    return rc != 0 ? rc : MDB_MAP_FULL;
  }
  // Other processes take the new size at their next transaction after the
  // next commit of this one (MDB_MAP_RESIZED, then Remap).
  if ((rc = SetMapSize(e->env, next)) != 0) return rc;
  if ((rc = AllocateWriteMap(e->env)) != 0) {
    SetMapSize(e->env, before);  // leaves no hole in the map, or another's
    return rc == ENOSPC ? MDB_MAP_FULL : rc;
  }
  growths_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

Result<std::vector<pid_t>> LmdbStore::ReaderPidsForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  std::vector<pid_t> pids;
  mdb_reader_list(
      e->env,
      [](const char* msg, void* ctx) -> int {
        // Lines are "pid thread txnid"; the header and "(no active
        // readers)" do not start with a number.
        char* end;
        long pid = strtol(msg, &end, 10);
        if (end != msg && pid > 0) {
          static_cast<std::vector<pid_t>*>(ctx)->push_back(
              static_cast<pid_t>(pid));
        }
        return 0;
      },
      &pids);
  return pids;
}

pid_t LmdbStore::EnvPidForTesting() const {
  Env* e = current_.load(std::memory_order_acquire);
  if (e == nullptr || e->generation != ForkGeneration()) {
    return 0;
  }
  return e->pid;
}

}  // namespace lmdb_internal
}  // namespace sessionkit
