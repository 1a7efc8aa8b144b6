#include "stores/lmdb/lmdb_store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>

#include "sessionkit/session_id.h"
#include "stores/lmdb/lmdb_check.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lmdb_lock_record.h"
#include "stores/lmdb/lock_wake.h"
#include "stores/lmdb/pid_namespace_guard.h"

namespace sessionkit {
namespace lmdb_internal {

// One process's handle on an environment directory.
//
// Thread safety: env, db, wake, pid, generation and dir are set before the
// handle is published and never change; pool is guarded by pool_mu; every
// transaction holds remap_mu shared.
struct Env {
  MDB_env* env = nullptr;
  MDB_dbi db = 0;  // the main database: sessions, their index, locks
  LockWake wake;   // <dir>/lock-wake, mapped
  PidNamespaceGuard pid_namespace;  // <dir>/pid-namespace, held shared
  // The process and fork generation that opened `env`; any other process
  // must not touch it.
  pid_t pid = 0;
  uint64_t generation = 0;
  std::string dir;  // canonical path

  // Every transaction holds this shared; a re-map (mdb_env_set_mapsize)
  // holds it exclusively, since it moves the memory map under any
  // transaction of this process.
  std::shared_mutex remap_mu;

  // Reset read transactions kept for reuse: mdb_txn_renew is far cheaper
  // than claiming a reader slot with mdb_txn_begin. Each holds one slot.
  std::mutex pool_mu;
  std::vector<MDB_txn*> pool;

  ~Env();
};

namespace {

// A lock value: see lmdb_lock_record.h.
constexpr size_t kMaxTokenBytes = 1024;
// A waiter whose lock holder is a process of this host wakes this often to
// see whether the holder died (killed without releasing).
constexpr std::chrono::milliseconds kGoneHolderPoll{250};
constexpr Duration kMaxLockWait{24 * 3600 * 1000};
constexpr size_t kPoolCap = 16;
constexpr uint64_t kGcBatch = 1000;
constexpr size_t kDefaultScanLimit = 1000;
constexpr uint64_t kMaxValueBytes = 0xffffffffull - kHeaderBytes;
constexpr int kMaxRemaps = 3;

// Outcomes of transaction bodies besides LMDB codes (which are -30800 to
// -30780) and errno values (positive).
constexpr int kRcCorrupt = -1;   // a value shorter than its expiry header
constexpr int kRcNoChange = -2;  // nothing to commit: abort and succeed
constexpr int kRcLockLost = -3;  // the caller does not hold the session lock

// --- Process-wide state -----------------------------------------------

// Incremented in the child after every fork(): a handle whose generation
// differs was opened by an ancestor process.
std::atomic<uint64_t> g_fork_generation{0};

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
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
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

// --- Encoding -----------------------------------------------------------

// Expiry as persisted: never negative, so the big-endian bytes sort in time
// order.
uint64_t StoredExpiry(int64_t ms) {
  return ms < 0 ? 0 : static_cast<uint64_t>(ms);
}

int64_t ExpiryFromNow(int64_t now_ms, Duration ttl) {
  const int64_t t = ttl.count();
  if (t > 0 && now_ms > kMaxExpiryMs - t) return kMaxExpiryMs;
  if (t < 0 && now_ms < std::numeric_limits<int64_t>::min() - t) return 0;
  return std::clamp<int64_t>(now_ms + t, 0, kMaxExpiryMs);
}

TimePoint ExpiryTime(int64_t ms) {
  return FromUnixMillis(std::clamp<int64_t>(ms, 0, kMaxExpiryMs));
}

// A key below the sessions: kIndexPrefix, an 8-byte big-endian number, the
// id. The index key of a session has the start of its expiry's bucket; its
// lock key has INT64_MAX (kLockPrefix), a bucket no expiry reaches.
//
// Thread safety: a value on the stack of one call.
class HeaderKey {
 public:
  HeaderKey(uint64_t number, std::string_view id)
      : size_(kIndexHeaderBytes + id.size()) {
    buf_[0] = kIndexPrefix;
    PutBigEndian64(buf_ + 1, number);
    std::memcpy(buf_ + kIndexHeaderBytes, id.data(), id.size());
  }
  MDB_val val() { return MDB_val{size_, buf_}; }

