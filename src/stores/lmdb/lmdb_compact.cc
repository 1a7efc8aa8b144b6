// CompactLmdb and DataGeneration: see lmdb_compact.h for the protocol.
#include "stores/lmdb/lmdb_compact.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "stores/lmdb/lmdb_check.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/pid_namespace_guard.h"
#include "stores/lock_wake.h"

namespace sessionkit::lmdb_internal {
namespace {

// Commits that make the last transaction id odd, at most (see step 2 in
// lmdb_compact.h); each races with the store's writers for the next id.
constexpr int kParityTries = 64;

std::string Errno(int err) { return strerror(err); }

// Begins a write transaction on `env`, adopting a map another process grew.
int BeginWrite(MDB_env* env, MDB_txn** txn) {
  int rc = mdb_txn_begin(env, nullptr, 0, txn);
  for (int i = 0; rc == MDB_MAP_RESIZED && i < 3; ++i) {
    rc = mdb_env_set_mapsize(env, 0);
    if (rc == 0) rc = mdb_txn_begin(env, nullptr, 0, txn);
  }
  return rc;
}

// A commit that changes nothing but the last transaction id.
int CommitNothing(MDB_txn* txn, MDB_dbi dbi) {
  const char scratch[] = {kIndexPrefix};  // no record has this key
  MDB_val k{sizeof scratch, const_cast<char*>(scratch)};
  MDB_val empty{0, nullptr};
  int rc = mdb_put(txn, dbi, &k, &empty, 0);
  if (rc == 0) rc = mdb_del(txn, dbi, &k, nullptr);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

// Counts the records of the compact copy at `path` (opened read-only,
// without a lock file).
int CountCopyEntries(const std::string& path, uint64_t* entries) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return rc;
  rc = mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK,
                    0600);
  MDB_txn* txn = nullptr;
  if (rc == 0) rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  if (rc == 0) {
    MDB_dbi dbi;
    MDB_stat st;
    rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
    if (rc == 0) rc = mdb_stat(txn, dbi, &st);
    if (rc == 0) *entries = st.ms_entries;
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  return rc;
}

// One run of CompactLmdb: what it holds, given back by the destructor.
class Compaction {
 public:
  explicit Compaction(const LmdbOptions& options)
      : options_(options),
        name_("lmdb://" + options.path),
        data_(options.path + "/data.mdb"),
        copy_(options.path + "/data.mdb.compact-" + std::to_string(getpid())) {}
  ~Compaction() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    if (env_ != nullptr) mdb_env_close(env_);
    if (fd_ >= 0) close(fd_);
    if (!swapped_) unlink(copy_.c_str());
    generation_.Unmap();
    guard_.Release();
  }

  Result<LmdbCompactStats> Run();

 private:
  Status Fail(const std::string& what) {
    return Status::Unavailable(name_ + ": cannot compact: " + what);
  }
  Status Lmdb(const std::string& what, int rc) {
    return Fail(what + ": " + mdb_strerror(rc));
  }
  Status Open();
  Status CreateCopyFile(const struct stat& like);
  Status HoldWritesAtOddTxn();
  Status CopyAndSwap();

