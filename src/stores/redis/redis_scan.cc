// RedisStore::Scan: pages of sessions, master after master (see
// redis_store.h for the order and the cursor), then their sizes and
// expiries.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/session_id.h"
#include "stores/redis/redis_lock.h"
#include "stores/redis/redis_store.h"

namespace sessionkit::redis {

// Where a page starts, as its cursor says:
// "[<master>/]<redis cursor>[:<hash>]". <master> is the index of the master
// being walked (Cluster; absent for the first), <hash> the KeyHash of the
// last key returned from that cursor's batch. Not in the anonymous
// namespace: RedisScan, which redis_store.h declares, holds one.
struct ScanCursor {
  size_t master = 0;
  std::string cursor = "0";
  bool has_skip = false;
  uint64_t skip = 0;
};

namespace {

constexpr size_t kDefaultScanLimit = 1000;
// SCAN COUNT hint bounds, and keys per STRLEN + PTTL round trip of a page.
constexpr size_t kMinScanCount = 1;
constexpr size_t kMaxScanCount = 1000;
constexpr size_t kInfoBatch = 500;

// FNV-1a: orders a SCAN batch so that a page can end inside it.
uint64_t KeyHash(std::string_view key) {
  uint64_t h = 14695981039346656037ull;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string Hex64(uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[v & 0xf];
    v >>= 4;
  }
  return out;
}

// Escapes the glob characters of SCAN MATCH.
std::string EscapeGlob(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// False when `text` is not a cursor this store gave out.
bool ParseScanCursor(std::string_view text, ScanCursor* out) {
  if (text.empty()) return true;
  std::string_view c = text;
  size_t slash = c.find('/');
  if (slash != std::string_view::npos) {
    std::string_view index = c.substr(0, slash);
    if (!AllDigits(index) || index.size() > 4) return false;
    out->master = static_cast<size_t>(std::stoul(std::string(index)));
    c = c.substr(slash + 1);
  }
  size_t colon = c.find(':');
  std::string_view redis_cursor = c.substr(0, colon);
  bool ok = AllDigits(redis_cursor);
  if (ok && colon != std::string_view::npos) {
    std::string_view hex = c.substr(colon + 1);
    auto [end, ec] =
        std::from_chars(hex.data(), hex.data() + hex.size(), out->skip, 16);
    ok =
        hex.size() == 16 && ec == std::errc() && end == hex.data() + hex.size();
    out->has_skip = true;
  }
  if (!ok) return false;
  out->cursor = std::string(redis_cursor);
  return true;
}

std::string EncodeCursor(size_t master, const std::string& inner) {
  return master == 0 ? inner : std::to_string(master) + "/" + inner;
}

}  // namespace

// One call of RedisStore::Scan: lists the page's keys with SCAN, then reads
// their sizes and expiries.
class RedisScan {
 public:
  RedisScan(RedisStore* store, const ScanOptions& options)
      : store_(store),
        options_(options),
        limit_(options.limit == 0 ? kDefaultScanLimit : options.limit),
        open_(store->options_.prefix + "{"),
        pattern_(EscapeGlob(store->options_.prefix) + "{*}") {}

  Result<ScanPage> Run() {
    if (!ParseScanCursor(options_.cursor, &at_)) return BadCursor();
    Result<std::vector<Endpoint>> masters = store_->topology_->Masters();
    if (!masters.ok()) return WithWhat(masters.status(), what_);
    masters_ = std::move(*masters);
    if (at_.master >= masters_.size()) {
      if (at_.master == 0) return ScanPage{};
      return BadCursor();
    }
    SK_RETURN_IF_ERROR(ListKeys());
    SK_RETURN_IF_ERROR(ReadInfo());
    return std::move(page_);
  }

 private:
  // A batch of SCAN: each key with its KeyHash.
  using Batch = std::vector<std::pair<uint64_t, std::string>>;

