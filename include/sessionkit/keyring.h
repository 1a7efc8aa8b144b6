// Encryption keys at rest: a key ring read from a key file. The first key of
// the file encrypts every new write; every key of it decrypts, so a new key
// is added first and old ones stay until no stored value uses them. This
// header is the one definition of the key file format; docs/encryption.md
// explains it for operators:
//
//   # comment lines start with '#'; blank lines are ignored
//   <id> <key>
//   hash <secret>
//
// where <id> is a decimal key id from 1 to 65535 (stored in each frame's
// header) and <key> and <secret> 64 hexadecimal digits (32 bytes, any
// case), separated by spaces or tabs. Ids are unique within a file. The
// `hash` line is optional and appears at most once, anywhere: its secret
// keys the hash of session ids (hash_ids, HashSessionId below) and never
// rotates, since a new one would change every stored session's key. A file
// holds at least one key line or a hash line; without key lines nothing is
// encrypted (active_id() is 0).
#ifndef SESSIONKIT_KEYRING_H_
#define SESSIONKIT_KEYRING_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"

namespace sessionkit {

// The size of a key (XChaCha20-Poly1305).
inline constexpr size_t kKeySize = 32;
// The size of a hashed session id (HashSessionId) before hex encoding:
// 256 bits, so that two live ids never share a key.
inline constexpr size_t kSessionIdHashSize = 32;
// The largest key file read: far above any ring an operator keeps.
inline constexpr size_t kMaxKeyFileSize = size_t{1} << 20;

// A parsed key ring. Key bytes never leave it except to the AEAD
// (src/crypt/aead.h), and are zeroed when it is destroyed.
//
// Thread safety: immutable after Parse; safe for concurrent use.
class KeyRing {
 public:
  // Parses key file text (the format above). `source` names the file in
  // messages. InvalidArgument naming the source and line for a malformed
  // line, an id out of range, a duplicate id, a second hash line, or a
  // file with neither a key nor a hash line; no message contains key bytes.
  static Result<std::shared_ptr<const KeyRing>> Parse(std::string_view text,
                                                      std::string_view source);

  // Reads and parses the key file at `path`, after checking that it is a
  // regular file, not readable or writable by its group or others, and
  // owned by this process's effective user or root. InvalidArgument naming
  // the file and what is wrong (and the chmod/chown that fixes it).
  static Result<std::shared_ptr<const KeyRing>> Load(const std::string& path);

  ~KeyRing();
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;

  // The id of the key that encrypts (the first key line of the file); 0
  // (a frame's "not encrypted") when the file has only a hash line.
  uint16_t active_id() const {
    return entries_.empty() ? 0 : entries_.front().id;
  }
  // The key of id `id` (kKeySize bytes), or nullptr when the ring has none.
  const unsigned char* Find(uint16_t id) const;
  // Every id, in file order (the active one first).
  std::vector<uint16_t> ids() const;
  // What Parse was given as `source` (the file's path).
  const std::string& source() const { return source_; }
  // True when the file has a hash line.
  bool has_hash_secret() const { return has_hash_secret_; }

  // The key a store keeps session `id` under when ids are hashed
  // (EngineOptions::hash_ids): the lowercase hex of BLAKE2b keyed with the
  // hash secret (kSessionIdHashSize bytes), a valid session id itself.
  // The same id always gives the same key; without the secret, a key tells
  // nothing of the id. InvalidArgument, naming the file, when it has no
  // hash line. `id` is not validated here (the engine does that first).
  Result<std::string> HashSessionId(std::string_view id) const;

 private:
  struct Entry {
    uint16_t id;
    unsigned char key[kKeySize];
  };
  KeyRing() = default;

  std::vector<Entry> entries_;  // never reallocated once filled
  std::string source_;
  bool has_hash_secret_ = false;
  unsigned char hash_secret_[kKeySize] = {};
};

// A new random key (OS CSPRNG) as a key file line "<id> <64 hex digits>\n".
// Internal when the random source fails.
Result<std::string> GenerateKeyLine(uint16_t id);

// A new random hash secret as a key file line "hash <64 hex digits>\n".
// Internal when the random source fails.
Result<std::string> GenerateHashLine();

// Checks the mode and owner of an open key file `fd` named `path`, as Load
// does; exposed for the CLI, which checks a file before rewriting it.
Status CheckKeyFileSafety(int fd, const std::string& path);

}  // namespace sessionkit

#endif  // SESSIONKIT_KEYRING_H_