  const LmdbOptions options_;
  const std::string name_, data_, copy_;
  PidNamespaceGuard guard_;
  DataGeneration generation_;
  uint64_t opened_generation_ = 0;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* txn_ = nullptr;  // W: holds the write mutex
  int fd_ = -1;             // the copy
  bool swapped_ = false;
  LmdbCompactStats stats_;
};

Status Compaction::Open() {
  uint64_t other = 0;
  int rc = guard_.Acquire(options_.path, options_.file_mode, &other);
  if (rc == EBUSY) {
    return Fail("processes of another pid namespace (container) use it");
  }
  if (rc != 0) return Fail(std::string(kPidNamespaceFile) + ": " + Errno(rc));
  rc = generation_.Map(options_.path, options_.file_mode);
  if (rc != 0) return Fail(std::string(kDataGenerationFile) + ": " + Errno(rc));
  // Before the opening, as the store does: a bump after this read means
  // this opening may have the old file.
  opened_generation_ = generation_.Load();
  if ((rc = mdb_env_create(&env_)) != 0 ||
      (rc = mdb_env_set_mapsize(env_, options_.map_size)) != 0 ||
      (rc = mdb_env_set_maxreaders(env_, options_.max_readers)) != 0) {
    return Lmdb("cannot configure the LMDB environment", rc);
  }
  rc = AllocateLockFile(options_.path, options_.max_readers,
                        options_.file_mode);
  if (rc != 0) return Fail("lock.mdb: " + Errno(rc));
  rc = mdb_env_open(env_, options_.path.c_str(), MDB_NOTLS | MDB_NORDAHEAD,
                    options_.file_mode);
  if (rc != 0) return Lmdb("cannot open the LMDB environment", rc);
  MDB_txn* txn = nullptr;
  if ((rc = BeginWrite(env_, &txn)) != 0) {
    return Lmdb("cannot begin a write transaction", rc);
  }
  rc = mdb_dbi_open(txn, nullptr, 0, &dbi_);
  mdb_txn_abort(txn);  // the handle stays: it names the main database
  if (rc != 0) return Lmdb("cannot open the session database", rc);
  return Status::OK();
}

Status Compaction::CreateCopyFile(const struct stat& like) {
  fd_ = open(copy_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
             like.st_mode & 07777);
  if (fd_ < 0) return Fail("cannot create " + copy_ + ": " + Errno(errno));
  // The store's processes must be able to write the new data.mdb, also
  // when an administrator runs the compaction as root.
  if (fchmod(fd_, like.st_mode & 07777) != 0 ||
      ((like.st_uid != geteuid() || like.st_gid != getegid()) &&
       fchown(fd_, like.st_uid, like.st_gid) != 0)) {
    return Fail("cannot give " + copy_ + " the owner and mode of data.mdb (" +
                Errno(errno) + "); run the compaction as the owner of " +
                data_);
  }
  return Status::OK();
}

Status Compaction::HoldWritesAtOddTxn() {
  for (int i = 0; i < kParityTries; ++i) {
    int rc = BeginWrite(env_, &txn_);
    if (rc != 0) return Lmdb("cannot begin a write transaction", rc);
    if (generation_.Load() != opened_generation_) {
      return Fail("another compaction replaced data.mdb meanwhile");
    }
    // The id of W, less one: the last commit's.
    if ((mdb_txn_id(txn_) - 1) % 2 == 1) return Status::OK();
    MDB_txn* txn = txn_;
    txn_ = nullptr;
    if ((rc = CommitNothing(txn, dbi_)) != 0) {
      return Lmdb("cannot commit in the LMDB environment", rc);
    }
  }
  return Fail("the store's writers kept it busy (" +
              std::to_string(kParityTries) + " tries); try again");
}

Status Compaction::CopyAndSwap() {
  MDB_stat st;
  int rc = mdb_stat(txn_, dbi_, &st);
  if (rc != 0) return Lmdb("cannot count its records", rc);
  stats_.entries = st.ms_entries;
  rc = mdb_env_copyfd2(env_, fd_, MDB_CP_COMPACT);
  if (rc != 0) return Lmdb("cannot write the compact copy " + copy_, rc);
  struct stat copied;
  if (fdatasync(fd_) != 0 || fstat(fd_, &copied) != 0) {
    return Fail("cannot flush " + copy_ + ": " + Errno(errno));
  }
  stats_.bytes_after = static_cast<uint64_t>(copied.st_size);
  uint64_t entries = 0;
  rc = CountCopyEntries(copy_, &entries);
  if (rc != 0) return Lmdb("cannot read back the compact copy " + copy_, rc);
  if (entries != stats_.entries) {
    return Fail("the compact copy holds " + std::to_string(entries) +
                " records, not " + std::to_string(stats_.entries));
  }
  if (rename(copy_.c_str(), data_.c_str()) != 0) {
    return Fail("cannot rename " + copy_ + " to " + data_ + ": " +
                Errno(errno));
  }
  swapped_ = true;
  const int dir = open(options_.path.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    fsync(dir);  // the rename itself reaches the disk
    close(dir);
  }
  // Under W still: the store's next write transaction sees it.
  generation_.Bump();
  return Status::OK();
}

Result<LmdbCompactStats> Compaction::Run() {
  struct stat before;
  if (stat(data_.c_str(), &before) != 0) {
    if (errno == ENOENT) {
      return Status::NotFound(name_ + ": no data.mdb in " + options_.path +
                              ": nothing to compact");
    }
    return Fail("cannot read " + data_ + ": " + Errno(errno));
  }
  stats_.bytes_before = static_cast<uint64_t>(before.st_size);
  // A damaged file can crash its reader: check it (in a child) first.
  const LmdbCheckResult check = CheckLmdb(options_.path, options_.max_readers);
  if (check.outcome == LmdbCheckResult::Outcome::kCorrupt) {
    return Status::Corrupt(name_ + ": not compacted: " + check.Summary());
  }
  if (!check.ok()) return Fail(check.Summary());
  SK_RETURN_IF_ERROR(Open());
  SK_RETURN_IF_ERROR(CreateCopyFile(before));
  SK_RETURN_IF_ERROR(HoldWritesAtOddTxn());
  const auto paused = std::chrono::steady_clock::now();
  Status s = CopyAndSwap();
  mdb_txn_abort(txn_);  // nothing is written to the old file
  txn_ = nullptr;
  stats_.writers_paused = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - paused);
  if (!s.ok()) return s;
  return stats_;
}

}  // namespace

int DataGeneration::Map(const std::string& dir, unsigned mode) {
  void* p = nullptr;
  const int rc = MapSharedFile(dir + "/" + kDataGenerationFile, mode,
                               SharedFileOwner::kAnyone, sizeof(uint64_t), &p);
  if (rc == 0) word_ = static_cast<uint64_t*>(p);
  return rc;
}

void DataGeneration::Unmap() {
  if (word_ != nullptr) munmap(word_, sizeof(uint64_t));
  word_ = nullptr;
}

uint64_t DataGeneration::Load() const {
  if (word_ == nullptr) return 0;
  return std::atomic_ref<uint64_t>(*word_).load(std::memory_order_acquire);
}

void DataGeneration::Bump() const {
  std::atomic_ref<uint64_t>(*word_).fetch_add(1, std::memory_order_release);
}

Result<LmdbCompactStats> CompactLmdb(const LmdbOptions& options) {
  Compaction compaction(options);
  return compaction.Run();
}

}  // namespace sessionkit::lmdb_internal