 private:
  char buf_[kIndexHeaderBytes + kMaxIdBytes];
  size_t size_;
};

HeaderKey IndexKey(int64_t expiry_ms, std::string_view id) {
  return HeaderKey(static_cast<uint64_t>(Bucket(expiry_ms)), id);
}

HeaderKey LockKey(std::string_view id) {
  return HeaderKey(static_cast<uint64_t>(INT64_MAX), id);
}

// Reads the lock record of `id`: 0, MDB_NOTFOUND or an LMDB error.
int GetLock(MDB_txn* txn, const Env* e, std::string_view id, LockRecord* out) {
  HeaderKey key = LockKey(id);
  MDB_val k = key.val(), v;
  const int rc = mdb_get(txn, e->db, &k, &v);
  if (rc == 0) *out = ParseLockRecord(View(v));
  return rc;
}

int PutLock(MDB_txn* txn, const Env* e, std::string_view id, const LockNow& now,
            Duration lease, std::string_view token) {
  HeaderKey key = LockKey(id);
  MDB_val k = key.val();
  MDB_val v{LockRecordBytes(token), nullptr};
  const int rc = mdb_put(txn, e->db, &k, &v, MDB_RESERVE);
  if (rc != 0) return rc;
  EncodeLockRecord(static_cast<char*>(v.mv_data), now, lease, token);
  return 0;
}

// Deletes the lock record of `id`: 0, MDB_NOTFOUND or an LMDB error.
int DelLock(MDB_txn* txn, const Env* e, std::string_view id) {
  HeaderKey key = LockKey(id);
  MDB_val k = key.val();
  return mdb_del(txn, e->db, &k, nullptr);
}

// Why an owner's write, touch or release is refused, or empty when the lock
// record of `id` is still its own (also after its lease ran out: nobody took
// the lock over since). No token goes into the reason: a token lets its
// bearer write the session.
std::string OwnerCheck(MDB_txn* txn, const Env* e, std::string_view id,
                       std::string_view token, const LockNow& now, int* rc) {
  LockRecord lock;
  *rc = GetLock(txn, e, id, &lock);
  if (*rc == MDB_NOTFOUND) {
    *rc = kRcLockLost;
    return "the session is not locked by this owner (it never took the "
           "lock or released it, the session was destroyed, or another "
           "owner took the lock over and released it)";
  }
  if (*rc != 0) return "";
  if (lock.token != token) {
    *rc = kRcLockLost;
    return "another owner holds the lock (this owner's lease ran out and "
           "the lock was taken over, or this owner never held it)";
  }
  if (StateOf(lock, now) == LockState::kGone) {
    *rc = kRcLockLost;
    return "this owner's lock record expired (its lease ended more than " +
           std::to_string(kLockRecordRetention.count() / 60000) +
           " minutes ago, or before the host restarted)";
  }
  return "";
}

// Adds the index entry of a session that expires at `expiry_ms`.
int PutIndex(MDB_txn* txn, const Env* e, int64_t expiry_ms,
             std::string_view id) {
  HeaderKey key = IndexKey(expiry_ms, id);
  MDB_val k = key.val();
  MDB_val empty{0, nullptr};
  return mdb_put(txn, e->db, &k, &empty, 0);
}

// Deletes the index entry of a session that expires at `expiry_ms`; one
// that is missing is not an error.
int DelIndex(MDB_txn* txn, const Env* e, int64_t expiry_ms,
             std::string_view id) {
  HeaderKey key = IndexKey(expiry_ms, id);
  MDB_val k = key.val();
  int rc = mdb_del(txn, e->db, &k, nullptr);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

// Aborts a transaction when a transaction body throws (std::bad_alloc):
// a leaked write transaction would hold the write lock of every process.
struct TxnGuard {
  MDB_txn* txn;
  ~TxnGuard() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

// Closes a cursor of a write transaction when its scope ends (before the
// transaction ends, as LMDB requires).
struct CursorGuard {
  MDB_cursor* cursor;
  ~CursorGuard() { mdb_cursor_close(cursor); }
};

// --- Session bodies shared by the plain and the locked operations -------

// Creates or replaces the session `id` (the body of Write), moving its
// index entry unless the expiry stays in its bucket; sets *index_changed.
int PutSession(MDB_txn* txn, const Env* e, std::string_view id,
               std::string_view data, int64_t expiry, bool* index_changed) {
  // One cursor finds the old value and replaces it, without a second
  // search of the tree.
  MDB_cursor* cursor;
  int rc = mdb_cursor_open(txn, e->db, &cursor);
  if (rc != 0) return rc;
  CursorGuard guard{cursor};
  MDB_val k = Val(id), old;
  rc = mdb_cursor_get(cursor, &k, &old, MDB_SET_KEY);
  if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  const bool found = rc == 0;
  const bool had_expiry = found && old.mv_size >= kHeaderBytes;
  const int64_t old_expiry = had_expiry ? GetBigEndian64(old.mv_data) : 0;
  const bool index_current = had_expiry && Bucket(old_expiry) == Bucket(expiry);
  *index_changed = !index_current;
  k = Val(id);
  MDB_val v{kHeaderBytes + data.size(), nullptr};
  rc = mdb_cursor_put(cursor, &k, &v,
                      found ? MDB_CURRENT | MDB_RESERVE : MDB_RESERVE);
  if (rc != 0) return rc;
  // Fill the reserved space before the index changes: they may move it.
  char* out = static_cast<char*>(v.mv_data);
  PutBigEndian64(out, StoredExpiry(expiry));
  if (!data.empty()) {
    std::memcpy(out + kHeaderBytes, data.data(), data.size());
  }
  if (index_current) return 0;
  if (had_expiry && (rc = DelIndex(txn, e, old_expiry, id)) != 0) return rc;
  return PutIndex(txn, e, expiry, id);
}

// Moves the expiry of the live session `id` (the body of Touch), using
// `value` as scratch. MDB_NOTFOUND when it does not exist or expired,
// kRcCorrupt for a value without header, kRcNoChange when the expiry is
// already `expiry`.
int TouchSession(MDB_txn* txn, const Env* e, std::string_view id, int64_t now,
                 int64_t expiry, std::string* value, bool* index_changed) {
  MDB_cursor* cursor;
  int rc = mdb_cursor_open(txn, e->db, &cursor);
  if (rc != 0) return rc;
  CursorGuard guard{cursor};
  MDB_val k = Val(id), old;
  if ((rc = mdb_cursor_get(cursor, &k, &old, MDB_SET_KEY)) != 0) return rc;
  if (old.mv_size < kHeaderBytes) return kRcCorrupt;
  const int64_t old_expiry = GetBigEndian64(old.mv_data);
  if (old_expiry <= now) return MDB_NOTFOUND;
  if (old_expiry == expiry) return kRcNoChange;
  // Copy before writing: the put may move the page `old` points into.
  value->assign(View(old));
  PutBigEndian64(value->data(), StoredExpiry(expiry));
  k = Val(id);
  MDB_val v = Val(*value);
  if ((rc = mdb_cursor_put(cursor, &k, &v, MDB_CURRENT)) != 0) return rc;
  *index_changed = Bucket(old_expiry) != Bucket(expiry);
  if (!*index_changed) return 0;
  if ((rc = DelIndex(txn, e, old_expiry, id)) != 0) return rc;
  return PutIndex(txn, e, expiry, id);
}

// --- Messages -------------------------------------------------------------

// Enough of an id to find it in logs, never the whole secret.
std::string IdPrefix(std::string_view id) { return SessionIdPrefix(id); }

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

}  // namespace

Env::~Env() {
  if (env == nullptr) return;
  // An inherited handle is abandoned, never closed: mdb_env_close in a child
  // would release the parent's reader slots and file locks.
  if (generation != g_fork_generation.load(std::memory_order_relaxed) ||
      pid != getpid()) {
    return;
  }
  for (MDB_txn* txn : pool) mdb_txn_abort(txn);
  mdb_env_close(env);
  wake.Unmap();
  pid_namespace.Release();
}

std::string FormatSize(uint64_t bytes) {
  static constexpr struct {
    const char* unit;
    int shift;
  } kUnits[] = {{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}};
  for (const auto& u : kUnits) {
    const uint64_t unit = 1ull << u.shift;
    if (bytes >= unit && bytes % unit == 0) {
      return std::to_string(bytes >> u.shift) + u.unit;
    }
  }
  return std::to_string(bytes) + "B";
}

Status ValidateLmdbOptions(const LmdbOptions& options) {
  const std::string name = "lmdb://" + options.path;
  if (options.path.empty() || options.path.front() != '/') {
    return Status::InvalidArgument(
        name +
        ": the path must be an absolute directory, e.g. "
        "lmdb:///var/lib/sessionkit");
  }
  if (options.path.size() >= PATH_MAX) {
    return Status::InvalidArgument(name.substr(0, 64) +
                                   "...: the path is too long");
  }
  constexpr uint64_t kMinMap = 1ull << 20;
  constexpr uint64_t kMaxMap = 1ull << 46;
  if (options.map_size < kMinMap || options.map_size > kMaxMap) {
    return Status::InvalidArgument(
        name + ": map_size=" + FormatSize(options.map_size) +
        " is out of range; give 1MiB to 64TiB");
  }
  if (options.max_readers < 1 || options.max_readers > 65535) {
    return Status::InvalidArgument(
        name + ": max_readers=" + std::to_string(options.max_readers) +
        " is out of range; give 1 to 65535");
  }
  if (options.file_mode > 0777 || (options.file_mode & 0600) != 0600) {
    char buf[16];
    snprintf(buf, sizeof buf, "%04o", options.file_mode);
    return Status::InvalidArgument(
        name + ": mode=" + buf +
        " is not usable; give an octal file mode of at most 0777 that lets "
        "the owner read and write (e.g. 0600 or 0660)");
  }
  return Status::OK();
}

// --- LmdbStore --------------------------------------------------------------

LmdbStore::LmdbStore(LmdbOptions options)
    : options_(std::move(options)), name_("lmdb://" + options_.path) {
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

void LmdbStore::SetClockForTesting(std::function<TimePoint()> clock) {
  clock_ = std::move(clock);
}

LockNow LmdbStore::LockNowAt(int64_t wall_ms) const {
  LockNow now;
  now.wall_ms = wall_ms;
  if (lease_clock_) {
    now.boot_ms = lease_clock_();
  } else if (clock_) {
    now.boot_ms = wall_ms;  // a test's clock: leases follow it
  } else {
    now.boot_ms = BootClockMs();
  }
  now.boot = CurrentBootId();
  if (!lease_boot_id_.empty()) ParseBootId(lease_boot_id_, &now.boot);
  return now;
}

void LmdbStore::SetLeaseClockForTesting(std::function<int64_t()> clock,
                                        std::string boot_id) {
  lease_clock_ = std::move(clock);
  lease_boot_id_ = std::move(boot_id);
}

Result<unsigned> LmdbStore::EnvFlagsForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  unsigned flags = 0;
  const int rc = mdb_env_get_flags(e->env, &flags);
  if (rc != 0) return Error(e, "flags", {}, rc);
  return flags;
}

int64_t LmdbStore::NowMs() const {
  return ToUnixMillis(clock_ ? clock_() : Clock::now());
}

Status LmdbStore::Acquire(Env** out) {
  Env* e = current_.load(std::memory_order_acquire);
  if (e != nullptr &&
      e->generation == g_fork_generation.load(std::memory_order_relaxed)) {
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
  const uint64_t generation = g_fork_generation.load();
  const pid_t pid = getpid();

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
  auto fail = [&](std::string_view what, int rc) {
    std::string msg = name_ + ": " + std::string(what) + " " + e->dir + ": " +
                      mdb_strerror(rc);
    if (e->env != nullptr) {
      mdb_env_close(e->env);
      e->env = nullptr;
    }
    e->wake.Unmap();
    e->pid_namespace.Release();
    switch (rc) {
      case ENOTDIR:
      case EISDIR:
      case EINVAL:
        return Status::InvalidArgument(std::move(msg));
      case ENOMEM:
        return Status::ResourceExhausted(
            msg + " (map_size=" + FormatSize(options_.map_size) +
            " could not be mapped; lower map_size)");
      case MDB_INVALID:
      case MDB_VERSION_MISMATCH:
        return Status::Corrupt(msg +
                               " (not an LMDB environment this "
                               "version can read)");
      default:
        return Status::Unavailable(std::move(msg));
    }
  };

  // Before LMDB claims a reader slot by this process's pid.
  uint64_t other_namespace = 0;
  int rc = e->pid_namespace.Acquire(real, options_.file_mode, &other_namespace);
  if (rc == EBUSY) {
    return Status::Unavailable(
        name_ + ": the LMDB directory " + e->dir +
        " is used by processes of another pid namespace (container): "
        "LMDB tells its readers apart by pid, which collide across pid "
        "namespaces; give each container its own directory or share the "
        "pid namespace (pid namespace " +
        std::to_string(CurrentPidNamespace()) + " here, " +
        std::to_string(other_namespace) + " recorded in " + e->dir + "/" +
        kPidNamespaceFile + ")");
  }
  if (rc != 0) {
    return Status::Unavailable(
        name_ + ": cannot open the LMDB environment in " + e->dir + ": " +
        strerror(rc) + " (on its " + kPidNamespaceFile + " file)");
  }
  rc = mdb_env_create(&e->env);
  if (rc != 0) return fail("cannot create an LMDB handle for", rc);
  if ((rc = mdb_env_set_mapsize(e->env, options_.map_size)) != 0 ||
      (rc = mdb_env_set_maxreaders(e->env, options_.max_readers)) != 0) {
    return fail("cannot configure the LMDB environment in", rc);
  }
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  if (options_.sync == LmdbSync::kOff) flags |= MDB_NOSYNC;
  if (options_.sync == LmdbSync::kMeta) flags |= MDB_NOMETASYNC;
  rc = mdb_env_open(e->env, real, flags, options_.file_mode);
  if (rc != 0) return fail("cannot open the LMDB environment in", rc);
  rc = e->wake.Map(real, options_.file_mode);
  if (rc != 0) {
    return fail(std::string("cannot map the lock wake-up file ") +
                    kLockWakeFile + " in",
                rc);
  }
  e->pid = pid;
  e->generation = generation;

  // Free the reader slots of processes that died mid-read.
  int dead = 0;
  mdb_reader_check(e->env, &dead);

  // Open the main database (it always exists, so a read-only transaction
  // does it without taking the write lock).
  for (int attempt = 0;; ++attempt) {
    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(e->env, nullptr, MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED && attempt < kMaxRemaps) {
      mdb_env_set_mapsize(e->env, 0);
      continue;
    }
    if (rc != 0) return fail("cannot read the LMDB environment in", rc);
    rc = mdb_dbi_open(txn, nullptr, 0, &e->db);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return fail("cannot open the session database in", rc);
    }
    rc = mdb_txn_commit(txn);  // commit keeps the handle
    if (rc != 0) return fail("cannot open the session database in", rc);
    break;
  }

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
  return mdb_env_set_mapsize(e->env, 0);
}

template <typename Fn>
int LmdbStore::WithReadTxn(Env* e, Fn&& fn) {
  for (int attempt = 0;; ++attempt) {
    int rc;
    {
      std::shared_lock<std::shared_mutex> remap_lock(e->remap_mu);
      MDB_txn* txn = nullptr;
      {
        std::lock_guard<std::mutex> lock(e->pool_mu);
        if (!e->pool.empty()) {
          txn = e->pool.back();
          e->pool.pop_back();
        }
      }
      const bool pooled = txn != nullptr;
      rc = pooled ? mdb_txn_renew(txn)
                  : mdb_txn_begin(e->env, nullptr, MDB_RDONLY, &txn);
      if (rc == 0 || (pooled && rc == MDB_MAP_RESIZED)) {
        // Either way `txn` is now reset and still owns its reader slot.
        int out = rc;
        if (rc == 0) {
          TxnGuard guard{txn};  // an exception must not leave it open
          out = fn(txn);
          guard.txn = nullptr;
          mdb_txn_reset(txn);
        }
        bool keep;
        {
          std::lock_guard<std::mutex> lock(e->pool_mu);
          keep = e->pool.size() < kPoolCap;
          if (keep) e->pool.push_back(txn);
        }
        if (!keep) mdb_txn_abort(txn);
        if (rc == 0) return out;
      }
      if (pooled && rc != MDB_MAP_RESIZED && attempt == 0) {
        // Any other failed renew (MDB_BAD_RSLOT: the slot was taken from
        // us) leaves a handle that must not free the slot: leak it and
        // start afresh.
        continue;
      }
    }
    if (rc == MDB_MAP_RESIZED && attempt < kMaxRemaps) {
      rc = Remap(e);
      if (rc != 0) return rc;
      continue;
    }
    if (rc == MDB_READERS_FULL && attempt == 0) {
      int dead = 0;
      mdb_reader_check(e->env, &dead);
      continue;
    }
    return rc;
  }
}

template <typename Fn>
int LmdbStore::WithWriteTxn(Env* e, bool rescue, Fn&& fn) {
  for (int attempt = 0;; ++attempt) {
    int rc;
    {
      std::shared_lock<std::shared_mutex> remap_lock(e->remap_mu);
      MDB_txn* txn = nullptr;
      rc = mdb_txn_begin(e->env, nullptr, 0, &txn);
      if (rc == 0) {
        {
          TxnGuard guard{txn};  // an exception must not keep the write lock
          rc = fn(txn);
          guard.txn = nullptr;
        }
        if (rc == 0) {
          rc = mdb_txn_commit(txn);  // frees txn, also on failure
        } else {
          mdb_txn_abort(txn);
          if (rc == kRcNoChange) return 0;
        }
        if (rc == 0) return 0;
      }
    }
    if (rc == MDB_MAP_RESIZED && attempt < kMaxRemaps) {
      rc = Remap(e);
      if (rc != 0) return rc;
      continue;
    }
    if (rc == MDB_MAP_FULL && rescue) {
      rescue = false;
      RescueFullMap(e);
      continue;
    }
    return rc;
  }
}

void LmdbStore::RescueFullMap(Env* e) {
  (void)GcInternal(e, NowMs());
  (void)CommitScratch(e);
}

int LmdbStore::CommitScratch(Env* e) {
  // LMDB reuses the pages a transaction freed only once another one has
  // committed after it: commit a change that leaves nothing behind (it needs
  // a page or two), so that the next transaction can use what the last one
  // freed.
  return WithWriteTxn(e, /*rescue=*/false, [&](MDB_txn* txn) {
    const char scratch[] = {kIndexPrefix};  // no entry has this key
    MDB_val k{sizeof scratch, const_cast<char*>(scratch)};
    MDB_val empty{0, nullptr};
    int rc = mdb_put(txn, e->db, &k, &empty, 0);
    return rc != 0 ? rc : mdb_del(txn, e->db, &k, nullptr);
  });
}

Status LmdbStore::Error(Env* e, std::string_view op, std::string_view id,
                        int rc) const {
  std::string where = name_ + ": " + std::string(op);
  if (!id.empty()) where += " of session " + IdPrefix(id);
  switch (rc) {
    case MDB_NOTFOUND:
      return Status::NotFound(where + ": no such session (or it expired)");
    case kRcCorrupt:
      return Status::Corrupt(where +
                             ": the stored value is shorter than its 8-byte "
                             "expiry header");
    case MDB_MAP_FULL: {
      uint64_t map_size = options_.map_size;
      if (e != nullptr) {
        MDB_envinfo info;
        std::shared_lock<std::shared_mutex> lock(e->remap_mu);
        if (mdb_env_info(e->env, &info) == 0) map_size = info.me_mapsize;
      }
      return Status::ResourceExhausted(
          where + ": the LMDB map is full (map_size=" + FormatSize(map_size) +
          "); raise map_size in the store URL or remove sessions");
    }
    case MDB_READERS_FULL:
      return Status::Unavailable(
          where + ": all " + std::to_string(options_.max_readers) +
          " LMDB reader slots are in use; raise max_readers in the store URL");
    case MDB_TXN_FULL:
      return Status::ResourceExhausted(where + ": " + mdb_strerror(rc));
    case MDB_BAD_VALSIZE:
      return Status::InvalidArgument(where + ": " + mdb_strerror(rc));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::Corrupt(where + ": " + mdb_strerror(rc) +
                             " (the LMDB files in " + options_.path +
                             " are damaged)");
    case MDB_PANIC:
      return Status::Unavailable(where + ": " + mdb_strerror(rc) +
                                 " (restart the process to reopen the store)");
    default:
      return Status::Unavailable(where + ": " + mdb_strerror(rc));
  }
}

namespace {

// Ids reach the store validated (store.h); this only keeps the keys within
// LMDB's limit and apart from the index and lock keys.
Status CheckId(const std::string& name, std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) {
    return Status::InvalidArgument(
        name + ": a session id of " + std::to_string(id.size()) +
        " bytes cannot be stored (1 to " + std::to_string(kMaxIdBytes) +
        " bytes: LMDB's key size limit)");
  }
  if (IsIndexKey(id)) {
    return Status::InvalidArgument(
        name + ": a session id cannot begin with a zero byte");
  }
  return Status::OK();
}

Status CheckValueSize(const std::string& name, std::string_view id,
                      std::string_view data) {
  if (data.size() <= kMaxValueBytes) return Status::OK();
  return Status::InvalidArgument(name + ": write of session " + IdPrefix(id) +
                                 ": " + std::to_string(data.size()) +
                                 " bytes is more than LMDB can store");
}

// A token has no zero byte: that tells a lock record's token from the
// fields after it (lmdb_lock_record.h).
Status CheckToken(const std::string& name, std::string_view op,
                  std::string_view id, const LockOwner& owner) {
  if (!owner.token.empty() && owner.token.size() <= kMaxTokenBytes &&
      owner.token.find('\0') == std::string::npos) {
    return Status::OK();
  }
  return Status::InvalidArgument(
      name + ": " + std::string(op) + " of session " + IdPrefix(id) +
      ": a lock owner token of " + std::to_string(owner.token.size()) +
      " bytes cannot be stored (1 to " + std::to_string(kMaxTokenBytes) +
      " bytes without a zero byte; use LockOwner::Generate)");
}

Status LockLost(const std::string& name, std::string_view op,
                std::string_view id, const std::string& reason) {
  return Status::LockLost(name + ": " + std::string(op) + " of session " +
                          IdPrefix(id) + " refused: " + reason +
                          "; nothing was changed");
}

// True when `token` names another process of this host: one whose death
// LockHolderIsGone can see.
bool IsOtherProcessOfThisHost(std::string_view token) {
  static const std::string host = [] {  // "host|", as Generate writes it
    const std::string own = LockOwner::Generate().token;
    return own.substr(0, own.find('|') + 1);
  }();
  if (token.substr(0, host.size()) != host) return false;
  const std::string_view rest = token.substr(host.size());
  return rest.substr(0, rest.find('|')) != std::to_string(getpid());
}

}  // namespace

Result<SessionRecord> LmdbStore::Read(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t now = NowMs();
  SessionRecord record;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    MDB_val k = Val(id), v;
    int rc = mdb_get(txn, e->db, &k, &v);
    if (rc != 0) return rc;
    if (v.mv_size < kHeaderBytes) return kRcCorrupt;
    const int64_t expiry = GetBigEndian64(v.mv_data);
    if (expiry <= now) return MDB_NOTFOUND;
    record.data.assign(static_cast<const char*>(v.mv_data) + kHeaderBytes,
                       v.mv_size - kHeaderBytes);
    record.expires_at = ExpiryTime(expiry);
    return 0;
  });
  if (rc != 0) return Error(e, "read", id, rc);
  return record;
}

Status LmdbStore::Write(std::string_view id, std::string_view data,
                        Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckValueSize(name_, id, data));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t expiry = ExpiryFromNow(NowMs(), ttl);
  bool index_changed = false;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    return PutSession(txn, e, id, data, expiry, &index_changed);
  });
  if (rc != 0) return Error(e, "write", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

Status LmdbStore::Touch(std::string_view id, Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t now = NowMs();
  const int64_t expiry = ExpiryFromNow(now, ttl);
  std::string value;
  bool index_changed = false;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    return TouchSession(txn, e, id, now, expiry, &value, &index_changed);
  });
  if (rc != 0) return Error(e, "touch", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

Status LmdbStore::Destroy(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  bool index_changed = false;
  bool unlocked = false;
  // The session, its index entry and its lock record go in one commit: a
  // holder's later write finds no record of its own and is refused.
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    index_changed = unlocked = false;
    int rc = DelLock(txn, e, id);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    unlocked = rc == 0;
    MDB_cursor* cursor;
    if ((rc = mdb_cursor_open(txn, e->db, &cursor)) != 0) return rc;
    CursorGuard guard{cursor};
    MDB_val k = Val(id), old;
    rc = mdb_cursor_get(cursor, &k, &old, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) return unlocked ? 0 : kRcNoChange;
    if (rc != 0) return rc;
    index_changed = old.mv_size >= kHeaderBytes;
    const int64_t old_expiry = index_changed ? GetBigEndian64(old.mv_data) : 0;
    if ((rc = mdb_cursor_del(cursor, 0)) != 0) return rc;
    return index_changed ? DelIndex(txn, e, old_expiry, id) : 0;
  });
  if (rc != 0) return Error(e, "destroy", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  // The waiters take the lock of what is now a new, empty session.
  if (unlocked) e->wake.Wake(LockHash(id));
  return Status::OK();
}

