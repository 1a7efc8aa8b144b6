// The writers' side of the metrics file (OpenMetricsFile in metrics.h):
// creating or checking it, mapping it, claiming a slot per process, and the
// sink that adds into that slot.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "metrics/metrics_layout.h"
#include "metrics/metrics_read.h"
#include "sessionkit/env.h"
#include "sessionkit/metrics.h"
#include "stores/fork_generation.h"
#include "stores/lock_wake.h"
#include "stores/ofd_lock.h"

namespace sessionkit {
namespace metrics_internal {
namespace {

// How long a process waits for another that creates or checks the header
// (it holds the header lock for a few system calls).
constexpr int kHeaderLockTries = 200;
constexpr auto kHeaderLockPause = std::chrono::milliseconds(5);

std::string Named(const std::string& path) { return "metrics file " + path; }

Status Errno(const std::string& path, const char* what, int e) {
  return Status::Unavailable(Named(path) + ": cannot " + what + ": " +
                             std::strerror(e));
}

// An OFD lock (F_WRLCK or F_UNLCK) of byte `at`, without waiting. 0 or the
// errno.
int LockByte(int fd, short type, off_t at) {
  return OfdLockByte(fd, type, at, /*wait=*/false);
}

// Writes this build's header into the empty (or never finished) file `fd`,
// the magic last, so a process that dies half-way leaves a file the next
// one finishes.
Status CreateHeader(int fd, const std::string& path) {
  // Allocated, not a hole: the counters are stores into the map.
  if (const int e = AllocateSharedFile(fd, 0, kFileBytes); e != 0) {
    return Errno(path, "size", e);
  }
  FileHeader h = ExpectedHeader();
  const FileHeader blank_magic = [&] {
    FileHeader b = h;
    std::memset(b.magic, 0, sizeof b.magic);
    return b;
  }();
  if (pwrite(fd, &blank_magic, sizeof blank_magic, 0) !=
          static_cast<ssize_t>(sizeof blank_magic) ||
      pwrite(fd, h.magic, sizeof h.magic, 0) !=
          static_cast<ssize_t>(sizeof h.magic)) {
    return Errno(path, "write the header of", errno);
  }
  return Status::OK();
}

// Under the header lock: creates the header of a new file, or checks the
// header of an existing one.
Status PrepareLocked(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(Named(path) + " is not a regular file");
  }
  // Mapped by every worker: its owner could cut it under them (a SIGBUS at
  // the next count), so it is this user's file or root's.
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    return Status::InvalidArgument(
        Named(path) + " is owned by uid " + std::to_string(st.st_uid) +
        ", neither this process's user (uid " + std::to_string(geteuid()) +
        ") nor root: give it to the user the workers run as");
  }
  if (st.st_size == 0) return CreateHeader(fd, path);
  char head[sizeof(FileHeader)] = {};
  const ssize_t n = pread(fd, head, sizeof head, 0);
  if (n < 0) return Errno(path, "read", errno);
  // All zero at the full size: a creator died before its magic.
  static const char kZero[sizeof(FileHeader)] = {};
  if (static_cast<uint64_t>(st.st_size) == kFileBytes &&
      std::memcmp(head, kZero, sizeof head) == 0) {
    return CreateHeader(fd, path);
  }
  return CheckFile(std::string_view(head, n), st.st_size, path);
}

// Opens `path`, creating its header if needed. The descriptor, or why not.
Result<int> OpenChecked(const std::string& path) {
  // Not through a symbolic link: whoever can plant one in the directory
  // must not make the workers size and write a file of their choosing.
  const int fd =
      open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 && errno == ELOOP) {
    return Status::InvalidArgument(Named(path) +
                                   " is a symbolic link; name the file itself");
  }
  if (fd < 0) return Errno(path, "open", errno);
  int tries = 0;
  while (LockByte(fd, F_WRLCK, kHeaderLockByte) != 0) {
    if (++tries == kHeaderLockTries) {
      close(fd);
      return Status::Unavailable(
          Named(path) + ": another process held its header lock for 1 s");
    }
    Env::Default()->SleepFor(kHeaderLockPause);
  }
  Status s = PrepareLocked(fd, path);
  LockByte(fd, F_UNLCK, kHeaderLockByte);
  if (!s.ok()) {
    close(fd);
    return s;
  }
  return fd;
}

