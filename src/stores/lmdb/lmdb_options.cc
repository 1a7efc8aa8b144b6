// LmdbOptions::FromUrl and ValidateLmdbOptions: the one place each LMDB
// setting's syntax (the reader FromUrl uses) and range (the check in
// ValidateLmdbOptions) are written. The defaults are LmdbOptions' own
// (include/sessionkit/stores/lmdb.h); the names are the lmdb row of the URL
// grammar (src/uri/schemes.cc).
#include <limits.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

#include "sessionkit/store_url.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_store.h"

namespace sessionkit {
namespace {

// The words of sync=, in the order of LmdbSync.
constexpr std::string_view kSyncWords[] = {"off", "meta", "full"};
static_assert(static_cast<size_t>(LmdbSync::kOff) == 0 &&
              static_cast<size_t>(LmdbSync::kMeta) == 1 &&
              static_cast<size_t>(LmdbSync::kFull) == 2);

// Reads the parameters of `url` over the defaults in `options`; their
// ranges are ValidateLmdbOptions'.
Status ReadSettings(const StoreUrl& url, LmdbOptions* options) {
  Result<uint64_t> map_size = url.SizeParam("map_size", options->map_size);
  if (!map_size.ok()) return map_size.status();
  options->map_size = *map_size;

  Result<uint64_t> map_max = url.SizeParam("map_max", options->map_max);
  if (!map_max.ok()) return map_max.status();
  options->map_max = *map_max;

  Result<size_t> sync =
      url.ChoiceParam("sync", kSyncWords, static_cast<size_t>(options->sync));
  if (!sync.ok()) return sync.status();
  options->sync = static_cast<LmdbSync>(*sync);

  Result<bool> writemap = url.BoolParam("writemap", options->writemap);
  if (!writemap.ok()) return writemap.status();
  options->writemap = *writemap;

  Result<int64_t> readers = url.IntParam("max_readers", options->max_readers);
  if (!readers.ok()) return readers.status();
  // A count beyond `unsigned` stays out of range rather than wrapping.
  options->max_readers = static_cast<unsigned>(
      std::min<int64_t>(*readers, std::numeric_limits<unsigned>::max()));

  Result<unsigned> mode = url.ModeParam("mode", options->file_mode);
  if (!mode.ok()) return mode.status();
  options->file_mode = *mode;
  return Status::OK();
}

}  // namespace

Result<LmdbOptions> LmdbOptions::FromUrl(const StoreUrl& url) {
  if (url.scheme != "lmdb") {
    return Status::InvalidArgument(url.Redacted() +
                                   ": not an lmdb:// store URL");
  }
  LmdbOptions options;
  options.path = url.path;
  Status read = ReadSettings(url, &options);
  if (!read.ok()) {
    return Status::InvalidArgument("lmdb://" + url.path + ": " +
                                   read.message());
  }
  SK_RETURN_IF_ERROR(lmdb_internal::ValidateLmdbOptions(options));
  return options;
}

namespace lmdb_internal {

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
  if (options.map_size < kMinMap || options.map_size > kMaxMapBytes) {
    return Status::InvalidArgument(
        name + ": map_size=" + FormatSize(options.map_size) +
        " is out of range; give 1MiB to 64TiB");
  }
  if (options.map_max != 0 &&
      (options.map_max < options.map_size || options.map_max > kMaxMapBytes)) {
    return Status::InvalidArgument(
        name + ": map_max=" + FormatSize(options.map_max) +
        " is out of range; give map_size (" + FormatSize(options.map_size) +
        ") to 64TiB, or 0 for what the disk can hold");
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
  const LmdbLockTableGeometry& g = options.lock_table_for_testing;
  if (g.buckets > 65536 || g.entries > 64 || g.waiters > 1024) {
    return Status::InvalidArgument(
        name +
        ": lock_table_for_testing is out of range (at most 65536 "
        "buckets of 64 entries and 1024 waiters)");
  }
  return Status::OK();
}

}  // namespace lmdb_internal

}  // namespace sessionkit
