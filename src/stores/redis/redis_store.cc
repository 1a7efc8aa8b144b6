#include "stores/redis/redis_store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "sessionkit/session_id.h"
#include "stores/redis/redis_lock.h"

namespace sessionkit::redis {

namespace {

constexpr size_t kDefaultScanLimit = 1000;
// SCAN COUNT hint bounds, and keys per STRLEN + PTTL round trip of a page.
constexpr size_t kMinScanCount = 1;
constexpr size_t kMaxScanCount = 1000;
constexpr size_t kInfoBatch = 500;
// Attempts after a pooled connection turned out closed by the server.
constexpr int kMaxStaleRetries = 3;
// Attempts after the topology says the route changed.
constexpr int kMaxRouteRetries = 1;
// Cluster answers TRYAGAIN to a multi-key command (the locking scripts)
// while the keys' slot is half migrated; the move usually completes within
// milliseconds. Retried after a pause for up to this long.
constexpr std::chrono::milliseconds kTryAgainPause{20};
constexpr std::chrono::milliseconds kTryAgainBudget{1000};

// Scan lists only keys whose id has characters a session id may have
// (sessionkit/session_id.h), not other applications' keys under the prefix.
bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == ',' || c == '-';
}

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

Status WithWhat(const Status& st, const std::string& what) {
  if (st.ok()) return st;
  return Status(st.code(), st.message() + " (" + what + ")");
}

}  // namespace

RedisStore::RedisStore(RedisOptions options,
                       std::shared_ptr<ConnectionPool> pool,
                       std::unique_ptr<Topology> topology)
    : options_(std::move(options)),
      pool_(std::move(pool)),
      topology_(std::move(topology)) {}

std::string RedisStore::Key(std::string_view id) const {
  std::string key;
  key.reserve(options_.prefix.size() + id.size() + 2);
  key.append(options_.prefix);
  key.push_back('{');
  key.append(id);
  key.push_back('}');
  return key;
}

std::string RedisStore::LockKey(std::string_view id) const {
  return Key(id) + ":lock";
}

std::string RedisStore::WaitersKey(std::string_view id) const {
  return Key(id) + ":waiters";
}

std::string RedisStore::WakeKey(std::string_view id) const {
  return Key(id) + ":wake";
}

std::vector<std::string> RedisStore::LockingKeys(std::string_view id) const {
  return {Key(id), LockKey(id), WaitersKey(id), WakeKey(id)};
}

Status RedisStore::CheckId(std::string_view id, std::string_view op) const {
  if (!id.empty() && id.find_first_of("{}") == std::string_view::npos) {
    return Status::OK();
  }
  return Status::InvalidArgument(
      name() + ": " + std::string(op) +
      ": a session id must not be empty nor contain a brace (got " +
      std::to_string(id.size()) + " bytes)");
}

Status RedisStore::Unexpected(const std::string& what, std::string_view command,
                              const Reply& reply) const {
  std::string got;
  switch (reply.type) {
    case Reply::Type::kString:
      got = "a string";
      break;
    case Reply::Type::kArray:
      got = "an array";
      break;
    case Reply::Type::kInteger:
      got = "the integer " + std::to_string(reply.integer);
      break;
    case Reply::Type::kNil:
      got = "nil";
      break;
    case Reply::Type::kStatus:
      got = "the status " + reply.str.substr(0, 40);
      break;
    case Reply::Type::kError:
      got = "an error";
      break;
  }
  return Status::Internal(name() + ": unexpected reply to " +
                          std::string(command) + ": " + got + " (" + what +
                          ")");
}

