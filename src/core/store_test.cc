// LockOwner tokens on the real Env: their form, their uniqueness across
// threads, and a fork() child drawing a key of its own. On a fake Env (the
// parser, the questions about a holder): lock_owner_test.cc.
#include "sessionkit/store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sessionkit {
namespace {

// The random part: what follows the second '|'.
std::string RandomPart(const std::string& token) {
  return token.substr(token.find('|', token.find('|') + 1) + 1);
}

TEST(LockOwnerTest, TokenIsHostPidAndSixteenHexDigits) {
  const std::string token = LockOwner::Generate().token;
  const size_t bar1 = token.find('|');
  const size_t bar2 = token.find('|', bar1 + 1);
  ASSERT_NE(bar1, std::string::npos);
  ASSERT_NE(bar2, std::string::npos);
  EXPECT_GT(bar1, 0u);
  EXPECT_EQ(token.substr(bar1 + 1, bar2 - bar1 - 1), std::to_string(getpid()));
  const std::string random = RandomPart(token);
  EXPECT_EQ(random.size(), 16u);
  EXPECT_EQ(random.find_first_not_of("0123456789abcdef"), std::string::npos);
  // This process is alive: its tokens are never taken for a dead holder's.
  EXPECT_FALSE(LockHolderIsGone(token));
}

// The host part carries this machine's identity after its name: a holder
// of another machine (or boot, or pid namespace) that shares the host name
// is never judged by a pid of this one.
TEST(LockOwnerTest, SameHostNameOfAnotherMachineIsNeverTakenForGone) {
  const std::string token = LockOwner::Generate().token;
  const std::string host = token.substr(0, token.find('|'));
  const size_t tilde = host.rfind('~');
  ASSERT_NE(tilde, std::string::npos) << token;
  EXPECT_EQ(host.size() - tilde - 1, 16u) << token;
  const std::string name = host.substr(0, tilde);  // env_posix_test.cc

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const std::string dead = "|" + std::to_string(child) + "|0000000000000000";
  EXPECT_TRUE(LockHolderIsGone(host + dead));
  // The same name without the identity (as tokens were once written), or
  // with another identity: a live holder elsewhere, as far as we know.
  EXPECT_FALSE(LockHolderIsGone(name + dead));
  EXPECT_FALSE(LockHolderIsGone(name + "~0123456789abcdef" + dead));
}

TEST(LockOwnerTest, TokensNeverRepeatAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; ++i) {
        made[t].push_back(LockOwner::Generate().token);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& list : made) all.insert(list.begin(), list.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

// A child inherits the parent's key and counter; it must not make the
// tokens the parent makes next (only the pid would tell them apart).
TEST(LockOwnerTest, ForkChildDrawsAKeyOfItsOwn) {
  (void)LockOwner::Generate();  // this thread has a key now
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    std::string line;
    for (int i = 0; i < 8; ++i) {
      line += RandomPart(LockOwner::Generate().token) + "\n";
    }
    const ssize_t n = write(fds[1], line.data(), line.size());
    _exit(n == static_cast<ssize_t>(line.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::set<std::string> parent;
  for (int i = 0; i < 8; ++i) {
    parent.insert(RandomPart(LockOwner::Generate().token));
  }
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) got.append(buf, n);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  size_t lines = 0;
  for (size_t at = 0; at < got.size();) {
    const size_t end = got.find('\n', at);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(parent.count(got.substr(at, end - at)), 0u)
        << "the child repeated a token of its parent";
    ++lines;
    at = end + 1;
  }
  EXPECT_EQ(lines, 8u);
}

}  // namespace
}  // namespace sessionkit
