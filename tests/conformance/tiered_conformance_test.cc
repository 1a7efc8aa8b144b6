// The store conformance suite on tiers (stores/tiered.h), opened from save
// paths as applications open them: two LMDB tiers (on the real clock and on
// a fake one), two Redis tiers, memcached in front of Redis, and tiers
// written behind: LMDB behind LMDB, MariaDB behind Redis and PostgreSQL
// behind memcached. One server of each kind is started for this binary;
// every test gets directories, key prefixes, tables and a journal of its
// own.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "conformance/store_conformance.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "support/mariadb_server.h"
#include "support/postgres_server.h"
#include "support/test_server.h"

namespace sessionkit::conformance {
namespace {

constexpr char kPassword[] = "tiered-conformance-pw";

test::RedisServer* g_redis = nullptr;
test::TestServer* g_memcached = nullptr;
std::string g_dir;  // LMDB tiers, the memcached wake file, the breakers

class TiersEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto dir = test::MakeTempDir("tiered-conformance");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    g_dir = *dir;
    test::RedisServerOptions redis;
    redis.password = kPassword;
    redis.name = "tiered-conformance-redis";
    auto server = test::StartRedis(redis);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    g_redis = std::move(*server).release();
    test::MemcachedOptions memcached;
    memcached.name = "tiered-conformance-memcached";
    auto mc = test::StartMemcached(memcached);
    ASSERT_TRUE(mc.ok()) << mc.status().ToString();
    g_memcached = std::move(*mc).release();
  }
  void TearDown() override {
    delete g_redis;
    delete g_memcached;
    g_redis = nullptr;
    g_memcached = nullptr;
    if (!g_dir.empty()) test::RemoveTempDirUnlessFailed(g_dir);
  }
};
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new TiersEnvironment);

test::MariadbEnvironment* const kMariadb = test::MariadbEnvironment::Add(
    {.password = kPassword, .name = "tiered-conformance-mariadb"});

test::PostgresServer* g_postgres = nullptr;
test::PostgresServerOptions PostgresOptions() {
  test::PostgresServerOptions options;
  options.password = kPassword;
  options.name = "tiered-conformance-postgres";
  return options;
}
const auto* const kPostgres = ::testing::AddGlobalTestEnvironment(
    new test::PostgresEnvironment(PostgresOptions(), &g_postgres));

int Next() {
  static int n = 0;
  return ++n;
}

std::string Lmdb() {
  return "lmdb://" + g_dir + "/lmdb" + std::to_string(Next()) +
         "?map_size=64MiB";
}

std::string Redis() {
  return "redis://:" + std::string(kPassword) +
         "@127.0.0.1:" + std::to_string(g_redis->port()) + "/0?prefix=t" +
         std::to_string(Next()) + ":";
}

std::string Memcached() {
  return "memcached://127.0.0.1:" + std::to_string(g_memcached->port(0)) +
         "?wake_file=" + g_dir + "/wake&prefix=t" + std::to_string(Next()) +
         ":";
}

// A tier written behind through a journal of the test's own.
std::string Behind(const std::string& url) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") +
         "write=async&journal=" + g_dir + "/journal" + std::to_string(Next());
}

std::string Mariadb() {
  return kMariadb->server()->Url("table=t" + std::to_string(Next()) +
                                 "&sslmode=disabled");
}

std::string Postgres() {
  return g_postgres->Url("table=t" + std::to_string(Next()) +
                         "&sslmode=disable");
}

Result<std::unique_ptr<Store>> Open(const std::string& spec, Env* env) {
  if (g_redis == nullptr || g_memcached == nullptr ||
      kMariadb->server() == nullptr || g_postgres == nullptr) {
    return Status::Unavailable("the test servers did not start");
  }
  // The tiers' breakers in a file of the test's own, not in /dev/shm.
  const std::string last = spec.substr(spec.rfind('|') + 1);
  return OpenStore(spec + (last.find('?') == std::string::npos ? "?" : "&") +
                       "breaker=" + g_dir + "/breaker" + std::to_string(Next()),
                   env);
}

StoreFactory LmdbLmdb() {
  StoreFactory factory;
  factory.name = "lmdb_lmdb";
  factory.make_fresh = [] { return Open(Lmdb() + "|" + Lmdb(), nullptr); };
  return factory;
}

StoreFactory LmdbLmdbFakeClock() {
  StoreFactory factory;
  factory.name = "fake_clock";  // lmdb|lmdb on a fake clock
  factory.fake_clock =
      std::make_shared<test::FakeEnv>(test::FakeEnv::Scope::kRecordClocks);
  factory.make_fresh = [env = factory.fake_clock] {
    return Open(Lmdb() + "|" + Lmdb(), env.get());
  };
  return factory;
}

StoreFactory RedisRedis() {
  StoreFactory factory;
  factory.name = "redis_redis";
  factory.make_fresh = [] { return Open(Redis() + "|" + Redis(), nullptr); };
  factory.gc_reports_removed = false;  // Redis expires keys by itself
  factory.secrets = {kPassword};
  return factory;
}

StoreFactory MemcachedRedis() {
  StoreFactory factory;
  factory.name = "memcached_redis";
  factory.make_fresh = [] {
    return Open(Memcached() + "|" + Redis(), nullptr);
  };
  factory.gc_reports_removed = false;
  factory.short_ttl = Duration(1000);  // memcached's TTLs count seconds
  factory.expiry_slack = Duration(2500);
  factory.secrets = {kPassword};
  return factory;
}

StoreFactory LmdbBehindLmdb() {
  StoreFactory factory;
  factory.name = "lmdb_behind_lmdb";
  factory.make_fresh = [] {
    return Open(Lmdb() + "|" + Behind(Lmdb()), nullptr);
  };
  return factory;
}

StoreFactory MariadbBehindRedis() {
  StoreFactory factory;
  factory.name = "mariadb_behind_redis";
  factory.make_fresh = [] {
    return Open(Redis() + "|" + Behind(Mariadb()), nullptr);
  };
  factory.gc_reports_removed = false;  // Redis expires keys by itself
  factory.secrets = {kPassword};
  return factory;
}

StoreFactory PostgresBehindMemcached() {
  StoreFactory factory;
  factory.name = "postgres_behind_memcached";
  factory.make_fresh = [] {
    return Open(Memcached() + "|" + Behind(Postgres()), nullptr);
  };
  factory.gc_reports_removed = false;
  factory.short_ttl = Duration(1000);  // memcached's TTLs count seconds
  factory.expiry_slack = Duration(2500);
  factory.secrets = {kPassword};
  return factory;
}

INSTANTIATE_STORE_CONFORMANCE(Tiered, LmdbLmdb(), LmdbLmdbFakeClock(),
                              RedisRedis(), MemcachedRedis(), LmdbBehindLmdb(),
                              MariadbBehindRedis(), PostgresBehindMemcached());

}  // namespace
}  // namespace sessionkit::conformance
