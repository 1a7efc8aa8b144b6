// Opening engines and stores from URLs (open.h).
#include "sessionkit/open.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "sessionkit/stores/callback.h"
#include "sessionkit/stores/tiered.h"
#include "support/fake_env.h"
#include "support/map_callbacks.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(OpenEngineTest, RefusesBadSpecsWithTheReason) {
  auto bad = OpenEngine("nosuch://x");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_NE(bad.status().message().find("nosuch"), std::string::npos);
  auto relative =
      OpenStore("lmdb:///tmp/a|lmdb:///tmp/b?write=async&journal=j");
  ASSERT_FALSE(relative.ok());
  EXPECT_THAT(relative.status().message(),
              AllOf(StartsWith("tier 2: journal=j"), HasSubstr("absolute")));
  auto first =
      OpenStore("lmdb:///tmp/a?write=async&journal=/tmp/j|lmdb:///tmp/b");
  ASSERT_FALSE(first.ok());
  EXPECT_THAT(first.status().message(), HasSubstr("the first tier"));
}

// Several URLs open one store of tiers, named after them all.
TEST(OpenStoreTest, SeveralUrlsAreTiers) {
  auto dir = test::MakeTempDir("open-tiers");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  {
    auto store = OpenStore("lmdb://" + *dir + "/a | lmdb://" + *dir +
                           "/b?breaker=" + *dir + "/breaker");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->name(),
              "tiers: lmdb://" + *dir + "/a | lmdb://" + *dir + "/b");
    const std::string id = "abcdefghijklmnopqrstuvwxyz012345";
    SK_ASSERT_OK((*store)->Write(id, "x", Duration(60000)));
    for (const char* tier : {"/a", "/b"}) {
      auto alone = OpenStore("lmdb://" + *dir + tier);
      ASSERT_TRUE(alone.ok());
      EXPECT_TRUE((*alone)->Read(id).ok()) << tier << " was not written";
    }
  }
  {
    // Written behind, through a journal in the directory journal= names.
    const std::string spec = "lmdb://" + *dir + "/a|lmdb://" + *dir +
                             "/c?write=async&journal=" + *dir +
                             "/journal&breaker=" + *dir + "/breaker";
    auto store = OpenStore(spec);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_THAT((*store)->name(), HasSubstr("(written behind)"));
    SK_ASSERT_OK((*store)->Write("abcdefghijklmnopqrstuvwxyz012345", "y",
                                 Duration(60000)));
  }
  // Closing the store drained its journal.
  auto behind = OpenStore("lmdb://" + *dir + "/c");
  ASSERT_TRUE(behind.ok());
  EXPECT_TRUE((*behind)->Read("abcdefghijklmnopqrstuvwxyz012345").ok());
  test::RemoveTempDir(*dir);
}

// A php:// tier is called on the caller's thread only: its registration is
// the calling thread's (as PHP's is), and the tiers reach it. write=async
// on it is refused, alone or as a tier.
TEST(OpenStoreTest, APhpTierIsCalledOnTheCallersThread) {
  auto dir = test::MakeTempDir("open-php-tier");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  test::MapCallbacks map(nullptr);
  SK_ASSERT_OK(RegisterCallbackStore("cache", test::MapCallbacks::Table(), &map,
                                     CallbackScope::kThisThread));
  const std::string id = "abcdefghijklmnopqrstuvwxyz012345";
  for (const std::string& spec : std::vector<std::string>{
           "php://cache|lmdb://" + *dir + "/a?breaker=off",
           "lmdb://" + *dir + "/b|php://cache?breaker=off"}) {
    auto store = OpenStore(spec);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    map.Erase(id);
    SK_ASSERT_OK((*store)->Write(id, "x", Duration(60000)));
    std::string value;
    EXPECT_TRUE(map.Peek(id, &value)) << spec << ": the php:// tier missed it";
    auto read = (*store)->Read(id);
    SK_ASSERT_OK(read);
    EXPECT_EQ(read->data, "x");
  }
  for (const std::string& spec : std::vector<std::string>{
           "php://cache?write=async",
           "lmdb://" + *dir + "/a|php://cache?write=async"}) {
    auto store = OpenStore(spec);
    ASSERT_FALSE(store.ok()) << spec;
    EXPECT_THAT(store.status().message(),
                HasSubstr("a store written in PHP cannot be written behind "
                          "(write=async)"));
  }
  auto beside = OpenStore("lmdb://" + *dir + "/a|php://cache|lmdb://" + *dir +
                          "/c?write=async&journal=" + *dir + "/journal");
  ASSERT_FALSE(beside.ok());
  EXPECT_THAT(beside.status().message(),
              HasSubstr("no tier can be written behind (write=async) beside "
                        "a store written in PHP"));
  UnregisterCallbackStores();
  test::RemoveTempDir(*dir);
}

