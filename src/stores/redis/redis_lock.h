// Internals shared by the files of RedisStore (redis_store.cc,
// redis_runner.cc, redis_scan.cc, redis_lock.cc, redis_lock_script.cc,
// redis_release.cc; the locking protocol: see redis_store.h), and the pieces
// of it that unit tests call.
#ifndef SESSIONKIT_STORES_REDIS_REDIS_LOCK_H_
#define SESSIONKIT_STORES_REDIS_REDIS_LOCK_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "stores/redis/connection.h"

namespace sessionkit::redis {

// Run calls Pick with the connection an attempt lands on (`asking`: after
// an ASK redirect, ASKING goes before each command) and the request's
// commands, and sends what it returns there; nothing skips the attempt (Run
// then returns OK with no replies). Done follows the exchange whatever its
// outcome, with the replies as Execute left them (ASKING replies included); it
// may replace a reply of a command it added (Run then judges the replacement).
class ConnectionHook {
 public:
  virtual ~ConnectionHook() = default;
  virtual std::span<const Command> Pick(Connection& conn, bool asking,
                                        std::span<const Command> commands) = 0;
  virtual void Done(Connection& conn, bool asking, const Status& st,
                    std::vector<Reply>* replies) = 0;
};

struct LuaScript {
  std::string_view source;
  std::string sha1;  // lower-case hex, as EVALSHA takes it
};

// The SHA1 of `source`, for EVALSHA.
LuaScript MakeScript(std::string_view source);

// Lua snippets of the locking scripts. Keys of every script: KEYS[1] data,
// KEYS[2] lock, KEYS[3] waiters, KEYS[4] wake (the prefix of each waiter's
// own wake list, KEYS[4]:<token>), KEYS[5] queue. Times are the server's
// (TIME), so client clocks do not matter.
//
// The server's time in unix ms, and the hand-off: grant(now, self, here)
// gives the lock to the first waiter in the queue (arrival order) that
// still waits (its deadline in the waiters set not passed), writing the
// record it asked for and pushing a grant onto its own wake list, so it
// needs no further command to hold the lock. A stamped record is stamped
// again with `here` (the server the script runs on, as the caller routed
// to it; nil or "" where records are not stamped): the waiter queued on
// the master of its time, which a failover since may have replaced, and a
// record naming a server that is no longer a master is taken over.
// Entries of waiters that left are dropped on the way. Returns nil when
// nobody waits, true when `self` (a token, or nil) comes first (nothing
// granted: the caller takes the lock), else {record, PX} of the grant.
// `now`: nil to read the clock only when someone waits. A queue entry is
// "<PX> <#token> <token><record>".
#define SK_REDIS_LUA_NOW                 \
  "local function now_ms()\n"            \
  "  local t = redis.call('TIME')\n"     \
  "  return tonumber(t[1]) * 1000 +"     \
  " math.floor(tonumber(t[2]) / 1000)\n" \
  "end\n"
#define SK_REDIS_LUA_GRANT                                        \
  SK_REDIS_LUA_NOW                                                \
  "local function grant(now, self, here)\n"                       \
  "  if redis.call('EXISTS', KEYS[3]) == 0 then return nil end\n" \
  "  now = now or now_ms()\n"                                     \
  "  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"      \
  "  while true do\n"                                             \
  "    local e = redis.call('LPOP', KEYS[5])\n"                   \
  "    if not e then return nil end\n"                            \
  "    local a = string.find(e, ' ', 1, true)\n"                  \
  "    local b = string.find(e, ' ', a + 1, true)\n"              \
  "    local n = tonumber(string.sub(e, a + 1, b - 1))\n"         \
  "    local t = string.sub(e, b + 1, b + n)\n"                   \
  "    if t == self then return true end\n"                       \
  "    local deadline = redis.call('ZSCORE', KEYS[3], t)\n"       \
  "    if deadline then\n"                                        \
  "      local px = string.sub(e, 1, a - 1)\n"                    \
  "      local record = string.sub(e, b + n + 1)\n"               \
  "      if here and here ~= '' and record ~= t then\n"           \
  "        record = t .. '@' .. here\n"                           \
  "      end\n"                                                   \
  "      redis.call('ZREM', KEYS[3], t)\n"                        \
  "      redis.call('SET', KEYS[2], record, 'PX', px)\n"          \
  "      local w = KEYS[4] .. ':' .. t\n"                         \
  "      redis.call('RPUSH', w, '1')\n"                           \
  "      redis.call('PEXPIRE', w, string.format('%d',\n"          \
  "          math.max(1, tonumber(deadline) - now) + 1000))\n"    \
  "      return {record, tonumber(px)}\n"                         \
  "    end\n"                                                     \
  "  end\n"                                                       \
  "end\n"

// Whether the lock record `v` is token `t`'s (see "The lock record's
// value" below): `t` itself, or `t` stamped with a server.
#define SK_REDIS_LUA_HOLDS                                    \
  "local function holds(v, t)\n"                              \
  "  if v == t then return true end\n"                        \
  "  if not v or string.sub(v, 1, #t + 1) ~= t .. '@' then\n" \
  "    return false\n"                                        \
  "  end\n"                                                   \
  "  return not string.find(v, '@', #t + 2, true)\n"          \
  "end\n"

// The lock script (redis_lock_script.cc: its arguments and replies), which
// LockAndRead runs when its fast path (SET NX) does not take the lock.
const LuaScript& LockScript();

// --- The lock record's value ----------------------------------------------
//
// Where a replica can become the master (Topology::MasterCanChange), the
// record holds "<token>@<host:port>": the owner's token and the master it
// was taken on, as this client routed to it (the address the sentinels or
// CLUSTER SLOTS announce, the same for every client). A waiter that finds
// a record on another server than the one it was taken on, and that server
// is no longer a master, knows the lock comes from before a failover: the
// holder's release may have gone to the old master, or been lost with it.
// It takes the lock over at once (compare-and-take-over, as for a holder
// whose process is gone) instead of waiting out the lease. A record moved
// by resharding names a server that is still a master, and is waited for.
// Standalone servers store the bare token. Owners are compared with
// SK_REDIS_LUA_HOLDS, so a holder finds its lock wherever it was taken.

// `token` stamped with the server `at`.
std::string StampedLockValue(std::string_view token, const Endpoint& at);

// A lock record's parts: the owner's token, and the server it was taken
// on ("" when it names none).
struct LockValue {
  std::string_view token;
  std::string_view taken_on;
};
LockValue SplitLockValue(std::string_view value);

// Redis refuses expiries past LLONG_MAX ms from now; this (about 2230
// years) is far from that and longer than any session.
inline constexpr int64_t kMaxTtlMs = int64_t{1} << 46;
// Expiry reported for a key without a TTL (written by something else).
inline constexpr int64_t kNoExpiryMs = 253402300799999;  // 9999-12-31

// `st` with " (<what>)" added to its message; OK stays OK.
Status WithWhat(const Status& st, std::string_view what);

inline int64_t ClampTtl(Duration ttl) {
  return std::min<int64_t>(ttl.count(), kMaxTtlMs);
}

// The expiry of a key whose PTTL is `pttl` at `now`.
inline TimePoint ExpiryFromPttl(TimePoint now, int64_t pttl) {
  if (pttl < 0) return FromUnixMillis(kNoExpiryMs);
  return FromUnixMillis(ToUnixMillis(now) + pttl);
}

// Redis ends a blocked command's timeout on its timer (every 1000/hz ms,
// 100 ms at the default hz 10), so a BLPOP or a WAIT may answer this much
// late.
inline constexpr Duration kServerTimerSlack{100};

// --- The server version locking needs -------------------------------------

// The oldest Redis major version the lock runs on: waiters BLPOP with a
// timeout in fractions of a second, which Redis reads since 6.0 (older
// servers answer "ERR timeout is not an integer or out of range").
inline constexpr int kMinLockingRedisMajor = 6;

// The redis_version field of an INFO reply ("5.0.7"); nullopt when absent.
std::optional<std::string> RedisVersionFromInfo(std::string_view info);

// The major number of a version like "6.2.14"; nullopt when it does not
// start with digits and a dot (another server's scheme: not judged).
std::optional<int> VersionMajor(std::string_view version);

// NotSupported naming the server, its version and the way out when
// `version` is too old to lock on; OK otherwise (unknown versions
// included).
Status CheckLockingVersion(std::string_view store_name,
                           const Endpoint& endpoint, std::string_view version);

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_REDIS_LOCK_H_