Result<bool> LmdbStore::Exists(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t now = NowMs();
  bool live = false;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    MDB_val k = Val(id), v;
    int rc = mdb_get(txn, e->db, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    if (v.mv_size < kHeaderBytes) return kRcCorrupt;
    live = GetBigEndian64(v.mv_data) > now;
    return 0;
  });
  if (rc != 0) return Error(e, "exists", id, rc);
  return live;
}

Result<ScanPage> LmdbStore::Scan(const ScanOptions& options) {
  if (options.cursor.size() > kMaxIdBytes) {
    return Status::InvalidArgument(name_ +
                                   ": scan: the cursor is not a "
                                   "session id from this store");
  }
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t now = NowMs();
  const size_t limit = options.limit == 0 ? kDefaultScanLimit : options.limit;
  ScanPage page;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    page = ScanPage();
    MDB_cursor* cursor;
    int rc = mdb_cursor_open(txn, e->db, &cursor);
    if (rc != 0) return rc;
    MDB_val k, v;
    if (options.cursor.empty() || IsIndexKey(options.cursor)) {
      // Past the index, which sorts first.
      const char first_id[] = {kIndexPrefix + 1};
      k = MDB_val{1, const_cast<char*>(first_id)};
      rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    } else {
      k = Val(options.cursor);
      rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
      if (rc == 0 && View(k) == options.cursor) {
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
      }
    }
    while (rc == 0) {
      int64_t expiry = 0;  // a value without a header counts as expired
      uint64_t bytes = v.mv_size;
      if (v.mv_size >= kHeaderBytes) {
        expiry = GetBigEndian64(v.mv_data);
        bytes -= kHeaderBytes;
      }
      if (options.include_expired || expiry > now) {
        if (page.sessions.size() == limit) {
          // Another listed session exists: the page is not the last.
          page.next_cursor = page.sessions.back().id;
          break;
        }
        page.sessions.push_back(
            SessionInfo{std::string(View(k)), bytes, ExpiryTime(expiry)});
      }
      rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
  });
  if (rc != 0) return Error(e, "scan", {}, rc);
  return page;
}

