#include "stores/redis/redis_store.h"

#include <openssl/evp.h>

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

namespace sessionkit::redis {

// Run calls Pick with the connection an attempt lands on (`asking`: after
// an ASK redirect, ASKING goes before each command) and sends what it
// returns there; nothing skips the attempt (Run then returns OK with no
// replies). Done follows the exchange whatever its outcome, with the
// replies as Execute left them (ASKING replies included).
class ConnectionHook {
 public:
  virtual ~ConnectionHook() = default;
  virtual std::span<const Command> Pick(Connection& conn, bool asking) = 0;
  virtual void Done(Connection& conn, bool asking, const Status& st,
                    const std::vector<Reply>& replies) = 0;
};

struct LuaScript {
  std::string_view source;
  std::string sha1;  // lower-case hex, as EVALSHA takes it
};

namespace {

constexpr size_t kDefaultScanLimit = 1000;
// SCAN COUNT hint bounds, and keys per STRLEN + PTTL round trip of a page.
constexpr size_t kMinScanCount = 1;
constexpr size_t kMaxScanCount = 1000;
constexpr size_t kInfoBatch = 500;
// Redis refuses expiries past LLONG_MAX ms from now; this (about 2230
// years) is far from that and longer than any session.
constexpr int64_t kMaxTtlMs = int64_t{1} << 46;
// Expiry reported for a key without a TTL (written by something else).
constexpr int64_t kNoExpiryMs = 253402300799999;  // 9999-12-31T23:59:59.999Z
// Attempts after a pooled connection turned out closed by the server.
constexpr int kMaxStaleRetries = 3;
// Attempts after the topology says the route changed.
constexpr int kMaxRouteRetries = 1;
// Cluster answers TRYAGAIN to a multi-key command (the locking scripts)
// while the keys' slot is half migrated; the move usually completes within
// milliseconds. Retried after a pause for up to this long.
constexpr std::chrono::milliseconds kTryAgainPause{20};
constexpr std::chrono::milliseconds kTryAgainBudget{1000};
constexpr size_t kMaxIdBytes = 256;

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

int64_t ClampTtl(Duration ttl) {
  return std::min<int64_t>(ttl.count(), kMaxTtlMs);
}

TimePoint ExpiryFromPttl(int64_t pttl) {
  if (pttl < 0) return FromUnixMillis(kNoExpiryMs);
  return FromUnixMillis(ToUnixMillis(Clock::now()) + pttl);
}

// --- Locking scripts -----------------------------------------------------
//
// Keys of every script: KEYS[1] data, KEYS[2] lock, KEYS[3] waiters,
// KEYS[4] wake (LockAndRead passes the first three). Times are the server's
// (TIME), so client clocks do not matter.

// The server's time in unix ms, and a release's wake-up: when anyone still
// waits, leave exactly one wake token (one release wakes one waiter), kept
// until the last waiter's deadline.
#define SK_LUA_NOW                       \
  "local function now_ms()\n"            \
  "  local t = redis.call('TIME')\n"     \
  "  return tonumber(t[1]) * 1000 +"     \
  " math.floor(tonumber(t[2]) / 1000)\n" \
  "end\n"
#define SK_LUA_WAKE                                                      \
  SK_LUA_NOW                                                             \
  "local function wake()\n"                                              \
  "  if redis.call('EXISTS', KEYS[3]) == 0 then return end\n"            \
  "  local now = now_ms()\n"                                             \
  "  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"             \
  "  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')\n" \
  "  if last[1] then\n"                                                  \
  "    redis.call('DEL', KEYS[4])\n"                                     \
  "    redis.call('RPUSH', KEYS[4], '1')\n"                              \
  "    redis.call('PEXPIRE', KEYS[4],\n"                                 \
  "        string.format('%d', math.max(1, tonumber(last[2]) - now)))\n" \
  "  end\n"                                                              \
  "end\n"

// Session data never passes through Lua: converting a value between Redis
// and Lua costs more than a second command in the same round trip (about
// 120 us for 100 KB on this machine's Redis 7). The data is read by a GET
// pipelined right after the lock script, and written to a staging key
// that the write script renames into place.
//
// ARGV: token, lease ms, max waiters (0: no cap), wait ms (0: no waiting),
// expected holder ("" or a holder known to be gone, taken over if it still
// holds). Returns {1, "", 0, broken holder or ""} when acquired (the GET
// and PTTL after the script read the data), {0, holder, lock PTTL} when
// held, {2, holder, lock PTTL} when the waiter cap is reached.
constexpr std::string_view kLockSource = SK_LUA_NOW
    "local holder = redis.call('GET', KEYS[2])\n"
    "if not holder or holder == ARGV[1] or"
    " (ARGV[5] ~= '' and holder == ARGV[5]) then\n"
    "  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])\n"
    "  if redis.call('EXISTS', KEYS[3]) == 1 then\n"
    "    redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "  end\n"
    "  local broken = ''\n"
    "  if holder and holder ~= ARGV[1] then broken = holder end\n"
    "  return {1, '', 0, broken}\n"
    "end\n"
    "local pttl = redis.call('PTTL', KEYS[2])\n"
    "local now = now_ms()\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"
    "local wait = tonumber(ARGV[4])\n"
    "if wait <= 0 then\n"
    "  redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "  return {0, holder, pttl}\n"
    "end\n"
    "local cap = tonumber(ARGV[3])\n"
    "if cap > 0 and not redis.call('ZSCORE', KEYS[3], ARGV[1]) and"
    " redis.call('ZCARD', KEYS[3]) >= cap then\n"
    "  return {2, holder, pttl}\n"
    "end\n"
    "redis.call('ZADD', KEYS[3], string.format('%d', now + wait), ARGV[1])\n"
    // Touches the lock key (same expiry): a holder that WATCHes it then
    // finds its EXEC aborted and releases through a script, which wakes us.
    "if pttl > 0 then redis.call('PEXPIRE', KEYS[2], pttl) end\n"
    "local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')\n"
    "redis.call('PEXPIRE', KEYS[3],"
    " string.format('%d', math.max(1, tonumber(last[2]) - now)))\n"
    "return {0, holder, pttl}\n";

// KEYS[5]: the staging key the SET before the script wrote the data to,
// with its expiry. ARGV: token, ttl ms (0 or less: delete the session).
// Returns 0 (not the holder: nothing written, staging key dropped) or 1.
constexpr std::string_view kWriteSource = SK_LUA_WAKE
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then\n"
    "  redis.call('DEL', KEYS[5])\n"
    "  return 0\n"
    "end\n"
    "if tonumber(ARGV[2]) > 0 and redis.call('EXISTS', KEYS[5]) == 1 then\n"
    "  redis.call('RENAME', KEYS[5], KEYS[1])\n"
    "else\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "wake()\n"
    "return 1\n";

// ARGV: token, ttl ms (0 or more). Returns 0 (not the holder: nothing
// touched), 1, or 2 (no such session; the lock is released all the same).
constexpr std::string_view kTouchSource = SK_LUA_WAKE
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end\n"
    "local found = redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "redis.call('DEL', KEYS[2])\n"
    "wake()\n"
    "if found == 1 then return 1 end\n"
    "return 2\n";

// ARGV: token. Releases only the holder's lock; returns 1 either way.
constexpr std::string_view kUnlockSource = SK_LUA_WAKE
    "if redis.call('GET', KEYS[2]) == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  wake()\n"
    "end\n"
    "return 1\n";

#undef SK_LUA_WAKE
#undef SK_LUA_NOW

LuaScript MakeScript(std::string_view source) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  LuaScript script{source, ""};
  if (EVP_Digest(source.data(), source.size(), digest, &size, EVP_sha1(),
                 nullptr) != 1) {
    // EVALSHA of "" gets NOSCRIPT, so every call falls back to EVAL.
    return script;
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < size; ++i) {
    script.sha1 += kDigits[digest[i] >> 4];
    script.sha1 += kDigits[digest[i] & 0xf];
  }
  return script;
}

const LuaScript& LockScript() {
  static const LuaScript script = MakeScript(kLockSource);
  return script;
}
const LuaScript& WriteScript() {
  static const LuaScript script = MakeScript(kWriteSource);
  return script;
}
const LuaScript& TouchScript() {
  static const LuaScript script = MakeScript(kTouchSource);
  return script;
}
const LuaScript& UnlockScript() {
  static const LuaScript script = MakeScript(kUnlockSource);
  return script;
}

using SteadyClock = std::chrono::steady_clock;

// The fast path's lock-taking pipeline: UNWATCH (only if the connection may
// watch something: whatever it watched goes), SET NX PX, GET + PTTL of the
// data, WATCH. Marks the connection as watching the lock when the SET took
// it. Never sent after an ASK redirect: while a slot migrates, the lock
// key and the data key may sit on different nodes, and these single-key
// commands would not notice (the script's multi-key call gets TRYAGAIN).
class WatchOnTake final : public ConnectionHook {
 public:
  // `commands`: UNWATCH, SET, GET, PTTL, WATCH.
  WatchOnTake(std::span<const Command> commands, Connection::WatchedLock lock)
      : commands_(commands), lock_(std::move(lock)) {}
  std::span<const Command> Pick(Connection& conn, bool asking) override {
    if (asking) return {};
    skip_ = conn.watching() ? 0 : 1;
    return commands_.subspan(skip_);
  }
  void Done(Connection& conn, bool asking, const Status& st,
            const std::vector<Reply>& replies) override {
    if (asking) return;  // nothing was sent
    const bool taken = st.ok() && replies.size() == commands_.size() - skip_ &&
                       replies[set_at()].Is("OK");
    conn.set_watch_state(true, taken ? lock_ : Connection::WatchedLock{});
  }
  // Where the SET's reply is (GET, PTTL follow).
  size_t set_at() const { return 1 - skip_; }

