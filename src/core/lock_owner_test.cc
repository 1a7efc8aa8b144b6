// LockOwner on a fake Env: the one parser of tokens, and the questions
// about a holder (this host? another process of it? gone?) that both stores
// ask through it.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "sessionkit/lock.h"
#include "support/fake_env.h"

namespace sessionkit {
namespace {

using test::FakeEnv;

std::string Token(std::string_view host, pid_t pid) {
  return std::string(host) + "|" + std::to_string(pid) + "|00000000000000ab";
}

TEST(LockOwnerParseTest, TakesTheThreeFieldsApart) {
  const std::optional<LockOwner::Parts> parts =
      LockOwner::Parse("web-1~0123456789abcdef|4242|00000000000000ab");
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->host, "web-1~0123456789abcdef");
  EXPECT_EQ(parts->pid, 4242);
  EXPECT_EQ(parts->random, "00000000000000ab");
  // The random part is whatever follows the second bar.
  EXPECT_EQ(LockOwner::Parse("h|1|x|y")->random, "x|y");
}

TEST(LockOwnerParseTest, RefusesWhatGenerateNeverWrites) {
  for (const char* token : {"", "no-bars", "host|42", "host||r", "host|0|r",
                            "host|-1|r", "host|4x|r", "host|1234567890|r",
                            "host| 42|r", "host|042|r", "host|00|r"}) {
    EXPECT_FALSE(LockOwner::Parse(token).has_value()) << token;
  }
  EXPECT_TRUE(LockOwner::Parse("|1|").has_value()) << "empty host and random";
  EXPECT_TRUE(LockOwner::Parse("h|123456789|r").has_value()) << "9 digits";
}

TEST(LockOwnerParseTest, GeneratedTokensParseToTheEnvsHostAndPid) {
  FakeEnv env;
  const LockOwner owner = LockOwner::Generate(&env);
  const std::optional<LockOwner::Parts> parts = LockOwner::Parse(owner.token);
  ASSERT_TRUE(parts.has_value()) << owner.token;
  EXPECT_EQ(parts->host, FakeEnv::kHost);
  EXPECT_EQ(parts->host, LockOwner::ThisHost(&env));
  EXPECT_EQ(parts->pid, FakeEnv::kPid);
  EXPECT_EQ(parts->random.size(), 16u);
  EXPECT_NE(LockOwner::Generate(&env).token, owner.token);
}

TEST(LockOwnerHolderTest, OtherHostIsNeverLocal) {
  FakeEnv env;
  const std::string token = Token("elsewhere~0000000000000001", 77);
  EXPECT_FALSE(LockHolderIsOnThisHost(token, &env));
  EXPECT_FALSE(LockHolderIsOtherProcessOfThisHost(token, &env));
  EXPECT_FALSE(LockHolderIsGone(token, &env)) << "pid 77 is not alive here";
  // The same name with another identity is another host too.
  const std::string twin = Token("fake-host~0000000000000001", 77);
  EXPECT_FALSE(LockHolderIsOnThisHost(twin, &env));
  EXPECT_FALSE(LockHolderIsGone(twin, &env));
}

TEST(LockOwnerHolderTest, ThisProcessIsOnThisHostButNeverGone) {
  FakeEnv env;
  const std::string token = LockOwner::Generate(&env).token;
  EXPECT_TRUE(LockHolderIsOnThisHost(token, &env));
  EXPECT_FALSE(LockHolderIsOtherProcessOfThisHost(token, &env));
  EXPECT_FALSE(LockHolderIsGone(token, &env));
}

TEST(LockOwnerHolderTest, OtherProcessOfThisHostIsGoneOnceItDies) {
  FakeEnv env;
  const std::string token = Token(FakeEnv::kHost, 77);
  env.SetAlive(77, true);
  EXPECT_TRUE(LockHolderIsOnThisHost(token, &env));
  EXPECT_TRUE(LockHolderIsOtherProcessOfThisHost(token, &env));
  EXPECT_FALSE(LockHolderIsGone(token, &env));
  env.SetAlive(77, false);
  EXPECT_TRUE(LockHolderIsOtherProcessOfThisHost(token, &env));
  EXPECT_TRUE(LockHolderIsGone(token, &env));
}

TEST(LockOwnerHolderTest, TokenThatDoesNotParseIsNoHolderOfThisHost) {
  FakeEnv env;
  for (const std::string& token :
       {std::string(FakeEnv::kHost), std::string(FakeEnv::kHost) + "|77",
        std::string(FakeEnv::kHost) + "|x|r"}) {
    EXPECT_FALSE(LockHolderIsOnThisHost(token, &env)) << token;
    EXPECT_FALSE(LockHolderIsOtherProcessOfThisHost(token, &env)) << token;
    EXPECT_FALSE(LockHolderIsGone(token, &env)) << token;
  }
}

TEST(LockOwnerGenerateTest, AnotherPidDrawsAnotherKey) {
  // A fork() child has another pid: it must not make the token its parent
  // makes next. Two fakes with the same seeded randomness draw the same key:
  // `b` shows what the parent's next token would be.
  FakeEnv a;
  const std::string first(
      LockOwner::Parse(LockOwner::Generate(&a).token)->random);
  a.SetPid(4243);
  const LockOwner child = LockOwner::Generate(&a);
  EXPECT_EQ(LockOwner::Parse(child.token)->pid, 4243);
  FakeEnv b;
  EXPECT_EQ(LockOwner::Parse(LockOwner::Generate(&b).token)->random, first);
  const LockOwner parent_next = LockOwner::Generate(&b);
  EXPECT_NE(LockOwner::Parse(child.token)->random,
            LockOwner::Parse(parent_next.token)->random)
      << "the child repeated its parent's next token";
}

}  // namespace
}  // namespace sessionkit
