#include "metrics/metrics_read.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace sessionkit::metrics_internal {
namespace {

constexpr char kNotOurs[] =
    " is not a sessionkit metrics file (its first bytes are not "
    "\"SKMETRIC\"); give sessionkit a file of its own";

std::string Quote(std::string_view name) {
  return "metrics file " + std::string(name);
}

// The cells of a slot or snapshot as one array of counters, to sum.
constexpr size_t kStoreWords = sizeof(StoreCells) / sizeof(uint64_t);
static_assert(sizeof(StoreCells) % sizeof(uint64_t) == 0);

// Adds the `kStores` store blocks at `p` (possibly unaligned) to `s`.
void AddSlot(const char* p, MetricsSnapshot* s) {
  for (int store = 0; store < kStores; ++store) {
    auto* sum = reinterpret_cast<uint64_t*>(&s->stores[store]);
    const char* from = p + offsetof(SlotCells, stores) +
                       static_cast<size_t>(store) * sizeof(StoreCells);
    for (size_t i = 0; i < kStoreWords; ++i) {
      uint64_t v;
      std::memcpy(&v, from + i * sizeof v, sizeof v);
      sum[i] += v;
    }
  }
}

}  // namespace

Status CheckFile(std::string_view head, uint64_t file_bytes,
                 std::string_view name) {
  const size_t magic = std::min(head.size(), sizeof kMagic);
  if (magic > 0 && std::memcmp(head.data(), kMagic, magic) != 0) {
    return Status::InvalidArgument(Quote(name) + kNotOurs);
  }
  if (head.size() < sizeof(FileHeader)) {
    return Status::InvalidArgument(Quote(name) + " is damaged: only " +
                                   std::to_string(file_bytes) +
                                   " bytes, shorter than its header");
  }
  FileHeader header;
  std::memcpy(&header, head.data(), sizeof header);
  return CheckMetricsHeader(header, file_bytes, name);
}

Status CheckMetricsHeader(const FileHeader& h, uint64_t file_bytes,
                          std::string_view name) {
  if (std::memcmp(h.magic, kMagic, sizeof h.magic) != 0) {
    return Status::InvalidArgument(Quote(name) + kNotOurs);
  }
  const FileHeader want = ExpectedHeader();
  if (h.version != want.version) {
    return Status::InvalidArgument(
        Quote(name) + " has layout version " + std::to_string(h.version) +
        ", this build reads version " + std::to_string(want.version) +
        "; remove it (after stopping its writers) or use another file");
  }
  if (std::memcmp(&h, &want, sizeof h) != 0) {
    return Status::InvalidArgument(
        Quote(name) +
        " is damaged or of another build: its geometry (slots, slot size, "
        "stores, buckets, counters) is not this build's");
  }
  if (file_bytes != kFileBytes) {
    return Status::InvalidArgument(
        Quote(name) + " is damaged: " + std::to_string(file_bytes) +
        " bytes, a metrics file has " + std::to_string(kFileBytes));
  }
  return Status::OK();
}

Result<MetricsSnapshot> ParseMetrics(std::string_view bytes,
                                     std::string_view name) {
  SK_RETURN_IF_ERROR(CheckFile(bytes, bytes.size(), name));
  MetricsSnapshot s;
  for (uint32_t slot = 0; slot < kMetricsSlots; ++slot) {
    const char* p = bytes.data() + kPage + slot * kSlotBytes;
    uint64_t claims;
    std::memcpy(&claims, p + offsetof(SlotCells, claims), sizeof claims);
    if (claims == 0) continue;  // never claimed, so never counted into
    ++s.slots_claimed;
    AddSlot(p, &s);
  }
  return s;
}

Result<MetricsSnapshot> ReadMetricsFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) {
      return Status::NotFound(Quote(path) +
                              " does not exist: no process has opened it "
                              "yet (is sessionkit.metrics set to it?)");
    }
    return Status::Unavailable(Quote(path) +
                               " cannot be opened: " + std::strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::InvalidArgument(Quote(path) + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) != kFileBytes) {
    // Refused: said why from its header when it has one.
    char head[sizeof(FileHeader)];
    const ssize_t n = pread(fd, head, sizeof head, 0);
    close(fd);
    return CheckFile(std::string_view(head, n > 0 ? n : 0), st.st_size, path);
  }
  std::string bytes(kFileBytes, '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = pread(fd, bytes.data() + got, bytes.size() - got, got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      close(fd);
      return Status::Unavailable(Quote(path) + " cannot be read: " +
                                 (n == 0 ? "it shrank" : std::strerror(e)));
    }
    got += static_cast<size_t>(n);
  }
  auto snapshot = ParseMetrics(bytes, path);
  if (snapshot.ok()) {
    for (uint32_t slot = 0; slot < kMetricsSlots; ++slot) {
      struct flock fl {};
      fl.l_type = F_WRLCK;
      fl.l_whence = SEEK_SET;
      fl.l_start = SlotLockByte(slot);
      fl.l_len = 1;
      if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
        ++snapshot->slots_live;
      }
    }
  }
  close(fd);
  return snapshot;
}

uint64_t TotalOperations(const MetricsSnapshot& s, MetricOp op) {
  uint64_t total = 0;
  for (const StoreCells& store : s.stores) {
    for (uint64_t n : store.operations[static_cast<int>(op)]) total += n;
  }
  return total;
}

}  // namespace sessionkit::metrics_internal