 private:
  std::span<const Command> commands_;
  Connection::WatchedLock lock_;
  size_t skip_ = 0;
};

// Sends a MULTI ... EXEC release only on the connection that WATCHes the
// lock, and nothing elsewhere. EXEC ends the WATCH, so the mark goes.
class ExecIfWatched final : public ConnectionHook {
 public:
  ExecIfWatched(std::span<const Command> transaction,
                Connection::WatchedLock lock)
      : transaction_(transaction), lock_(std::move(lock)) {}
  std::span<const Command> Pick(Connection& conn, bool asking) override {
    ran_ = !asking && conn.watched_lock() == lock_;
    if (!ran_) return {};
    return transaction_;
  }
  void Done(Connection& conn, bool, const Status&,
            const std::vector<Reply>&) override {
    if (ran_) conn.set_watch_state(false, {});
  }
  // True when the last attempt sent the transaction.
  bool ran() const { return ran_; }

 private:
  std::span<const Command> transaction_;
  Connection::WatchedLock lock_;
  bool ran_ = false;
};

// A waiter of a holder of this host wakes at least this often, to see
// whether the holder's process is gone (killed without a release).
constexpr Duration kLocalHolderPoll{250};
// Any waiter looks again at least this often, since a wake-up can be lost:
// after a Sentinel failover the old master accepts commands (and keeps our
// BLPOP) for seconds while the release wakes the new one, and a waiter
// that popped the wake token may die before it takes the lock.
constexpr Duration kMaxBlock{1000};
// Past the holder's lease, so that the lock key has surely expired when
// the waiter looks again.
constexpr Duration kLeaseSlack{5};
// Redis ends a blocked command's timeout on its timer (every 1000/hz ms,
// 100 ms at the default hz 10), so a BLPOP may answer this much late.
constexpr Duration kServerTimerSlack{100};

// This host's name as LockOwner tokens carry it.
const std::string& ThisHost() {
  static const std::string host = [] {
    const std::string token = LockOwner::Generate().token;
    return token.substr(0, token.find('|'));
  }();
  return host;
}

bool HolderIsOnThisHost(std::string_view token) {
  const size_t bar = token.find('|');
  return bar != std::string_view::npos && token.substr(0, bar) == ThisHost();
}

// BLPOP's timeout in seconds, with millisecond precision.
std::string Seconds(Duration d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%lld.%03lld",
           static_cast<long long>(d.count() / 1000),
           static_cast<long long>(d.count() % 1000));
  return buf;
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
  bool ok = !id.empty() && id.size() <= kMaxIdBytes;
  for (size_t i = 0; ok && i < id.size(); ++i) ok = IsIdChar(id[i]);
  if (ok) return Status::OK();
  return Status::InvalidArgument(
      name() + ": " + std::string(op) +
      ": a session id must have 1 to 256 characters from a-z A-Z 0-9 , - "
      "(got " +
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
                       std::string_view keep_error, ConnectionHook* hook) {
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
      if (hook != nullptr) hook->Done(*conn, ask.has_value(), st, *replies);
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

Status RedisStore::Destroy(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "destroy"));
  const std::string key = Key(id);
  const Command del[] = {{{"DEL", key}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run(key, del, &replies, false,
                         "destroy of session " + SessionIdPrefix(id)));
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

Status RedisStore::RunScript(const LuaScript& script,
                             std::span<const std::string> keys,
                             std::span<const std::string_view> args,
                             const std::string& what, Reply* reply,
                             std::span<const Command> before,
                             std::span<const Command> after,
                             std::vector<Reply>* others) {
  const std::string numkeys = std::to_string(keys.size());
  std::vector<Command> pipeline(before.begin(), before.end());
  const size_t at = pipeline.size();
  Command& command = pipeline.emplace_back();
  command.args.reserve(3 + keys.size() + args.size());
  command.args.push_back("EVALSHA");
  command.args.push_back(script.sha1);
  command.args.push_back(numkeys);
  for (const std::string& key : keys) command.args.push_back(key);
  for (std::string_view arg : args) command.args.push_back(arg);
  pipeline.insert(pipeline.end(), after.begin(), after.end());
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run(keys[0], pipeline, &replies, /*read_only=*/false, what,
                         Duration(0), /*keep_error=*/"NOSCRIPT"));
  if (replies[at].is_error()) {
    // NOSCRIPT: the script did not run (its neighbours did, and may run
    // again: a SET of the staging key, a GET). EVAL runs the source and
    // caches it, so the next EVALSHA finds it.
    pipeline[at].args[0] = "EVAL";
    pipeline[at].args[1] = script.source;
    SK_RETURN_IF_ERROR(
        Run(keys[0], pipeline, &replies, /*read_only=*/false, what));
  }
  *reply = std::move(replies[at]);
  if (others != nullptr) {
    others->clear();
    for (size_t i = 0; i < replies.size(); ++i) {
      if (i != at) others->push_back(std::move(replies[i]));
    }
  }
  return Status::OK();
}

Status RedisStore::LockLost(std::string_view id,
                            std::string_view refused) const {
  return Status::LockLost(name() + ": session " + SessionIdPrefix(id) +
                          ": lock is no longer held by this request (lease "
                          "ran out or taken over); " +
                          std::string(refused));
}

Result<LockedRead> RedisStore::LockAndRead(std::string_view id,
                                           const LockRequest& request) {
  SK_RETURN_IF_ERROR(CheckId(id, "lock"));
  const std::string what = "locked read of session " + SessionIdPrefix(id);
  const std::string& token = request.owner.token;
  if (token.empty()) {
    return Status::InvalidArgument(name() + ": " + what +
                                   ": the lock owner token is empty");
  }
  if (request.lease.count() <= 0) {
    return Status::InvalidArgument(
        name() + ": " + what + ": the lock lease must be positive (got " +
        std::to_string(request.lease.count()) + " ms)");
  }
  const std::vector<std::string> keys = LockingKeys(id);
  const std::span<const std::string> script_keys(keys.data(), 3);
  const std::string& wake_key = keys[3];
  const std::string lease = std::to_string(ClampTtl(request.lease));
  const std::string cap = std::to_string(request.max_waiters);
  const SteadyClock::time_point deadline =
      SteadyClock::now() + std::max(request.wait, Duration(0));
  std::vector<Reply> replies;
  // The lock taken: `data` and `pttl` are the GET and PTTL behind it.
  auto acquired = [&](Reply& data, const Reply& pttl,
                      std::string broken) -> Result<LockedRead> {
    if (data.type != Reply::Type::kString && !data.is_nil()) {
      return Unexpected(what, "GET", data);
    }
    if (pttl.type != Reply::Type::kInteger) {
      return Unexpected(what, "PTTL", pttl);
    }
    LockedRead locked;
    locked.outcome = LockOutcome::kAcquired;
    if (data.type == Reply::Type::kString && pttl.integer != -2) {
      locked.found = true;
      locked.record.data = std::move(data.str);
      locked.record.expires_at = ExpiryFromPttl(pttl.integer);
    }
    locked.broken_owner = std::move(broken);
    return locked;
  };
  {
    // The fast path, no script: take a free lock with SET NX and WATCH it
    // (see WatchOnTake), reading the data in the same round trip.
    const Command take[] = {{{"UNWATCH"}},
                            {{"SET", keys[1], token, "NX", "PX", lease}},
                            {{"GET", keys[0]}},
                            {{"PTTL", keys[0]}},
                            {{"WATCH", keys[1]}}};
    WatchOnTake hook(take, {keys[1], token});
    SK_RETURN_IF_ERROR(Run(keys[0], take, &replies, /*read_only=*/false, what,
                           Duration(0), {}, &hook));
    // No replies: redirected by ASK (a slot migrating), left to the script.
    if (!replies.empty()) {
      const size_t at = hook.set_at();
      const Reply& set = replies[at];
      if (set.Is("OK")) return acquired(replies[at + 1], replies[at + 2], "");
      // Held (by another request, or already by this owner): the script.
      if (!set.is_nil()) return Unexpected(what, "SET", set);
    }
  }
  // A holder known to be gone: the script takes its lock over if it still
  // holds it (compare-and-take-over, so a new holder is never broken).
  std::string expected;
  while (true) {
    Duration left =
        std::chrono::duration_cast<Duration>(deadline - SteadyClock::now());
    // The last try does not register as a waiter (and leaves if it was).
    const bool last_try = left.count() <= 0;
    const std::string wait_ms = std::to_string(last_try ? 0 : left.count());
    const std::string_view args[] = {token, lease, cap, wait_ms, expected};
    // Read right behind the script, in the same round trip: once it holds
    // the lock, no locked writer can change the data in between.
    const Command read[] = {{{"GET", keys[0]}}, {{"PTTL", keys[0]}}};
    Reply reply;
    std::vector<Reply> data;
    SK_RETURN_IF_ERROR(RunScript(LockScript(), script_keys, args, what, &reply,
                                 {}, read, &data));
    std::vector<Reply>& r = reply.elements;
    if (reply.type != Reply::Type::kArray || r.size() < 3 ||
        r[0].type != Reply::Type::kInteger ||
        r[2].type != Reply::Type::kInteger) {
      return Unexpected(what, "EVALSHA", reply);
    }
    if (r[0].integer == 1) {
      if (r.size() != 4 || r[3].type != Reply::Type::kString) {
        return Unexpected(what, "EVALSHA", reply);
      }
      if (data.size() != 2) return Unexpected(what, "EVALSHA", reply);
      return acquired(data[0], data[1], std::move(r[3].str));
    }
    if ((r[0].integer != 0 && r[0].integer != 2) ||
        r[1].type != Reply::Type::kString) {
      return Unexpected(what, "EVALSHA", reply);
    }
    std::string holder = std::move(r[1].str);
    const int64_t lock_pttl = r[2].integer;
    if (holder != expected && LockHolderIsGone(holder)) {
      expected = std::move(holder);
      continue;
    }
    if (r[0].integer == 2) {
      LockedRead refused;
      refused.outcome = LockOutcome::kTooManyWaiters;
      return refused;
    }
    if (last_try) {
      LockedRead timed_out;
      timed_out.outcome = LockOutcome::kTimedOut;
      return timed_out;
    }
    left = std::chrono::duration_cast<Duration>(deadline - SteadyClock::now());
    if (left.count() <= 0) continue;  // the last try
    // Sleep until a release pushes a wake token, the lease ends, or (for a
    // holder of this host) it is time to see whether its process is gone.
    Duration slice = left;
    if (lock_pttl >= 0) {
      slice = std::min(slice, Duration(lock_pttl) + kLeaseSlack);
    }
    slice = std::min(slice, kMaxBlock);
    if (HolderIsOnThisHost(holder)) slice = std::min(slice, kLocalHolderPoll);
    slice = std::max(slice, Duration(1));  // BLPOP 0 would block forever
    const std::string timeout = Seconds(slice);
    const Command blpop[] = {{{"BLPOP", wake_key, timeout}}};
    // UNBLOCKED: the server stopped being a master (a failover) and ended
    // the wait; the script finds the new master.
    SK_RETURN_IF_ERROR(Run(wake_key, blpop, &replies, /*read_only=*/false, what,
                           slice + kServerTimerSlack,
                           /*keep_error=*/"UNBLOCKED"));
    // Woken or not, the script decides: a wake token may be stale, and a
    // newcomer may have taken the lock first.
  }
}

Result<std::optional<std::vector<Reply>>> RedisStore::RunWatched(
    std::span<const std::string> keys, const LockOwner& owner,
    std::span<const Command> transaction, const std::string& what) {
  ExecIfWatched hook(transaction, {keys[1], owner.token});
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run(keys[0], transaction, &replies, /*read_only=*/false,
                         what, Duration(0), {}, &hook));
  if (!hook.ran()) return std::optional<std::vector<Reply>>();
  if (replies.size() != transaction.size()) {
    return Unexpected(what, "EXEC", replies.empty() ? Reply() : replies[0]);
  }
  Reply& exec = replies.back();
  // Aborted: the lock key changed since the WATCH (lease ran out, taken
  // over, or a waiter registered). Nothing ran.
  if (exec.is_nil()) return std::optional<std::vector<Reply>>();
  if (exec.type != Reply::Type::kArray ||
      exec.elements.size() != transaction.size() - 2) {
    return Unexpected(what, "EXEC", exec);
  }
  for (size_t i = 0; i < exec.elements.size(); ++i) {
    const Reply& r = exec.elements[i];
    if (!r.is_error()) continue;
    return Status::Internal(
        name() + ": " + what + ": " + std::string(transaction[i + 1].args[0]) +
        " failed in MULTI/EXEC (the server says: " + r.str.substr(0, 120) +
        ")");
  }
  return std::optional<std::vector<Reply>>(std::move(exec.elements));
}

