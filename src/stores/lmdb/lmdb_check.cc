#include "stores/lmdb/lmdb_check.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/session_id.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/pid_namespace_guard.h"

namespace sessionkit::lmdb_internal {
namespace {

using Outcome = LmdbCheckResult::Outcome;

std::mutex g_boot_mu;
std::optional<BootId> g_boot_for_testing;  // guarded by g_boot_mu
std::atomic<uint64_t> g_checks{0};

// Names a session without showing its whole id (a credential).
std::string Who(std::string_view id) {
  return "session " + SessionIdPrefix(id);
}

bool IsCorruptCode(int rc) {
  return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
         rc == MDB_VERSION_MISMATCH || rc == MDB_BAD_VALSIZE;
}

// The checks of the main database's records; empty when all pass.
std::string CheckRecords(MDB_txn* txn, MDB_dbi dbi, LmdbCheckResult* r) {
  MDB_stat stat;
  int rc = mdb_stat(txn, dbi, &stat);
  if (rc != 0)
    return std::string("reading the tree's header: ") + mdb_strerror(rc);
  MDB_cursor* cursor;
  if ((rc = mdb_cursor_open(txn, dbi, &cursor)) != 0) {
    return std::string("opening a cursor: ") + mdb_strerror(rc);
  }
  std::string problem, prev;
  uint64_t keys = 0;
  MDB_val k, v;
  volatile char sink = 0;
  for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
    const std::string_view key = View(k), value = View(v);
    MDB_val prev_val{prev.size(), prev.data()};
    if (key.empty()) {
      problem = "an empty key";
    } else if (keys > 0 && mdb_cmp(txn, dbi, &prev_val, &k) >= 0) {
      problem = "keys out of order after key " + std::to_string(keys);
    }
    if (!problem.empty()) break;
    ++keys;
    prev.assign(key);
    // Touch the ends of the value: a page outside the file faults here.
    if (!value.empty()) sink = sink ^ value.front() ^ value.back();
    if (IsLockKey(key)) {
      ++r->lock_records;
      const std::string_view id = key.substr(kIndexHeaderBytes);
      const LockRecord lock = ParseLockRecord(value);
      if (id.empty() || id.size() > kMaxIdBytes || value.size() < 8 ||
          lock.token.empty() || lock.wall_lease_end_ms < 0 ||
          lock.wall_lease_end_ms > kMaxExpiryMs || lock.boot_lease_end_ms < 0 ||
          lock.boot_lease_end_ms > kMaxExpiryMs) {
        problem = "a malformed lock record (" + Who(id) + ")";
        break;
      }
    } else if (key[0] == '\0') {
      ++r->index_entries;
      if (key.size() <= kIndexHeaderBytes || !value.empty()) {
        problem = "a malformed expiry index entry";
        break;
      }
      const int64_t bucket = GetBigEndian64(key.data() + 1);
      const std::string_view id = key.substr(kIndexHeaderBytes);
      MDB_val ik{id.size(), const_cast<char*>(id.data())}, sv;
      if (bucket < 0 || bucket > kMaxExpiryMs || bucket % kIndexBucketMs != 0 ||
          mdb_get(txn, dbi, &ik, &sv) != 0 || sv.mv_size < kHeaderBytes ||
          Bucket(GetBigEndian64(static_cast<char*>(sv.mv_data))) != bucket) {
        problem = "an expiry index entry without its session (" + Who(id) + ")";
        break;
      }
    } else {
      ++r->sessions;
      const int64_t expiry =
          value.size() >= kHeaderBytes ? GetBigEndian64(value.data()) : -1;
      if (key.size() > kMaxIdBytes || expiry < 0 || expiry > kMaxExpiryMs) {
        problem = "a malformed session record (" + Who(key) + ")";
        break;
      }
      char index_key[kIndexHeaderBytes + kMaxIdBytes];
      index_key[0] = '\0';
      const uint64_t b = static_cast<uint64_t>(Bucket(expiry));
      for (int i = 0; i < 8; ++i)
        index_key[1 + i] = static_cast<char>(b >> (56 - 8 * i));
      std::memcpy(index_key + kIndexHeaderBytes, key.data(), key.size());
      MDB_val ik{kIndexHeaderBytes + key.size(), index_key}, unused;
      if (mdb_get(txn, dbi, &ik, &unused) != 0) {
        problem = Who(key) + " has no expiry index entry";
        break;
      }
    }
  }
  mdb_cursor_close(cursor);
  if (!problem.empty()) return problem;
  if (rc != MDB_NOTFOUND) {
    return "reading record " + std::to_string(keys + 1) + ": " +
           mdb_strerror(rc);
  }
  if (keys != stat.ms_entries) {
    return "the tree holds " + std::to_string(keys) + " records, its header " +
           std::to_string(stat.ms_entries);
  }
  if (r->sessions != r->index_entries) {
    return std::to_string(r->sessions) + " sessions but " +
           std::to_string(r->index_entries) + " expiry index entries";
  }
  return "";
}

}  // namespace