Status RedisStore::Run(std::string_view key, std::span<const Command> commands,
                       std::vector<Reply>* replies, bool read_only,
                       const std::string& what, Duration blocking,
                       std::string_view keep_error, ConnectionHook* hook,
                       bool* unanswered) {
  int stale_retries = 0;
  int route_retries = 0;
  int redirects = 0;
  std::optional<std::chrono::steady_clock::time_point> first_tryagain;
  std::optional<Endpoint> ask;  // the next attempt goes there, with ASKING
  std::vector<Command> with_asking;
  // What this attempt sends (before ASKING is added): `commands`, or what
  // the hook picked for the connection.
  std::span<const Command> sent = commands;
  while (true) {
    Endpoint endpoint;
    if (ask) {
      endpoint = *ask;
    } else {
      Result<Endpoint> routed = topology_->Route(key);
      if (!routed.ok()) return WithWhat(routed.status(), what);
      endpoint = std::move(*routed);
    }
    Status st;
    bool stale = false;
    {
      PooledConnection conn(pool_.get(), endpoint);
      sent = hook != nullptr ? hook->Pick(*conn, ask.has_value()) : commands;
      std::span<const Command> send = sent;
      if (ask) {
        // ASKING and the commands in one write: one round trip. ASKING
        // lets only the command right after it in, so each gets its own.
        with_asking.clear();
        for (const Command& command : sent) {
          with_asking.push_back(Command{{"ASKING"}});
          with_asking.push_back(command);
        }
        send = with_asking;
      }
      st = conn->Execute(send, replies, read_only, blocking);
      stale = !st.ok() && conn->last_failure_was_stale();
      if (!st.ok() && unanswered != nullptr && conn->request_sent()) {
        *unanswered = true;
      }
      if (hook != nullptr) hook->Done(*conn, ask.has_value(), st, replies);
    }
    if (!st.ok()) {
      if (stale && stale_retries++ < kMaxStaleRetries) continue;
      ask.reset();
      if (route_retries < kMaxRouteRetries &&
          topology_->OnConnectionError(endpoint, st)) {
        ++route_retries;
        continue;
      }
      return WithWhat(st, what);
    }
    if (ask) {
      ask.reset();
      std::vector<Reply> own;
      own.reserve(sent.size());
      for (size_t i = 0; i < replies->size(); i += 2) {
        const Reply& asking = (*replies)[i];
        if (asking.is_error()) {
          return WithWhat(
              StatusFromErrorReply(name(), endpoint, "ASKING", asking.str),
              what);
        }
        own.push_back(std::move((*replies)[i + 1]));
      }
      *replies = std::move(own);
    }
    bool retry = false;
    for (size_t i = 0; i < replies->size(); ++i) {
      const Reply& r = (*replies)[i];
      if (!r.is_error()) continue;
      if (!keep_error.empty() && r.str.starts_with(keep_error)) continue;
      if (r.str.starts_with("TRYAGAIN")) {
        const auto now = std::chrono::steady_clock::now();
        if (!first_tryagain) first_tryagain = now;
        if (now - *first_tryagain < kTryAgainBudget) {
          // From the start: the owner may have changed meanwhile. The
          // budget bounds the ASK -> TRYAGAIN rounds, not MaxRedirects.
          std::this_thread::sleep_for(kTryAgainPause);
          redirects = 0;
          retry = true;
          break;
        }
      }
      Redirect redirect = topology_->OnErrorReply(endpoint, r.str);
      if (redirect.kind == Redirect::Kind::kNone) {
        return WithWhat(
            StatusFromErrorReply(name(), endpoint, sent[i].args[0], r.str),
            what);
      }
      if (redirects >= topology_->MaxRedirects()) {
        return Status::Unavailable(
            name() + ": " + std::string(sent[i].args[0]) + " on " +
            endpoint.ToString() + " still redirected after " +
            std::to_string(redirects) +
            (redirects == 1 ? " retry" : " retries") +
            " (the server says: " + r.str.substr(0, 120) + ") (" + what + ")");
      }
      ++redirects;
      if (redirect.kind == Redirect::Kind::kAsk) ask = redirect.to;
      retry = true;
      break;
    }
    if (!retry) return Status::OK();
  }
}

