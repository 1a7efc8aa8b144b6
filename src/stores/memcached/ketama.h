// KetamaRing: which memcached server of a pool holds a key, placed exactly
// as libmemcached 1.1 places it for php-memcached's session handler, so a
// pool shared with php-memcached agrees on every key.
//
// What php-memcached 3.2 configures (memcached.sess_consistent_hash=1,
// sess_consistent_hash_type=ketama by default) and libmemcached then does:
//   kKetama (MEMCACHED_BEHAVIOR_KETAMA, the default): 100 points per server,
//     each the one-at-a-time hash of "host:port-i" (i = 0..99), or "host-i"
//     when the port is 11211; weights are ignored. A key's hash is the
//     one-at-a-time hash too.
//   kKetamaWeighted (type=ketama_weighted, the PHP class's
//     OPT_LIBKETAMA_COMPATIBLE): 160 points per server scaled by its share of
//     the total weight (floor(share * 40 * servers) * 4), four per MD5 of the
//     same names; a key's hash is its MD5's first four bytes, little-endian.
//   Both: the hashed key is the key *without* the session prefix (it is a
//   libmemcached namespace, not hashed unless HASH_WITH_PREFIX_KEY is set,
//   which php-memcached never sets); points sort by (value, server index);
//   a key goes to the first point >= its hash, past the last to the first;
//   a pool of one server takes every key. Servers keep the order given.
//   Replicas (sess_number_of_replicas=N) go to the N servers that follow
//   the primary in the server list, not on the ring.
// docs/memcached.md ("Placement") explains it at length.
#ifndef SESSIONKIT_STORES_MEMCACHED_KETAMA_H_
#define SESSIONKIT_STORES_MEMCACHED_KETAMA_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"

struct evp_md_st;  // OpenSSL's EVP_MD, kept out of this header

namespace sessionkit::memcached {

// How points and key hashes are made: php-memcached's
// memcached.sess_consistent_hash_type.
enum class KetamaMode {
  kKetama,          // "ketama": one-at-a-time, 100 points, no weights
  kKetamaWeighted,  // "ketama_weighted": MD5, 160 points scaled by weight
};

// One pool member as written in the server list.
struct KetamaServer {
  // As written (a name is hashed as a name, never resolved): "10.0.0.1"
  // and "cache1" are different points even if one resolves to the other.
  std::string host;
  int port = 11211;
  // Relative weight; only kKetamaWeighted uses it.
  uint32_t weight = 1;
};

// The continuum of a pool: built once, then read-only.
//
// Thread safety: immutable after Create; every method may be called from
// any number of threads at once.
class KetamaRing {
 public:
  // Returned by the lookups when no server qualifies (all are down).
  static constexpr size_t kNone = static_cast<size_t>(-1);

  // Builds the continuum of `servers`, in that order (a server's index is
  // its position). InvalidArgument for an empty pool, an empty host, a port
  // outside 1..65535, the same host:port twice (libmemcached accepts it, but
  // the second copy never gets a key), a weight other than 1 in kKetama
  // (libmemcached would ignore it silently), a weight of 0, or a weight so
  // small that the server gets no point.
  static Result<KetamaRing> Create(std::span<const KetamaServer> servers,
                                   KetamaMode mode);

  KetamaMode mode() const { return mode_; }
  size_t server_count() const { return server_count_; }
  // How many points the continuum holds (100 per server in kKetama).
  size_t point_count() const { return points_.size(); }

  // The hash of `key` that places it: the key as php-memcached hashes it,
  // i.e. without its prefix ("abc123", not "memc.sess.key.abc123").
  // kKetama allocates nothing; kKetamaWeighted hashes through OpenSSL's EVP
  // (a context reused per thread), where OpenSSL 3 still allocates its
  // digest state once per call.
  uint32_t Hash(std::string_view key) const;

  // The server index for `hash`: the owner of the first point >= hash,
  // wrapping past the last point. O(log points), allocates nothing.
  size_t Locate(uint32_t hash) const {
    return points_[PointIndex(hash)].server;
  }

  // Hash and Locate in one.
  size_t ServerFor(std::string_view key) const { return Locate(Hash(key)); }

  // As Locate, skipping every server for which `is_down(index)` is true: a
  // down server's keys fall to the next live server on the ring, as in
  // libmemcached after it ejects a server (exactly so in kKetama; in
  // kKetamaWeighted with unequal weights libmemcached also rescales the
  // remaining servers' point counts). kNone when every server is down.
  template <typename IsDown>
  size_t Locate(uint32_t hash, const IsDown& is_down) const {
    size_t found = kNone;
    NextServers(hash, std::span<size_t>(&found, 1), is_down);
    return found;
  }

  // Writes into `out` the first out.size() distinct servers for which
  // `is_down` is false, in ring order from `hash`'s point (the first is
  // Locate(hash, is_down)); returns how many it wrote, fewer when fewer
  // servers are up. These are the servers a key fails over to, and the
  // ring-order alternative to ListReplicas. O(log points) plus one step per
  // run of one server's consecutive points passed; allocates nothing.
  template <typename IsDown>
  size_t NextServers(uint32_t hash, std::span<size_t> out,
                     const IsDown& is_down) const {
    size_t found = 0;
    size_t point = PointIndex(hash);
    for (size_t step = 0; step < run_count_ && found < out.size(); ++step) {
      const size_t server = points_[point].server;
      if (!is_down(server) && std::find(out.begin(), out.begin() + found,
                                        server) == out.begin() + found) {
        out[found++] = server;
      }
      point = next_run_[point];
    }
    return found;
  }

  // The servers holding a key with `replicas` replicas as libmemcached
  // places them (php-memcached's sess_number_of_replicas): Locate(hash),
  // then the servers after it in the server list, wrapping. Writes
  // min(replicas + 1, server_count(), out.size()) indices into `out` and
  // returns that count. Allocates nothing.
  size_t ListReplicas(uint32_t hash, size_t replicas,
                      std::span<size_t> out) const;

 private:
  struct Point {
    uint32_t value;
    uint32_t server;
  };

  KetamaRing() = default;

  // Index of the first point >= hash, or 0 past the last point.
  size_t PointIndex(uint32_t hash) const {
    auto it = std::lower_bound(
        points_.begin(), points_.end(), hash,
        [](const Point& point, uint32_t value) { return point.value < value; });
    return it == points_.end() ? 0 : static_cast<size_t>(it - points_.begin());
  }

  KetamaMode mode_ = KetamaMode::kKetama;
  size_t server_count_ = 0;
  std::vector<Point> points_;  // sorted by (value, server)
  // next_run_[i]: the next point, cyclically, owned by another server than
  // point i (i itself in a pool of one), so walks skip a run in one step.
  std::vector<uint32_t> next_run_;
  // Runs of consecutive points of one server around the ring (1 for a
  // pool of one): a walk of this many steps has seen every server.
  size_t run_count_ = 1;
  std::shared_ptr<evp_md_st> md5_;  // kKetamaWeighted only
};

}  // namespace sessionkit::memcached

#endif  // SESSIONKIT_STORES_MEMCACHED_KETAMA_H_
