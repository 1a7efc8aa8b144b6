// The key file's hash line and the hashing of session ids it keys.
#include <gtest/gtest.h>

#include <string>

#include "sessionkit/keyring.h"
#include "sessionkit/session_id.h"

namespace sessionkit {
namespace id_hash_test {
namespace {

const std::string kKey(64, 'a');
// Bytes 0x40..0x5f.
const std::string kSecret =
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";
constexpr char kId[] = "abcdefghijklmnopqrstuvwxyz012345";

TEST(IdHashTest, HashLineIsOptionalAndKeysStayActive) {
  auto both = KeyRing::Parse("hash " + kSecret + "\n2 " + kKey + "\n", "f");
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_TRUE((*both)->has_hash_secret());
  EXPECT_EQ((*both)->active_id(), 2);
  EXPECT_EQ((*both)->ids(), (std::vector<uint16_t>{2}));

  auto keys_only = KeyRing::Parse("2 " + kKey + "\n", "f");
  ASSERT_TRUE(keys_only.ok());
  EXPECT_FALSE((*keys_only)->has_hash_secret());
  auto refused = (*keys_only)->HashSessionId(kId);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsInvalidArgument());
  EXPECT_NE(refused.status().message().find("key file f has no hash line"),
            std::string::npos)
      << refused.status().message();
}

TEST(IdHashTest, AFileWithOnlyAHashLineEncryptsNothing) {
  auto ring = KeyRing::Parse("# ids only\n\thash\t" + kSecret + " \r\n", "f");
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  EXPECT_TRUE((*ring)->has_hash_secret());
  EXPECT_EQ((*ring)->active_id(), 0);
  EXPECT_TRUE((*ring)->ids().empty());
  EXPECT_EQ((*ring)->Find(0), nullptr);
}

TEST(IdHashTest, RejectsBadHashLinesWithoutEchoingThem) {
  const struct {
    std::string text;
    std::string words;
  } kCases[] = {
      {"hash " + kSecret + "\n1 " + kKey + "\nhash " + kSecret,
       "line 3: a second hash line"},
      {"hash " + kSecret.substr(2), "line 1: the hash secret is not 64"},
      {"hash " + kSecret + "00", "the hash secret is not 64"},
      {"hash", "the hash secret is not 64"},
      {"hash " + kSecret + " x", "the hash secret is not 64"},
      {"HASH " + kSecret, "or \"hash <secret>\""},
      {"hashes " + kSecret, "or \"hash <secret>\""},
  };
  for (const auto& c : kCases) {
    auto ring = KeyRing::Parse(c.text, "/etc/sessionkit/keys");
    ASSERT_FALSE(ring.ok()) << c.text;
    EXPECT_TRUE(ring.status().IsInvalidArgument());
    const std::string& m = ring.status().message();
    EXPECT_NE(m.find(c.words), std::string::npos) << m;
    EXPECT_NE(m.find("/etc/sessionkit/keys"), std::string::npos) << m;
    EXPECT_EQ(m.find("4041"), std::string::npos) << m;
  }
}

TEST(IdHashTest, HashIsKeyedBlake2bInLowercaseHex) {
  auto ring = KeyRing::Parse("hash " + kSecret + "\n", "f");
  ASSERT_TRUE(ring.ok());
  auto key = (*ring)->HashSessionId(kId);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  // BLAKE2b-256 keyed with bytes 0x40..0x5f (Python's hashlib.blake2b).
  EXPECT_EQ(*key,
            "cf6ddbd21797a9e3ebf3906c0fa83921ba334a0c817280585d4982d587257959");
  EXPECT_TRUE(ValidateSessionId(*key).ok());
  // Stable, and different for another id or another secret.
  EXPECT_EQ(*(*ring)->HashSessionId(kId), *key);
  EXPECT_NE(*(*ring)->HashSessionId("abcdefghijklmnopqrstuvwxyz012346"), *key);
  auto other = KeyRing::Parse("hash " + std::string(64, '0') + "\n", "g");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*(*other)->HashSessionId(kId), *key);
}

TEST(IdHashTest, GeneratedHashLinesParseAndDiffer) {
  auto a = GenerateHashLine();
  auto b = GenerateHashLine();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->rfind("hash ", 0), 0u);
  EXPECT_EQ(a->size(), 5 + 64 + 1u);
  auto ring = KeyRing::Parse(*a, "generated");
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  EXPECT_TRUE((*ring)->has_hash_secret());
}

}  // namespace
}  // namespace id_hash_test
}  // namespace sessionkit