Status RedisStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                  Duration ttl, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(id, "write and unlock"));
  const std::string what = "write and unlock of session " + SessionIdPrefix(id);
  std::vector<std::string> keys = LockingKeys(id);
  // A ttl of 0 or less deletes the session, as Write does.
  const int64_t ttl_ms = std::max<int64_t>(ClampTtl(ttl), 0);
  const std::string ttl_text = std::to_string(ttl_ms);
  {
    Command transaction[] = {{{"MULTI"}},
                             {{"SET", keys[0], data, "PX", ttl_text}},
                             {{"DEL", keys[1]}},
                             {{"EXEC"}}};
    if (ttl_ms <= 0) transaction[1] = Command{{"DEL", keys[0]}};
    Result<std::optional<std::vector<Reply>>> done =
        RunWatched(keys, owner, transaction, what);
    if (!done.ok()) return done.status();
    if (done->has_value()) {
      const Reply& r = (**done)[0];
      if (ttl_ms > 0 ? !r.Is("OK") : r.type != Reply::Type::kInteger) {
        return Unexpected(what, transaction[1].args[0], r);
      }
      return Status::OK();
    }
  }
  // The staging key: this writer's own, in the session's hash slot, never
  // listed by Scan (it does not end with '}'), gone with its expiry if the
  // script never runs.
  keys.push_back(keys[0] + ":w:" + owner.token);
  const std::string_view args[] = {owner.token, ttl_text};
  const Command stage[] = {{{"SET", keys[4], data, "PX", ttl_text}}};
  std::span<const Command> before = stage;
  if (ttl_ms <= 0) before = {};
  Reply reply;
  std::vector<Reply> staged;
  SK_RETURN_IF_ERROR(
      RunScript(WriteScript(), keys, args, what, &reply, before, {}, &staged));
  if (!staged.empty() && !staged[0].Is("OK")) {
    return Unexpected(what, "SET", staged[0]);
  }
  if (reply.type != Reply::Type::kInteger) {
    return Unexpected(what, "EVALSHA", reply);
  }
  if (reply.integer == 0) return LockLost(id, "write refused");
  return Status::OK();
}

