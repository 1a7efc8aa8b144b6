// ls --user and rm --user in-process on an LMDB store the engine filled:
// the user's live sessions exactly, the index's own records never shown by
// ls nor copied by migrate, bad users as usage errors.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sessionkit/engine.h"
#include "sessionkit/keyring.h"
#include "sessionkit/open.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr Duration kTtl{600000};

std::string CliId(int n) {
  return "cliu" + std::to_string(n) + "-ZxCvBnMaSdFgHjKl";
}

struct UserCliRun {
  int code;
  std::string out, err;
};

UserCliRun UsersCli(std::vector<std::string> args) {
  args.insert(args.begin(), "sessionkit");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int code = RunCli(static_cast<int>(argv.size()), argv.data(), out, err);
  return UserCliRun{code, out.str(), err.str()};
}

std::set<std::string> OutLines(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

class CliUsersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("cli-users");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    url_ = "lmdb://" + dir_ + "/store";
  }
  void TearDown() override { test::RemoveTempDirUnlessFailed(dir_); }

  // Sessions 0-2 are alice's, 3 bob's, 4 nobody's.
  void Fill(EngineOptions options = {}) {
    auto engine = OpenEngine(url_, std::move(options));
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    for (int i = 0; i < 5; ++i) {
      SK_ASSERT_OK((*engine)->Write(CliId(i), "n|i:1;", kTtl));
      if (i < 4) {
        SK_ASSERT_OK(
            (*engine)->SetUser(CliId(i), i < 3 ? "alice" : "bob", kTtl));
      }
    }
  }

  std::string dir_, url_;
};

TEST_F(CliUsersTest, ListsAndRemovesTheSessionsOfOneUser) {
  Fill();
  UserCliRun ls = UsersCli({"ls", "--user", "alice", url_});
  ASSERT_EQ(ls.code, kExitOk) << ls.err;
  EXPECT_EQ(OutLines(ls.out),
            (std::set<std::string>{CliId(0), CliId(1), CliId(2)}));
  // Plain ls lists the 5 sessions, not the 2 indexes and 4 owner records.
  ls = UsersCli({"ls", url_});
  ASSERT_EQ(ls.code, kExitOk) << ls.err;
  EXPECT_EQ(OutLines(ls.out).size(), 5u) << ls.out;
  EXPECT_THAT(ls.out, Not(HasSubstr(",sk-")));
  ls = UsersCli({"ls", "--limit", "5", url_});
  EXPECT_EQ(OutLines(ls.out).size(), 5u) << ls.out;
  UserCliRun stats = UsersCli({"stats", url_});
  ASSERT_EQ(stats.code, kExitOk) << stats.err;
  EXPECT_THAT(stats.out, HasSubstr("live             5"));

  UserCliRun rm = UsersCli({"rm", "--user", "alice", url_});
  ASSERT_EQ(rm.code, kExitOk) << rm.err;
  EXPECT_EQ(rm.out, "removed 3 sessions of user 'alice'\n");
  EXPECT_EQ(UsersCli({"ls", "--user", "alice", url_}).out, "");
  EXPECT_EQ(UsersCli({"ls", "--user", "bob", url_}).out, CliId(3) + "\n");
  ls = UsersCli({"ls", url_});
  EXPECT_EQ(OutLines(ls.out).size(), 2u) << ls.out;
  EXPECT_EQ(UsersCli({"rm", "--user", "alice", url_}).out,
            "removed 0 sessions of user 'alice'\n");
}

TEST_F(CliUsersTest, BadUsersAndIdsAreUsageErrors) {
  Fill();
  UserCliRun run = UsersCli({"ls", "--user", "", url_});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr("--user: user name is empty"));
  run = UsersCli(
      {"rm", "--user", std::string(kMaxUserNameLength + 1, 'x'), url_});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr("user name is too long (257 bytes"));
  run = UsersCli({"rm", "--user", "alice", url_, CliId(0)});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr("--user takes no session id"));
  // The index's own keys are not sessions to get or remove.
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok());
  auto page = (*store)->Scan(ScanOptions{});
  ASSERT_TRUE(page.ok());
  for (const SessionInfo& s : page->sessions) {
    if (!IsInternalStoreKey(s.id)) continue;
    run = UsersCli({"get", url_, s.id});
    EXPECT_EQ(run.code, kExitUsage) << s.id;
    EXPECT_THAT(run.err, HasSubstr("sessionkit keeps for its own records"));
  }
  EXPECT_EQ(UsersCli({"ls", "--user", "alice", url_}).out.size(),
            3 * (CliId(0).size() + 1));
}

TEST_F(CliUsersTest, HashedIdsNeedTheKeyFile) {
  const std::string keys = dir_ + "/keys";
  std::ofstream(keys) << *GenerateKeyLine(1) << *GenerateHashLine();
  ASSERT_EQ(chmod(keys.c_str(), 0600), 0);
  EngineOptions options;
  auto ring = KeyRing::Load(keys);
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  options.keys = *ring;
  options.hash_ids = true;
  Fill(options);
  UserCliRun ls =
      UsersCli({"ls", "--user", "alice", "--hash-ids", "--keys", keys, url_});
  ASSERT_EQ(ls.code, kExitOk) << ls.err;
  EXPECT_EQ(OutLines(ls.out),
            (std::set<std::string>{CliId(0), CliId(1), CliId(2)}));
  // Without --hash-ids the user's index is looked up under another key.
  EXPECT_EQ(UsersCli({"ls", "--user", "alice", "--keys", keys, url_}).out, "");
  UserCliRun no_keys = UsersCli({"ls", "--user", "alice", "--hash-ids", url_});
  EXPECT_EQ(no_keys.code, kExitUsage);
  EXPECT_THAT(no_keys.err, HasSubstr("--keys"));
}

TEST_F(CliUsersTest, GcKeepsLiveIndexesAndMigrateCopiesSessionsOnly) {
  Fill();
  UserCliRun gc = UsersCli({"gc", url_});
  ASSERT_EQ(gc.code, kExitOk) << gc.err;
  EXPECT_THAT(gc.out, HasSubstr("removed 0 expired sessions"));
  EXPECT_EQ(OutLines(UsersCli({"ls", "--user", "alice", url_}).out).size(), 3u);
  const std::string to = "lmdb://" + dir_ + "/to";
  std::filesystem::create_directories(dir_ + "/to");
  UserCliRun migrate = UsersCli({"migrate", url_, to});
  ASSERT_EQ(migrate.code, kExitOk) << migrate.err << migrate.out;
  UserCliRun ls = UsersCli({"ls", to});
  EXPECT_EQ(OutLines(ls.out).size(), 5u) << ls.out;
  auto store = OpenStore(to);
  ASSERT_TRUE(store.ok());
  auto page = (*store)->Scan(ScanOptions{});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->sessions.size(), 5u);  // no index record copied
}

}  // namespace
}  // namespace sessionkit::cli