Result<GcResult> LmdbStore::Gc(TimePoint now) {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  return GcInternal(e, ToUnixMillis(now));
}

Result<GcResult> LmdbStore::GcInternal(Env* e, int64_t now_ms) {
  // Slots of dead readers pin old pages; free them first.
  int dead = 0;
  mdb_reader_check(e->env, &dead);

  // The index is walked in key order (bucket, then id) up to the bucket
  // that holds `now_ms`. Entries of earlier buckets all go; in the bucket
  // of `now_ms`, live sessions keep theirs. `resume` is the first key the
  // next batch visits.
  char resume[kIndexHeaderBytes + kMaxIdBytes] = {kIndexPrefix};
  size_t resume_size = 1;
  char next_resume[sizeof resume];
  GcResult total;
  // Batches of kGcBatch entries keep each write transaction short. In a
  // full map even the pages a batch needs to record what it frees may be
  // missing: a batch that fails so is retried smaller, down to one entry,
  // whose commit frees pages for the next.
  uint64_t batch_limit = kGcBatch;
  constexpr int kMaxFullRetries = 8;
  int full_retries = 0;
  for (;;) {
    GcResult batch;
    bool more = false;
    size_t next_resume_size = 0;
    int rc = WithWriteTxn(e, /*rescue=*/false, [&](MDB_txn* txn) {
      batch = GcResult();
      more = false;
      MDB_cursor* cursor;
      int rc = mdb_cursor_open(txn, e->db, &cursor);
      if (rc != 0) return rc;
      CursorGuard guard{cursor};
      char pos[sizeof resume];  // the entry being visited
      size_t pos_size = resume_size;
      std::memcpy(pos, resume, resume_size);
      MDB_val k{pos_size, pos}, unused;
      rc = mdb_cursor_get(cursor, &k, &unused, MDB_SET_RANGE);
      for (uint64_t visited = 0; rc == 0; ++visited) {
        if (!IsIndexKey(View(k))) break;  // the sessions follow the index
        if (k.mv_size >= kIndexHeaderBytes &&
            GetBigEndian64(static_cast<char*>(k.mv_data) + 1) > now_ms) {
          break;  // this bucket and all later ones start after now
        }
        // Copy the key: deleting may move the page that holds it.
        pos_size = std::min(k.mv_size, sizeof pos);
        std::memcpy(pos, k.mv_data, pos_size);
        if (visited == batch_limit) {
          more = true;
          std::memcpy(next_resume, pos, pos_size);
          next_resume_size = pos_size;
          break;
        }
        // Drop the entry unless it is the own entry of a live session.
        bool keep = false;
        bool expired = false;  // the session goes too
        MDB_val id{0, nullptr}, v;
        if (k.mv_size > kIndexHeaderBytes && k.mv_size <= sizeof pos) {
          id = MDB_val{pos_size - kIndexHeaderBytes, pos + kIndexHeaderBytes};
          rc = mdb_get(txn, e->db, &id, &v);
          if (rc == 0 && v.mv_size >= kHeaderBytes) {
            const int64_t expiry = GetBigEndian64(v.mv_data);
            if (expiry <= now_ms) {
              expired = true;
              batch.bytes_removed += v.mv_size - kHeaderBytes;
              batch.removed++;
            } else {
              // A live session whose entry is in another bucket leaves a
              // stale entry here.
              keep = Bucket(expiry) == GetBigEndian64(pos + 1);
            }
          } else if (rc != 0 && rc != MDB_NOTFOUND) {
            break;
          }
        }
        if (keep) {
          rc = mdb_cursor_get(cursor, &k, &unused, MDB_NEXT);
          continue;
        }
        if ((rc = mdb_cursor_del(cursor, 0)) != 0) break;
        // An expired session goes too. If this entry was a stale one, the
        // session's own entry is in a bucket that has begun as well (its
        // expiry has passed): this walk reaches it and drops it as stale.
        if (expired && (rc = mdb_del(txn, e->db, &id, nullptr)) != 0) {
          break;
        }
        k = MDB_val{pos_size, pos};
        rc = mdb_cursor_get(cursor, &k, &unused, MDB_SET_RANGE);
      }
      return rc == MDB_NOTFOUND ? 0 : rc;
    });
    if (rc == MDB_MAP_FULL && full_retries < kMaxFullRetries) {
      // What the batches before freed becomes usable after one more commit.
      ++full_retries;
      batch_limit = std::max<uint64_t>(batch_limit / 10, 1);
      (void)CommitScratch(e);
      continue;
    }
    if (rc != 0) return Error(e, "gc", {}, rc);
    if (batch_limit < kGcBatch) {
      batch_limit = std::min(batch_limit * 2, kGcBatch);
      full_retries = 0;  // progress was made
    }
    total.removed += batch.removed;
    total.bytes_removed += batch.bytes_removed;
    if (!more) break;
    std::memcpy(resume, next_resume, next_resume_size);
    resume_size = next_resume_size;
  }
  const int rc = GcLocks(e, now_ms);
  if (rc != 0) return Error(e, "gc of session locks", {}, rc);
  return total;
}

