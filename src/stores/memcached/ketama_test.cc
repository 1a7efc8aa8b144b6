#include "stores/memcached/ketama.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "support/test_status.h"

namespace sessionkit::memcached {
namespace {

std::vector<KetamaServer> Pool(std::vector<int> ports) {
  std::vector<KetamaServer> servers;
  for (int port : ports) servers.push_back({"127.0.0.1", port, 1});
  return servers;
}

KetamaRing MustCreate(const std::vector<KetamaServer>& servers,
                      KetamaMode mode = KetamaMode::kKetama) {
  Result<KetamaRing> ring = KetamaRing::Create(servers, mode);
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return std::move(ring).value();
}

// Session-id-like keys: 26 characters of [0-9a-v], a different one each.
std::vector<std::string> Keys(size_t count) {
  std::vector<std::string> keys;
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < count; ++i) {
    std::string key;
    for (int c = 0; c < 26; ++c) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      key += "0123456789abcdefghijklmnopqrstuv"[(state >> 33) % 32];
    }
    keys.push_back(key);
  }
  return keys;
}

constexpr auto kNoneDown = [](size_t) { return false; };

TEST(KetamaRingTest, PointCounts) {
  EXPECT_EQ(MustCreate(Pool({1, 2, 3})).point_count(), 300u);
  EXPECT_EQ(
      MustCreate(Pool({1, 2, 3}), KetamaMode::kKetamaWeighted).point_count(),
      480u);
  // Weights 1:2:1 of 4 over 3 servers: floor(share * 40 * 3) * 4 points.
  std::vector<KetamaServer> weighted = Pool({1, 2, 3});
  weighted[1].weight = 2;
  EXPECT_EQ(MustCreate(weighted, KetamaMode::kKetamaWeighted).point_count(),
            120u + 240u + 120u);
}

TEST(KetamaRingTest, SpreadsKeysOverThreeServers) {
  for (KetamaMode mode : {KetamaMode::kKetama, KetamaMode::kKetamaWeighted}) {
    KetamaRing ring = MustCreate(Pool({11211, 11212, 11213}), mode);
    std::array<int, 3> count{};
    for (const std::string& key : Keys(30000)) ++count[ring.ServerFor(key)];
    // An even share is 10,000; 100-160 points per server leave each within
    // about +-25% of it.
    for (int c : count) {
      EXPECT_GT(c, 7000) << "mode " << static_cast<int>(mode);
      EXPECT_LT(c, 13000) << "mode " << static_cast<int>(mode);
    }
  }
}

TEST(KetamaRingTest, WeightsShiftTheShare) {
  std::vector<KetamaServer> servers = Pool({1, 2, 3});
  servers[2].weight = 3;  // 3/5 of the keys
  KetamaRing ring = MustCreate(servers, KetamaMode::kKetamaWeighted);
  int heavy = 0;
  for (const std::string& key : Keys(30000)) heavy += ring.ServerFor(key) == 2;
  EXPECT_GT(heavy, 15000);
  EXPECT_LT(heavy, 21000);
}

TEST(KetamaRingTest, RemovingAServerMovesOnlyItsKeys) {
  for (KetamaMode mode : {KetamaMode::kKetama, KetamaMode::kKetamaWeighted}) {
    KetamaRing full = MustCreate(Pool({1, 2, 3, 4}), mode);
    // Server 2 (port 3) removed: ports 1, 2, 4 keep indices 0, 1 and 3 -> 2.
    KetamaRing without = MustCreate(Pool({1, 2, 4}), mode);
    const std::array<size_t, 3> old_index = {0, 1, 3};
    int moved = 0;
    for (const std::string& key : Keys(20000)) {
      const size_t before = full.ServerFor(key);
      const size_t after = old_index[without.ServerFor(key)];
      if (before != 2) {
        EXPECT_EQ(after, before) << key;
      } else {
        ++moved;
      }
    }
    EXPECT_GT(moved, 3000);  // about a quarter
    EXPECT_LT(moved, 7000);
  }
}

TEST(KetamaRingTest, DownServerFallsToTheNextOnTheRing) {
  KetamaRing full = MustCreate(Pool({1, 2, 3, 4}));
  KetamaRing without = MustCreate(Pool({1, 2, 4}));
  const std::array<size_t, 3> old_index = {0, 1, 3};
  auto two_down = [](size_t server) { return server == 2; };
  for (const std::string& key : Keys(5000)) {
    const uint32_t hash = full.Hash(key);
    const size_t live = full.Locate(hash, two_down);
    EXPECT_NE(live, 2u);
    if (full.Locate(hash) != 2) {
      EXPECT_EQ(live, full.Locate(hash));
    }
    // The same as a continuum built without the server, as libmemcached
    // rebuilds it when it ejects one.
    EXPECT_EQ(live, old_index[without.ServerFor(key)]) << key;
  }
}

TEST(KetamaRingTest, AllDownIsNone) {
  KetamaRing ring = MustCreate(Pool({1, 2}));
  EXPECT_EQ(ring.Locate(12345, [](size_t) { return true; }), KetamaRing::kNone);
  std::array<size_t, 2> out{};
  EXPECT_EQ(ring.NextServers(12345, out, [](size_t) { return true; }), 0u);
}

