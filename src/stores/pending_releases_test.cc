// Releases that failed while the lock may still be held, re-issued later
// (pending_releases.h): the bookkeeping with a fake unlock. The stores that
// use it test it on real servers (redis_pending_release_test.cc, the
// Memcached store's tests).
#include "stores/pending_releases.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/status.h"

namespace sessionkit::pending_releases_test {
namespace {

LockOwner Owner(const std::string& token) {
  LockOwner owner;
  owner.token = token;
  return owner;
}

const Status kDown = Status::Unavailable("down");

TEST(PendingReleasesTest, OnlyReleasesThatMayStillHoldAreKept) {
  PendingReleases pending;
  const SteadyTime now{};
  pending.Note("a", Owner("t1"), Status::OK(), now);
  pending.Note("a", Owner("t1"), Status::LockLost("taken over"), now);
  pending.Note("a", Owner("t1"), Status::NotFound("gone"), now);
  pending.Note("a", Owner("t1"), Status::InvalidArgument("bad id"), now);
  EXPECT_EQ(pending.size(), 0u);
  pending.Note("a", Owner("t1"), kDown, now);
  pending.Note("a", Owner("t1"), kDown, now);  // once per id and owner
  pending.Note("a", Owner("t2"), kDown, now);
  EXPECT_EQ(pending.size(), 2u);
  for (size_t i = 0; i < PendingReleases::kMax + 5; ++i) {
    pending.Note("b" + std::to_string(i), Owner("t"), kDown, now);
  }
  EXPECT_EQ(pending.size(), PendingReleases::kMax);
}

TEST(PendingReleasesTest, RetryStopsAtTheFirstThatStillFailsAndDropsOld) {
  PendingReleases pending;
  const SteadyTime start{};
  pending.Note("old", Owner("t"), kDown, start);
  const SteadyTime later = start + std::chrono::seconds(200);
  pending.Note("a", Owner("t"), kDown, later);
  pending.Note("b", Owner("t"), kDown, later);
  std::vector<std::string> asked;
  Status answer = kDown;
  auto unlock = [&](std::string_view id, const LockOwner&) {
    asked.emplace_back(id);
    return answer;
  };
  const SteadyTime now = start + PendingReleases::kKeep + Duration(1);
  pending.Retry(unlock, now);
  // "old" is past kKeep: dropped unasked; "a" still fails: "b" waits.
  EXPECT_EQ(asked, std::vector<std::string>{"a"});
  EXPECT_EQ(pending.size(), 2u);
  asked.clear();
  answer = Status::OK();
  pending.Retry(unlock, now);
  EXPECT_EQ(asked, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(pending.size(), 0u);
  asked.clear();
  pending.Retry(unlock, now);
  EXPECT_TRUE(asked.empty());
}

}  // namespace
}  // namespace sessionkit::pending_releases_test