std::string CountFreePages(MDB_txn* txn, uint64_t last_pgno,
                           uint64_t* free_pages) {
  *free_pages = 0;
  MDB_cursor* cursor;
  int rc = mdb_cursor_open(txn, 0, &cursor);  // FREE_DBI
  if (rc != 0) return std::string("opening the free list: ") + mdb_strerror(rc);
  std::string problem;
  MDB_val k, v;
  for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
    const auto* ids = static_cast<const size_t*>(v.mv_data);
    if (k.mv_size != sizeof(size_t) || v.mv_size < sizeof(size_t) ||
        v.mv_size % sizeof(size_t) != 0 ||
        (ids[0] + 1) * sizeof(size_t) != v.mv_size) {
      problem = "a malformed free list entry";
      break;
    }
    for (size_t i = 1; i <= ids[0]; ++i) {
      if (ids[i] < 2 || ids[i] > last_pgno) {
        problem = "the free list names page " + std::to_string(ids[i]) +
                  ", outside the file's pages";
        break;
      }
    }
    if (!problem.empty()) break;
    *free_pages += ids[0];
  }
  mdb_cursor_close(cursor);
  if (!problem.empty()) return problem;
  if (rc != MDB_NOTFOUND) {
    return std::string("reading the free list: ") + mdb_strerror(rc);
  }
  return "";
}

