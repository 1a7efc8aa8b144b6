// FakeEnv: clocks that move only by hand or by a sleep, a fixed host and
// pid, a table of live pids, and what stays real with kRecordClocks.
#include "support/fake_env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

namespace sessionkit::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(FakeEnvTest, ClocksMoveOnlyWhenAdvanced) {
  FakeEnv env;
  const TimePoint wall = env.WallNow();
  const SteadyTime steady = env.SteadyNow();
  const int64_t boot = env.BootClockMs();
  EXPECT_EQ(ToUnixMillis(wall), FakeEnv::kStartWallMs);
  EXPECT_EQ(boot, FakeEnv::kStartBootMs);
  usleep(2000);
  EXPECT_EQ(env.WallNow(), wall);
  EXPECT_EQ(env.SteadyNow(), steady);
  EXPECT_EQ(env.BootClockMs(), boot);
  env.Advance(milliseconds(1500));
  EXPECT_EQ(env.WallNow() - wall, milliseconds(1500));
  EXPECT_EQ(env.SteadyNow() - steady, milliseconds(1500));
  EXPECT_EQ(env.BootClockMs() - boot, 1500);
}

TEST(FakeEnvTest, WallClockStepsAlone) {
  FakeEnv env;
  const SteadyTime steady = env.SteadyNow();
  env.SetWallNow(FromUnixMillis(42));
  EXPECT_EQ(ToUnixMillis(env.WallNow()), 42);
  EXPECT_EQ(env.SteadyNow(), steady);
  EXPECT_EQ(env.BootClockMs(), FakeEnv::kStartBootMs);
  env.SetBootClockMs(7);
  EXPECT_EQ(env.BootClockMs(), 7);
  EXPECT_EQ(ToUnixMillis(env.WallNow()), 42);
}

TEST(FakeEnvTest, SleepsAndWaitsMoveTheClockAndReturnAtOnce) {
  FakeEnv env;
  const SteadyTime start = env.SteadyNow();
  const auto real_start = std::chrono::steady_clock::now();
  env.SleepFor(std::chrono::hours(1));
  std::chrono::nanoseconds given{-1};
  env.WaitFor(milliseconds(250), [&](nanoseconds d) { given = d; });
  EXPECT_LT(std::chrono::steady_clock::now() - real_start,
            std::chrono::seconds(5));
  EXPECT_EQ(given, nanoseconds(0)) << "the primitive is polled, not slept in";
  EXPECT_EQ(env.SteadyNow() - start, std::chrono::hours(1) + milliseconds(250));
  const std::vector<nanoseconds> sleeps = env.Sleeps();
  ASSERT_EQ(sleeps.size(), 2u);
  EXPECT_EQ(sleeps[0], std::chrono::hours(1));
  EXPECT_EQ(sleeps[1], milliseconds(250));
}

TEST(FakeEnvTest, HostPidAndLivePidsAreTheTests) {
  FakeEnv env;
  EXPECT_EQ(env.HostName(), FakeEnv::kHost);
  EXPECT_EQ(env.Pid(), FakeEnv::kPid);
  EXPECT_EQ(env.BootId(), FakeEnv::kBootId);
  EXPECT_TRUE(env.ProcessExists(FakeEnv::kPid));
  EXPECT_FALSE(env.ProcessExists(77));
  EXPECT_FALSE(env.ProcessExists(getpid())) << "real pids mean nothing here";
  env.SetAlive(77, true);
  EXPECT_TRUE(env.ProcessExists(77));
  env.SetAlive(77, false);
  EXPECT_FALSE(env.ProcessExists(77));
  const std::string_view old_host = env.HostName();
  env.SetHostName("other~0000000000000001");
  env.SetPid(9);
  EXPECT_EQ(env.HostName(), "other~0000000000000001");
  EXPECT_EQ(old_host, FakeEnv::kHost) << "a view handed out stays valid";
  EXPECT_EQ(env.Pid(), 9);
}

TEST(FakeEnvTest, RandomnessIsSeededAndFillsEveryByte) {
  FakeEnv a, b;
  unsigned char x[13], y[13], z[13];
  std::memset(x, 0, sizeof x);
  ASSERT_TRUE(a.RandomBytes(x, sizeof x).ok());
  ASSERT_TRUE(b.RandomBytes(y, sizeof y).ok());
  ASSERT_TRUE(a.RandomBytes(z, sizeof z).ok());
  EXPECT_EQ(std::memcmp(x, y, sizeof x), 0) << "not reproducible";
  EXPECT_NE(std::memcmp(x, z, sizeof x), 0) << "repeats itself";
  EXPECT_NE(x[12], 0) << "the tail was not filled";
}

TEST(FakeEnvTest, RecordClocksFakeOnlyTheWallAndBootClocks) {
  FakeEnv env(FakeEnv::Scope::kRecordClocks);
  EXPECT_EQ(ToUnixMillis(env.WallNow()), FakeEnv::kStartWallMs);
  EXPECT_EQ(env.BootClockMs(), FakeEnv::kStartBootMs);
  EXPECT_EQ(env.HostName(), Env::Default()->HostName());
  EXPECT_EQ(env.Pid(), getpid());
  EXPECT_EQ(env.BootId(), Env::Default()->BootId());
  env.SetBootId("6f1d2c3b-4a5e-4f60-8a71-92b3c4d5e6f7");
  EXPECT_EQ(env.BootId(), "6f1d2c3b-4a5e-4f60-8a71-92b3c4d5e6f7");
  const SteadyTime start = env.SteadyNow();
  env.SleepFor(milliseconds(20));
  EXPECT_GE(env.SteadyNow() - start, milliseconds(20)) << "not real time";
  EXPECT_EQ(ToUnixMillis(env.WallNow()), FakeEnv::kStartWallMs);
  std::chrono::nanoseconds given{-1};
  env.WaitFor(milliseconds(5), [&](nanoseconds d) { given = d; });
  EXPECT_EQ(given, milliseconds(5));
}

}  // namespace
}  // namespace sessionkit::test
