#include "stores/redis/cluster_topology.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

namespace sessionkit::redis {
namespace {

// "host:port" as Redis prints it in MOVED / ASK (IPv6 without brackets;
// an empty host means the node that sent the reply).
bool ParseHostPort(std::string_view text, const Endpoint& from, Endpoint* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  uint16_t port = 0;
  if (!ParsePort(text.substr(colon + 1), &port)) return false;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  out->host = host.empty() ? from.host : std::string(host);
  out->port = port;
  return true;
}

}  // namespace

uint16_t Crc16(std::string_view data) {
  uint16_t crc = 0;
  for (char c : data) {
    crc ^= static_cast<uint16_t>(static_cast<unsigned char>(c) << 8);
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

int KeySlot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) & (kClusterSlots - 1);
}

ClusterTopology::ClusterTopology(const RedisOptions& options,
                                 std::shared_ptr<ConnectionPool> pool)
    : name_(options.name),
      seeds_(ToEndpoints(options.hosts)),
      pool_(std::move(pool)) {}

Result<std::shared_ptr<const ClusterTopology::SlotMap>>
ClusterTopology::Current() {
  std::shared_ptr<const SlotMap> map;
  bool stale;
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    map = map_;
    stale = stale_;
    generation = generation_;
  }
  if (map && !stale) return map;
  Status st = Refresh(generation);
  std::lock_guard<std::mutex> lock(mu_);
  // A stale map still routes most keys right; a wrong one earns a MOVED.
  if (map_) return map_;
  return st;
}

Result<Endpoint> ClusterTopology::Route(std::string_view key) {
  auto map = Current();
  if (!map.ok()) return map.status();
  const SlotMap& m = **map;
  if (key.empty()) return m.masters.front();
  const int slot = KeySlot(key);
  const int owner = m.owner[static_cast<size_t>(slot)];
  if (owner < 0) {
    // Look again next time: the slot may be assigned meanwhile.
    std::lock_guard<std::mutex> lock(mu_);
    stale_ = true;
    return Status::Unavailable(name_ + ": no master serves hash slot " +
                               std::to_string(slot) +
                               " (is the cluster down or being resharded?)");
  }
  return m.masters[static_cast<size_t>(owner)];
}

Result<std::vector<Endpoint>> ClusterTopology::Masters() {
  auto map = Current();
  if (!map.ok()) return map.status();
  return (*map)->masters;
}

bool ClusterTopology::OnConnectionError(const Endpoint&, const Status& status) {
  if (status.code() == StatusCode::kInvalidArgument) return false;
  std::lock_guard<std::mutex> lock(mu_);
  stale_ = true;
  return true;
}

Redirect ClusterTopology::OnErrorReply(const Endpoint& endpoint,
                                       std::string_view error) {
  // "MOVED <slot> <host>:<port>", "ASK <slot> <host>:<port>".
  const bool moved = error.starts_with("MOVED ");
  const bool ask = error.starts_with("ASK ");
  if (!moved && !ask) return Redirect{};
  std::string_view rest = error.substr(moved ? 6 : 4);
  size_t space = rest.find(' ');
  Endpoint to;
  if (space == std::string_view::npos ||
      !ParseHostPort(rest.substr(space + 1), endpoint, &to)) {
    return Redirect{};  // reported as the error it is
  }
  if (ask) return Redirect{Redirect::Kind::kAsk, std::move(to)};
  int slot = -1;
  std::string_view slot_text = rest.substr(0, space);
  auto [end, ec] = std::from_chars(slot_text.data(),
                                   slot_text.data() + slot_text.size(), slot);
  if (ec != std::errc() || end != slot_text.data() + slot_text.size() ||
      slot < 0 || slot >= kClusterSlots) {
    return Redirect{};
  }
  // The node that answers MOVED knows the slot is no longer its own: take
  // its word for this slot at once. Reloading the whole map instead could
  // read it from a node that has not heard of the move yet.
  std::lock_guard<std::mutex> lock(mu_);
  auto map = std::make_shared<SlotMap>(map_ ? *map_ : SlotMap{});
  if (!map_) map->owner.fill(-1);
  auto it = std::find(map->masters.begin(), map->masters.end(), to);
  if (it == map->masters.end()) {
    // A node this map does not know: add it, and load the full map next
    // time to learn what else changed.
    map->masters.push_back(to);
    it = map->masters.end() - 1;
    stale_ = true;
  }
  map->owner[static_cast<size_t>(slot)] =
      static_cast<int16_t>(it - map->masters.begin());
  map_ = std::move(map);
  moved_to_ = to;
  return Redirect{Redirect::Kind::kRetry, {}};
}

