// LmdbOptions::FromUrl: the settings of an lmdb:// store URL, and their
// checks (ValidateLmdbOptions).
#include <limits.h>

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

// The value of a parameter, quoted for a message and cut if long.
std::string Quoted(std::string_view value) {
  std::string out = "\"";
  for (char c : value.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (value.size() > 40) out += "...";
  return out + "\"";
}

// An octal file mode such as "0600", "600" or "0o660".
bool ParseMode(std::string_view text, unsigned* mode) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'o' || text[1] == 'O')) {
    text.remove_prefix(2);
  }
  if (text.empty() || text.size() > 4) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return false;
    value = value * 8 + static_cast<unsigned>(c - '0');
  }
  if (value > 0777) return false;
  *mode = value;
  return true;
}

}  // namespace

Result<LmdbOptions> LmdbOptions::FromUrl(const StoreUrl& url) {
  const std::string name = "lmdb://" + url.path;
  if (url.scheme != "lmdb") {
    return Status::InvalidArgument(url.Redacted() +
                                   ": not an lmdb:// store URL");
  }
  LmdbOptions options;
  options.path = url.path;

  Result<uint64_t> map_size = url.SizeParam("map_size", options.map_size);
  if (!map_size.ok()) {
    return Status::InvalidArgument(name + ": " + map_size.status().message());
  }
  options.map_size = *map_size;

  if (std::optional<std::string> sync = url.Param("sync")) {
    if (*sync == "off") {
      options.sync = LmdbSync::kOff;
    } else if (*sync == "meta") {
      options.sync = LmdbSync::kMeta;
    } else if (*sync == "full") {
      options.sync = LmdbSync::kFull;
    } else {
      return Status::InvalidArgument(name + ": sync=" + Quoted(*sync) +
                                     " is not one of off, meta, full");
    }
  }

  Result<int64_t> readers = url.IntParam("max_readers", options.max_readers);
  if (!readers.ok()) {
    return Status::InvalidArgument(
        name + ": max_readers: " + readers.status().message());
  }
  if (*readers < 1 || *readers > 65535) {
    return Status::InvalidArgument(name +
                                   ": max_readers=" + std::to_string(*readers) +
                                   " is out of range; give 1 to 65535");
  }
  options.max_readers = static_cast<unsigned>(*readers);

  if (std::optional<std::string> mode = url.Param("mode")) {
    if (!ParseMode(*mode, &options.file_mode)) {
      return Status::InvalidArgument(
          name + ": mode=" + Quoted(*mode) +
          " is not an octal file mode such as 0600 or 0660");
    }
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

}  // namespace lmdb_internal

}  // namespace sessionkit