  Status BadCursor() const {
    return Status::InvalidArgument(
        store_->name() +
        ": bad scan cursor (expected the next_cursor of the previous page)");
  }

  // Runs SCAN until the page is full or every master is done; sets the
  // page's next_cursor unless the scan is complete.
  Status ListKeys() {
    // A cursor with a hash continues inside the batch of a SCAN run with
    // COUNT 1 (the only case that ends a page inside a batch): run it with
    // COUNT 1 again, so it visits the same buckets; a larger COUNT would
    // visit more, and skipping by hash would drop their keys unlisted.
    count_ =
        at_.has_skip ? 1 : std::clamp(limit_, kMinScanCount, kMaxScanCount);
    while (true) {
      Result<bool> done = ScanOnce();
      if (!done.ok()) return done.status();
      if (*done) return Status::OK();
    }
  }

  // One SCAN on the master being walked. True when the listing is done.
  Result<bool> ScanOnce() {
    const Endpoint& node = masters_[at_.master];
    const std::string count_arg = std::to_string(count_);
    const Command scan[] = {
        {{"SCAN", at_.cursor, "MATCH", pattern_, "COUNT", count_arg}}};
    SK_RETURN_IF_ERROR(store_->RunAt(node, scan, &replies_, false, what_));
    const Reply& r = replies_[0];
    if (r.type != Reply::Type::kArray || r.elements.size() != 2 ||
        r.elements[0].type != Reply::Type::kString ||
        r.elements[1].type != Reply::Type::kArray) {
      return store_->Unexpected(what_, "SCAN", r);
    }
    Batch batch = SessionKeys(r.elements[1]);
    const size_t room = limit_ - keys_.size();
    if (batch.size() > room) return Overflow(&batch, room);
    Take(&batch);
    at_.has_skip = false;
    return Advance(r.elements[0].str);
  }

  // The session keys of a SCAN reply not listed yet, in hash order.
  Batch SessionKeys(const Reply& listed) const {
    Batch batch;
    for (const Reply& k : listed.elements) {
      const std::string& key = k.str;
      // Only session keys: prefix{id}, with a valid id (no lock keys).
      if (key.size() < open_.size() + 2 || !key.starts_with(open_) ||
          key.back() != '}') {
        continue;
      }
      std::string_view id(key.data() + open_.size(),
                          key.size() - open_.size() - 1);
      // Only ids of PHP's charset: not other applications' keys under the
      // prefix.
      if (!std::all_of(id.begin(), id.end(), IsSessionIdChar)) continue;
      const uint64_t h = KeyHash(key);
      if (at_.has_skip && h <= at_.skip) continue;
      if (seen_.count(key) != 0) continue;
      batch.emplace_back(h, key);
    }
    std::sort(batch.begin(), batch.end());
    return batch;
  }

  // A batch larger than the room left on the page. True when the page
  // ends here.
  bool Overflow(Batch* batch, size_t room) {
    if (!keys_.empty()) {
      // The next page runs this SCAN again; nothing of it is listed yet.
      page_.next_cursor = EncodeCursor(at_.master, at_.cursor);
      return true;
    }
    if (count_ > 1) {
      // A smaller COUNT visits fewer buckets from the same cursor.
      count_ = std::max<size_t>(1, std::min(count_ / 2, room));
      return false;
    }
    // One bucket holds more than a page: end the page inside it. The next
    // page runs this SCAN again and skips the keys up to the hash of the
    // last one listed (the batch is in hash order).
    batch->resize(room);
    Take(batch);
    page_.next_cursor =
        EncodeCursor(at_.master, at_.cursor + ":" + Hex64(batch->back().first));
    return true;
  }

  void Take(Batch* batch) {
    for (auto& [h, key] : *batch) {
      seen_.insert(key);
      keys_.emplace_back(at_.master, std::move(key));
    }
  }

