// Encryption of frame payloads with XChaCha20-Poly1305 (IETF AEAD,
// libsodium). The encrypted payload is a random 24-byte nonce, then the
// ciphertext, then the 16-byte tag (docs/architecture.md, "The stored
// frame"). The associated data binds the frame's header bytes as stored
// (magic, format, codec, flags, key id, session version) and the session
// id, so that a value copied under another id, or with its header altered,
// does not decrypt.
#ifndef SESSIONKIT_CRYPT_AEAD_H_
#define SESSIONKIT_CRYPT_AEAD_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "sessionkit/keyring.h"
#include "sessionkit/status.h"

namespace sessionkit {

inline constexpr size_t kNonceSize = 24;
inline constexpr size_t kTagSize = 16;
// What encryption adds to a payload.
inline constexpr size_t kEncryptionOverhead = kNonceSize + kTagSize;

// Encrypts `plaintext` with the key of id `key_id` of `ring`, binding
// `header` (the frame header bytes that will precede the payload, with
// `key_id` in them) and the session `id`. InvalidArgument when the ring has
// no such key; Internal when libsodium fails.
Result<std::string> EncryptPayload(const KeyRing& ring, uint16_t key_id,
                                   std::string_view header, std::string_view id,
                                   std::string_view plaintext);

// Decrypts a payload EncryptPayload made, given the same header bytes and
// id. Corrupt, naming the key id and the key file (never key bytes), when
// the ring has no key `key_id`, the payload is shorter than nonce and tag,
// or it does not authenticate (another key, altered, truncated, or stored
// under another id or header).
Result<std::string> DecryptPayload(const KeyRing& ring, uint16_t key_id,
                                   std::string_view header, std::string_view id,
                                   std::string_view payload);

}  // namespace sessionkit

#endif  // SESSIONKIT_CRYPT_AEAD_H_