Status ClusterTopology::Refresh(uint64_t seen_generation) {
  std::lock_guard<std::mutex> loading(refresh_mu_);
  std::vector<Endpoint> candidates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation_ != seen_generation && !stale_) return Status::OK();
    if (moved_to_) candidates.push_back(*moved_to_);
    if (map_) {
      for (const Endpoint& master : map_->masters) {
        if (!moved_to_ || master != *moved_to_) candidates.push_back(master);
      }
    }
  }
  for (const Endpoint& seed : seeds_) {
    if (std::find(candidates.begin(), candidates.end(), seed) ==
        candidates.end()) {
      candidates.push_back(seed);
    }
  }
  std::string details;
  for (const Endpoint& node : candidates) {
    auto loaded = Load(node);
    if (!loaded.ok()) {
      // The store's password is a setting: every node would refuse it.
      if (loaded.status().code() == StatusCode::kInvalidArgument) {
        return loaded.status();
      }
      if (!details.empty()) details += "; ";
      details += WithoutStoreName(name_, loaded.status().message());
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    map_ = std::move(*loaded);
    stale_ = false;
    ++generation_;
    return Status::OK();
  }
  return Status::Unavailable(name_ +
                             ": cannot load the cluster slot map from any "
                             "node: " +
                             details);
}

Result<std::shared_ptr<const ClusterTopology::SlotMap>> ClusterTopology::Load(
    const Endpoint& node) {
  const Command slots[] = {{{"CLUSTER", "SLOTS"}}};
  std::vector<Reply> replies;
  Status st;
  {
    PooledConnection conn(pool_.get(), node);
    st = conn->Execute(slots, &replies, /*read_only=*/true);
  }
  if (!st.ok()) return st;
  const Reply& r = replies[0];
  if (r.is_error()) {
    return StatusFromErrorReply(name_, node, "CLUSTER SLOTS", r.str);
  }
  auto bad = [&](const std::string& why) {
    return Status::Unavailable(name_ + ": " + node.ToString() +
                               ": unexpected CLUSTER SLOTS reply (" + why +
                               "; is this a cluster node?)");
  };
  if (r.type != Reply::Type::kArray) return bad("not an array");
  struct Range {
    int64_t start, end;
    Endpoint master;
  };
  std::vector<Range> ranges;
  for (const Reply& e : r.elements) {
    if (e.type != Reply::Type::kArray || e.elements.size() < 3 ||
        e.elements[0].type != Reply::Type::kInteger ||
        e.elements[1].type != Reply::Type::kInteger ||
        e.elements[2].type != Reply::Type::kArray ||
        e.elements[2].elements.size() < 2 ||
        e.elements[2].elements[1].type != Reply::Type::kInteger) {
      return bad("a malformed slot range");
    }
    Range range{e.elements[0].integer, e.elements[1].integer, {}};
    const Reply& m = e.elements[2];
    if (range.start < 0 || range.end >= kClusterSlots ||
        range.start > range.end || m.elements[1].integer <= 0 ||
        m.elements[1].integer > 65535) {
      return bad("a slot range or port out of bounds");
    }
    // An empty (or "?") host means the node that answered.
    const std::string& host = m.elements[0].str;
    range.master.host = (host.empty() || host == "?") ? node.host : host;
    range.master.port = static_cast<uint16_t>(m.elements[1].integer);
    ranges.push_back(std::move(range));
  }
  if (ranges.empty()) return bad("no slot is assigned");
  auto map = std::make_shared<SlotMap>();
  for (const Range& range : ranges) {
    if (std::find(map->masters.begin(), map->masters.end(), range.master) ==
        map->masters.end()) {
      map->masters.push_back(range.master);
    }
  }
  std::sort(map->masters.begin(), map->masters.end(),
            [](const Endpoint& a, const Endpoint& b) {
              return a.ToString() < b.ToString();
            });
  map->owner.fill(-1);
  for (const Range& range : ranges) {
    const auto idx = static_cast<int16_t>(
        std::find(map->masters.begin(), map->masters.end(), range.master) -
        map->masters.begin());
    for (int64_t s = range.start; s <= range.end; ++s) {
      map->owner[static_cast<size_t>(s)] = idx;
    }
  }
  return std::shared_ptr<const SlotMap>(std::move(map));
}

}  // namespace sessionkit::redis
