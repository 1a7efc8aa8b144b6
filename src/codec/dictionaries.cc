#include "sessionkit/dictionaries.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

namespace sessionkit {
namespace {

constexpr std::string_view kSuffix = ".dict";
constexpr std::string_view kTrailerMagic = "SKD1";
constexpr size_t kTrailerSize = 12;

uint32_t Crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()),
            static_cast<uInt>(bytes.size())));
}

void PutBig32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>(v >> shift));
  }
}

uint32_t GetBig32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(in[i]);
  return v;
}

// The zstd dictionary of a dictionary file's bytes, or why it is damaged.
Result<std::string_view> StripTrailer(std::string_view file,
                                      const std::string& path) {
  const std::string damaged =
      "dictionary file " + path + " is damaged or not one sessionkit wrote: ";
  if (file.size() < kTrailerSize ||
      file.substr(file.size() - kTrailerSize, 4) != kTrailerMagic) {
    return Status::InvalidArgument(damaged +
                                   "it does not end with its SKD1 trailer "
                                   "(truncated, or not from sessionkit train)");
  }
  const std::string_view trailer = file.substr(file.size() - kTrailerSize);
  const std::string_view dict = file.substr(0, file.size() - kTrailerSize);
  if (GetBig32(trailer.substr(4)) != dict.size()) {
    return Status::InvalidArgument(damaged + "it holds " +
                                   std::to_string(dict.size()) +
                                   " dictionary bytes, its trailer says " +
                                   std::to_string(GetBig32(trailer.substr(4))));
  }
  if (GetBig32(trailer.substr(8)) != Crc32(dict)) {
    return Status::InvalidArgument(damaged + "its CRC-32 does not match");
  }
  return dict;
}

struct FreeCDict {
  void operator()(ZSTD_CDict* d) const { ZSTD_freeCDict(d); }
};
struct FreeDDict {
  void operator()(ZSTD_DDict* d) const { ZSTD_freeDDict(d); }
};
using CDictPtr = std::unique_ptr<ZSTD_CDict, FreeCDict>;
using DDictPtr = std::unique_ptr<ZSTD_DDict, FreeDDict>;

// The id a dictionary file's name gives, 0 when the name is not one of a
// dictionary file ("<id>.dict", no leading zero).
uint32_t IdOfName(std::string_view name) {
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) return 0;
  const std::string_view digits = name.substr(0, name.size() - kSuffix.size());
  if (digits.front() == '0') return 0;
  uint64_t id = 0;
  auto [ptr, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return 0;
  return id > kMaxDictionaryId ? 0 : static_cast<uint32_t>(id);
}

Result<std::string> ReadDictionaryFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::InvalidArgument("cannot open dictionary file " + path +
                                   ": " + std::strerror(errno));
  }
  std::string bytes(kMaxDictionaryFileSize + 1, '\0');
  size_t got = 0;
  Status s;
  while (got < bytes.size()) {
    const ssize_t n = read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Status::InvalidArgument("cannot read dictionary file " + path + ": " +
                                  std::strerror(errno));
      break;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (!s.ok()) return s;
  if (got > kMaxDictionaryFileSize) {
    return Status::InvalidArgument(
        "dictionary file " + path + " is larger than " +
        std::to_string(kMaxDictionaryFileSize) + " bytes");
  }
  bytes.resize(got);
  return bytes;
}

}  // namespace

std::string DictionaryFileName(uint32_t id) {
  return std::to_string(id) + std::string(kSuffix);
}

std::string DictionaryFileBytes(std::string_view dict) {
  std::string out(dict);
  out.append(kTrailerMagic);
  PutBig32(static_cast<uint32_t>(dict.size()), &out);
  PutBig32(Crc32(dict), &out);
  return out;
}

uint32_t DictionaryIdOf(std::string_view bytes) {
  return ZDICT_getDictID(bytes.data(), bytes.size());
}

struct Dictionaries::Impl {
  struct Entry {
    std::string bytes;  // the CDicts of other levels are made from it
    DDictPtr ddict;
  };
  std::map<uint32_t, Entry, std::greater<>> entries;  // highest id first
  mutable std::mutex mu;                              // guards cdicts
  mutable std::map<int, CDictPtr> cdicts;  // the active id's, by level
};

Dictionaries::Dictionaries(std::unique_ptr<Impl> impl, std::string directory)
    : impl_(std::move(impl)), directory_(std::move(directory)) {}

Dictionaries::~Dictionaries() = default;

