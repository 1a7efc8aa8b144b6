// The AEAD of frame payloads: what it binds, and how it fails.
#include "crypt/aead.h"

#include <gtest/gtest.h>

#include <string>

namespace sessionkit {
namespace {

std::shared_ptr<const KeyRing> Ring(const std::string& text) {
  auto ring = KeyRing::Parse(text, "ring");
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return ring.ok() ? *ring : nullptr;
}

const std::string kHeader = "0123456789abcdef";
const std::string kId = "session-id-0123456789";

TEST(AeadTest, RoundTripsAndAddsNonceAndTag) {
  auto ring = Ring("5 " + std::string(64, '1') + "\n");
  for (size_t size : {0, 1, 100, 70000}) {
    const std::string plain(size, 'p');
    auto sealed = EncryptPayload(*ring, 5, kHeader, kId, plain);
    ASSERT_TRUE(sealed.ok());
    EXPECT_EQ(sealed->size(), size + kEncryptionOverhead);
    auto opened = DecryptPayload(*ring, 5, kHeader, kId, *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, plain);
  }
}

TEST(AeadTest, EachWriteHasItsOwnNonce) {
  auto ring = Ring("5 " + std::string(64, '1') + "\n");
  auto a = EncryptPayload(*ring, 5, kHeader, kId, "same");
  auto b = EncryptPayload(*ring, 5, kHeader, kId, "same");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->substr(0, kNonceSize), b->substr(0, kNonceSize));
  EXPECT_NE(*a, *b);
}

TEST(AeadTest, BindsHeaderIdAndEveryByte) {
  auto ring = Ring("5 " + std::string(64, '1') + "\n");
  auto sealed = EncryptPayload(*ring, 5, kHeader, kId, "secret data");
  ASSERT_TRUE(sealed.ok());
  EXPECT_FALSE(DecryptPayload(*ring, 5, kHeader, kId + "x", *sealed).ok());
  std::string header = kHeader;
  header[3] ^= 1;
  EXPECT_FALSE(DecryptPayload(*ring, 5, header, kId, *sealed).ok());
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string altered = *sealed;
    altered[i] ^= 0x40;
    auto r = DecryptPayload(*ring, 5, kHeader, kId, altered);
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_TRUE(r.status().IsCorrupt());
  }
  for (size_t n = 0; n < sealed->size(); ++n) {
    EXPECT_FALSE(
        DecryptPayload(*ring, 5, kHeader, kId, sealed->substr(0, n)).ok());
  }
}

TEST(AeadTest, NamesTheMissingKeyAndNeverItsBytes) {
  auto writer = Ring("5 " + std::string(64, '1') + "\n");
  auto reader =
      Ring("6 " + std::string(64, '2') + "\n5 " + std::string(64, '3') + "\n");
  auto sealed = EncryptPayload(*writer, 5, kHeader, kId, "secret data");
  ASSERT_TRUE(sealed.ok());
  auto wrong = DecryptPayload(*reader, 5, kHeader, kId, *sealed);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("does not decrypt with key id 5"),
            std::string::npos);
  auto unknown = DecryptPayload(*reader, 9, kHeader, kId, *sealed);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find(
                "key id 9, which key file ring does not hold (it holds 6, 5)"),
            std::string::npos)
      << unknown.status().message();
  EXPECT_TRUE(EncryptPayload(*writer, 9, kHeader, kId, "x")
                  .status()
                  .IsInvalidArgument());
}

}  // namespace
}  // namespace sessionkit
