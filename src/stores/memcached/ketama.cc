#include "stores/memcached/ketama.h"

#include <openssl/evp.h>

#include <array>
#include <cmath>
#include <set>
#include <string>
#include <utility>

namespace sessionkit::memcached {
namespace {

// libmemcached's MEMCACHED_POINTS_PER_SERVER and ..._KETAMA.
constexpr uint32_t kPointsPerServer = 100;
constexpr uint32_t kPointsPerServerWeighted = 160;
// The port libmemcached leaves out of a point's name.
constexpr int kDefaultPort = 11211;

// libhashkit's one-at-a-time hash. It reads the key through a plain char,
// signed on the x86 and amd64 builds it must match, so a byte >= 0x80 adds
// 0xffffff80 and up; memcached keys are ASCII, host names nearly always.
uint32_t OneAtATime(std::string_view key) {
  uint32_t value = 0;
  for (char c : key) {
    value += static_cast<uint32_t>(
        static_cast<int32_t>(static_cast<signed char>(c)));
    value += value << 10;
    value ^= value >> 6;
  }
  value += value << 3;
  value ^= value >> 11;
  value += value << 15;
  return value;
}

// The digest context reused by this thread: one EVP_MD_CTX per thread, not
// one per key.
EVP_MD_CTX* ThreadDigestContext() {
  struct Holder {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Holder() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Holder holder;
  return holder.ctx;
}

using Md5Digest = std::array<unsigned char, 16>;

bool Md5(const EVP_MD* md5, std::string_view data, Md5Digest& out) {
  EVP_MD_CTX* ctx = ThreadDigestContext();
  unsigned int length = 0;
  return ctx != nullptr && EVP_DigestInit_ex2(ctx, md5, nullptr) == 1 &&
         EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(ctx, out.data(), &length) == 1 &&
         length == out.size();
}

// Bytes 4*group .. 4*group+3 of a digest as a little-endian integer, as
// libmemcached's ketama_server_hash and hashkit_md5 read them.
uint32_t DigestWord(const Md5Digest& digest, size_t group) {
  const unsigned char* b = digest.data() + 4 * group;
  return static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
         static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
}

// "host-i" on the default port, "host:port-i" otherwise.
std::string PointName(const KetamaServer& server, uint32_t i) {
  std::string name = server.host;
  if (server.port != kDefaultPort) {
    name += ':';
    name += std::to_string(server.port);
  }
  name += '-';
  name += std::to_string(i);
  return name;
}

// Points of one server in kKetamaWeighted, computed in float as
// libmemcached's update_continuum does: a different rounding would move
// the boundary of some weights by four points.
uint32_t WeightedPoints(uint32_t weight, uint64_t total_weight,
                        size_t servers) {
  const float share =
      static_cast<float>(weight) / static_cast<float>(total_weight);
  const float groups = share * static_cast<float>(kPointsPerServerWeighted) /
                           4.0f * static_cast<float>(servers) +
                       0.0000000001f;
  return static_cast<uint32_t>(std::floor(groups)) * 4;
}

std::string Describe(const KetamaServer& server) {
  return server.host + ":" + std::to_string(server.port);
}

Status CheckServers(std::span<const KetamaServer> servers, KetamaMode mode) {
  if (servers.empty()) {
    return Status::InvalidArgument("memcached pool: no server");
  }
  std::set<std::pair<std::string_view, int>> seen;
  for (const KetamaServer& server : servers) {
    if (server.host.empty()) {
      return Status::InvalidArgument("memcached pool: a server without host");
    }
    if (server.port < 1 || server.port > 65535) {
      return Status::InvalidArgument("memcached pool: server " +
                                     Describe(server) +
                                     ": port outside 1..65535");
    }
    if (!seen.emplace(server.host, server.port).second) {
      return Status::InvalidArgument(
          "memcached pool: server " + Describe(server) +
          " is listed twice (its second entry would never get a key)");
    }
    if (server.weight == 0) {
      return Status::InvalidArgument("memcached pool: server " +
                                     Describe(server) + ": weight 0");
    }
    if (mode == KetamaMode::kKetama && server.weight != 1) {
      return Status::InvalidArgument(
          "memcached pool: server " + Describe(server) + " has weight " +
          std::to_string(server.weight) +
          ", but plain ketama ignores weights (as php-memcached's "
          "sess_consistent_hash_type=ketama does): use ketama_weighted");
    }
  }
  return Status::OK();
}

}  // namespace

Result<KetamaRing> KetamaRing::Create(std::span<const KetamaServer> servers,
                                      KetamaMode mode) {
  if (Status status = CheckServers(servers, mode); !status.ok()) {
    return status;
  }
  KetamaRing ring;
  ring.mode_ = mode;
  ring.server_count_ = servers.size();

  uint64_t total_weight = 0;
  if (mode == KetamaMode::kKetamaWeighted) {
    ring.md5_.reset(EVP_MD_fetch(nullptr, "MD5", nullptr), EVP_MD_free);
    if (ring.md5_ == nullptr) {
      return Status::Internal(
          "memcached pool: OpenSSL offers no MD5 (a FIPS-only provider?); "
          "ketama_weighted needs it");
    }
    for (const KetamaServer& server : servers) total_weight += server.weight;
  }

  for (size_t index = 0; index < servers.size(); ++index) {
    const KetamaServer& server = servers[index];
    const auto owner = static_cast<uint32_t>(index);
    if (mode == KetamaMode::kKetama) {
      for (uint32_t i = 0; i < kPointsPerServer; ++i) {
        ring.points_.push_back({OneAtATime(PointName(server, i)), owner});
      }
      continue;
    }
    const uint32_t points =
        WeightedPoints(server.weight, total_weight, servers.size());
    if (points == 0) {
      return Status::InvalidArgument(
          "memcached pool: server " + Describe(server) + " with weight " +
          std::to_string(server.weight) + " of " +
          std::to_string(total_weight) +
          " would get no point on the ring (no key): raise its weight");
    }
    for (uint32_t i = 0; i < points / 4; ++i) {
      Md5Digest digest;
      if (!Md5(ring.md5_.get(), PointName(server, i), digest)) {
        return Status::Internal("memcached pool: MD5 through OpenSSL failed");
      }
      for (size_t group = 0; group < 4; ++group) {
        ring.points_.push_back({DigestWord(digest, group), owner});
      }
    }
  }
  // libmemcached breaks ties between equal values by server index.
  std::sort(ring.points_.begin(), ring.points_.end(),
            [](const Point& a, const Point& b) {
              return a.value != b.value ? a.value < b.value
                                        : a.server < b.server;
            });

  // Backwards over two laps, so that the runs that wrap past the end know
  // their next run too.
  const size_t n = ring.points_.size();
  ring.next_run_.assign(n, 0);
  size_t runs = 0;
  for (size_t i = 0; i < n; ++i) {
    if (ring.points_[i].server != ring.points_[(i + 1) % n].server) ++runs;
  }
  if (runs == 0) {
    for (size_t i = 0; i < n; ++i) ring.next_run_[i] = static_cast<uint32_t>(i);
  } else {
    for (size_t k = 2 * n; k-- > 0;) {
      const size_t i = k % n;
      const size_t next = (i + 1) % n;
      ring.next_run_[i] = ring.points_[i].server != ring.points_[next].server
                              ? static_cast<uint32_t>(next)
                              : ring.next_run_[next];
    }
  }
  ring.run_count_ = runs == 0 ? 1 : runs;
  return ring;
}

uint32_t KetamaRing::Hash(std::string_view key) const {
  if (mode_ == KetamaMode::kKetama) return OneAtATime(key);
  Md5Digest digest;
  // Only an OpenSSL failure (out of memory) lands here; hash 0 still places
  // the key on a server rather than nowhere.
  if (!Md5(md5_.get(), key, digest)) return 0;
  return DigestWord(digest, 0);
}

size_t KetamaRing::ListReplicas(uint32_t hash, size_t replicas,
                                std::span<size_t> out) const {
  size_t count = std::min(server_count_, out.size());
  if (replicas < count) count = replicas + 1;
  if (count == 0) return 0;
  const size_t primary = Locate(hash);
  for (size_t i = 0; i < count; ++i) {
    out[i] = (primary + i) % server_count_;
  }
  return count;
}

}  // namespace sessionkit::memcached
