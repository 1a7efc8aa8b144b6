// The breakers of the tiers (breaker.h): the rules on a fake clock, one
// breaker shared by two processes through its file, one probe among many
// callers (threads and processes), a probe that is never settled, and a
// file of another layout.
#include "tiered/breaker.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_env.h"
#include "support/test_server.h"

namespace sessionkit::tiered {
namespace {

using namespace std::chrono_literals;

constexpr Duration kInterval{1000};
const std::vector<std::string> kNames = {"redis://cache", "mysql://u@db/app"};

Status Timeout() { return Status::DeadlineExceeded("read timed out (test)"); }
Status Down() { return Status::Unavailable("connection refused (test)"); }

// The exit code of a forked child that ran `fn` (no gtest in it).
pid_t Spawn(const std::function<int()>& fn) {
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) _exit(fn());
  return pid;
}
int Reap(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class BreakerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("breaker");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
  }
  void TearDown() override { test::RemoveTempDir(dir_); }

  // Breakers for kNames in the test's file (or `path`).
  std::unique_ptr<Breakers> Make(std::string path = "") {
    BreakerOptions options;
    options.path = path.empty() ? dir_ + "/breaker" : path;
    options.interval = kInterval;
    options.env = &env_;
    return std::make_unique<Breakers>(options, kNames);
  }

  test::FakeEnv env_;
  std::string dir_;
};