int LmdbStore::GcLocks(Env* e, int64_t now_ms) {
  // Lock records are few (the locks held now, and those of holders that
  // died or outlived their lease): all are visited, in batches like the
  // index. Only records that count as gone (kLockRecordRetention after
  // their lease, or of another boot) are removed.
  const LockNow now = LockNowAt(now_ms);
  char resume[kMaxKeyBytes];
  std::memcpy(resume, kLockPrefix, kLockPrefixBytes);
  size_t resume_size = kLockPrefixBytes;
  char next_resume[sizeof resume];
  size_t next_resume_size = 0;
  for (;;) {
    bool more = false;
    int rc = WithWriteTxn(e, /*rescue=*/false, [&](MDB_txn* txn) {
      more = false;
      bool removed = false;
      MDB_cursor* cursor;
      int rc = mdb_cursor_open(txn, e->db, &cursor);
      if (rc != 0) return rc;
      CursorGuard guard{cursor};
      char pos[sizeof resume];
      size_t pos_size = resume_size;
      std::memcpy(pos, resume, resume_size);
      MDB_val k{pos_size, pos}, v;
      rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
      for (uint64_t visited = 0; rc == 0 && IsLockKey(View(k)); ++visited) {
        if (visited == kGcBatch) {
          more = true;
          next_resume_size = std::min(k.mv_size, sizeof next_resume);
          std::memcpy(next_resume, k.mv_data, next_resume_size);
          break;
        }
        if (StateOf(ParseLockRecord(View(v)), now) != LockState::kGone) {
          rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
          continue;
        }
        // Copy the key: deleting may move the page that holds it.
        pos_size = std::min(k.mv_size, sizeof pos);
        std::memcpy(pos, k.mv_data, pos_size);
        if ((rc = mdb_cursor_del(cursor, 0)) != 0) return rc;
        removed = true;
        k = MDB_val{pos_size, pos};
        rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
      }
      if (rc != 0 && rc != MDB_NOTFOUND) return rc;
      return removed ? 0 : kRcNoChange;
    });
    if (rc != 0 || !more) return rc;
    std::memcpy(resume, next_resume, next_resume_size);
    resume_size = next_resume_size;
  }
}