TEST(KetamaRingTest, NextServersAreDistinctInRingOrder) {
  KetamaRing ring = MustCreate(Pool({1, 2, 3, 4, 5}));
  for (const std::string& key : Keys(2000)) {
    const uint32_t hash = ring.Hash(key);
    std::array<size_t, 3> out{};  // replicas=2
    ASSERT_EQ(ring.NextServers(hash, out, kNoneDown), 3u);
    EXPECT_EQ(out[0], ring.Locate(hash));
    EXPECT_NE(out[0], out[1]);
    EXPECT_NE(out[0], out[2]);
    EXPECT_NE(out[1], out[2]);
    // Ring order: each next server is where the key would go with the ones
    // before it down.
    EXPECT_EQ(out[1], ring.Locate(hash, [&](size_t s) { return s == out[0]; }));
    EXPECT_EQ(out[2], ring.Locate(hash, [&](size_t s) {
      return s == out[0] || s == out[1];
    }));
  }
}

TEST(KetamaRingTest, NextServersStopsAtTheLiveServers) {
  KetamaRing ring = MustCreate(Pool({1, 2, 3}));
  std::array<size_t, 3> out{};
  EXPECT_EQ(ring.NextServers(7, out, [](size_t s) { return s == 1; }), 2u);
  EXPECT_NE(out[0], 1u);
  EXPECT_NE(out[1], 1u);
  std::array<size_t, 5> more{};
  EXPECT_EQ(ring.NextServers(7, more, kNoneDown), 3u);  // only 3 exist
}

TEST(KetamaRingTest, ListReplicasFollowTheServerList) {
  KetamaRing ring = MustCreate(Pool({1, 2, 3, 4, 5}));
  for (const std::string& key : Keys(500)) {
    const uint32_t hash = ring.Hash(key);
    const size_t primary = ring.Locate(hash);
    std::array<size_t, 3> out{};
    ASSERT_EQ(ring.ListReplicas(hash, 2, out), 3u);
    EXPECT_EQ(out[0], primary);
    EXPECT_EQ(out[1], (primary + 1) % 5);
    EXPECT_EQ(out[2], (primary + 2) % 5);
  }
  std::array<size_t, 8> out{};
  EXPECT_EQ(ring.ListReplicas(1, 0, out), 1u);
  EXPECT_EQ(ring.ListReplicas(1, 7, out), 5u);  // never more than the pool
  EXPECT_EQ(ring.ListReplicas(1, static_cast<size_t>(-1), out), 5u);
}

TEST(KetamaRingTest, OneServerTakesEveryKey) {
  for (KetamaMode mode : {KetamaMode::kKetama, KetamaMode::kKetamaWeighted}) {
    KetamaRing ring = MustCreate(Pool({11211}), mode);
    for (const std::string& key : Keys(1000))
      EXPECT_EQ(ring.ServerFor(key), 0u);
    EXPECT_EQ(ring.Locate(0), 0u);
    EXPECT_EQ(ring.Locate(UINT32_MAX), 0u);
    std::array<size_t, 2> out{};
    EXPECT_EQ(ring.NextServers(5, out, kNoneDown), 1u);
    EXPECT_EQ(ring.ListReplicas(5, 1, out), 1u);
    EXPECT_EQ(ring.Locate(5, [](size_t) { return true; }), KetamaRing::kNone);
  }
}

TEST(KetamaRingTest, HashesAreLibhashkits) {
  // Values from libhashkit 1.1.4 (hashkit_one_at_a_time, hashkit_md5).
  KetamaRing oaat = MustCreate(Pool({1}));
  EXPECT_EQ(oaat.Hash(""), 0u);
  EXPECT_EQ(oaat.Hash("a"), 0xca2e9442u);
  KetamaRing md5 = MustCreate(Pool({1}), KetamaMode::kKetamaWeighted);
  // MD5("abc") = 900150983cd24fb0...: the first four bytes, little-endian.
  EXPECT_EQ(md5.Hash("abc"), 0x98500190u);
}

TEST(KetamaRingTest, RefusesBadPools) {
  auto create = [](std::vector<KetamaServer> servers,
                   KetamaMode mode = KetamaMode::kKetama) {
    return KetamaRing::Create(servers, mode).status();
  };
  EXPECT_TRUE(create({}).IsInvalidArgument());
  EXPECT_TRUE(create({{"", 11211, 1}}).IsInvalidArgument());
  EXPECT_TRUE(create({{"h", 0, 1}}).IsInvalidArgument());
  EXPECT_TRUE(create({{"h", 65536, 1}}).IsInvalidArgument());
  Status twice = create({{"h", 11211, 1}, {"g", 11211, 1}, {"h", 11211, 1}});
  EXPECT_TRUE(twice.IsInvalidArgument());
  EXPECT_NE(twice.message().find("h:11211 is listed twice"), std::string::npos)
      << twice.message();
  // Same host, other port; same port, other host: different servers.
  SK_EXPECT_OK(create({{"h", 11211, 1}, {"h", 11212, 1}, {"g", 11211, 1}}));
  EXPECT_TRUE(create({{"h", 11211, 0}}).IsInvalidArgument());
  Status weight = create({{"h", 11211, 2}, {"g", 11211, 1}});
  EXPECT_TRUE(weight.IsInvalidArgument());
  EXPECT_NE(weight.message().find("ketama_weighted"), std::string::npos);
  SK_EXPECT_OK(
      create({{"h", 11211, 2}, {"g", 11211, 1}}, KetamaMode::kKetamaWeighted));
  // 1 of 101 over two servers: floor(0.0099 * 40 * 2) = 0 groups of points.
  Status starved =
      create({{"h", 11211, 100}, {"g", 11211, 1}}, KetamaMode::kKetamaWeighted);
  EXPECT_TRUE(starved.IsInvalidArgument());
  EXPECT_NE(starved.message().find("g:11211"), std::string::npos);
}

}  // namespace
}  // namespace sessionkit::memcached
