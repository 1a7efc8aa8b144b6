#include "crypt/aead.h"

#include <sodium.h>

#include <string>

namespace sessionkit {
namespace {

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kNonceSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kTagSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kKeySize);

// The associated data: the header as stored, then the session id. The
// header has a fixed size per format, so the two cannot run into each other.
std::string AssociatedData(std::string_view header, std::string_view id) {
  std::string ad;
  ad.reserve(header.size() + id.size());
  ad.append(header);
  ad.append(id);
  return ad;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string IdList(const KeyRing& ring) {
  std::string out;
  for (uint16_t id : ring.ids()) {
    if (!out.empty()) out += ", ";
    out += std::to_string(id);
  }
  return out;
}

}  // namespace

Result<std::string> EncryptPayload(const KeyRing& ring, uint16_t key_id,
                                   std::string_view header, std::string_view id,
                                   std::string_view plaintext) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to start");
  const unsigned char* key = ring.Find(key_id);
  if (key == nullptr) {
    return Status::InvalidArgument("key file " + ring.source() +
                                   " has no key id " + std::to_string(key_id));
  }
  const std::string ad = AssociatedData(header, id);
  std::string out(kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, kNonceSize);
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(
          nonce + kNonceSize, &written, Bytes(plaintext), plaintext.size(),
          Bytes(ad), ad.size(), nullptr, nonce, key) != 0 ||
      written != plaintext.size() + kTagSize) {
    return Status::Internal("encryption with key id " + std::to_string(key_id) +
                            " failed");
  }
  return out;
}

Result<std::string> DecryptPayload(const KeyRing& ring, uint16_t key_id,
                                   std::string_view header, std::string_view id,
                                   std::string_view payload) {
  if (sodium_init() < 0) return Status::Internal("libsodium failed to start");
  const unsigned char* key = ring.Find(key_id);
  if (key == nullptr) {
    return Status::Corrupt("value is encrypted with key id " +
                           std::to_string(key_id) + ", which key file " +
                           ring.source() + " does not hold (it holds " +
                           IdList(ring) + ")");
  }
  if (payload.size() < kEncryptionOverhead) {
    return Status::Corrupt("encrypted value of key id " +
                           std::to_string(key_id) + " is truncated (" +
                           std::to_string(payload.size()) +
                           " bytes of payload, less than nonce and tag)");
  }
  const std::string ad = AssociatedData(header, id);
  std::string out(payload.size() - kEncryptionOverhead, '\0');
  unsigned long long written = 0;
  const auto* nonce = Bytes(payload);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out.data()), &written, nullptr,
          nonce + kNonceSize, payload.size() - kNonceSize, Bytes(ad), ad.size(),
          nonce, key) != 0) {
    return Status::Corrupt(
        "value does not decrypt with key id " + std::to_string(key_id) +
        " of key file " + ring.source() +
        " (the key differs from the one that wrote it, or the value was "
        "altered, truncated or copied from another session id)");
  }
  out.resize(written);
  return out;
}

}  // namespace sessionkit
