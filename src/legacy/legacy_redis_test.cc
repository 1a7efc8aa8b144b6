// phpredis and Cm_RedisSession sessions on a real redis-server, read
// through their LegacySource; values written by the test from each
// handler's documented layout. (Sessions written by phpredis itself:
// legacy_php_test.cc.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lz4.h>
#include <snappy.h>
#include <zlib.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sessionkit/engine.h"
#include "sessionkit/legacy.h"
#include "sessionkit/open.h"
#include "support/test_server.h"

extern "C" {
#include <liblzf/lzf.h>
}

namespace sessionkit {
namespace {

using ::testing::HasSubstr;

class LegacyRedisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = test::StartRedis();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  // Sends one command with any bytes in its arguments; its reply must
  // begin with `reply`.
  static void Redis(const std::vector<std::string>& args,
                    std::string_view reply) {
    Status s = test::Probe(server_->port(), test::RespCommand(args), reply,
                           Duration(2000));
    ASSERT_TRUE(s.ok()) << args[0] << ": " << s.ToString();
  }
  static bool KeyExists(const std::string& key) {
    return test::Probe(server_->port(), test::RespCommand({"EXISTS", key}),
                       ":1", Duration(2000))
        .ok();
  }
  static std::string Addr() {
    return "127.0.0.1:" + std::to_string(server_->port());
  }
  static std::unique_ptr<LegacySource> Open(const std::string& spec) {
    auto source = OpenLegacySource(spec);
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return source.ok() ? std::move(source).value() : nullptr;
  }

  static test::RedisServer* server_;
};

test::RedisServer* LegacyRedisTest::server_ = nullptr;

std::string Payload() {
  std::string out = "cart|a:1:{i:0;s:4:\"book\";}user|s:3:\"bob\";";
  while (out.size() < 3000) out += "pad|s:10:\"0123456789\";";
  return out;
}

TEST_F(LegacyRedisTest, PhpRedisStringKeyWithItsTtl) {
  Redis({"SET", "PHPREDIS_SESSION:abc1", "user|s:3:\"bob\";", "EX", "600"},
        "+OK");
  auto source = Open("phpredis://" + Addr());
  auto read = source->Read("abc1");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->payload, "user|s:3:\"bob\";");
  EXPECT_GT(read->ttl, Duration(590000));
  EXPECT_TRUE(source->Read("abc2").status().IsNotFound());
  ASSERT_TRUE(source->Delete("abc1").ok());
  EXPECT_FALSE(KeyExists("PHPREDIS_SESSION:abc1"));
  EXPECT_TRUE(source->Delete("abc1").ok());
}

TEST_F(LegacyRedisTest, PhpRedisPrefixDatabaseAndScan) {
  Redis({"SELECT", "3"}, "+OK");  // (its own connection: no effect here)
  const std::string spec = "phpredis://" + Addr() + "/3?prefix=app:";
  auto source = Open(spec);
  std::set<std::string> written;
  for (int i = 0; i < 25; ++i) {
    const std::string id = "scan" + std::to_string(i);
    written.insert(id);
    // phpredis's session keys and their lock keys, in database 3.
    Status s = test::Probe(
        server_->port(),
        test::RespCommand({"SELECT", "3"}) +
            test::RespCommand({"SET", "app:" + id, "x|i:1;"}) +
            test::RespCommand({"SET", "app:" + id + "_LOCK", "tok"}),
        "+OK\r\n+OK\r\n+OK", Duration(2000));
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = source->Scan(cursor, 10);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    seen.insert(page->ids.begin(), page->ids.end());
    cursor = page->next_cursor;
  } while (!cursor.empty() && ++pages < 100);
  EXPECT_EQ(seen, written);
  EXPECT_EQ(source->Read("scan3")->payload, "x|i:1;");
  // Database 0 has none of them.
  EXPECT_TRUE(Open("phpredis://" + Addr() + "?prefix=app:")
                  ->Read("scan3")
                  .status()
                  .IsNotFound());
}

