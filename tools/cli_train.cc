// `sessionkit train URL --out DIR`: trains a zstd dictionary on sessions
// sampled from a store and adds it to a dictionary directory
// (sessionkit/dictionaries.h), printing what it saves on the samples.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cli.h"
#include "codec/compress.h"
#include "codec/dictionary_train.h"
#include "sessionkit/dictionaries.h"
#include "sessionkit/engine.h"
#include "sessionkit/keyring.h"
#include "sessionkit/open.h"

namespace sessionkit::cli {
namespace {

constexpr size_t kTrainScanPage = 1000;

std::string ErrnoText(const std::string& what, const std::string& path) {
  return "cannot " + what + " " + path + ": " + std::strerror(errno);
}

// True when `dir` holds a file a dictionary directory would load.
bool HasDictionaryFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    if (!name.starts_with(".") && name.ends_with(".dict")) found = true;
  }
  closedir(d);
  return found;
}

// Writes `bytes` as `dir`/`name` (mode 0644) through a temporary file, so
// a reader never sees half a dictionary, and never over an existing file.
Status WriteNewFile(const std::string& dir, const std::string& name,
                    std::string_view bytes) {
  const std::string tmp = dir + "/.train-" + std::to_string(getpid()) + ".tmp";
  const std::string path = dir + "/" + name;
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::InvalidArgument(ErrnoText("write into", dir));
  bool ok = fchmod(fd, 0644) == 0;  // whatever the umask
  for (std::string_view rest = bytes; ok && !rest.empty();) {
    const ssize_t n = write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) rest.remove_prefix(static_cast<size_t>(n));
  }
  ok = ok && fsync(fd) == 0;
  const int saved = errno;
  close(fd);
  if (!ok) {
    unlink(tmp.c_str());
    errno = saved;
    return Status::Unavailable(ErrnoText("write", tmp));
  }
  // link() fails if the name exists: another train took this id meanwhile.
  const bool linked = link(tmp.c_str(), path.c_str()) == 0;
  const int link_errno = errno;
  unlink(tmp.c_str());
  if (!linked) {
    errno = link_errno;
    return Status::Unavailable(ErrnoText("create", path));
  }
  if (const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  return Status::OK();
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * part / whole);
  return buf;
}

}  // namespace

CLI::App* AddTrainCommand(CLI::App& app, TrainArgs* args) {
  CLI::App* train = app.add_subcommand(
      "train",
      "Train a zstd dictionary on sessions sampled from the store, write it "
      "into the dictionary directory with the next id (it becomes the one "
      "new writes use once PHP reloads), and print what it saves on the "
      "samples.");
  train->add_option("URL", args->url, "Store URL to sample sessions from")
      ->required();
  train
      ->add_option("--out", args->out,
                   "Dictionary directory (as sessionkit.dictionaries); its "
                   "dictionaries also decode the samples")
      ->type_name("DIR")
      ->required();
  train
      ->add_option("--samples", args->samples,
                   "Train on at most N sessions (default " +
                       std::to_string(TrainArgs().samples) + ")")
      ->type_name("N")
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  train
      ->add_option("--dict-size", args->dict_size,
                   "Largest dictionary size in bytes (default " +
                       std::to_string(kDefaultDictionarySize) + ")")
      ->type_name("BYTES")
      ->check(CLI::Range(kMinDictionarySize, kMaxDictionaryFileSize));
  train
      ->add_option("--keys", args->keys,
                   "Key file to decrypt encrypted sessions with (as "
                   "sessionkit.keys)")
      ->type_name("FILE");
  train->footer(
      "Example: sessionkit train lmdb:///var/lib/sessionkit --out "
      "/etc/sessionkit/dictionaries");
  return train;
}

