// The release side of the Redis store's session locking (see
// redis_store.h): WriteAndUnlock, TouchAndUnlock, Unlock, and Destroy, which
// ends a lock whoever holds it.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/session_id.h"
#include "sessionkit/store.h"
#include "stores/redis/redis_lock.h"
#include "stores/redis/redis_store.h"

namespace sessionkit::redis {
namespace {

// Each release hands the lock to the next waiter (grant, redis_lock.h).
//
// The last ARGV of each: the server the script runs on, where records are
// stamped (StampServer), else "": grant() stamps the record it hands on.
//
// KEYS[6]: the staging key the SET before the script wrote the data to,
// with its expiry. ARGV: token, ttl ms (0 or less: delete the session).
// Returns 0 (not the holder: nothing written, staging key dropped) or 1.
constexpr std::string_view kWriteSource = SK_REDIS_LUA_GRANT SK_REDIS_LUA_HOLDS
    "if not holds(redis.call('GET', KEYS[2]), ARGV[1]) then\n"
    "  redis.call('DEL', KEYS[6])\n"
    "  return 0\n"
    "end\n"
    "if tonumber(ARGV[2]) > 0 and redis.call('EXISTS', KEYS[6]) == 1 then\n"
    "  redis.call('RENAME', KEYS[6], KEYS[1])\n"
    "else\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "grant(nil, nil, ARGV[3])\n"
    "return 1\n";

// ARGV: token, ttl ms (0 or more). Returns 0 (not the holder: nothing
// touched), 1, or 2 (no such session; the lock is released all the same).
constexpr std::string_view kTouchSource = SK_REDIS_LUA_GRANT SK_REDIS_LUA_HOLDS
    "if not holds(redis.call('GET', KEYS[2]), ARGV[1]) then return 0 end\n"
    "local found = redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "redis.call('DEL', KEYS[2])\n"
    "grant(nil, nil, ARGV[3])\n"
    "if found == 1 then return 1 end\n"
    "return 2\n";

// ARGV: token. Releases only the holder's lock; returns 1 either way. An
// owner that does not hold it leaves the waiters (a waiter whose call
// failed, so that no later release grants it the lock).
constexpr std::string_view kUnlockSource = SK_REDIS_LUA_GRANT SK_REDIS_LUA_HOLDS
    "if holds(redis.call('GET', KEYS[2]), ARGV[1]) then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  grant(nil, nil, ARGV[2])\n"
    "else\n"
    "  redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "end\n"
    "return 1\n";

// Destroy: deletes the session and its lock record, whoever holds it (the
// holder's later write or touch finds no record: LockLost), and hands the
// lock to the next waiter. Returns 1.
constexpr std::string_view kDestroySource = SK_REDIS_LUA_GRANT
    "redis.call('DEL', KEYS[1])\n"
    "if redis.call('DEL', KEYS[2]) == 1 then grant(nil, nil, ARGV[1]) end\n"
    "return 1\n";

// Where records are stamped: writes the server each attempt goes to (as
// this client routed to it) into the last argument of the script's command
// (the EVALSHA or EVAL), for grant() to stamp the record it hands on.
class StampServer final : public ConnectionHook {
 public:
  std::span<const Command> Pick(Connection& conn, bool,
                                std::span<const Command> commands) override {
    picked_.assign(commands.begin(), commands.end());
    for (Command& command : picked_) {
      if (command.args[0] == "EVALSHA" || command.args[0] == "EVAL") {
        here_ = conn.endpoint().ToString();
        command.args.back() = here_;
      }
    }
    return picked_;
  }
  void Done(Connection&, bool, const Status&, std::vector<Reply>*) override {}

 private:
  std::string here_;
  std::vector<Command> picked_;
};

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
const LuaScript& DestroyScript() {
  static const LuaScript script = MakeScript(kDestroySource);
  return script;
}

// Sends a MULTI ... EXEC release only on the connection that WATCHes the
// lock, and nothing elsewhere. EXEC ends the WATCH, so the mark goes.
class ExecIfWatched final : public ConnectionHook {
 public:
  ExecIfWatched(std::span<const Command> transaction,
                Connection::WatchedLock lock)
      : transaction_(transaction), lock_(std::move(lock)) {}
  std::span<const Command> Pick(Connection& conn, bool asking,
                                std::span<const Command>) override {
    ran_ = !asking && conn.watched_lock() == lock_;
    if (!ran_) return {};
    return transaction_;
  }
  void Done(Connection& conn, bool, const Status&,
            std::vector<Reply>*) override {
    if (ran_) conn.set_watch_state(false, {});
  }
  // True when the last attempt sent the transaction.
  bool ran() const { return ran_; }