// One mapping of one metrics file in this process, and the slot this
// process adds into.
//
// Thread safety: Slot() may be called from any thread.
class MappedFile {
 public:
  MappedFile(std::string path, int fd, char* base)
      : path_(std::move(path)), fd_(fd), base_(base) {
    Claim();
  }
  ~MappedFile() {
    munmap(base_, kFileBytes);
    if (fd_ >= 0) close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // This process's slot. After a fork the child claims one of its own.
  SlotCells* Slot() {
    if (ForkGeneration() != generation_.load(std::memory_order_relaxed)) {
      Reclaim();
    }
    return slot_.load(std::memory_order_relaxed);
  }

 private:
  // Claims the first slot no live process holds (its lock byte is free),
  // or, when every slot is held, shares one picked by pid: the adds are
  // atomic, so a shared slot only costs contention. Holding the lock
  // byte's OFD lock until this descriptor closes (at exit) marks the slot
  // taken; a slot of a process that is gone is taken again, its counts
  // kept.
  void Claim() {
    generation_.store(ForkGeneration(), std::memory_order_relaxed);
    const pid_t pid = Env::Default()->Pid();
    uint32_t chosen = static_cast<uint32_t>(pid) % kMetricsSlots;
    for (uint32_t i = 0; fd_ >= 0 && i < kMetricsSlots; ++i) {
      if (LockByte(fd_, F_WRLCK, SlotLockByte(i)) == 0) {
        chosen = i;
        break;
      }
    }
    auto* slot = reinterpret_cast<SlotCells*>(base_ + kPage +
                                              size_t{chosen} * kSlotBytes);
    std::atomic_ref<uint64_t>(slot->pid).store(static_cast<uint64_t>(pid),
                                               std::memory_order_relaxed);
    std::atomic_ref<uint64_t>(slot->claims)
        .fetch_add(1, std::memory_order_relaxed);
    slot_.store(slot, std::memory_order_relaxed);
  }

  // In a forked child: the descriptor is the parent's (its slot lock is
  // the parent's too), so the child opens its own and claims again.
  void Reclaim() {
    std::lock_guard<std::mutex> lock(mu_);
    if (ForkGeneration() == generation_.load(std::memory_order_relaxed)) {
      return;
    }
    if (fd_ >= 0) close(fd_);  // the parent keeps its lock through its own
    fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    Claim();
  }

  const std::string path_;
  std::mutex mu_;
  int fd_;  // guarded by mu_ after construction
  char* const base_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<SlotCells*> slot_{nullptr};
};

// The mappings of this process, by path: engines of one file share one.
std::mutex g_files_mu;
std::map<std::string, std::weak_ptr<MappedFile>>& Files() {
  static auto* files = new std::map<std::string, std::weak_ptr<MappedFile>>();
  return *files;
}

Result<std::shared_ptr<MappedFile>> MapFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_files_mu);
  if (auto found = Files()[path].lock()) return found;
  auto fd = OpenChecked(path);
  if (!fd.ok()) return fd.status();
  void* base =
      mmap(nullptr, kFileBytes, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
  if (base == MAP_FAILED) {
    const int e = errno;
    close(*fd);
    return Errno(path, "map", e);
  }
  auto file = std::make_shared<MappedFile>(path, *fd, static_cast<char*>(base));
  Files()[path] = file;
  return file;
}

void AddTo(uint64_t& cell, uint64_t n) {
  std::atomic_ref<uint64_t>(cell).fetch_add(n, std::memory_order_relaxed);
}

void Observe(HistogramCells& h, std::chrono::nanoseconds d) {
  const int64_t ns = d.count() < 0 ? 0 : d.count();
  int bucket = 0;
  while (bucket < kBuckets - 1 && ns > kBucketBoundsNs[bucket]) ++bucket;
  AddTo(h.buckets[bucket], 1);
  AddTo(h.sum_ns, static_cast<uint64_t>(ns));
}

// Thread safety: as MetricsSink.
class FileSink final : public MetricsSink {
 public:
  FileSink(std::shared_ptr<MappedFile> file, int store)
      : file_(std::move(file)), store_(store) {}

  void Operation(MetricOp op, MetricOutcome outcome,
                 std::chrono::nanoseconds latency) noexcept override {
    StoreCells& cells = Cells();
    const int o = static_cast<int>(op);
    AddTo(cells.operations[o][static_cast<int>(outcome)], 1);
    Observe(cells.latency[o], latency);
  }

  void LockWait(std::chrono::nanoseconds waited) noexcept override {
    Observe(Cells().lock_wait, waited);
  }

  void Add(MetricCounter counter, uint64_t n) noexcept override {
    AddTo(Cells().counters[static_cast<int>(counter)], n);
  }

 private:
  StoreCells& Cells() { return file_->Slot()->stores[store_]; }

  const std::shared_ptr<MappedFile> file_;
  const int store_;
};

}  // namespace
}  // namespace metrics_internal

Result<std::shared_ptr<MetricsSink>> OpenMetricsFile(const std::string& path,
                                                     std::string_view store) {
  using namespace metrics_internal;
  if (path.empty()) {
    return Status::InvalidArgument("metrics file: no path given");
  }
  int index = kStores - 1;  // "other"
  for (int i = 0; i < kStores; ++i) {
    if (store == kStoreLabels[i]) index = i;
  }
  auto file = MapFile(path);
  if (!file.ok()) return file.status();
  return std::shared_ptr<MetricsSink>(
      std::make_shared<FileSink>(std::move(file).value(), index));
}

}  // namespace sessionkit