Status RedisStore::RunAt(const Endpoint& endpoint,
                         std::span<const Command> commands,
                         std::vector<Reply>* replies, bool keep_error_replies,
                         const std::string& what) {
  int stale_retries = 0;
  while (true) {
    Status st;
    bool stale = false;
    {
      PooledConnection conn(pool_.get(), endpoint);
      st = conn->Execute(commands, replies, /*read_only=*/true);
      stale = !st.ok() && conn->last_failure_was_stale();
    }
    if (!st.ok()) {
      if (stale && stale_retries++ < kMaxStaleRetries) continue;
      topology_->OnConnectionError(endpoint, st);
      return WithWhat(st, what);
    }
    if (keep_error_replies) return Status::OK();
    for (size_t i = 0; i < replies->size(); ++i) {
      const Reply& r = (*replies)[i];
      if (!r.is_error()) continue;
      topology_->OnErrorReply(endpoint, r.str);
      return WithWhat(
          StatusFromErrorReply(name(), endpoint, commands[i].args[0], r.str),
          what);
    }
    return Status::OK();
  }
}

Result<SessionRecord> RedisStore::Read(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "read"));
  const std::string key = Key(id);
  const std::string what = "read of session " + SessionIdPrefix(id);
  // GET and PTTL in one write: one round trip.
  const Command commands[] = {{{"GET", key}}, {{"PTTL", key}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run(key, commands, &replies, /*read_only=*/true, what));
  const Reply& data = replies[0];
  const Reply& pttl = replies[1];
  if (data.is_nil()) {
    return Status::NotFound(name() + ": " + what +
                            ": no such session (or it expired)");
  }
  if (data.type != Reply::Type::kString) {
    return Unexpected(what, "GET", data);
  }
  if (pttl.type != Reply::Type::kInteger) {
    return Unexpected(what, "PTTL", pttl);
  }
  if (pttl.integer == -2) {
    // Deleted or expired between the GET and the PTTL.
    return Status::NotFound(name() + ": " + what +
                            ": no such session (or it expired)");
  }
  SessionRecord record;
  record.data = std::move(replies[0].str);
  record.expires_at = ExpiryFromPttl(pttl.integer);
  return record;
}

Status RedisStore::Write(std::string_view id, std::string_view data,
                         Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(id, "write"));
  const std::string key = Key(id);
  const std::string what = "write of session " + SessionIdPrefix(id);
  std::vector<Reply> replies;
  if (ttl.count() <= 0) {
    // Already expired: the same as gone. (SET refuses a PX of 0.)
    const Command del[] = {{{"DEL", key}}};
    return Run(key, del, &replies, false, what);
  }
  const std::string ms = std::to_string(ClampTtl(ttl));
  const Command set[] = {{{"SET", key, data, "PX", ms}}};
  SK_RETURN_IF_ERROR(Run(key, set, &replies, false, what));
  if (!replies[0].Is("OK")) return Unexpected(what, "SET", replies[0]);
  return Status::OK();
}

Status RedisStore::Touch(std::string_view id, Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(id, "touch"));
  const std::string key = Key(id);
  const std::string what = "touch of session " + SessionIdPrefix(id);
  // A ttl of 0 or less makes Redis delete the key: an expired session.
  const std::string ms = std::to_string(std::max<int64_t>(ClampTtl(ttl), 0));
  const Command pexpire[] = {{{"PEXPIRE", key, ms}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run(key, pexpire, &replies, false, what));
  if (replies[0].type != Reply::Type::kInteger) {
    return Unexpected(what, "PEXPIRE", replies[0]);
  }
  if (replies[0].integer == 0) {
    return Status::NotFound(name() + ": " + what +
                            ": no such session (or it expired)");
  }
  return Status::OK();
}

Result<bool> RedisStore::Exists(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "exists"));
  const std::string key = Key(id);
  const std::string what = "exists check of session " + SessionIdPrefix(id);
  const Command exists[] = {{{"EXISTS", key}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run(key, exists, &replies, true, what));
  if (replies[0].type != Reply::Type::kInteger) {
    return Unexpected(what, "EXISTS", replies[0]);
  }
  return replies[0].integer > 0;
}