Status LmdbStore::Health() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  int rc = WithReadTxn(e, [](MDB_txn*) { return 0; });
  if (rc != 0) return Error(e, "health check", {}, rc);
  return Status::OK();
}

// --- Locks ------------------------------------------------------------------

Result<LockedRead> LmdbStore::LockAndRead(std::string_view id,
                                          const LockRequest& request) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "lock", id, request.owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  using SteadyClock = std::chrono::steady_clock;
  // Clamped so that the deadline cannot overflow.
  const SteadyClock::time_point give_up =
      SteadyClock::now() + std::clamp(request.wait, Duration(0), kMaxLockWait);
  const uint64_t hash = LockHash(id);
  const std::string_view token = request.owner.token;
  WaiterPlace place;  // taken on the first wait, given back on return
  bool waiting = false;
  LockedRead out;
  std::string holder;  // the holder's token while the lock is held
  int64_t holder_lease_left_ms = 0;
  for (;;) {
    // Read before the try: a release after the try has changed the word by
    // the time this caller sleeps on it, so the sleep ends at once.
    const uint32_t seq = e->wake.Seq(hash);
    bool held = false;
    int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
      const int64_t now = NowMs();
      const LockNow lock_now = LockNowAt(now);
      out = LockedRead();
      held = false;
      LockRecord lock;
      int rc = GetLock(txn, e, id, &lock);
      if (rc != 0 && rc != MDB_NOTFOUND) return rc;
      if (rc == 0 && lock.token != token) {
        if (StateOf(lock, lock_now) == LockState::kHeld &&
            !LockHolderIsGone(lock.token)) {
          held = true;
          holder.assign(lock.token);
          holder_lease_left_ms = LeaseLeftMs(lock, lock_now);
          return kRcNoChange;
        }
        out.broken_owner.assign(lock.token);
      }
      rc = PutLock(txn, e, id, lock_now, request.lease, token);
      if (rc != 0) return rc;
      MDB_val k = Val(id), v;
      rc = mdb_get(txn, e->db, &k, &v);
      if (rc == MDB_NOTFOUND) return 0;
      if (rc != 0) return rc;
      // Like Read: a value without header is an error, and the lock is
      // not taken (the transaction aborts).
      if (v.mv_size < kHeaderBytes) return kRcCorrupt;
      const int64_t expiry = GetBigEndian64(v.mv_data);
      if (expiry <= now) return 0;
      out.found = true;
      out.record.data.assign(static_cast<const char*>(v.mv_data) + kHeaderBytes,
                             v.mv_size - kHeaderBytes);
      out.record.expires_at = ExpiryTime(expiry);
      return 0;
    });
    if (rc != 0) return Error(e, "lock", id, rc);
    if (!held) {
      out.outcome = LockOutcome::kAcquired;
      return out;
    }
    const SteadyClock::time_point now = SteadyClock::now();
    if (now >= give_up) {
      out.outcome = LockOutcome::kTimedOut;
      return out;
    }
    if (!waiting) {
      waiting = true;
      if (request.max_waiters > 0) {
        rc = place.Take(e->wake.path(), hash, request.max_waiters);
        if (rc == EAGAIN) {
          out.outcome = LockOutcome::kTooManyWaiters;
          return out;
        }
        if (rc != 0) {
          return Status::Unavailable(name_ + ": lock of session " +
                                     IdPrefix(id) +
                                     ": cannot count the waiters in " +
                                     e->wake.path() + ": " + strerror(rc));
        }
      }
    }
    // Sleep until a release on the slot, the end of the wait, the end of
    // the holder's lease (to take the lock over), and, for a holder process
    // of this host, the next look at whether it died.
    std::chrono::nanoseconds sleep = give_up - now;
    sleep = std::min<std::chrono::nanoseconds>(
        sleep,
        Duration(std::clamp<int64_t>(holder_lease_left_ms, 0, INT32_MAX) + 1));
    if (IsOtherProcessOfThisHost(holder)) {
      sleep = std::min<std::chrono::nanoseconds>(sleep, kGoneHolderPoll);
    }
    e->wake.Wait(hash, seq, sleep);
  }
}