namespace {

// The check after mdb_env_open.
void CheckOpenEnv(MDB_env* env, const std::string& data, LmdbCheckResult* r) {
  const auto fail = [r](Outcome outcome, std::string problem) {
    r->outcome = outcome;
    r->problem = std::move(problem);
  };
  MDB_txn* txn;
  int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  if (rc == MDB_MAP_RESIZED) {
    // A writer of this directory grew the map since this opening sized it
    // (sessionkit check runs beside PHP): take the new size.
    rc = mdb_env_set_mapsize(env, 0);
    if (rc == 0) rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  }
  if (rc != 0) {
    return fail(IsCorruptCode(rc) ? Outcome::kCorrupt : Outcome::kError,
                std::string("cannot read it: ") + mdb_strerror(rc));
  }
  MDB_envinfo info;
  MDB_stat env_stat;
  mdb_env_info(env, &info);
  mdb_env_stat(env, &env_stat);
  r->page_size = env_stat.ms_psize;
  r->pages_in_use = info.me_last_pgno + 1;
  // After the transaction began: the file only grows.
  struct stat st;
  if (stat(data.c_str(), &st) != 0) {
    mdb_txn_abort(txn);
    return fail(Outcome::kError, "data.mdb: " + std::string(strerror(errno)));
  }
  r->file_bytes = static_cast<uint64_t>(st.st_size);
  if (r->pages_in_use * r->page_size > r->file_bytes) {
    mdb_txn_abort(txn);
    return fail(Outcome::kCorrupt,
                "the database uses " + std::to_string(r->pages_in_use) +
                    " pages of " + std::to_string(r->page_size) +
                    " bytes, but data.mdb has only " +
                    std::to_string(r->file_bytes) + " bytes");
  }
  MDB_dbi dbi;
  std::string problem;
  rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
  if (rc != 0) {
    problem = std::string("opening the main database: ") + mdb_strerror(rc);
  } else {
    problem = CheckRecords(txn, dbi, r);
    if (problem.empty()) {
      problem = CountFreePages(txn, info.me_last_pgno, &r->free_pages);
    }
  }
  mdb_txn_abort(txn);
  if (!problem.empty()) return fail(Outcome::kCorrupt, problem);
  r->outcome = Outcome::kOk;
}

// Whether data.mdb holds anything; false with r->outcome set when it does
// not (OK) or cannot be known (error).
bool HasData(const std::string& dir, LmdbCheckResult* r) {
  struct stat st;
  if (stat((dir + "/data.mdb").c_str(), &st) != 0) {
    r->outcome = errno == ENOENT ? Outcome::kOk : Outcome::kError;
    if (errno != ENOENT)
      r->problem = "data.mdb: " + std::string(strerror(errno));
    return false;
  }
  r->file_bytes = static_cast<uint64_t>(st.st_size);
  r->has_data = st.st_size > 0;
  if (!r->has_data) r->outcome = Outcome::kOk;
  return r->has_data;
}

// The result as the child sends it: a line of numbers, then the problem.
std::string Serialize(const LmdbCheckResult& r) {
  char head[256];
  snprintf(head, sizeof head,
           "%d %d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
           " %" PRIu64 " %" PRIu64 "\n",
           static_cast<int>(r.outcome), r.has_data ? 1 : 0, r.sessions,
           r.index_entries, r.lock_records, r.pages_in_use, r.free_pages,
           r.page_size, r.file_bytes);
  return head + r.problem;
}

bool Deserialize(const std::string& text, LmdbCheckResult* r) {
  const size_t eol = text.find('\n');
  if (eol == std::string::npos) return false;
  int outcome = -1, has_data = 0;
  if (sscanf(text.c_str(),
             "%d %d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
             " %" SCNu64 " %" SCNu64,
             &outcome, &has_data, &r->sessions, &r->index_entries,
             &r->lock_records, &r->pages_in_use, &r->free_pages, &r->page_size,
             &r->file_bytes) != 9 ||
      outcome < 0 || outcome > 2) {
    return false;
  }
  r->outcome = static_cast<Outcome>(outcome);
  r->has_data = has_data != 0;
  r->problem = text.substr(eol + 1);
  return true;
}

std::string FormatBootId(const BootId& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[id[i] >> 4];
    out += kHex[id[i] & 15];
  }
  return out;
}

BootId CheckBootId() {
  std::lock_guard<std::mutex> lock(g_boot_mu);
  return g_boot_for_testing ? *g_boot_for_testing : CurrentBootId();
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace

std::string LmdbCheckResult::Summary() const {
  const std::string where = "lmdb://" + dir + ": ";
  switch (outcome) {
    case Outcome::kOk:
      if (!has_data) return where + "OK: no data (no data.mdb yet)";
      return where + "OK: " + std::to_string(sessions) + " sessions, " +
             std::to_string(index_entries) + " expiry index entries, " +
             std::to_string(lock_records) + " lock records; " +
             std::to_string(pages_in_use) + " pages of " +
             std::to_string(page_size) + " bytes (" +
             std::to_string(free_pages) + " free), data.mdb " +
             std::to_string(file_bytes) + " bytes";
    case Outcome::kCorrupt:
      return where + "CORRUPT: " + problem;
    case Outcome::kError:
      break;
  }
  return where + "cannot check: " + problem;
}

LmdbCheckResult CheckLmdbInProcess(const std::string& dir,
                                   unsigned max_readers) {
  LmdbCheckResult r;
  r.dir = dir;
  if (!HasData(dir, &r)) return r;
  // On a full disk, a reader table LMDB leaves sparse would crash this
  // process, which reads as a damaged file: a check it cannot make instead.
  int rc = AllocateLockFile(dir, max_readers, 0600);
  if (rc != 0) {
    r.outcome = Outcome::kError;
    r.problem = std::string("cannot allocate its reader table (lock.mdb): ") +
                strerror(rc);
    return r;
  }
  MDB_env* env = nullptr;
  rc = mdb_env_create(&env);
  if (rc == 0) rc = mdb_env_set_maxreaders(env, max_readers);
  if (rc == 0) {
    rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS | MDB_NORDAHEAD,
                      0600);
  }
  if (rc != 0) {
    r.outcome = IsCorruptCode(rc) ? Outcome::kCorrupt : Outcome::kError;
    r.problem = std::string("cannot open it: ") + mdb_strerror(rc);
  } else {
    // The walk follows the tree, not the file: have the kernel read the
    // file ahead in order (a spinning disk seeks far less).
    const int fd = open((dir + "/data.mdb").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
      close(fd);
    }
    CheckOpenEnv(env, dir + "/data.mdb", &r);
  }
  if (env != nullptr) mdb_env_close(env);
  return r;
}