// breaker= names the breakers' file of the save path, on any tier: absolute
// or off, and the same on every tier that gives it.
TEST(OpenStoreTest, WriteDelayIsASettingOfATierBehindWithinItsRange) {
  auto dir = test::MakeTempDir("open-write-delay");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  const std::string a = "lmdb://" + *dir + "/a?breaker=off";
  const std::string b =
      "lmdb://" + *dir + "/b?write=async&journal=" + *dir + "/journal";
  auto sync = OpenStore(a + "&write_delay=1s|" + b);
  EXPECT_THAT(sync.status().message(),
              AllOf(StartsWith("tier 1: write_delay"), HasSubstr("behind")));
  auto long_delay = OpenStore(a + "|" + b + "&write_delay=11s");
  EXPECT_THAT(long_delay.status().message(),
              AllOf(StartsWith("tier 2: write_delay=11000ms"),
                    HasSubstr("at most 10000ms")));
  auto bad = OpenStore(a + "|" + b + "&write_delay=soon");
  EXPECT_THAT(bad.status().message(), HasSubstr("write_delay=soon"));
  SK_EXPECT_OK(OpenStore(a + "|" + b + "&write_delay=0").status());
  SK_EXPECT_OK(OpenStore(a + "|" + b + "&write_delay=250ms").status());
  test::RemoveTempDir(*dir);
}

// A Memcached tier never moves sessions between its servers
// (MemcachedOptions::failover): failover=1 there is refused, naming why;
// failover=0 or nothing opens. Opening connects to nothing.
// The journal knows a tier by where its sessions are: a backlog queued
// before a tier's settings changed (a deploy) drains after it, and a tier
// that moved elsewhere (another key prefix) is reported as owed entries
// nothing here drains.
TEST(OpenStoreTest, ABacklogDrainsAfterItsTiersSettingsChange) {
  auto dir = test::MakeTempDir("open-backlog");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  test::RedisServerOptions options;
  options.name = "open-backlog";
  auto server = test::StartRedis(options);
  SK_ASSERT_OK(server);
  const std::string id = "abcdefghijklmnopqrstuvwxyz012345";
  const std::string redis =
      "redis://127.0.0.1:" + std::to_string((*server)->port()) + "/0";
  const std::string cache = "lmdb://" + *dir + "/a|" + redis +
                            "?write=async&journal=" + *dir +
                            "/journal&breaker=off&prefix=";
  // A worker queues a write and is killed while it waits out write_delay.
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    auto before = OpenStore(cache + "sk:&write_delay=2s&timeout=1s");
    _exit(before.ok() && (*before)->Write(id, "x", Duration(60000)).ok() ? 0
                                                                         : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto alone = OpenStore(redis + "?prefix=sk:");
  ASSERT_TRUE(alone.ok());
  ASSERT_TRUE((*alone)->Read(id).status().IsNotFound());

  auto moved = OpenStore(cache + "elsewhere:");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  auto report = ReportTiers(**moved);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->orphaned, 1u);
  EXPECT_EQ(report->tiers[1].pending, 0u);

  auto after = OpenStore(cache + "sk:&timeout=2s&write_delay=250ms");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  report = ReportTiers(**after);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->orphaned, 0u);
  EXPECT_EQ(report->tiers[1].pending, 1u);
  // Its drain thread starts with its first call; the write is due 2 s
  // after it was queued.
  (void)(*after)->Read("zyxwvutsrqponmlkjihgfedcba543210");
  bool drained = false;
  for (int i = 0; i < 500 && !drained; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    drained = (*alone)->Read(id).ok();
  }
  EXPECT_TRUE(drained) << "the backlog queued before the change never drained";
  test::RemoveTempDir(*dir);
}

// PHP's session.gc_maxlifetime = PHP_INT_MAX means "never": the session is
// kept (for kMaxSessionLifetime), not read as expired at once by a store
// whose now + ttl overflowed (Memcached, the SQL stores and tiers add it).
TEST(OpenEngineTest, ALifetimeOfNeverKeepsTheSession) {
  auto memcached = test::StartMemcached();
  SK_ASSERT_OK(memcached);
  const std::string id = "abcdefghijklmnopqrstuvwxyz012345";
  auto engine = OpenEngine("memcached://127.0.0.1:" +
                           std::to_string((*memcached)->port(0)));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const Duration never(std::numeric_limits<int64_t>::max());
  auto read = (*engine)->ReadForUpdate(id, LockOptions{});
  SK_ASSERT_OK(read);
  SK_ASSERT_OK((*engine)->Write(id, "user|s:5:\"alice\";", never, read->lock));
  auto back = (*engine)->Read(id);
  SK_ASSERT_OK(back);
  EXPECT_TRUE(back->found);
  auto record = (*engine)->store().Read(id);
  SK_ASSERT_OK(record);
  EXPECT_GT(record->expires_at,
            Clock::now() + kMaxSessionLifetime - std::chrono::hours(24));
  SK_ASSERT_OK((*engine)->Touch(id, never));
  EXPECT_TRUE((*engine)->Read(id)->found);
}