Status RedisStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                  const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(id, "touch and unlock"));
  const std::string what = "touch and unlock of session " + SessionIdPrefix(id);
  const std::vector<std::string> keys = LockingKeys(id);
  // PEXPIRE with 0 deletes the session, as Touch does.
  const std::string ttl_ms =
      std::to_string(std::max<int64_t>(ClampTtl(ttl), 0));
  auto gone = [&] {
    return Status::NotFound(name() + ": " + what +
                            ": no such session (or it expired); the lock "
                            "was released");
  };
  const Command transaction[] = {{{"MULTI"}},
                                 {{"PEXPIRE", keys[0], ttl_ms}},
                                 {{"DEL", keys[1]}},
                                 {{"EXEC"}}};
  Result<std::optional<std::vector<Reply>>> done =
      RunWatched(keys, owner, transaction, what);
  if (!done.ok()) return done.status();
  if (done->has_value()) {
    const Reply& r = (**done)[0];
    if (r.type != Reply::Type::kInteger) return Unexpected(what, "PEXPIRE", r);
    return r.integer == 1 ? Status::OK() : gone();
  }
  const std::string_view args[] = {owner.token, ttl_ms};
  Reply reply;
  SK_RETURN_IF_ERROR(RunScript(TouchScript(), keys, args, what, &reply));
  if (reply.type != Reply::Type::kInteger) {
    return Unexpected(what, "EVALSHA", reply);
  }
  if (reply.integer == 0) return LockLost(id, "touch refused");
  if (reply.integer == 2) return gone();
  return Status::OK();
}

Status RedisStore::Unlock(std::string_view id, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(id, "unlock"));
  const std::string what = "unlock of session " + SessionIdPrefix(id);
  const std::vector<std::string> keys = LockingKeys(id);
  const Command transaction[] = {{{"MULTI"}}, {{"DEL", keys[1]}}, {{"EXEC"}}};
  Result<std::optional<std::vector<Reply>>> done =
      RunWatched(keys, owner, transaction, what);
  if (!done.ok()) return done.status();
  if (done->has_value()) return Status::OK();
  const std::string_view args[] = {owner.token};
  Reply reply;
  SK_RETURN_IF_ERROR(RunScript(UnlockScript(), keys, args, what, &reply));
  if (reply.type != Reply::Type::kInteger) {
    return Unexpected(what, "EVALSHA", reply);
  }
  return Status::OK();
}

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