Result<std::shared_ptr<const Dictionaries>> Dictionaries::Parse(
    std::vector<Source> sources, std::string directory) {
  if (sources.empty()) {
    return Status::InvalidArgument("dictionary directory " + directory +
                                   " holds no dictionary file (<id>" +
                                   std::string(kSuffix) + ")");
  }
  auto impl = std::make_unique<Impl>();
  for (Source& source : sources) {
    const uint32_t id = DictionaryIdOf(source.bytes);
    if (id == 0) {
      return Status::InvalidArgument(
          "dictionary file " + source.name +
          " is not a zstd dictionary with an id (its header is missing or "
          "damaged; make dictionaries with sessionkit train)");
    }
    if (id > kMaxDictionaryId) {
      return Status::InvalidArgument(
          "dictionary file " + source.name + " has id " + std::to_string(id) +
          ", above the highest allowed, " + std::to_string(kMaxDictionaryId));
    }
    if (impl->entries.count(id) != 0) {
      return Status::InvalidArgument("dictionary file " + source.name +
                                     " has id " + std::to_string(id) +
                                     ", which another file already has");
    }
    // Loading the entropy tables checks them: a damaged file fails here,
    // when the engine opens, not on the first session.
    DDictPtr ddict(ZSTD_createDDict(source.bytes.data(), source.bytes.size()));
    CDictPtr cdict(ZSTD_createCDict(source.bytes.data(), source.bytes.size(),
                                    ZSTD_CLEVEL_DEFAULT));
    if (ddict == nullptr || cdict == nullptr) {
      return Status::InvalidArgument("dictionary file " + source.name +
                                     " (id " + std::to_string(id) +
                                     ") is damaged: zstd cannot load it");
    }
    impl->entries[id] = Impl::Entry{std::move(source.bytes), std::move(ddict)};
    if (id == impl->entries.begin()->first) {
      impl->cdicts.clear();
      impl->cdicts[ZSTD_CLEVEL_DEFAULT] = std::move(cdict);
    }
  }
  return std::shared_ptr<const Dictionaries>(
      new Dictionaries(std::move(impl), std::move(directory)));
}

Result<std::shared_ptr<const Dictionaries>> Dictionaries::Load(
    const std::string& directory) {
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) {
    return Status::InvalidArgument("cannot open dictionary directory " +
                                   directory + ": " + std::strerror(errno));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.' || !name.ends_with(kSuffix)) continue;
    names.push_back(std::move(name));
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  std::vector<Source> sources;
  for (const std::string& name : names) {
    const std::string path = directory + "/" + name;
    const uint32_t id = IdOfName(name);
    if (id == 0) {
      return Status::InvalidArgument(
          "dictionary file " + path + " is not named <id>" +
          std::string(kSuffix) + " with an id from 1 to " +
          std::to_string(kMaxDictionaryId));
    }
    auto file = ReadDictionaryFile(path);
    if (!file.ok()) return file.status();
    auto bytes = StripTrailer(*file, path);
    if (!bytes.ok()) return bytes.status();
    const uint32_t inside = DictionaryIdOf(*bytes);
    if (inside != 0 && inside != id) {
      return Status::InvalidArgument(
          "dictionary file " + path + " holds dictionary id " +
          std::to_string(inside) + ", not the " + std::to_string(id) +
          " its name says (rename it to " + DictionaryFileName(inside) + ")");
    }
    sources.push_back(Source{path, std::string(*bytes)});
  }
  return Parse(std::move(sources), directory);
}

uint32_t Dictionaries::active_id() const {
  return impl_->entries.begin()->first;
}

std::vector<uint32_t> Dictionaries::ids() const {
  std::vector<uint32_t> out;
  for (const auto& [id, entry] : impl_->entries) out.push_back(id);
  return out;
}

bool Dictionaries::Has(uint32_t id) const {
  return impl_->entries.count(id) != 0;
}

const void* Dictionaries::CompressionDictionary(int level) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  CDictPtr& cdict = impl_->cdicts[level];
  if (cdict == nullptr) {
    const std::string& bytes = impl_->entries.begin()->second.bytes;
    cdict.reset(ZSTD_createCDict(bytes.data(), bytes.size(), level));
  }
  return cdict.get();
}

const void* Dictionaries::DecompressionDictionary(uint32_t id) const {
  auto it = impl_->entries.find(id);
  return it == impl_->entries.end() ? nullptr : it->second.ddict.get();
}

}  // namespace sessionkit
