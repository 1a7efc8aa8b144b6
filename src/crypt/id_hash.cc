// KeyRing::HashSessionId: the store key of a session id when ids are hashed
// (EngineOptions::hash_ids). Apart from keyring.cc so that the key file
// parser stays about the file.
#include <sodium.h>

#include <string>

#include "sessionkit/keyring.h"

namespace sessionkit {

static_assert(kSessionIdHashSize >= crypto_generichash_BYTES_MIN &&
              kSessionIdHashSize <= crypto_generichash_BYTES_MAX);
static_assert(kKeySize >= crypto_generichash_KEYBYTES_MIN &&
              kKeySize <= crypto_generichash_KEYBYTES_MAX);

Result<std::string> KeyRing::HashSessionId(std::string_view id) const {
  if (!has_hash_secret_) {
    return Status::InvalidArgument(
        "key file " + source_ +
        " has no hash line, so session ids cannot be hashed (add one: "
        "\"sessionkit keys generate\" prints a file with one)");
  }
  if (sodium_init() < 0) return Status::Internal("libsodium failed to start");
  unsigned char digest[kSessionIdHashSize];
  if (crypto_generichash(digest, sizeof(digest),
                         reinterpret_cast<const unsigned char*>(id.data()),
                         id.size(), hash_secret_, sizeof(hash_secret_)) != 0) {
    return Status::Internal("hashing a session id failed");
  }
  // Lowercase hex: within every store's key rules (session_id.h's charset).
  char hex[2 * sizeof(digest) + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
  return std::string(hex, 2 * sizeof(digest));
}

}  // namespace sessionkit
