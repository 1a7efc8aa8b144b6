// The key file: its format, and the checks of its mode and owner.
#include "sessionkit/keyring.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace sessionkit {
namespace {

const std::string kKeyA(64, 'a');
const std::string kKeyB =
    "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";

// A scratch directory for key files, removed at the end of the test.
//
// Thread safety: one test's.
class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("SK_TEST_TMPDIR");
    std::string pattern = std::string(base ? base : "/tmp") + "/keys.XXXXXX";
    mkdir(base ? base : "/tmp", 0700);
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  // Writes `text` to a file of mode `mode`; returns its path.
  std::string Write(const std::string& text, mode_t mode) {
    const std::string path = dir_ + "/keys";
    unlink(path.c_str());
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST(KeyRingTest, ParsesIdsInFileOrderAndTheFirstIsActive) {
  auto ring = KeyRing::Parse(
      "# rotated 2024-05\n\n  3 " + kKeyB + "  \n1\t" + kKeyA + "\r\n", "test");
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  EXPECT_EQ((*ring)->active_id(), 3);
  EXPECT_EQ((*ring)->ids(), (std::vector<uint16_t>{3, 1}));
  ASSERT_NE((*ring)->Find(3), nullptr);
  EXPECT_EQ((*ring)->Find(3)[0], 0x00);
  EXPECT_EQ((*ring)->Find(3)[10], 0xAA);
  EXPECT_EQ((*ring)->Find(1)[31], 0xaa);
  EXPECT_EQ((*ring)->Find(2), nullptr);
}

TEST(KeyRingTest, RejectsMalformedFilesWithoutEchoingKeys) {
  const struct {
    std::string text;
    std::string words;
  } kCases[] = {
      {"", "holds no key"},
      {"# only a comment\n", "holds no key"},
      {"0 " + kKeyA, "line 1: expected"},
      {"65536 " + kKeyA, "line 1: expected"},
      {"x1 " + kKeyA, "line 1: expected"},
      {"1 " + kKeyA + "\n\n1 " + kKeyB, "line 3: key id 1 appears twice"},
      {"1 " + kKeyA.substr(2), "not 64 hexadecimal digits"},
      {"1 " + kKeyA + "aa", "not 64 hexadecimal digits"},
      {"1 " + kKeyA.substr(1) + "g", "not 64 hexadecimal digits"},
      {"1 " + kKeyA + " trailing", "not 64 hexadecimal digits"},
      {"1", "not 64 hexadecimal digits"},
  };
  for (const auto& c : kCases) {
    auto ring = KeyRing::Parse(c.text, "/etc/sessionkit/keys");
    ASSERT_FALSE(ring.ok()) << c.text;
    EXPECT_TRUE(ring.status().IsInvalidArgument());
    const std::string& m = ring.status().message();
    EXPECT_NE(m.find(c.words), std::string::npos) << m;
    EXPECT_NE(m.find("/etc/sessionkit/keys"), std::string::npos) << m;
    EXPECT_EQ(m.find("aaaa"), std::string::npos) << m;
  }
}

TEST(KeyRingTest, GeneratedLinesParseAndDiffer) {
  auto a = GenerateKeyLine(7);
  auto b = GenerateKeyLine(7);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->size(), 2 + 64 + 1u);
  auto ring = KeyRing::Parse(*a, "generated");
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  EXPECT_EQ((*ring)->active_id(), 7);
  EXPECT_FALSE(GenerateKeyLine(0).ok());
}

TEST_F(KeyFileTest, LoadsAnOwnerOnlyFile) {
  auto ring = KeyRing::Load(Write("2 " + kKeyA + "\n", 0600));
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  EXPECT_EQ((*ring)->active_id(), 2);
  EXPECT_EQ((*ring)->source(), dir_ + "/keys");
  EXPECT_TRUE(KeyRing::Load(Write("2 " + kKeyA + "\n", 0400)).ok());
}

TEST_F(KeyFileTest, RefusesFilesOthersCanReadOrWrite) {
  for (mode_t mode : {0640, 0620, 0604, 0602, 0644, 0666}) {
    const std::string path = Write("2 " + kKeyA + "\n", mode);
    auto ring = KeyRing::Load(path);
    ASSERT_FALSE(ring.ok()) << std::oct << mode;
    const std::string& m = ring.status().message();
    EXPECT_TRUE(ring.status().IsInvalidArgument());
    EXPECT_NE(m.find("key file " + path + " is accessible by"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("chmod 600 " + path), std::string::npos) << m;
    EXPECT_EQ(m.find("aaaa"), std::string::npos) << m;
  }
}

TEST_F(KeyFileTest, RefusesMissingFilesAndDirectories) {
  auto missing = KeyRing::Load(dir_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(
      missing.status().message().find("cannot open key file " + dir_ + "/nope"),
      std::string::npos);
  chmod(dir_.c_str(), 0700);
  auto directory = KeyRing::Load(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("not a regular file"),
            std::string::npos)
      << directory.status().message();
}

TEST_F(KeyFileTest, RefusesFilesOfAnotherOwner) {
  const std::string path = Write("2 " + kKeyA + "\n", 0600);
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give the file away";
  ASSERT_EQ(chown(path.c_str(), 4242, 4242), 0);
  // Root reads anything; so the check is of the owner, not of access.
  auto ring = KeyRing::Load(path);
  ASSERT_FALSE(ring.ok());
  EXPECT_NE(ring.status().message().find("owned by uid 4242"),
            std::string::npos)
      << ring.status().message();
}

TEST_F(KeyFileTest, ReportsTheLineOfAMalformedFile) {
  const std::string path = Write("1 " + kKeyA + "\n2 short\n", 0600);
  auto ring = KeyRing::Load(path);
  ASSERT_FALSE(ring.ok());
  EXPECT_NE(ring.status().message().find("key file " + path + " line 2"),
            std::string::npos)
      << ring.status().message();
}

}  // namespace
}  // namespace sessionkit