int RunTrain(const TrainArgs& args, std::ostream& out, std::ostream& err) {
  const auto fail = [&err](int code, const std::string& message) {
    err << "sessionkit train: " << message << "\n";
    return code;
  };
  struct stat st;
  if (stat(args.out.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(kExitFailure, "dictionary directory " + args.out +
                                  " does not exist (create it first)");
  }
  if (access(args.out.c_str(), W_OK) != 0) {
    return fail(kExitFailure, ErrnoText("write dictionaries into", args.out));
  }
  EngineOptions options;
  size_t unreadable = 0;
  options.log = [&](LogLevel level, std::string_view message) {
    if (level != LogLevel::kWarning) return;
    ++unreadable;
    err << "sessionkit train: skipped: " << message << "\n";
  };
  options.setting_name = [](std::string_view setting) {
    return setting == "dictionaries" ? std::string("--out")
                                     : CliFlagName(setting);
  };
  uint32_t id = 1;
  if (HasDictionaryFiles(args.out)) {
    auto dicts = Dictionaries::Load(args.out);
    if (!dicts.ok()) return fail(kExitFailure, dicts.status().message());
    id = (*dicts)->active_id() + 1;
    options.dictionaries = std::move(dicts).value();
  }
  if (id > kMaxDictionaryId) {
    return fail(kExitFailure, "dictionary ids in " + args.out + " are used up");
  }
  if (!args.keys.empty()) {
    auto ring = KeyRing::Load(args.keys);
    if (!ring.ok()) return fail(kExitUsage, ring.status().message());
    options.keys = std::move(ring).value();
  }
  auto engine = OpenEngine(args.url, std::move(options));
  if (!engine.ok()) {
    return fail(engine.status().IsInvalidArgument() ? kExitUsage : kExitFailure,
                engine.status().message());
  }
  Store& store = (*engine)->store();
  std::vector<std::string> samples;
  size_t scanned = 0;
  ScanOptions scan;
  while (samples.size() < args.samples) {
    scan.limit = kTrainScanPage;
    auto page = store.Scan(scan);
    if (!page.ok()) return fail(kExitFailure, page.status().message());
    for (const SessionInfo& info : page->sessions) {
      if (samples.size() >= args.samples) break;
      ++scanned;
      auto read = (*engine)->Read(info.id);
      if (!read.ok()) return fail(kExitFailure, read.status().message());
      if (read->found && !read->payload.empty()) {
        samples.push_back(std::move(read->payload));
      }
    }
    if (page->next_cursor.empty() || page->next_cursor == scan.cursor) break;
    scan.cursor = std::move(page->next_cursor);
  }
  if (samples.size() < kMinTrainingSamples) {
    return fail(kExitFailure,
                store.name() + " holds too few sessions to train on: found " +
                    std::to_string(samples.size()) +
                    " non-empty sessions, at least " +
                    std::to_string(kMinTrainingSamples) + " are needed");
  }
  const size_t dict_size =
      args.dict_size == 0 ? kDefaultDictionarySize : args.dict_size;
  auto dict = TrainDictionary(samples, dict_size, id);
  if (!dict.ok()) return fail(kExitFailure, dict.status().message());
  auto trained = Dictionaries::Parse({{"the new dictionary", *dict}}, args.out);
  if (!trained.ok()) return fail(kExitFailure, trained.status().message());

  uint64_t raw = 0, plain = 0, with = 0;
  for (const std::string& s : samples) {
    auto a = CompressPayload(FrameCodec::kZstd, 0, s);
    auto b = CompressPayload(FrameCodec::kZstd, 0, s, trained->get());
    if (!a.ok() || !b.ok()) {
      return fail(kExitFailure, (a.ok() ? b : a).status().message());
    }
    raw += s.size();
    plain += a->size();
    with += b->size();
  }
  const std::string name = DictionaryFileName(id);
  if (Status s = WriteNewFile(args.out, name, DictionaryFileBytes(*dict));
      !s.ok()) {
    return fail(kExitFailure, s.message());
  }
  out << "trained dictionary " << id << " (" << dict->size() << " bytes) on "
      << samples.size() << " of " << scanned << " sessions read from "
      << store.name();
  if (unreadable > 0) out << " (" << unreadable << " unreadable, skipped)";
  out << "\nbytes on the samples (zstd level default):\n"
      << "  raw              " << PadLeft(std::to_string(raw), 12) << "\n"
      << "  zstd             " << PadLeft(std::to_string(plain), 12) << "  "
      << Percent(plain, raw) << " of raw\n"
      << "  zstd+dictionary  " << PadLeft(std::to_string(with), 12) << "  "
      << Percent(with, raw) << " of raw, " << Percent(with, plain)
      << " of zstd\n"
      << "wrote " << args.out << "/" << name
      << "\nnext: copy it to the dictionary directory of every host, then "
         "reload PHP-FPM; keep the older dictionaries while stored sessions "
         "use them\n";
  return kExitOk;
}

}  // namespace sessionkit::cli