  // Moves on to SCAN's `next` cursor (or the next master). True when the
  // listing is done.
  bool Advance(const std::string& next) {
    if (next == "0") {
      // This master is done: on to the next one, if any.
      if (++at_.master == masters_.size()) return true;  // no next_cursor
      at_.cursor = "0";
    } else {
      at_.cursor = next;
    }
    if (keys_.size() == limit_) {
      page_.next_cursor = EncodeCursor(at_.master, at_.cursor);
      return true;
    }
    count_ = std::clamp(limit_ - keys_.size(), kMinScanCount, kMaxScanCount);
    return false;
  }

  // Sizes and expiries: a batch of keys per round trip, to the master that
  // listed them.
  Status ReadInfo() {
    for (size_t start = 0; start < keys_.size();) {
      const size_t node = keys_[start].first;
      size_t end = start;
      while (end < keys_.size() && end - start < kInfoBatch &&
             keys_[end].first == node) {
        ++end;
      }
      SK_RETURN_IF_ERROR(ReadInfoBatch(node, start, end));
      start = end;
    }
    return Status::OK();
  }

  Status ReadInfoBatch(size_t node, size_t start, size_t end) {
    std::vector<Command> commands;
    commands.reserve(2 * (end - start));
    for (size_t i = start; i < end; ++i) {
      commands.push_back(Command{{"STRLEN", keys_[i].second}});
      commands.push_back(Command{{"PTTL", keys_[i].second}});
    }
    SK_RETURN_IF_ERROR(
        store_->RunAt(masters_[node], commands, &replies_, true, what_));
    for (size_t i = start; i < end; ++i) {
      const std::string& key = keys_[i].second;
      const Reply& len = replies_[2 * (i - start)];
      const Reply& pttl = replies_[2 * (i - start) + 1];
      if (len.is_error() || pttl.is_error()) {
        // Moved to another master since SCAN listed it (a slot migration
        // or failover): ask where the key lives now.
        std::vector<Reply> one;
        const Command info[] = {{{"STRLEN", key}}, {{"PTTL", key}}};
        SK_RETURN_IF_ERROR(store_->Run(
            {.key = key, .commands = info, .read_only = true, .what = what_},
            &one));
        SK_RETURN_IF_ERROR(Add(key, one[0], one[1]));
        continue;
      }
      SK_RETURN_IF_ERROR(Add(key, len, pttl));
    }
    return Status::OK();
  }

  Status Add(const std::string& key, const Reply& len, const Reply& pttl) {
    if (len.type != Reply::Type::kInteger) {
      return store_->Unexpected(what_, "STRLEN", len);
    }
    if (pttl.type != Reply::Type::kInteger) {
      return store_->Unexpected(what_, "PTTL", pttl);
    }
    if (pttl.integer == -2) return Status::OK();  // gone since SCAN
    SessionInfo info;
    info.id = key.substr(open_.size(), key.size() - open_.size() - 1);
    info.bytes = static_cast<uint64_t>(std::max<int64_t>(len.integer, 0));
    info.expires_at = ExpiryFromPttl(store_->env_->WallNow(), pttl.integer);
    page_.sessions.push_back(std::move(info));
    return Status::OK();
  }

  RedisStore* const store_;
  const ScanOptions& options_;
  const size_t limit_;
  const std::string what_ = "scan";
  const std::string open_;
  const std::string pattern_;
  std::vector<Endpoint> masters_;
  ScanCursor at_;
  size_t count_ = 1;  // the COUNT of the next SCAN
  // The keys of the page, each with the master that listed it.
  std::vector<std::pair<size_t, std::string>> keys_;
  std::set<std::string> seen_;  // SCAN may repeat a key
  ScanPage page_;
  std::vector<Reply> replies_;
};

Result<ScanPage> RedisStore::Scan(const ScanOptions& options) {
  return RedisScan(this, options).Run();
}

}  // namespace sessionkit::redis
