#include "sessionkit/keyring.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace sessionkit {
namespace {

// The first word of the hash secret's line.
constexpr std::string_view kHashWord = "hash";

// A line's number and source, for messages.
std::string Where(std::string_view source, size_t line) {
  return "key file " + std::string(source) + " line " + std::to_string(line);
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Parses a key id: 1 to 65535, decimal digits only.
bool ParseId(std::string_view s, uint16_t* id) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535) return false;
  *id = static_cast<uint16_t>(v);
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes exactly kKeySize bytes of hex into `out`.
bool ParseKey(std::string_view s, unsigned char* out) {
  if (s.size() != 2 * kKeySize) return false;
  for (size_t i = 0; i < kKeySize; ++i) {
    const int hi = HexValue(s[2 * i]);
    const int lo = HexValue(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

// Zeroes a string's bytes before it is freed (the key file's text).
//
// Thread safety: lives on one thread's stack.
class Wiped {
 public:
  explicit Wiped(std::string* s) : s_(s) {}
  ~Wiped() { sodium_memzero(s_->data(), s_->size()); }
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;

 private:
  std::string* s_;
};

}  // namespace

Result<std::shared_ptr<const KeyRing>> KeyRing::Parse(std::string_view text,
                                                      std::string_view source) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to start");
  std::shared_ptr<KeyRing> ring(new KeyRing());
  ring->source_ = std::string(source);
  // At most one key a line: reserved once, so that no key is ever left
  // behind in memory a reallocation freed.
  size_t lines = 1;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  ring->entries_.reserve(lines);
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line =
        Trim(text.substr(0, end == std::string_view::npos ? text.size() : end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    size_t split = 0;
    while (split < line.size() && !IsBlank(line[split])) ++split;
    const std::string_view id_text = line.substr(0, split);
    const std::string_view key_text = Trim(line.substr(split));
    if (id_text == kHashWord) {
      if (ring->has_hash_secret_) {
        return Status::InvalidArgument(
            Where(source, line_no) +
            ": a second hash line (a key file holds one hash secret, and it "
            "never changes: keep the first)");
      }
      if (!ParseKey(key_text, ring->hash_secret_)) {
        sodium_memzero(ring->hash_secret_, sizeof(ring->hash_secret_));
        return Status::InvalidArgument(Where(source, line_no) +
                                       ": the hash secret is not 64 "
                                       "hexadecimal digits (" +
                                       std::to_string(kKeySize) + " bytes)");
      }
      ring->has_hash_secret_ = true;
      continue;
    }
    Entry entry{};
    if (!ParseId(id_text, &entry.id)) {
      return Status::InvalidArgument(
          Where(source, line_no) +
          ": expected \"<id> <key>\" with an id from 1 to 65535, or "
          "\"hash <secret>\" (the key itself is not shown)");
    }
    if (!ParseKey(key_text, entry.key)) {
      sodium_memzero(entry.key, sizeof(entry.key));
      return Status::InvalidArgument(
          Where(source, line_no) + ": the key of id " +
          std::to_string(entry.id) + " is not 64 hexadecimal digits (" +
          std::to_string(kKeySize) + " bytes)");
    }
    if (ring->Find(entry.id) != nullptr) {
      sodium_memzero(entry.key, sizeof(entry.key));
      return Status::InvalidArgument(Where(source, line_no) + ": key id " +
                                     std::to_string(entry.id) +
                                     " appears twice");
    }
    ring->entries_.push_back(entry);
    sodium_memzero(entry.key, sizeof(entry.key));
  }
  if (ring->entries_.empty() && !ring->has_hash_secret_) {
    return Status::InvalidArgument("key file " + std::string(source) +
                                   " holds no key (generate one with "
                                   "\"sessionkit keys generate\")");
  }
  return std::shared_ptr<const KeyRing>(std::move(ring));
}

Status CheckKeyFileSafety(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return Status::InvalidArgument("key file " + path +
                                   ": cannot stat: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("key file " + path +
                                   " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o",
                  static_cast<unsigned>(st.st_mode & 07777));
    const bool group = (st.st_mode & 070) != 0;
    return Status::InvalidArgument(
        "key file " + path + " is accessible by " +
        (group ? "its group" : "other users") + " (mode " + mode +
        "); it must be readable by its owner only: chmod 600 " + path);
  }
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    return Status::InvalidArgument(
        "key file " + path + " is owned by uid " + std::to_string(st.st_uid) +
        ", neither this process's user (uid " + std::to_string(geteuid()) +
        ") nor root: chown it to the user that runs sessionkit");
  }
  return Status::OK();
}

Result<std::shared_ptr<const KeyRing>> KeyRing::Load(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::InvalidArgument("cannot open key file " + path + ": " +
                                   std::strerror(errno));
  }
  std::string text;
  Wiped wipe(&text);
  Status s = CheckKeyFileSafety(fd, path);
  if (s.ok()) {
    // Sized once, so that no copy of the keys is left in freed memory.
    text.resize(kMaxKeyFileSize + 1);
    size_t got = 0;
    while (got < text.size()) {
      const ssize_t n = read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = Status::InvalidArgument("cannot read key file " + path + ": " +
                                    std::strerror(errno));
        break;
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (s.ok() && got > kMaxKeyFileSize) {
      s = Status::InvalidArgument("key file " + path + " is larger than " +
                                  std::to_string(kMaxKeyFileSize) + " bytes");
    }
    text.resize(got);  // shrinks in place: no reallocation
  }
  close(fd);
  if (!s.ok()) return s;
  return Parse(text, path);
}

KeyRing::~KeyRing() {
  sodium_memzero(entries_.data(), entries_.size() * sizeof(Entry));
  sodium_memzero(hash_secret_, sizeof(hash_secret_));
}

const unsigned char* KeyRing::Find(uint16_t id) const {
  for (const Entry& e : entries_) {
    if (e.id == id) return e.key;
  }
  return nullptr;
}

std::vector<uint16_t> KeyRing::ids() const {
  std::vector<uint16_t> out;
  for (const Entry& e : entries_) out.push_back(e.id);
  return out;
}

namespace {

// `prefix`, a space, then a new random secret of kKeySize bytes in hex.
Result<std::string> GenerateSecretLine(std::string prefix) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to start");
  unsigned char key[kKeySize];
  randombytes_buf(key, sizeof(key));
  std::string line = std::move(prefix) + " ";
  line.reserve(line.size() + 2 * kKeySize + 1);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : key) {
    line.push_back(kHex[b >> 4]);
    line.push_back(kHex[b & 0xf]);
  }
  line.push_back('\n');
  sodium_memzero(key, sizeof(key));
  return line;
}

}  // namespace

Result<std::string> GenerateKeyLine(uint16_t id) {
  if (id == 0) return Status::InvalidArgument("key ids start at 1");
  return GenerateSecretLine(std::to_string(id));
}

Result<std::string> GenerateHashLine() {
  return GenerateSecretLine(std::string(kHashWord));
}

}  // namespace sessionkit
