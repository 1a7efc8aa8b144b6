// The lock script, which LockAndRead (redis_lock.cc) runs when its fast
// path (SET NX) does not take the lock: its Lua source, and its SHA1 for
// EVALSHA. Its snippets, and the keys it works on, are in redis_lock.h.
#include <string_view>

#include "stores/redis/redis_lock.h"

namespace sessionkit::redis {
namespace {

// Session data never passes through Lua: converting a value between Redis
// and Lua costs more than a second command in the same round trip (about
// 120 us for 100 KB on this machine's Redis 7). The data is read by a GET
// pipelined right after the lock script, and written to a staging key
// that the write script renames into place.
//
// ARGV: token, PX of a lock record (lease + retention) ms, max waiters (0:
// no cap), wait ms (0: no waiting), expected holder ("" or the record of a
// holder known to be gone, taken over if it still holds), retention ms, the
// record to write (the token, stamped where masters change: see
// redis_lock.h). The lock is held while its record's PTTL is above the
// retention (the lease runs); a record with less is free to take (its
// lease ran out) and names the holder it breaks. A record without expiry
// (written by something else) is held. A lock that is free to take goes to
// the first waiter in the queue (grant), which may be the caller: nobody
// barges past a queued waiter. A record that is already the caller's (a
// grant) is the caller's lock. Waiting registers the token in the waiters
// set (score: deadline) and, the first time, at the queue's end.
// Returns {1, "", 0, broken holder or ""} when acquired (the GET after the
// script reads the data), {0, holder, lease ms left} when held,
// {2, holder, lease ms left} when the waiter cap is reached.
constexpr std::string_view kLockSource = SK_REDIS_LUA_GRANT SK_REDIS_LUA_HOLDS
    "local holder = redis.call('GET', KEYS[2])\n"
    "local pttl = -2\n"
    "if holder then pttl = redis.call('PTTL', KEYS[2]) end\n"
    "local retention = tonumber(ARGV[6])\n"
    "local wake = KEYS[4] .. ':' .. ARGV[1]\n"
    "local function take(broken)\n"
    "  redis.call('SET', KEYS[2], ARGV[7], 'PX', ARGV[2])\n"
    "  if redis.call('EXISTS', KEYS[3]) == 1 then\n"
    "    redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "    redis.call('DEL', wake)\n"
    "  end\n"
    "  return {1, '', 0, broken}\n"
    "end\n"
    "if holder and holds(holder, ARGV[1]) then\n"
    "  redis.call('DEL', wake)\n"
    "  return take('')\n"
    "end\n"
    "local now = now_ms()\n"
    "if not holder or (ARGV[5] ~= '' and holder == ARGV[5]) or"
    " (pttl >= 0 and pttl <= retention) then\n"
    "  local here = ''\n"
    "  if ARGV[7] ~= ARGV[1] then here = string.sub(ARGV[7], #ARGV[1] + 2) "
    "end\n"
    "  local g = grant(now, ARGV[1], here)\n"
    "  if g == nil or g == true then return take(holder or '') end\n"
    "  holder = g[1]\n"
    "  pttl = g[2]\n"
    "end\n"
    "local left = pttl\n"
    "if pttl > 0 then left = pttl - retention end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"
    "local wait = tonumber(ARGV[4])\n"
    "if wait <= 0 then\n"
    "  redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "  return {0, holder, left}\n"
    "end\n"
    "local queued = redis.call('ZSCORE', KEYS[3], ARGV[1])\n"
    "local cap = tonumber(ARGV[3])\n"
    "if cap > 0 and not queued and"
    " redis.call('ZCARD', KEYS[3]) >= cap then\n"
    "  return {2, holder, left}\n"
    "end\n"
    // The caller holds nothing: a token on its wake list is of a grant
    // taken from it since (a takeover, a Destroy).
    "redis.call('DEL', wake)\n"
    "redis.call('ZADD', KEYS[3], string.format('%d', now + wait), ARGV[1])\n"
    // Touches the lock key (same expiry): a holder that WATCHes it then
    // finds its EXEC aborted and releases through a script, which grants.
    "if pttl > 0 then redis.call('PEXPIRE', KEYS[2], pttl) end\n"
    "if not queued then\n"
    "  redis.call('RPUSH', KEYS[5],"
    " ARGV[2] .. ' ' .. #ARGV[1] .. ' ' .. ARGV[1] .. ARGV[7])\n"
    "end\n"
    "local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')\n"
    "local keep = string.format('%d', math.max(1, tonumber(last[2]) - now))\n"
    "redis.call('PEXPIRE', KEYS[3], keep)\n"
    "redis.call('PEXPIRE', KEYS[5], keep)\n"
    "return {0, holder, left}\n";

}  // namespace

const LuaScript& LockScript() {
  static const LuaScript script = MakeScript(kLockSource);
  return script;
}

}  // namespace sessionkit::redis