TEST_F(BreakerTest, ATimeoutOpensAtOnceUntilTheIntervalIsOver) {
  auto b = Make();
  ASSERT_FALSE(b->path().empty()) << b->note();
  EXPECT_EQ(b->Admit(0), Admission::kCall);
  b->Record(0, Timeout());
  EXPECT_EQ(b->Admit(0), Admission::kSkip);
  EXPECT_EQ(b->Admit(1), Admission::kCall) << "the other tier is apart";
  env_.Advance(kInterval - 1ms);
  EXPECT_EQ(b->Admit(0), Admission::kSkip);
  const BreakerReport r = b->Report(0);
  EXPECT_EQ(r.state, BreakerState::kOpen);
  EXPECT_EQ(r.until_ms - r.now_ms, 1);
  EXPECT_EQ(r.opened, 1u);
  EXPECT_EQ(r.skipped, 2u);
  EXPECT_EQ(r.last_code, StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(r.shared);
}

// The handover count is the host's (another process's Breakers see it),
// never goes below zero, and runs out a lease after the last stand-in
// (a process killed while standing in leaves it up).
TEST_F(BreakerTest, StandInsAreCountedForTheHostAndRunOutAfterTheLease) {
  auto a = Make();
  auto b = Make();
  const Duration lease{30000};
  EXPECT_FALSE(b->StandInHeld(0, lease));
  a->BeginStandIn(0);
  a->BeginStandIn(0);
  EXPECT_TRUE(b->StandInHeld(0, lease));
  EXPECT_FALSE(b->StandInHeld(1, lease)) << "counted for the other tier";
  EXPECT_EQ(b->Report(0).stand_ins, 2u);
  b->EndStandIn(0);
  EXPECT_TRUE(a->StandInHeld(0, lease));
  a->EndStandIn(0);
  EXPECT_FALSE(a->StandInHeld(0, lease));
  a->EndStandIn(0);  // one too many
  a->BeginStandIn(0);
  EXPECT_TRUE(a->StandInHeld(0, lease)) << "the count went below zero";
  env_.Advance(lease);
  EXPECT_TRUE(a->StandInHeld(0, lease));
  env_.Advance(Duration(1));
  EXPECT_FALSE(a->StandInHeld(0, lease)) << "a count left up never ran out";
}

TEST_F(BreakerTest, OutagesOpenItOnlyAfterThreeInARow) {
  auto b = Make();
  b->Record(0, Down());
  b->Record(0, Down());
  EXPECT_EQ(b->Admit(0), Admission::kCall);
  b->Record(0, Status::NotFound("no session"));  // an answer: reset
  b->Record(0, Down());
  b->Record(0, Down());
  EXPECT_EQ(b->Admit(0), Admission::kCall);
  b->Record(0, Status::InvalidArgument("refused"));  // neither
  EXPECT_EQ(b->Report(0).consecutive, 2u);
  b->Record(0, Down());
  EXPECT_EQ(b->Admit(0), Admission::kSkip);
  EXPECT_EQ(b->Report(0).failures, 5u);
}

// The stores report a server that never answered as Unavailable, like one
// that refused: the time the call took tells the timeout.
TEST_F(BreakerTest, AnOutageThatTookTheSlowFailureTimeOpensAtOnce) {
  auto b = Make();
  b->Record(0, Down(), Duration(49));
  EXPECT_EQ(b->Admit(0), Admission::kCall);
  b->Record(0, Down(), Duration(50));
  EXPECT_EQ(b->Admit(0), Admission::kSkip);
  EXPECT_EQ(b->Report(0).last_code, StatusCode::kUnavailable);
  // An answer that took long is no failure.
  env_.Advance(kInterval);
  EXPECT_EQ(b->Admit(1), Admission::kCall);
  b->Record(1, Status::OK(), Duration(5000));
  EXPECT_EQ(b->Admit(1), Admission::kCall);
}

TEST_F(BreakerTest, AfterTheIntervalOneProbeClosesOrReopensIt) {
  auto b = Make();
  b->Record(0, Timeout());
  env_.Advance(kInterval);
  EXPECT_EQ(b->Admit(0), Admission::kProbe);
  // The prober's own thread may call again before it settles; others not.
  EXPECT_EQ(b->Admit(0), Admission::kCall);
  Admission other = Admission::kCall;
  std::thread([&] { other = b->Admit(0); }).join();
  EXPECT_EQ(other, Admission::kSkip);
  EXPECT_EQ(b->Report(0).state, BreakerState::kProbing);
  b->Record(0, Down());  // the probe failed: another interval
  EXPECT_EQ(b->Report(0).state, BreakerState::kOpen);
  EXPECT_EQ(b->Report(0).opened, 2u);
  EXPECT_EQ(b->Admit(0), Admission::kSkip);
  env_.Advance(kInterval);
  EXPECT_EQ(b->Admit(0), Admission::kProbe);
  b->Record(0, Status::OK());
  EXPECT_EQ(b->Report(0).state, BreakerState::kClosed);
  EXPECT_EQ(b->Report(0).consecutive, 0u);
  std::thread([&] { other = b->Admit(0); }).join();
  EXPECT_EQ(other, Admission::kCall);
}

TEST_F(BreakerTest, AProbeNeverSettledRunsOutAndAnotherCallerProbes) {
  auto b = Make();
  b->Record(0, Timeout());
  env_.Advance(kInterval);
  Admission first = Admission::kSkip;
  std::thread([&] { first = b->Admit(0); }).join();  // then it "dies"
  ASSERT_EQ(first, Admission::kProbe);
  EXPECT_EQ(b->Admit(0), Admission::kSkip);
  env_.Advance(kInterval - 1ms);
  EXPECT_EQ(b->Admit(0), Admission::kSkip);
  env_.Advance(1ms);
  EXPECT_EQ(b->Admit(0), Admission::kProbe);
}

TEST_F(BreakerTest, AnAbandonedProbeIsTakenAtOnce) {
  auto b = Make();
  b->Record(0, Timeout());
  env_.Advance(kInterval);
  ASSERT_EQ(b->Admit(0), Admission::kProbe);
  b->Abandon(0);
  Admission next = Admission::kSkip;
  std::thread([&] { next = b->Admit(0); }).join();
  EXPECT_EQ(next, Admission::kProbe);
}

TEST_F(BreakerTest, TwoProcessesShareOneBreaker) {
  auto b = Make();
  const int rc = Reap(Spawn([&] {
    auto child = Make();
    if (child->path().empty()) return 2;
    child->Record(1, Timeout());
    return 0;
  }));
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(b->Admit(1), Admission::kSkip)
      << "a timeout in another process did not open it here";
  EXPECT_EQ(b->Admit(0), Admission::kCall);
  // Breakers of this process only do not see it.
  auto own = Make(kBreakerOff);
  EXPECT_TRUE(own->path().empty());
  EXPECT_EQ(own->Admit(1), Admission::kCall);
}

// Rounds in which the breaker is opened and every caller, released at
// once, asks for the probe: exactly one gets it in each round.
TEST_F(BreakerTest, OneCallerOfManyThreadsAndProcessesGetsTheProbe) {
  constexpr int kProcesses = 3;
  constexpr int kThreads = 2;  // in each process, and in this one
  constexpr int kCallers = (kProcesses + 1) * kThreads;
  constexpr int kRounds = 200;
  // The round, and per round the callers done and the probes granted, in
  // memory that the children share.
  struct Board {
    std::atomic<int> round;
    std::atomic<int> done;
    std::atomic<int> probes[kRounds + 1];
  };
  void* mem = mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  Board* board = new (mem) Board{};
  // The callers' clock is an interval ahead of the opener's: each opening
  // is due for its probe at once.
  test::FakeEnv opener_env;
  BreakerOptions options;
  options.path = dir_ + "/breaker";
  options.interval = kInterval;
  options.env = &opener_env;
  Breakers opener(options, kNames);
  env_.Advance(kInterval);
  const auto race = [&](Breakers& breakers) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int r = 1; r <= kRounds; ++r) {
          while (board->round.load() < r) sched_yield();
          if (breakers.Admit(0) == Admission::kProbe) ++board->probes[r];
          ++board->done;
        }
      });
    }
    for (std::thread& t : threads) t.join();
  };
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    children.push_back(Spawn([&] {
      auto own = Make();
      if (own->path().empty()) return 2;
      race(*own);
      return 0;
    }));
  }
  auto b = Make();
  std::thread here([&] { race(*b); });
  for (int r = 1; r <= kRounds; ++r) {
    opener.Record(0, Timeout());
    board->round.store(r);
    while (board->done.load() < r * kCallers) sched_yield();
  }
  here.join();
  for (pid_t pid : children) EXPECT_EQ(Reap(pid), 0);
  int wrong = 0;
  for (int r = 1; r <= kRounds; ++r) wrong += board->probes[r].load() != 1;
  EXPECT_EQ(wrong, 0) << "rounds without exactly one probe";
  EXPECT_EQ(b->Report(0).opened, static_cast<uint64_t>(kRounds));
  EXPECT_EQ(b->Report(0).skipped,
            static_cast<uint64_t>(kRounds * (kCallers - 1)));
  munmap(mem, sizeof(Board));
}