TEST_F(LegacyRedisTest, CmHashEveryCompressionTag) {
  const std::string payload = Payload();
  std::string gz(compressBound(payload.size()), '\0');
  uLongf gz_size = gz.size();
  compress2(reinterpret_cast<Bytef*>(gz.data()), &gz_size,
            reinterpret_cast<const Bytef*>(payload.data()), payload.size(), 1);
  gz.resize(gz_size);
  std::string sn;
  snappy::Compress(payload.data(), payload.size(), &sn);
  std::string l4(4 + LZ4_compressBound(static_cast<int>(payload.size())), '\0');
  for (int i = 0; i < 4; ++i) {
    l4[i] = static_cast<char>(payload.size() >> (8 * i));
  }
  l4.resize(4 + LZ4_compress_default(payload.data(), l4.data() + 4,
                                     static_cast<int>(payload.size()),
                                     static_cast<int>(l4.size() - 4)));
  std::string lz(payload.size(), '\0');
  lz.resize(lzf_compress(payload.data(), payload.size(), lz.data(),
                         static_cast<unsigned>(lz.size())));
  const std::vector<std::pair<std::string, std::string>> stored = {
      {"plain", payload},  {"gz", ":gz:" + gz}, {"sn", ":sn:" + sn},
      {"l4", ":l4:" + l4}, {"lz", ":lz:" + lz},
  };
  auto source = Open("cm-redis://" + Addr());
  for (const auto& [id, data] : stored) {
    // Cm's layout: data, lock, pid, writes, and a TTL on the hash.
    Redis({"HSET", "sess_cm" + id, "data", data, "lock", "0", "pid",
           "web1|4242", "writes", "3"},
          ":4");
    Redis({"EXPIRE", "sess_cm" + id, "3600"}, ":1");
    auto read = source->Read("cm" + id);
    ASSERT_TRUE(read.ok()) << id << ": " << read.status().ToString();
    EXPECT_EQ(read->payload, payload) << id;
    EXPECT_GT(read->ttl, Duration(3500 * 1000)) << id;
  }
  // A hash with no data yet (a lock taken on a new session) is no session.
  Redis({"HSET", "sess_cmlockonly", "lock", "1"}, ":1");
  EXPECT_TRUE(source->Read("cmlockonly").status().IsNotFound());
  ASSERT_TRUE(source->Delete("cmgz").ok());
  EXPECT_FALSE(KeyExists("sess_cmgz"));
}

TEST_F(LegacyRedisTest, CmDamagedValueIsCorruptAndLeftAlone) {
  Redis({"HSET", "sess_cmbad", "data", ":gz:not zlib at all"}, ":1");
  auto source = Open("cm-redis://" + Addr());
  auto read = source->Read("cmbad");
  ASSERT_TRUE(read.status().IsCorrupt()) << read.status().ToString();
  EXPECT_THAT(read.status().message(), HasSubstr(":gz:"));
  // Through the engine: a read-only empty session; the copy stays.
  EngineOptions options;
  std::vector<std::string> warnings;
  options.log = [&](LogLevel, std::string_view m) { warnings.emplace_back(m); };
  options.legacy = std::move(source);
  auto dir = test::MakeTempDir("legacy-redis");
  ASSERT_TRUE(dir.ok());
  auto engine = OpenEngine("lmdb://" + *dir, std::move(options));
  ASSERT_TRUE(engine.ok());
  auto r = (*engine)->ReadForUpdate("cmbad", LockOptions{});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->found);
  EXPECT_EQ(r->lock.state, LockState::kReadOnly);
  ASSERT_TRUE(
      (*engine)->Write("cmbad", "x|i:1;", Duration(60000), r->lock).ok());
  EXPECT_TRUE(KeyExists("sess_cmbad"));
  ASSERT_FALSE(warnings.empty());
  EXPECT_THAT(warnings[0], HasSubstr("left as it is"));
  test::RemoveTempDirUnlessFailed(*dir);
}

TEST_F(LegacyRedisTest, DownOrHangingServerIsUnavailableWithinItsTimeout) {
  auto closed = test::ClosedPort::Make();
  ASSERT_TRUE(closed.ok());
  auto refused =
      Open("phpredis://127.0.0.1:" + std::to_string((*closed)->port()));
  EXPECT_TRUE(refused->Read("abc").status().IsUnavailable());
  EXPECT_TRUE(refused->Delete("abc").IsUnavailable());
  auto hole = test::BlackholeListener::Start();
  ASSERT_TRUE(hole.ok());
  auto hanging =
      Open("phpredis://127.0.0.1:" + std::to_string((*hole)->port()) +
           "?timeout=200ms");
  const auto start = std::chrono::steady_clock::now();
  auto read = hanging->Read("abc");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(read.status().IsUnavailable()) << read.status().ToString();
  EXPECT_LT(took, std::chrono::milliseconds(1500));
}

TEST_F(LegacyRedisTest, EngineFallsBackAndDeletesAfterTheFirstWrite) {
  Redis({"SET", "PHPREDIS_SESSION:eng1", "user|s:3:\"bob\";", "EX", "600"},
        "+OK");
  EngineOptions options;
  options.legacy = Open("phpredis://" + Addr());
  auto dir = test::MakeTempDir("legacy-redis");
  ASSERT_TRUE(dir.ok());
  auto engine = OpenEngine("lmdb://" + *dir, std::move(options));
  ASSERT_TRUE(engine.ok());
  auto read = (*engine)->ReadForUpdate("eng1", LockOptions{});
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->found);
  EXPECT_EQ(read->payload, "user|s:3:\"bob\";");
  ASSERT_TRUE(
      (*engine)
          ->Write("eng1", read->payload + "n|i:1;", Duration(60000), read->lock)
          .ok());
  EXPECT_FALSE(KeyExists("PHPREDIS_SESSION:eng1"));
  EXPECT_EQ((*engine)->Read("eng1")->payload, "user|s:3:\"bob\";n|i:1;");
  test::RemoveTempDirUnlessFailed(*dir);
}

}  // namespace
}  // namespace sessionkit
