// PHP's files handler: <dir>[/c1/c2...]/sess_<id>, the serialized session
// as the whole file, expired when its mtime is older than the lifetime.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "legacy/legacy_decode.h"
#include "legacy/legacy_sources.h"
#include "sessionkit/session_id.h"

namespace sessionkit::legacy {
namespace {

// How long a read waits for the files handler's own lock (a request of
// the old handler still running) before giving up on the copy.
constexpr Duration kFileLockWait{1000};
constexpr Duration kFileLockPoll{10};

class FileCloser {
 public:
  explicit FileCloser(int fd) : fd_(fd) {}
  ~FileCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileCloser(const FileCloser&) = delete;
  FileCloser& operator=(const FileCloser&) = delete;

 private:
  int fd_;
};

class FilesSource final : public LegacySource {
 public:
  FilesSource(LegacySpec spec, Env* env)
      : spec_(std::move(spec)), env_(Env::OrDefault(env)) {}

  Result<LegacySession> Read(std::string_view id) override {
    auto path = FilesSessionPath(spec_.dir, spec_.depth, id);
    if (!path.ok()) return path.status();
    const int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return Status::NotFound("no session file");
      }
      return Error("open", *path);
    }
    FileCloser closer(fd);
    // Shared lock: the files handler holds an exclusive one while a
    // request of the old site has the session open.
    const TimePoint give_up = env_->WallNow() + kFileLockWait;
    while (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) return Error("lock", *path);
      if (env_->WallNow() >= give_up) {
        return Status::Unavailable(Describe() + ": " + *path +
                                   " stayed locked by the files handler for " +
                                   std::to_string(kFileLockWait.count()) +
                                   " ms");
      }
      std::this_thread::sleep_for(kFileLockPoll);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) return Error("stat", *path);
    if (!S_ISREG(st.st_mode)) {
      return Status::Corrupt(Describe() + ": " + *path +
                             " is not a regular file");
    }
    // PHP's gc removes a file whose mtime is before now - lifetime.
    const TimePoint expires =
        FromUnixMillis(int64_t{st.st_mtime} * 1000) + spec_.lifetime;
    const TimePoint now = env_->WallNow();
    if (expires < now) return Status::NotFound("expired");
    LegacySession session;
    session.ttl = std::chrono::duration_cast<Duration>(expires - now);
    session.payload.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < session.payload.size()) {
      const ssize_t n =
          ::pread(fd, session.payload.data() + done,
                  session.payload.size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error("read", *path);
      if (n == 0) break;  // shrunk meanwhile
      done += static_cast<size_t>(n);
    }
    session.payload.resize(done);
    return session;
  }

  Status Delete(std::string_view id) override {
    auto path = FilesSessionPath(spec_.dir, spec_.depth, id);
    if (!path.ok()) return path.status();
    if (::unlink(path->c_str()) != 0 && errno != ENOENT && errno != ENOTDIR) {
      return Error("unlink", *path);
    }
    return Status::OK();
  }

  Result<LegacyPage> Scan(std::string_view cursor, size_t limit) override {
    std::vector<std::string> ids;
    SK_RETURN_IF_ERROR(Collect(spec_.dir, spec_.depth, &ids));
    std::sort(ids.begin(), ids.end());
    LegacyPage page;
    auto it = std::upper_bound(ids.begin(), ids.end(), std::string(cursor));
    if (cursor.empty()) it = ids.begin();
    for (; it != ids.end() && page.ids.size() < std::max<size_t>(limit, 1);
         ++it) {
      page.ids.push_back(*it);
    }
    if (it != ids.end()) page.next_cursor = page.ids.back();
    return page;
  }

  std::string Describe() const override { return spec_.redacted; }

 private:
  Status Error(std::string_view what, const std::string& path) const {
    const int err = errno;
    const std::string message = Describe() + ": " + std::string(what) + " " +
                                path + ": " + std::strerror(err);
    if (err == EACCES || err == EPERM) return Status::InvalidArgument(message);
    return Status::Unavailable(message);
  }

  // The ids of the session files under `dir`, `depth` levels down.
  Status Collect(const std::string& dir, int depth,
                 std::vector<std::string>* ids) const {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return Status::OK();
      return Error("list", dir);
    }
    std::vector<std::string> subdirs;
    while (struct dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (depth > 0) {
        if (name.size() == 1 && name != ".")
          subdirs.push_back(dir + "/" + std::string(name));
        continue;
      }
      if (name.rfind("sess_", 0) != 0) continue;
      const std::string_view id = name.substr(5);
      if (ValidateSessionId(id).ok()) ids->emplace_back(id);
    }
    ::closedir(d);
    for (const std::string& sub : subdirs) {
      SK_RETURN_IF_ERROR(Collect(sub, depth - 1, ids));
    }
    return Status::OK();
  }

  const LegacySpec spec_;
  Env* const env_;
};

}  // namespace

std::unique_ptr<LegacySource> NewFilesSource(LegacySpec spec, Env* env) {
  return std::make_unique<FilesSource>(std::move(spec), env);
}

}  // namespace sessionkit::legacy
