// The switch, end to end: sessions written by the real old handlers (PHP's
// files handler, phpredis, php-memcached) in the php CLI, then read by the
// sessionkit module with sessionkit.legacy naming them, on real servers
// started here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "support/test_server.h"

#ifndef SK_PHP_BINARY
#error "SK_PHP_BINARY must name the php CLI"
#endif
#ifndef SK_PHP_MODULE
#error "SK_PHP_MODULE must name the built sessionkit.so"
#endif

namespace sessionkit {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// One request: argv[1] says what it does to the session (argv[2]: its id).
constexpr std::string_view kScript = R"php(<?php
if (isset($argv[2])) session_id($argv[2]);
if (!session_start()) { echo "start failed\n"; exit(1); }
switch ($argv[1]) {
  case 'login': $_SESSION['user'] = 'alice'; $_SESSION['n'] = 1; break;
  case 'visit': $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; break;
  case 'logout': session_destroy(); echo "destroyed\n"; exit(0);
}
echo "id=", session_id(), "\n", "data=", json_encode($_SESSION), "\n";
session_write_close();
)php";

class LegacyPhpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("legacy-php");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    std::ofstream(dir_ + "/app.php") << kScript;
  }
  void TearDown() override { test::RemoveTempDirUnlessFailed(dir_); }

  struct Run {
    int exit_code = -1;
    std::string output;
    std::string id;  // the session id the request ended with
  };

  // One request with the ini settings `ini` ("name=value" each).
  Run Php(const std::vector<std::string>& ini, const std::string& action,
          const std::string& id = "") {
    std::vector<std::string> argv = {SK_PHP_BINARY,
                                     "-d",
                                     "display_errors=stderr",
                                     "-d",
                                     "error_reporting=-1",
                                     "-d",
                                     "session.use_cookies=0",
                                     "-d",
                                     "session.cache_limiter=",
                                     "-d",
                                     "session.gc_probability=0",
                                     "-d",
                                     "session.gc_maxlifetime=1440"};
    for (const std::string& setting : ini) {
      argv.push_back("-d");
      argv.push_back(setting);
    }
    argv.push_back(dir_ + "/app.php");
    argv.push_back(action);
    if (!id.empty()) argv.push_back(id);
    Run run;
    auto result = test::RunCommand(argv, Duration(30000));
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (!result.ok()) return run;
    run.exit_code = result->exit_code;
    run.output = result->output;
    const size_t at = run.output.find("id=");
    if (at != std::string::npos) {
      run.id = run.output.substr(at + 3, run.output.find('\n', at) - at - 3);
    }
    return run;
  }

  // The sessionkit module reading `legacy`, strict mode on.
  std::vector<std::string> Sessionkit(const std::string& legacy) const {
    return {"extension=" SK_PHP_MODULE, "session.save_handler=sessionkit",
            "session.save_path=lmdb://" + dir_ + "/sk",
            "session.use_strict_mode=1",
            // Quoted, as in php.ini: '=' and ';' end an unquoted value.
            "sessionkit.legacy=\"" + legacy + "\""};
  }

  // The switch as a user lives it, for the old handler `old` whose copy of
  // a session `exists` tells about: logged in under the old handler, the
  // user keeps the session under sessionkit; the first write moves it; a
  // logout leaves no copy anywhere.
  void CheckSwitch(const std::vector<std::string>& old,
                   const std::string& legacy,
                   const std::function<bool(const std::string&)>& exists) {
    Run login = Php(old, "login");
    ASSERT_EQ(login.exit_code, 0) << login.output;
    ASSERT_FALSE(login.id.empty()) << login.output;
    ASSERT_TRUE(exists(login.id)) << "the old handler did not store it";

    Run first = Php(Sessionkit(legacy), "visit", login.id);
    ASSERT_EQ(first.exit_code, 0) << first.output;
    EXPECT_EQ(first.id, login.id) << first.output;  // strict mode kept it
    EXPECT_THAT(first.output, HasSubstr(R"(data={"user":"alice","n":2})"));
    EXPECT_THAT(first.output, Not(HasSubstr("Warning")));
    EXPECT_FALSE(exists(login.id)) << "the legacy copy outlived the write";

    Run second = Php(Sessionkit(legacy), "visit", login.id);
    EXPECT_THAT(second.output, HasSubstr(R"(data={"user":"alice","n":3})"));

    // Logout of a session read from the old handler, never written.
    Run other = Php(old, "login");
    ASSERT_TRUE(exists(other.id));
    Run logout = Php(Sessionkit(legacy), "logout", other.id);
    EXPECT_THAT(logout.output, HasSubstr("destroyed"));
    EXPECT_THAT(logout.output, Not(HasSubstr("Warning")));
    EXPECT_FALSE(exists(other.id)) << "a destroyed session kept its copy";
    Run back = Php(Sessionkit(legacy), "visit", other.id);
    EXPECT_NE(back.id, other.id) << back.output;  // strict mode: a new id
    EXPECT_THAT(back.output, HasSubstr(R"(data={"n":1})"));
  }

  std::string dir_;
};