int ClearDeadReaderSlots(const std::string& dir, unsigned max_readers,
                         int* cleared) {
  *cleared = 0;
  int rc = AllocateLockFile(dir, max_readers, 0600);
  if (rc != 0) return rc;
  MDB_env* env = nullptr;
  rc = mdb_env_create(&env);
  if (rc != 0) return rc;
  rc = mdb_env_set_maxreaders(env, max_readers);
  // Read-only for the data; the reader table in lock.mdb is shared memory
  // every user writes.
  if (rc == 0) {
    rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS | MDB_NORDAHEAD,
                      0600);
  }
  if (rc == 0) rc = mdb_reader_check(env, cleared);
  mdb_env_close(env);
  return rc;
}

LmdbCheckResult CheckLmdb(const std::string& dir, unsigned max_readers,
                          std::chrono::milliseconds timeout) {
  LmdbCheckResult r;
  r.dir = dir;
  if (!HasData(dir, &r)) return r;
  g_checks.fetch_add(1, std::memory_order_relaxed);
  const auto fail = [&r](Outcome outcome, std::string problem) {
    r.outcome = outcome;
    r.problem = std::move(problem);
    return r;
  };
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return fail(Outcome::kError, std::string("pipe: ") + strerror(errno));
  }
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    return fail(Outcome::kError, std::string("fork: ") + strerror(err));
  }
  if (pid == 0) {
    // The child: the walk, its result down the pipe, and no exit handlers.
    // A damaged page faults (SIGBUS past the file's end, SIGSEGV on a wild
    // pointer): the default action ends the child by that signal, which is
    // what the parent reads as "corrupt", whatever handlers the process
    // installed (a sanitizer's, a runtime's).
    for (int sig : {SIGBUS, SIGSEGV, SIGFPE, SIGILL}) signal(sig, SIG_DFL);
    close(fds[0]);
    const std::string out = Serialize(CheckLmdbInProcess(dir, max_readers));
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = write(fds[1], out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) _exit(2);
      done += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  bool timed_out = false;
  // Not the store's Env (env.h): this limit bounds poll() on a real child
  // process, in real time, and a child that overruns it is killed (a
  // signal to our own child, not a question about a lock holder).
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline decides
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child is done (or died)
    text.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  pid_t waited;
  while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    // Not a sign of damage: the walk stops at the first key out of order,
    // so a loop in the tree ends it at once. A slow disk, most likely.
    r.timed_out = true;
    return fail(Outcome::kError, "the check did not finish within " +
                                     std::to_string(timeout.count()) +
                                     " ms (killed)");
  }
  if (waited == pid && WIFSIGNALED(status)) {
    return fail(Outcome::kCorrupt,
                "reading it crashed the checking process (signal " +
                    std::to_string(WTERMSIG(status)) + ", " +
                    strsignal(WTERMSIG(status)) + ")");
  }
  LmdbCheckResult parsed;
  parsed.dir = dir;
  if (!Deserialize(text, &parsed)) {
    return fail(Outcome::kError, "the checking process ended without a result");
  }
  return parsed;
}