 private:
  std::span<const Command> transaction_;
  Connection::WatchedLock lock_;
  bool ran_ = false;
};

}  // namespace

Status RedisStore::LockLost(std::string_view id,
                            std::string_view refused) const {
  return Status::LockLost(name() + ": session " + SessionIdPrefix(id) +
                          ": lock is no longer held by this request (another "
                          "request took it over after its lease ran out or "
                          "after a failover, or the session was destroyed); " +
                          std::string(refused));
}

Result<std::optional<std::vector<Reply>>> RedisStore::RunWatched(
    std::span<const std::string> keys, const LockOwner& owner,
    std::span<const Command> transaction, const std::string& what,
    bool durable) {
  ExecIfWatched hook(transaction, {keys[1], owner.token});
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run({.key = keys[0],
                          .commands = transaction,
                          .what = what,
                          .hook = &hook,
                          .durable = durable},
                         &replies));
  if (!hook.ran()) return std::optional<std::vector<Reply>>();
  if (replies.size() != transaction.size()) {
    return Unexpected(what, "EXEC", replies.empty() ? Reply() : replies[0]);
  }
  Reply& exec = replies.back();
  // Aborted: the lock key changed since the WATCH (taken over, destroyed,
  // or a waiter registered: the script then hands the lock over). Nothing
  // ran.
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

Status RedisStore::Remembered(std::string_view id, const LockOwner& owner,
                              Status released) {
  pending_.Note(id, owner, released, env_->SteadyNow());
  return released;
}

std::optional<std::string> RedisStore::RetryFailedReleases() {
  return pending_.Retry(
      [this](std::string_view id, const LockOwner& owner) {
        return UnlockOnce(id, owner);
      },
      env_->SteadyNow());
}

Status RedisStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                  Duration ttl, const LockOwner& owner) {
  return Remembered(id, owner, WriteAndUnlockOnce(id, data, ttl, owner));
}

Status RedisStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                  const LockOwner& owner) {
  return Remembered(id, owner, TouchAndUnlockOnce(id, ttl, owner));
}

Status RedisStore::Unlock(std::string_view id, const LockOwner& owner) {
  return Remembered(id, owner, UnlockOnce(id, owner));
}

Status RedisStore::WriteAndUnlockOnce(std::string_view id,
                                      std::string_view data, Duration ttl,
                                      const LockOwner& owner) {
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
        RunWatched(keys, owner, transaction, what, /*durable=*/true);
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
  const std::string_view args[] = {owner.token, ttl_text, ""};
  const Command stage[] = {{{"SET", keys[5], data, "PX", ttl_text}}};
  std::span<const Command> before = stage;
  if (ttl_ms <= 0) before = {};
  Reply reply;
  std::vector<Reply> staged;
  StampServer stamp;
  SK_RETURN_IF_ERROR(RunScript(WriteScript(), keys, args, what, &reply, before,
                               {}, &staged, /*unanswered=*/nullptr,
                               /*durable=*/true, StampHook(&stamp)));
  if (!staged.empty() && !staged[0].Is("OK")) {
    return Unexpected(what, "SET", staged[0]);
  }
  if (reply.type != Reply::Type::kInteger) {
    return Unexpected(what, "EVALSHA", reply);
  }
  if (reply.integer == 0) return LockLost(id, "write refused");
  return Status::OK();
}

Status RedisStore::TouchAndUnlockOnce(std::string_view id, Duration ttl,
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
      RunWatched(keys, owner, transaction, what, /*durable=*/true);
  if (!done.ok()) return done.status();
  if (done->has_value()) {
    const Reply& r = (**done)[0];
    if (r.type != Reply::Type::kInteger) return Unexpected(what, "PEXPIRE", r);
    return r.integer == 1 ? Status::OK() : gone();
  }
  const std::string_view args[] = {owner.token, ttl_ms, ""};
  Reply reply;
  StampServer stamp;
  SK_RETURN_IF_ERROR(RunScript(TouchScript(), keys, args, what, &reply, {}, {},
                               nullptr, /*unanswered=*/nullptr,
                               /*durable=*/true, StampHook(&stamp)));
  if (reply.type != Reply::Type::kInteger) {
    return Unexpected(what, "EVALSHA", reply);
  }
  if (reply.integer == 0) return LockLost(id, "touch refused");
  if (reply.integer == 2) return gone();
  return Status::OK();
}

Status RedisStore::UnlockOnce(std::string_view id, const LockOwner& owner) {
  SK_RETURN_IF_ERROR(CheckId(id, "unlock"));
  const std::string what = "unlock of session " + SessionIdPrefix(id);
  const std::vector<std::string> keys = LockingKeys(id);
  const Command transaction[] = {{{"MULTI"}}, {{"DEL", keys[1]}}, {{"EXEC"}}};
  // Not durable: it frees a lock and writes no session data (see
  // docs/redis.md, "Durable writes").
  Result<std::optional<std::vector<Reply>>> done =
      RunWatched(keys, owner, transaction, what, /*durable=*/false);
  if (!done.ok()) return done.status();
  if (done->has_value()) return Status::OK();
  const std::string_view args[] = {owner.token, ""};
  Reply reply;
  StampServer stamp;
  SK_RETURN_IF_ERROR(RunScript(UnlockScript(), keys, args, what, &reply, {}, {},
                               nullptr, /*unanswered=*/nullptr,
                               /*durable=*/false, StampHook(&stamp)));
  if (reply.type != Reply::Type::kInteger) {
    return Unexpected(what, "EVALSHA", reply);
  }
  return Status::OK();
}

Status RedisStore::Destroy(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "destroy"));
  const std::string what = "destroy of session " + SessionIdPrefix(id);
  // The session and its lock record in one step (a script, one round trip):
  // a holder's later write is refused instead of bringing the session back.
  const std::vector<std::string> keys = LockingKeys(id);
  const std::string_view args[] = {""};
  Reply reply;
  StampServer stamp;
  SK_RETURN_IF_ERROR(RunScript(DestroyScript(), keys, args, what, &reply, {},
                               {}, nullptr, /*unanswered=*/nullptr,
                               /*durable=*/true, StampHook(&stamp)));
  if (reply.type != Reply::Type::kInteger) {
    return Unexpected(what, "EVALSHA", reply);
  }
  return Status::OK();
}

}  // namespace sessionkit::redis