TEST_F(LegacyPhpTest, FilesHandlerSessionsSurviveTheSwitch) {
  const std::string files = dir_ + "/files";
  std::filesystem::create_directories(files);
  auto exists = [&](const std::string& id) {
    return access((files + "/sess_" + id).c_str(), F_OK) == 0;
  };
  CheckSwitch({"session.save_handler=files", "session.save_path=" + files},
              "files://" + files, exists);
}

TEST_F(LegacyPhpTest, FilesHandlerWithSubdirectories) {
  const std::string files = dir_ + "/files2";
  for (char c : std::string("0123456789abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ,-")) {
    std::filesystem::create_directories(files + "/" + c);
  }
  auto exists = [&](const std::string& id) {
    return access((files + "/" + id.substr(0, 1) + "/sess_" + id).c_str(),
                  F_OK) == 0;
  };
  CheckSwitch(
      {"session.save_handler=files", "session.save_path=\"1;" + files + "\""},
      "files://" + files + "?depth=1", exists);
}

TEST_F(LegacyPhpTest, AnExpiredFileIsNotRead) {
  const std::string files = dir_ + "/files";
  std::filesystem::create_directories(files);
  Run login = Php({"session.save_handler=files", "session.save_path=" + files},
                  "login");
  ASSERT_FALSE(login.id.empty()) << login.output;
  // Last written 1441 s ago, with a lifetime of 1440 s.
  struct timeval t[2];
  gettimeofday(&t[0], nullptr);
  t[0].tv_sec -= 1441;
  t[1] = t[0];
  ASSERT_EQ(utimes((files + "/sess_" + login.id).c_str(), t), 0);
  Run after =
      Php(Sessionkit("files://" + files + "?lifetime=1440"), "visit", login.id);
  EXPECT_NE(after.id, login.id) << after.output;
  EXPECT_THAT(after.output, HasSubstr(R"(data={"n":1})"));
}

TEST_F(LegacyPhpTest, PhpRedisSessionsSurviveTheSwitch) {
  auto redis = test::StartRedis();
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  const std::string addr = "127.0.0.1:" + std::to_string((*redis)->port());
  auto exists = [&](const std::string& id) {
    auto out = (*redis)->Cli({"EXISTS", "PHPREDIS_SESSION:" + id});
    return out.ok() && out->starts_with("1");
  };
  CheckSwitch({"session.save_handler=redis", "session.save_path=tcp://" + addr},
              "phpredis://" + addr, exists);
}

TEST_F(LegacyPhpTest, PhpMemcachedSessionsSurviveTheSwitch) {
  auto memcached = test::StartMemcached();
  ASSERT_TRUE(memcached.ok()) << memcached.status().ToString();
  const std::string addr = "127.0.0.1:" + std::to_string((*memcached)->port());
  auto exists = [&](const std::string& id) {
    return test::Probe((*memcached)->port(),
                       "mg memc.sess.key." + id + " v\r\n", "VA",
                       Duration(2000))
        .ok();
  };
  CheckSwitch({"session.save_handler=memcached", "session.save_path=" + addr},
              "php-memcached://" + addr, exists);
}

TEST_F(LegacyPhpTest, ALegacyStoreThatIsDownGivesAWarningAndANewSession) {
  auto closed = test::ClosedPort::Make();
  ASSERT_TRUE(closed.ok());
  Run run = Php(
      Sessionkit("phpredis://127.0.0.1:" + std::to_string((*closed)->port())),
      "visit", "k3o9vd1ja2bqe5m7p0ha4ntpu1");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("Warning"));
  EXPECT_THAT(run.output, HasSubstr("legacy"));
  EXPECT_THAT(run.output, HasSubstr(R"(data={"n":1})"));
  EXPECT_THAT(run.output, Not(HasSubstr("start failed")));
}

TEST_F(LegacyPhpTest, ABadSpecNamesTheSetting) {
  Run run = Php(Sessionkit("phpredis://127.0.0.1:notaport"), "visit");
  EXPECT_THAT(run.output, HasSubstr("sessionkit.legacy"));
  EXPECT_THAT(run.output, HasSubstr("phpredis"));
}

}  // namespace
}  // namespace sessionkit