TEST_F(BreakerTest, AFileOfAnotherLayoutLeavesTheBreakersInTheProcess) {
  const std::string path = dir_ + "/other";
  {
    std::ofstream out(path, std::ios::binary);
    const uint64_t head = 0x534B425200000063ull;  // "SKBR", layout 99
    out.write(reinterpret_cast<const char*>(&head), sizeof(head));
  }
  auto b = Make(path);
  EXPECT_TRUE(b->path().empty());
  EXPECT_NE(b->note().find("another layout"), std::string::npos) << b->note();
  // The rules still hold, in this process.
  b->Record(0, Timeout());
  EXPECT_EQ(b->Admit(0), Admission::kSkip);
  EXPECT_FALSE(b->Report(0).shared);
  // And nothing was written into the file.
  std::ifstream in(path, std::ios::binary);
  uint64_t head = 0;
  in.read(reinterpret_cast<char*>(&head), sizeof(head));
  EXPECT_EQ(head, 0x534B425200000063ull);
}

TEST_F(BreakerTest, AFileThatCannotBeMappedLeavesThemInTheProcess) {
  auto b = Make(dir_ + "/no/such/dir/breaker");
  EXPECT_TRUE(b->path().empty());
  EXPECT_NE(b->note().find("cannot be used"), std::string::npos) << b->note();
  b->Record(1, Timeout());
  EXPECT_EQ(b->Admit(1), Admission::kSkip);
}