Status LmdbStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                 Duration ttl, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "write", id, owner));
  SK_RETURN_IF_ERROR(CheckValueSize(name_, id, data));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  const int64_t expiry = ExpiryFromNow(NowMs(), ttl);
  bool index_changed = false;
  std::string refused;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    int rc;
    refused = OwnerCheck(txn, e, id, owner.token, LockNowAt(NowMs()), &rc);
    if (rc != 0) return rc;
    rc = PutSession(txn, e, id, data, expiry, &index_changed);
    return rc != 0 ? rc : DelLock(txn, e, id);
  });
  if (rc == kRcLockLost) return LockLost(name_, "write", id, refused);
  if (rc != 0) return Error(e, "write", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  e->wake.Wake(LockHash(id));
  return Status::OK();
}

Status LmdbStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                 const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "touch", id, owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  std::string value;
  bool index_changed = false;
  std::string refused;
  int touched = 0;  // TouchSession's outcome
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    const int64_t now = NowMs();
    int rc;
    refused = OwnerCheck(txn, e, id, owner.token, LockNowAt(now), &rc);
    if (rc != 0) return rc;
    if ((rc = DelLock(txn, e, id)) != 0) return rc;
    index_changed = false;
    touched = TouchSession(txn, e, id, now, ExpiryFromNow(now, ttl), &value,
                           &index_changed);
    // A session that is gone (or unreadable) still has its lock released.
    const bool released_anyway = touched == MDB_NOTFOUND ||
                                 touched == kRcCorrupt ||
                                 touched == kRcNoChange;
    return released_anyway ? 0 : touched;
  });
  if (rc == kRcLockLost) return LockLost(name_, "touch", id, refused);
  if (rc != 0) return Error(e, "touch", id, rc);
  if (index_changed) index_writes_.fetch_add(1, std::memory_order_relaxed);
  e->wake.Wake(LockHash(id));
  if (touched == MDB_NOTFOUND || touched == kRcCorrupt) {
    return Error(e, "touch", id, touched);
  }
  return Status::OK();
}

