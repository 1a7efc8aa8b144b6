// Env::Default(): the real clocks, sleeps, randomness, host and processes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "sessionkit/env.h"

namespace sessionkit {
namespace {

using std::chrono::milliseconds;

TEST(EnvPosixTest, DefaultIsOneEnvForTheProcess) {
  EXPECT_EQ(Env::Default(), Env::Default());
  EXPECT_EQ(Env::OrDefault(nullptr), Env::Default());
}

TEST(EnvPosixTest, ClocksAreTheSystemOnes) {
  Env* env = Env::Default();
  const TimePoint wall = env->WallNow();
  EXPECT_LE(std::chrono::abs(wall - Clock::now()), milliseconds(1000));
  const SteadyTime a = env->SteadyNow();
  env->SleepFor(milliseconds(20));
  const SteadyTime b = env->SteadyNow();
  EXPECT_GE(b - a, milliseconds(20));
  EXPECT_LT(b - a, milliseconds(2000));
  const int64_t boot_a = env->BootClockMs();
  env->SleepFor(milliseconds(20));
  EXPECT_GE(env->BootClockMs() - boot_a, 19);
}

TEST(EnvPosixTest, WaitForHandsTheWholeTimeoutToThePrimitive) {
  std::chrono::nanoseconds given{-1};
  Env::Default()->WaitFor(milliseconds(1234),
                          [&](std::chrono::nanoseconds d) { given = d; });
  EXPECT_EQ(given, milliseconds(1234));
}

TEST(EnvPosixTest, BootIdIsAUuid) {
  const std::string_view id = Env::Default()->BootId();
  ASSERT_EQ(id.size(), 36u) << id;
  for (size_t i : {8, 13, 18, 23}) EXPECT_EQ(id[i], '-') << id;
}

TEST(EnvPosixTest, RandomBytesDiffer) {
  unsigned char a[32] = {}, b[32] = {};
  ASSERT_TRUE(Env::Default()->RandomBytes(a, sizeof a).ok());
  ASSERT_TRUE(Env::Default()->RandomBytes(b, sizeof b).ok());
  EXPECT_NE(std::memcmp(a, b, sizeof a), 0);
}

// The host as lock tokens name it: the machine's name, then its identity
// (16 hex digits), so that a holder of another machine that shares the name
// is never judged by a pid of this one.
TEST(EnvPosixTest, HostNameIsTheMachineNameAndItsIdentity) {
  const std::string host(Env::Default()->HostName());
  const size_t tilde = host.rfind('~');
  ASSERT_NE(tilde, std::string::npos) << host;
  EXPECT_EQ(host.size() - tilde - 1, 16u) << host;
  EXPECT_EQ(host.find('|'), std::string::npos) << host;
  char buf[256] = {};
  ASSERT_EQ(gethostname(buf, sizeof buf - 1), 0);
  EXPECT_EQ(host.substr(0, tilde), std::string(buf));
}

TEST(EnvPosixTest, PidAndLivenessAreTheKernels) {
  Env* env = Env::Default();
  EXPECT_EQ(env->Pid(), getpid());
  EXPECT_TRUE(env->ProcessExists(env->Pid()));
  EXPECT_TRUE(env->ProcessExists(1));  // init: another user's, but alive
  EXPECT_TRUE(env->ProcessExists(0)) << "0 names a process group";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  EXPECT_FALSE(env->ProcessExists(child));
}

}  // namespace
}  // namespace sessionkit
