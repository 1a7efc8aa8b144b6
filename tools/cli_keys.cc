// The `keys` verb (generate, add, list) and the decryption `get --keys`
// does. Key bytes are only ever written to a key file or, for `keys
// generate` without --out, to stdout; never to a message.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "cli.h"
#include "codec/compress.h"
#include "crypt/aead.h"
#include "sessionkit/keyring.h"

namespace sessionkit::cli {
namespace {

// A buffer of key file text, zeroed when it goes.
//
// Thread safety: lives on one thread's stack.
class SecretText {
 public:
  SecretText() = default;
  ~SecretText() { sodium_memzero(text.data(), text.size()); }
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  std::string text;
};

std::string Errno(const std::string& what, const std::string& path) {
  return "cannot " + what + " " + path + ": " + std::strerror(errno);
}

// Writes all of `data` to `fd`.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads the key file `path` (after the same safety checks the engine makes)
// into `out`, and its owner into `st`.
Status ReadKeyFile(const std::string& path, SecretText* out, struct stat* st) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::InvalidArgument(Errno("open key file", path));
  Status s = CheckKeyFileSafety(fd, path);
  if (s.ok() && fstat(fd, st) != 0) {
    s = Status::InvalidArgument(Errno("stat key file", path));
  }
  if (s.ok()) {
    out->text.resize(kMaxKeyFileSize + 1);
    size_t got = 0;
    while (got < out->text.size()) {
      const ssize_t n =
          read(fd, out->text.data() + got, out->text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = Status::InvalidArgument(Errno("read key file", path));
        break;
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (s.ok() && got > kMaxKeyFileSize) {
      s = Status::InvalidArgument("key file " + path + " is too large");
    }
    out->text.resize(got);
  }
  close(fd);
  return s;
}

// Creates `path` (which must not exist) with mode 0600 holding `text`.
Status CreateKeyFile(const std::string& path, std::string_view text) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::InvalidArgument(Errno("create key file", path));
  Status s = Status::OK();
  if (fchmod(fd, 0600) != 0 || !WriteAll(fd, text) || fsync(fd) != 0) {
    s = Status::InvalidArgument(Errno("write key file", path));
  }
  close(fd);
  if (!s.ok()) unlink(path.c_str());
  return s;
}

int Generate(const KeysArgs& a, std::ostream& out, std::ostream& err) {
  auto line = GenerateKeyLine(static_cast<uint16_t>(a.id == 0 ? 1 : a.id));
  if (!line.ok()) {
    err << "sessionkit keys generate: " << line.status().message() << "\n";
    return kExitFailure;
  }
  auto hash = GenerateHashLine();
  if (!hash.ok()) {
    err << "sessionkit keys generate: " << hash.status().message() << "\n";
    return kExitFailure;
  }
  SecretText secret;
  secret.text = std::move(line).value();
  // With the hash line that sessionkit.hash_ids needs, generated once per
  // site: unlike keys, it never rotates.
  secret.text += *hash;
  sodium_memzero(hash->data(), hash->size());
  if (a.out.empty()) {
    out << secret.text;
    return out ? kExitOk : kExitFailure;
  }
  SecretText file;
  file.text.reserve(100 + secret.text.size());
  file.text =
      "# sessionkit key file: the first key encrypts, every key decrypts;\n"
      "# the hash line hashes session ids (sessionkit.hash_ids): never change "
      "it\n";
  file.text += secret.text;
  Status s = CreateKeyFile(a.out, file.text);
  if (!s.ok()) {
    err << "sessionkit keys generate: " << s.message() << "\n";
    return kExitFailure;
  }
  out << "wrote " << a.out << " (mode 0600) with key id "
      << (a.id == 0 ? 1 : a.id) << " and a hash line\n";
  return kExitOk;
}

int Add(const KeysArgs& a, std::ostream& out, std::ostream& err) {
  const std::string where = "sessionkit keys add: ";
  SecretText old;
  struct stat st;
  Status s = ReadKeyFile(a.file, &old, &st);
  auto ring = s.ok() ? KeyRing::Parse(old.text, a.file)
                     : Result<std::shared_ptr<const KeyRing>>(s);
  if (!ring.ok()) {
    err << where << ring.status().message() << "\n";
    return kExitFailure;
  }
  if (a.hash && (*ring)->has_hash_secret()) {
    err << where << a.file
        << " has a hash line already; it is never replaced (every session "
           "stored under hashed ids would be lost)\n";
    return kExitFailure;
  }
  uint32_t id = static_cast<uint32_t>(a.id);
  if (a.hash) {
    id = 0;  // unused
  } else if (id == 0) {
    for (uint16_t used : (*ring)->ids()) id = std::max<uint32_t>(id, used);
    ++id;
    for (id = id > 65535 ? 1 : id; (*ring)->Find(id) != nullptr;) ++id;
  } else if ((*ring)->Find(static_cast<uint16_t>(id)) != nullptr) {
    err << where << "key id " << id << " is already in " << a.file << "\n";
    return kExitFailure;
  }
  auto line =
      a.hash ? GenerateHashLine() : GenerateKeyLine(static_cast<uint16_t>(id));
  if (!line.ok()) {
    err << where << line.status().message() << "\n";
    return kExitFailure;
  }
  SecretText updated;
  updated.text.reserve(line->size() + old.text.size() + 1);
  if (a.hash) {
    // Below the keys: the first key line stays the active key.
    updated.text += old.text;
    if (!updated.text.empty() && updated.text.back() != '\n') {
      updated.text += '\n';
    }
    updated.text.append(*line);
  } else {
    updated.text.append(*line);
    updated.text += old.text;
  }
  sodium_memzero(line->data(), line->size());
  // Replaced whole by a rename: a reader sees the old ring or the new one.
  const std::string tmp = a.file + ".new";
  s = CreateKeyFile(tmp, updated.text);
  if (s.ok() && fchownat(AT_FDCWD, tmp.c_str(), st.st_uid, st.st_gid, 0) != 0) {
    s = Status::InvalidArgument(Errno("give the owner of", a.file) + " to " +
                                tmp);
  }
  if (s.ok() && rename(tmp.c_str(), a.file.c_str()) != 0) {
    s = Status::InvalidArgument(Errno("replace", a.file));
  }
  if (!s.ok()) {
    unlink(tmp.c_str());
    err << where << s.message() << "\n";
    return kExitFailure;
  }
  if (a.hash) {
    out << "added a hash line to " << a.file
        << "; copy the file to every host before turning on "
           "sessionkit.hash_ids\n";
    return kExitOk;
  }
  out << "added key id " << id << " to " << a.file
      << "; it is now the active key (new writes are encrypted with it once "
         "the engines reload the file)\n";
  return kExitOk;
}

int List(const KeysArgs& a, std::ostream& out, std::ostream& err) {
  auto ring = KeyRing::Load(a.file);
  if (!ring.ok()) {
    err << "sessionkit keys list: " << ring.status().message() << "\n";
    return kExitFailure;
  }
  if (a.json) {
    out << "{\"keys\":[";
    const char* separator = "";
    for (uint16_t id : (*ring)->ids()) {
      out << separator << "{\"id\":" << id
          << ",\"active\":" << (id == (*ring)->active_id() ? "true" : "false")
          << "}";
      separator = ",";
    }
    out << "],\"hash_line\":" << ((*ring)->has_hash_secret() ? "true" : "false")
        << "}\n";
    return kExitOk;
  }
  for (uint16_t id : (*ring)->ids()) {
    out << id << (id == (*ring)->active_id() ? "  active" : "") << "\n";
  }
  if ((*ring)->ids().empty()) out << "no keys: nothing is encrypted\n";
  out << ((*ring)->has_hash_secret() ? "hash line: yes\n" : "hash line: no\n");
  return kExitOk;
}

}  // namespace

CLI::App* AddKeysCommand(CLI::App& app, KeysArgs* a) {
  CLI::App* keys = app.add_subcommand(
      "keys",
      "Manage a key file of encryption keys (sessionkit.keys): the first key "
      "encrypts new writes, every key decrypts. See docs/encryption.md.");
  keys->require_subcommand(1);
  CLI::App* generate = keys->add_subcommand(
      "generate",
      "Print a new random key line \"<id> <64 hex digits>\" and a hash line "
      "\"hash <64 hex digits>\" (for sessionkit.hash_ids), or with --out "
      "create a new key file (mode 0600) holding them.");
  generate->add_option("--id", a->id, "The key id, 1 to 65535 (default 1)")
      ->check(CLI::Range(1, 65535));
  generate->add_option("--out", a->out,
                       "Create this key file (must not exist)");
  CLI::App* add = keys->add_subcommand(
      "add",
      "Put a new random key first in FILE, making it the active key; the "
      "others stay to decrypt what they wrote.");
  add->add_option("FILE", a->file, "The key file")->required();
  CLI::Option* add_id =
      add->add_option("--id", a->id,
                      "The new key's id (default: the next free)")
          ->check(CLI::Range(1, 65535));
  add->add_flag("--hash", a->hash,
                "Add a hash line (for sessionkit.hash_ids) instead of a key; "
                "refused when FILE has one")
      ->excludes(add_id);
  CLI::App* list = keys->add_subcommand(
      "list",
      "Print the key ids of FILE, the active one marked, and whether it has "
      "a hash line; never keys.");
  list->add_option("FILE", a->file, "The key file")->required();
  list->add_flag("--json", a->json,
                 "Print {\"keys\": [{\"id\", \"active\"}], \"hash_line\"}");
  keys->footer("Example: sessionkit keys add /etc/sessionkit/keys");
  return keys;
}

int RunKeys(const CLI::App& keys, const KeysArgs& args, std::ostream& out,
            std::ostream& err) {
  const std::string verb = keys.get_subcommands().at(0)->get_name();
  if (verb == "generate") return Generate(args, out, err);
  if (verb == "add") return Add(args, out, err);
  return List(args, out, err);
}

Result<std::string> OpenStoredPayload(std::string_view stored,
                                      const FrameView& frame,
                                      std::string_view id,
                                      const std::string& keys_file) {
  std::shared_ptr<const KeyRing> ring;
  if (frame.header.key_id != 0 && !keys_file.empty()) {
    auto loaded = KeyRing::Load(keys_file);
    if (!loaded.ok()) return loaded.status();
    ring = std::move(loaded).value();
  }
  return OpenStoredPayload(stored, frame, id, ring.get());
}

Result<std::string> OpenStoredPayload(std::string_view stored,
                                      const FrameView& frame,
                                      std::string_view id,
                                      const KeyRing* ring) {
  std::string decrypted;
  std::string_view payload = frame.payload;
  if (frame.header.key_id != 0) {
    if (ring == nullptr) {
      return Status::InvalidArgument("it is encrypted with key id " +
                                     std::to_string(frame.header.key_id) +
                                     "; give the key file with --keys FILE");
    }
    const std::string_view header =
        stored.substr(0, stored.size() - frame.payload.size());
    auto plain =
        DecryptPayload(*ring, frame.header.key_id, header, id, payload);
    if (!plain.ok()) return plain.status();
    decrypted = std::move(plain).value();
    payload = decrypted;
  }
  if (frame.header.codec == FrameCodec::kNone) return std::string(payload);
  return DecompressPayload(frame.header.codec, payload);
}

}  // namespace sessionkit::cli