Status LmdbStore::Unlock(std::string_view id, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(name_, id));
  SK_RETURN_IF_ERROR(CheckToken(name_, "unlock", id, owner));
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  bool released = false;
  int rc = WithWriteTxn(e, /*rescue=*/true, [&](MDB_txn* txn) {
    released = false;
    LockRecord lock;
    int rc = GetLock(txn, e, id, &lock);
    if (rc == MDB_NOTFOUND) return kRcNoChange;
    if (rc != 0) return rc;
    // An owner whose lease ran out still removes its own record.
    if (lock.token != owner.token) return kRcNoChange;
    released = true;
    return DelLock(txn, e, id);  // also a record that counts as gone
  });
  if (rc != 0) return Error(e, "unlock", id, rc);
  if (released) e->wake.Wake(LockHash(id));
  return Status::OK();
}

Result<size_t> LmdbStore::LockRecordsForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  size_t count = 0;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    count = 0;
    MDB_cursor* cursor;
    int rc = mdb_cursor_open(txn, e->db, &cursor);
    if (rc != 0) return rc;
    MDB_val k{kLockPrefixBytes, const_cast<char*>(kLockPrefix)}, v;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
         rc == 0 && IsLockKey(View(k));
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      ++count;
    }
    mdb_cursor_close(cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
  });
  if (rc != 0) return Error(e, "lock count", {}, rc);
  return count;
}

Status LmdbStore::CheckIndexForTesting() {
  Env* e;
  SK_RETURN_IF_ERROR(Acquire(&e));
  std::string problem;
  int rc = WithReadTxn(e, [&](MDB_txn* txn) {
    MDB_cursor* cursor;
    MDB_val k, v;
    size_t sessions = 0, entries = 0;
    int rc = mdb_cursor_open(txn, e->db, &cursor);
    if (rc != 0) return rc;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      if (IsLockKey(View(k))) continue;  // checked by LockRecordsForTesting
      if (IsIndexKey(View(k))) {
        ++entries;
        if (k.mv_size <= kIndexHeaderBytes) {
          problem = "an index key is too short";
          break;
        }
        MDB_val id{k.mv_size - kIndexHeaderBytes,
                   static_cast<char*>(k.mv_data) + kIndexHeaderBytes},
            sv;
        if (mdb_get(txn, e->db, &id, &sv) != 0 || sv.mv_size < kHeaderBytes ||
            Bucket(GetBigEndian64(sv.mv_data)) !=
                GetBigEndian64(static_cast<char*>(k.mv_data) + 1)) {
          problem = "index entry for " + std::string(View(id)) +
                    " has no session with an expiry in its bucket";
          break;
        }
        continue;
      }
      ++sessions;
      if (k.mv_size > kMaxIdBytes) {
        problem = "a session key is longer than an id can be";
        break;
      }
      if (v.mv_size < kHeaderBytes) {
        problem = "session " + std::string(View(k)) + " has no header";
        break;
      }
      HeaderKey key = IndexKey(GetBigEndian64(v.mv_data), View(k));
      MDB_val ik = key.val(), unused;
      if (mdb_get(txn, e->db, &ik, &unused) != 0) {
        problem = "session " + std::string(View(k)) + " has no index entry";
        break;
      }
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND && problem.empty()) return rc;
    if (problem.empty() && sessions != entries) {
      problem = std::to_string(sessions) + " sessions but " +
                std::to_string(entries) + " index entries";
    }
    return 0;
  });
  if (rc != 0) return Error(e, "index check", {}, rc);
  if (!problem.empty()) return Status::Internal(name_ + ": " + problem);
  return Status::OK();
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

uint64_t LmdbStore::IndexWritesForTesting() const {
  return index_writes_.load(std::memory_order_relaxed);
}

pid_t LmdbStore::EnvPidForTesting() const {
  Env* e = current_.load(std::memory_order_acquire);
  if (e == nullptr ||
      e->generation != g_fork_generation.load(std::memory_order_relaxed)) {
    return 0;
  }
  return e->pid;
}

}  // namespace lmdb_internal

Result<std::unique_ptr<Store>> OpenLmdbStore(const LmdbOptions& options) {
  SK_RETURN_IF_ERROR(lmdb_internal::ValidateLmdbOptions(options));
  return std::unique_ptr<Store>(
      std::make_unique<lmdb_internal::LmdbStore>(options));
}

}  // namespace sessionkit