int MoveLmdbAside(const std::string& dir, std::string* moved) {
  static constexpr const char* kFiles[] = {"data.mdb", "lock.mdb"};
  std::string suffix = ".corrupt-" + std::to_string(time(nullptr));
  for (int n = 2;
       Exists(dir + "/data.mdb" + suffix) || Exists(dir + "/lock.mdb" + suffix);
       ++n) {
    suffix =
        ".corrupt-" + std::to_string(time(nullptr)) + "-" + std::to_string(n);
  }
  moved->clear();
  for (const char* name : kFiles) {
    const std::string from = dir + "/" + name;
    if (!Exists(from)) continue;
    if (rename(from.c_str(), (from + suffix).c_str()) != 0) return errno;
    *moved += (moved->empty() ? "moved " : " and ") + std::string(name) +
              " to " + name + suffix;
  }
  if (moved->empty()) *moved = "nothing to move";
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);  // the renames outlive a crash
    close(dir_fd);
  }
  return 0;
}

bool LmdbInUse(const std::string& dir) {
  const int fd = open((dir + "/" + kPidNamespaceFile).c_str(),
                      O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 1;  // the users' byte (pid_namespace_guard.cc)
  fl.l_len = 1;
  const bool in_use = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  close(fd);
  return in_use;
}

int CheckAfterBoot(const std::string& dir, unsigned mode, unsigned max_readers,
                   std::string* message) {
  message->clear();
  const BootId boot = CheckBootId();
  if (boot == BootId{}) return 0;  // no boot id: nothing to compare
  const int fd = open((dir + "/" + kBootIdFile).c_str(),
                      O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return 0;  // the opening that follows reports the directory
  int rc;
  while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
  }
  char buf[64] = {};
  BootId recorded{};
  if (rc != 0 || (pread(fd, buf, sizeof buf - 1, 0) > 0 &&
                  ParseBootId(buf, &recorded) && recorded == boot)) {
    close(fd);  // the usual case: this boot was checked
    return 0;
  }
  const LmdbCheckResult check = CheckLmdb(dir, max_readers);
  int result = 0;
  bool record = true;
  if (check.outcome == Outcome::kCorrupt) {
    std::string moved;
    result = MoveLmdbAside(dir, &moved);
    *message = "the LMDB environment in " + dir +
               " is corrupt at the first opening since boot (" + check.problem +
               "), as an OS crash or power loss with sync=off can leave it; ";
    if (result == 0) {
      *message += moved + "; starting an empty store (its sessions are lost)";
    } else {
      *message += std::string("it could not be moved aside (") +
                  strerror(result) +
                  "): stop PHP and run 'sessionkit check --repair'";
      record = false;
    }
  } else if (check.outcome == Outcome::kError) {
    *message = "could not check the LMDB environment in " + dir +
               " at the first opening since boot: " + check.problem +
               "; run 'sessionkit check' on it";
    // The next opening tries again, unless trying took the whole timeout.
    record = check.timed_out;
  }
  if (record) {
    const std::string text = FormatBootId(boot) + "\n";
    if (ftruncate(fd, 0) == 0) {
      (void)!pwrite(fd, text.data(), text.size(), 0);
    }
  }
  close(fd);  // releases the flock
  return result;
}

void SetCheckBootIdForTesting(const BootId* id) {
  std::lock_guard<std::mutex> lock(g_boot_mu);
  if (id == nullptr) {
    g_boot_for_testing.reset();
  } else {
    g_boot_for_testing = *id;
  }
}

uint64_t BootChecksForTesting() {
  return g_checks.load(std::memory_order_relaxed);
}

}  // namespace sessionkit::lmdb_internal