Result<ScanPage> RedisStore::Scan(const ScanOptions& options) {
  const size_t limit = options.limit == 0 ? kDefaultScanLimit : options.limit;
  const std::string what = "scan";
  // The cursor: "[<master>/]<redis cursor>[:<hash>]". <master> is the
  // index of the master being walked (Cluster; absent for the first),
  // <hash> the KeyHash of the last key returned from that cursor's batch.
  auto bad_cursor = [&] {
    return Status::InvalidArgument(
        name() +
        ": bad scan cursor (expected the next_cursor of the previous page)");
  };
  size_t master = 0;
  std::string cursor = "0";
  bool has_skip = false;
  uint64_t skip = 0;
  if (!options.cursor.empty()) {
    std::string_view c = options.cursor;
    size_t slash = c.find('/');
    if (slash != std::string_view::npos) {
      std::string_view index = c.substr(0, slash);
      if (!AllDigits(index) || index.size() > 4) return bad_cursor();
      master = static_cast<size_t>(std::stoul(std::string(index)));
      c = c.substr(slash + 1);
    }
    size_t colon = c.find(':');
    std::string_view redis_cursor = c.substr(0, colon);
    bool ok = AllDigits(redis_cursor);
    if (ok && colon != std::string_view::npos) {
      std::string_view hex = c.substr(colon + 1);
      auto [end, ec] =
          std::from_chars(hex.data(), hex.data() + hex.size(), skip, 16);
      ok = hex.size() == 16 && ec == std::errc() &&
           end == hex.data() + hex.size();
      has_skip = true;
    }
    if (!ok) return bad_cursor();
    cursor = std::string(redis_cursor);
  }
  Result<std::vector<Endpoint>> masters = topology_->Masters();
  if (!masters.ok()) return WithWhat(masters.status(), what);
  if (master >= masters->size()) {
    if (master == 0) return ScanPage{};
    return bad_cursor();
  }
  auto encode = [](size_t m, const std::string& inner) {
    return m == 0 ? inner : std::to_string(m) + "/" + inner;
  };

  const std::string open = options_.prefix + "{";
  const std::string pattern = EscapeGlob(options_.prefix) + "{*}";
  // The keys of the page, each with the master that listed it.
  std::vector<std::pair<size_t, std::string>> keys;
  std::set<std::string> seen;  // SCAN may repeat a key
  ScanPage page;
  std::vector<Reply> replies;
  // A cursor with a hash continues inside the batch of a SCAN run with
  // COUNT 1 (the only case that ends a page inside a batch): run it with
  // COUNT 1 again, so it visits the same buckets; a larger COUNT would visit
  // more, and skipping by hash would drop their keys unlisted.
  size_t count = has_skip ? 1 : std::clamp(limit, kMinScanCount, kMaxScanCount);
  while (true) {
    const Endpoint& node = (*masters)[master];
    const std::string count_arg = std::to_string(count);
    const Command scan[] = {
        {{"SCAN", cursor, "MATCH", pattern, "COUNT", count_arg}}};
    SK_RETURN_IF_ERROR(RunAt(node, scan, &replies, false, what));
    const Reply& r = replies[0];
    if (r.type != Reply::Type::kArray || r.elements.size() != 2 ||
        r.elements[0].type != Reply::Type::kString ||
        r.elements[1].type != Reply::Type::kArray) {
      return Unexpected(what, "SCAN", r);
    }
    std::vector<std::pair<uint64_t, std::string>> batch;
    for (const Reply& k : r.elements[1].elements) {
      const std::string& key = k.str;
      // Only session keys: prefix{id}, with a valid id (no lock keys).
      if (key.size() < open.size() + 2 || !key.starts_with(open) ||
          key.back() != '}') {
        continue;
      }
      std::string_view id(key.data() + open.size(),
                          key.size() - open.size() - 1);
      if (!std::all_of(id.begin(), id.end(), IsIdChar)) continue;
      const uint64_t h = KeyHash(key);
      if (has_skip && h <= skip) continue;
      if (seen.count(key) != 0) continue;
      batch.emplace_back(h, key);
    }
    std::sort(batch.begin(), batch.end());
    const size_t room = limit - keys.size();
    if (batch.size() > room) {
      if (!keys.empty()) {
        // The next page runs this SCAN again; nothing of it is listed yet.
        page.next_cursor = encode(master, cursor);
        break;
      }
      if (count > 1) {
        // A smaller COUNT visits fewer buckets from the same cursor.
        count = std::max<size_t>(1, std::min(count / 2, room));
        continue;
      }
      // One bucket holds more than a page: end the page inside it. The
      // next page runs this SCAN again and skips the keys up to the hash
      // of the last one listed (the batch is in hash order).
      batch.resize(room);
      for (auto& [h, key] : batch) {
        seen.insert(key);
        keys.emplace_back(master, std::move(key));
      }
      page.next_cursor =
          encode(master, cursor + ":" + Hex64(batch.back().first));
      break;
    }
    for (auto& [h, key] : batch) {
      seen.insert(key);
      keys.emplace_back(master, std::move(key));
    }
    has_skip = false;
    const std::string& next = r.elements[0].str;
    if (next == "0") {
      // This master is done: on to the next one, if any.
      if (++master == masters->size()) break;  // complete: no next_cursor
      cursor = "0";
    } else {
      cursor = next;
    }
    if (keys.size() == limit) {
      page.next_cursor = encode(master, cursor);
      break;
    }
    count = std::clamp(limit - keys.size(), kMinScanCount, kMaxScanCount);
  }

  // Sizes and expiries: a batch of keys per round trip, to the master that
  // listed them.
  auto add = [&](const std::string& key, const Reply& len,
                 const Reply& pttl) -> Status {
    if (len.type != Reply::Type::kInteger) {
      return Unexpected(what, "STRLEN", len);
    }
    if (pttl.type != Reply::Type::kInteger) {
      return Unexpected(what, "PTTL", pttl);
    }
    if (pttl.integer == -2) return Status::OK();  // gone since SCAN
    SessionInfo info;
    info.id = key.substr(open.size(), key.size() - open.size() - 1);
    info.bytes = static_cast<uint64_t>(std::max<int64_t>(len.integer, 0));
    info.expires_at = ExpiryFromPttl(pttl.integer);
    page.sessions.push_back(std::move(info));
    return Status::OK();
  };
  for (size_t start = 0; start < keys.size();) {
    const size_t node = keys[start].first;
    size_t end = start;
    while (end < keys.size() && end - start < kInfoBatch &&
           keys[end].first == node) {
      ++end;
    }
    std::vector<Command> commands;
    commands.reserve(2 * (end - start));
    for (size_t i = start; i < end; ++i) {
      commands.push_back(Command{{"STRLEN", keys[i].second}});
      commands.push_back(Command{{"PTTL", keys[i].second}});
    }
    SK_RETURN_IF_ERROR(RunAt((*masters)[node], commands, &replies, true, what));
    for (size_t i = start; i < end; ++i) {
      const std::string& key = keys[i].second;
      const Reply& len = replies[2 * (i - start)];
      const Reply& pttl = replies[2 * (i - start) + 1];
      if (len.is_error() || pttl.is_error()) {
        // Moved to another master since SCAN listed it (a slot migration
        // or failover): ask where the key lives now.
        std::vector<Reply> one;
        const Command info[] = {{{"STRLEN", key}}, {{"PTTL", key}}};
        SK_RETURN_IF_ERROR(Run(key, info, &one, true, what));
        SK_RETURN_IF_ERROR(add(key, one[0], one[1]));
        continue;
      }
      SK_RETURN_IF_ERROR(add(key, len, pttl));
    }
    start = end;
  }
  return page;
}

Result<GcResult> RedisStore::Gc(TimePoint) { return GcResult{}; }

Status RedisStore::Health() {
  const Command ping[] = {{{"PING"}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run("", ping, &replies, true, "health check"));
  if (!replies[0].Is("PONG")) {
    return Unexpected("health check", "PING", replies[0]);
  }
  return Status::OK();
}

}  // namespace sessionkit::redis
