#include "sessionkit/session_id.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sessionkit {
namespace {

TEST(ValidateSessionIdTest, AcceptsPhpCharsetAndLengths) {
  EXPECT_TRUE(ValidateSessionId(std::string(22, 'a')).ok());
  // PHP and its files handler accept any length from 1 to 256.
  EXPECT_TRUE(ValidateSessionId("a").ok());
  EXPECT_TRUE(ValidateSessionId("test003").ok());
  EXPECT_TRUE(ValidateSessionId("x-1,y").ok());
  EXPECT_TRUE(ValidateSessionId(std::string(21, 'a')).ok());
  EXPECT_TRUE(ValidateSessionId(std::string(256, 'Z')).ok());
  EXPECT_TRUE(ValidateSessionId("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
                                "STUVWXYZ0123456789,-")
                  .ok());
}

TEST(ValidateSessionIdTest, RefusesBadIdsWithReason) {
  Status empty = ValidateSessionId("");
  EXPECT_TRUE(empty.IsInvalidArgument());
  EXPECT_NE(empty.message().find("empty"), std::string::npos);

  EXPECT_TRUE(ValidateSessionId(std::string(257, 'a')).IsInvalidArgument());

  Status long_id = ValidateSessionId(std::string(300, 'a'));
  EXPECT_TRUE(long_id.IsInvalidArgument());
  EXPECT_NE(long_id.message().find("too long (300"), std::string::npos);

  std::string dots = "../x";
  Status traversal = ValidateSessionId(dots);
  EXPECT_TRUE(traversal.IsInvalidArgument());
  EXPECT_NE(traversal.message().find("position 1 (byte 0x2e)"),
            std::string::npos);

  std::string space = std::string(10, 'a') + " " + std::string(20, 'b');
  EXPECT_NE(ValidateSessionId(space).message().find("position 11 (byte 0x20)"),
            std::string::npos);

  std::string nul =
      std::string(10, 'a') + std::string(1, '\0') + std::string(20, 'b');
  EXPECT_NE(ValidateSessionId(nul).message().find("position 11 (byte 0x00)"),
            std::string::npos);

  std::string high = std::string(25, 'a') + "\xff";
  EXPECT_NE(ValidateSessionId(high).message().find("byte 0xff"),
            std::string::npos);
}

// PHP's charset and nothing else: every one of the 256 byte values, at
// the start, in the middle and at the end of an id.
TEST(ValidateSessionIdTest, AcceptsExactlyPhpsCharset) {
  const std::string charset =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,-";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool allowed = charset.find(c) != std::string::npos;
    EXPECT_EQ(IsSessionIdChar(c), allowed) << "byte " << b;
    for (const std::string& id :
         {std::string(1, c) + "abcdef", "abc" + std::string(1, c) + "def",
          "abcdef" + std::string(1, c), std::string(1, c)}) {
      Status s = ValidateSessionId(id);
      EXPECT_EQ(s.ok(), allowed)
          << "byte " << b << " in a " << id.size() << "-character id";
      if (!allowed) {
        EXPECT_TRUE(s.IsInvalidArgument());
        EXPECT_NE(
            s.message().find("position " + std::to_string(id.find(c) + 1)),
            std::string::npos)
            << s.message();
      }
    }
  }
}

TEST(ValidateSessionIdTest, LengthIsOneTo256) {
  for (size_t n : {size_t{1}, size_t{2}, size_t{255}, size_t{256}}) {
    EXPECT_TRUE(ValidateSessionId(std::string(n, 'a')).ok()) << n;
  }
  for (size_t n : {size_t{0}, size_t{257}, size_t{258}, size_t{512}}) {
    EXPECT_TRUE(ValidateSessionId(std::string(n, 'a')).IsInvalidArgument())
        << n;
  }
  EXPECT_EQ(kMaxSessionIdLength, 256u);
  EXPECT_EQ(kMinSessionIdLength, 1u);
}

TEST(ValidateSessionIdTest, MessageNeverEchoesTheId) {
  std::string secret = "SECRETsecretSECRET" + std::string(10, 'x') + "/";
  EXPECT_EQ(ValidateSessionId(secret).message().find("SECRET"),
            std::string::npos);
}

TEST(GenerateSessionIdTest, UsesPhpAlphabetsAndLengths) {
  struct Case {
    int bits;
    std::string alphabet;
  } cases[] = {
      {4, "0123456789abcdef"},
      {5, "0123456789abcdefghijklmnopqrstuv"},
      {6, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,-"},
  };
  for (const auto& c : cases) {
    auto id = GenerateSessionId({48, c.bits});
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_EQ(id->size(), 48u);
    EXPECT_TRUE(ValidateSessionId(*id).ok());
    std::set<char> seen(id->begin(), id->end());
    for (char ch : seen) {
      EXPECT_NE(c.alphabet.find(ch), std::string::npos)
          << "bits " << c.bits << " char " << ch;
    }
  }
}

TEST(GenerateSessionIdTest, RaisesLengthToReach128Bits) {
  EXPECT_EQ(GenerateSessionId({22, 4})->size(), 32u);  // 4 bits: 32 chars
  EXPECT_EQ(GenerateSessionId({22, 5})->size(), 26u);  // 5 bits: 26 chars
  EXPECT_EQ(GenerateSessionId({22, 6})->size(), 22u);  // 6 bits: 22 chars
  EXPECT_EQ(GenerateSessionId({8, 6})->size(), 22u);   // PHP minimum
}

TEST(GenerateSessionIdTest, RefusesBadOptions) {
  EXPECT_TRUE(GenerateSessionId({32, 3}).status().IsInvalidArgument());
  EXPECT_TRUE(GenerateSessionId({32, 7}).status().IsInvalidArgument());
  EXPECT_TRUE(GenerateSessionId({257, 5}).status().IsInvalidArgument());
}

TEST(GenerateSessionIdTest, IdsAreUniqueAndUseWholeAlphabet) {
  std::set<std::string> ids;
  std::set<char> chars;
  for (int i = 0; i < 2000; ++i) {
    auto id = GenerateSessionId({32, 6});
    ASSERT_TRUE(id.ok());
    ids.insert(*id);
    chars.insert(id->begin(), id->end());
  }
  EXPECT_EQ(ids.size(), 2000u);
  EXPECT_EQ(chars.size(), 64u);  // 64000 draws cover all 64 symbols
}

TEST(SessionIdPrefixTest, ShowsOnlyAPrefixAndMasksBadBytes) {
  EXPECT_EQ(SessionIdPrefix("abcdefghijklmnopqrstuvwxyz"), "abcdef...");
  // A short id is never shown whole: at most a third of it.
  EXPECT_EQ(SessionIdPrefix("test003"), "te...");
  EXPECT_EQ(SessionIdPrefix("abc"), "a...");
  EXPECT_EQ(SessionIdPrefix("ab"), "...");
  EXPECT_EQ(SessionIdPrefix(std::string("a\nb\0c\x01xyzab", 11)), "a?b...");
}

}  // namespace
}  // namespace sessionkit