TEST(OpenStoreTest, AMemcachedTierDoesNotFailOverWithinItsPool) {
  auto dir = test::MakeTempDir("open-failover");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  const std::string cache = "memcached://127.0.0.1:1,127.0.0.1:2?breaker=off";
  const std::string b =
      "lmdb://" + *dir + "/b?write=async&journal=" + *dir + "/journal";
  auto refused = OpenStore(cache + "&failover=1|" + b);
  EXPECT_TRUE(refused.status().IsInvalidArgument());
  EXPECT_THAT(refused.status().message(),
              AllOf(StartsWith("tier 1: memcached://"),
                    HasSubstr("failover=1 cannot be used in a tier")));
  SK_EXPECT_OK(OpenStore(cache + "&failover=0|" + b).status());
  SK_EXPECT_OK(OpenStore(cache + "|" + b).status());
  SK_EXPECT_OK(OpenStore("memcached://127.0.0.1:1?failover=1").status());
  auto bad = OpenStore("memcached://127.0.0.1:1?failover=maybe");
  EXPECT_THAT(bad.status().message(), HasSubstr("failover"));
  test::RemoveTempDir(*dir);
}

TEST(OpenStoreTest, TheBreakerFileIsOnePerSavePath) {
  auto dir = test::MakeTempDir("open-breaker");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  const std::string a = "lmdb://" + *dir + "/a";
  const std::string b = "lmdb://" + *dir + "/b";
  auto relative = OpenStore(a + "|" + b + "?breaker=breaker");
  EXPECT_THAT(
      relative.status().message(),
      AllOf(StartsWith("tier 2: breaker=breaker"), HasSubstr("absolute")));
  auto differs = OpenStore(a + "?breaker=" + *dir + "/x|" + b + "?breaker=off");
  EXPECT_THAT(differs.status().message(),
              AllOf(StartsWith("tier 2: breaker=off differs"),
                    HasSubstr("one breaker file")));
  auto store = OpenStore(a + "?breaker=" + *dir + "/x|" + b);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto report = ReportTiers(**store);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->breaker_path, *dir + "/x");
  ASSERT_EQ(report->tiers.size(), 2u);
  EXPECT_EQ(report->tiers[1].name, b);
  store->reset();
  auto off = OpenStore(a + "|" + b + "?breaker=off");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  report = ReportTiers(**off);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->breaker_path, "");
  EXPECT_EQ(report->breaker_note, "");
  auto alone = OpenStore(a + "?breaker=off");
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  EXPECT_TRUE(ReportTiers(**alone).status().IsNotSupported());
  off->reset();
  alone->reset();
  test::RemoveTempDir(*dir);
}

// The engine's Env is the store's too: an expiry follows the fake clock.
TEST(OpenEngineTest, TheStoreAsksTheEnginesEnv) {
  auto dir = test::MakeTempDir("open-env");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  test::FakeEnv env;
  EngineOptions options;
  options.env = &env;
  auto engine = OpenEngine("lmdb://" + *dir, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const std::string id = "abcdefghijklmnopqrstuvwxyz012345";
  SK_ASSERT_OK((*engine)->Write(id, "n|i:1;", Duration(60000)));
  auto read = (*engine)->Read(id);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->found);
  env.Advance(std::chrono::milliseconds(60001));
  read = (*engine)->Read(id);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found) << "the store kept its own clock";
  engine->reset();
  test::RemoveTempDir(*dir);
}

// Each store reads and checks its settings before anything is opened; a
// bad value is named, with its tier when there are several.
TEST(OpenStoreTest, BadSettingsAreNamedBeforeOpening) {
  auto one = OpenStore("lmdb:///tmp/a?map_size=banana");
  ASSERT_FALSE(one.ok());
  EXPECT_TRUE(one.status().IsInvalidArgument());
  EXPECT_THAT(one.status().message(),
              HasSubstr("map_size=banana: expected a size"));
  auto tiers = OpenStore("lmdb:///tmp/a?sync=x|redis://h");
  ASSERT_FALSE(tiers.ok());
  EXPECT_TRUE(tiers.status().IsInvalidArgument());
  EXPECT_THAT(tiers.status().message(),
              AllOf(StartsWith("tier 1: "), HasSubstr("sync=x")));
  auto second = OpenStore("lmdb:///tmp/a|redis://h?timeout=0");
  EXPECT_THAT(second.status().message(),
              AllOf(StartsWith("tier 2: "), HasSubstr("at least 1ms")));
}

// Every scheme has its store in this build; a store opens without
// connecting, and checks its settings at once.
TEST(OpenStoreTest, EverySchemeOpensAndChecksItsSettings) {
  auto bad = OpenStore("memcached://h1,h2?replicas=2");
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_THAT(bad.status().message(), HasSubstr("replicas=2"));
  for (const char* url :
       {"lmdb:///tmp/x", "redis://h", "rediss://h", "redis+sentinel://s/m",
        "redis+cluster://h", "postgresql://u@h/db", "mysql://u@h/db",
        "memcached://h1,h2:11311?replicas=1"}) {
    SK_EXPECT_OK(OpenStore(url).status()) << url;
  }
}

}  // namespace
}  // namespace sessionkit