// Breakers of one tier each, named `prefix`0, `prefix`1, ... in `path`.
std::vector<std::unique_ptr<Breakers>> Fill(const std::string& path, Env* env,
                                            const std::string& prefix,
                                            size_t n) {
  std::vector<std::unique_ptr<Breakers>> out;
  BreakerOptions options;
  options.path = path;
  options.env = env;
  for (size_t k = 0; k < n; ++k) {
    out.push_back(std::make_unique<Breakers>(
        options, std::vector<std::string>{prefix + std::to_string(k)}));
  }
  return out;
}

TEST_F(BreakerTest, AFullFileGivesANewTierASlotLeftIdle) {
  const std::string path = dir_ + "/breaker";
  auto old = Fill(path, &env_, "redis://old:", Breakers::kSlots);
  for (const auto& b : old) ASSERT_TRUE(b->Report(0).shared) << b->note();
  auto refused = Fill(path, &env_, "redis://new:", 1);
  EXPECT_FALSE(refused[0]->Report(0).shared);
  EXPECT_NE(refused[0]->note().find("is full"), std::string::npos)
      << refused[0]->note();
  // One old tier is still called halfway through; the others are not.
  env_.Advance(kBreakerSlotIdle / 2);
  EXPECT_EQ(old[7]->Admit(0), Admission::kCall);
  env_.Advance(kBreakerSlotIdle / 2);
  auto fresh = Fill(path, &env_, "redis://new:", Breakers::kSlots);
  size_t shared = 0;
  for (const auto& b : fresh) shared += b->Report(0).shared;
  EXPECT_EQ(shared, Breakers::kSlots - 1) << "every idle slot, and no other";
  // The tier in use kept its slot: a new store of it shares its breaker.
  old[7]->Record(0, Timeout());
  auto again = Fill(path, &env_, "redis://old:", 8);
  EXPECT_EQ(again[7]->Admit(0), Admission::kSkip);
  // A new tier's breaker starts closed, whatever its slot held.
  for (const auto& b : fresh) EXPECT_EQ(b->Admit(0), Admission::kCall);
  // The refused store finds a slot as soon as one is free again, and shares
  // it with a new store of its tier.
  env_.Advance(kBreakerSlotIdle);
  refused[0]->Record(0, Timeout());
  EXPECT_TRUE(refused[0]->Report(0).shared);
  EXPECT_EQ(Fill(path, &env_, "redis://new:", 1)[0]->Admit(0),
            Admission::kSkip);
}

TEST_F(BreakerTest, AStoreWhoseSlotWasGivenAwayFindsItsTierAgain) {
  const std::string path = dir_ + "/breaker";
  auto old = Fill(path, &env_, "redis://old:", Breakers::kSlots);
  env_.Advance(kBreakerSlotIdle);
  auto taken = Fill(path, &env_, "redis://new:", Breakers::kSlots);
  env_.Advance(kBreakerSlotIdle);
  // old[0] was idle; its first call finds that its slot is another tier's
  // and claims one again (every slot is idle by now), without touching the
  // tier whose slot it was.
  old[0]->Record(0, Timeout());
  EXPECT_TRUE(old[0]->Report(0).shared);
  EXPECT_EQ(old[0]->Admit(0), Admission::kSkip);
  size_t skipped = 0;
  for (const auto& b : taken) skipped += b->Admit(0) == Admission::kSkip;
  EXPECT_EQ(skipped, 0u) << "a breaker opened for another tier";
  // Another process's store of old[0]'s tier finds the same slot.
  const pid_t child = Spawn([&] {
    auto other = Fill(path, &env_, "redis://old:", 1);
    return other[0]->Admit(0) == Admission::kSkip ? 0 : 1;
  });
  EXPECT_EQ(Reap(child), 0);
}

TEST_F(BreakerTest, TwoStoresOfOneProcessShareTheSlotOfATier) {
  auto a = Make();
  BreakerOptions options;
  options.path = dir_ + "/breaker";
  options.env = &env_;
  // Another store whose second tier is a's first.
  Breakers b(options, {"lmdb:///elsewhere", kNames[0]});
  a->Record(0, Timeout());
  EXPECT_EQ(b.Admit(1), Admission::kSkip);
  EXPECT_EQ(b.Admit(0), Admission::kCall);
}

}  // namespace
}  // namespace sessionkit::tiered
