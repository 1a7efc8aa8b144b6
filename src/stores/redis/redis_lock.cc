// The taking side of the Redis store's session locking (see redis_store.h
// for the keys, the scripts and the fast path): LockAndRead, the version
// check, and RunScript, which every locking script goes through. The lock
// script itself is in redis_lock_script.cc; the release side, and Destroy,
// are in redis_release.cc.
#include "stores/redis/redis_lock.h"

#include <openssl/evp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "sessionkit/session_id.h"
#include "sessionkit/store.h"
#include "stores/lock_wait.h"
#include "stores/redis/redis_store.h"

namespace sessionkit::redis {

std::optional<std::string> RedisVersionFromInfo(std::string_view info) {
  constexpr std::string_view kField = "redis_version:";
  size_t at = 0;
  while (at < info.size()) {
    size_t end = info.find('\n', at);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with(kField)) {
      line.remove_prefix(kField.size());
      if (line.empty()) return std::nullopt;
      return std::string(line.substr(0, 40));
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::optional<int> VersionMajor(std::string_view version) {
  int major = 0;
  size_t digits = 0;
  while (digits < version.size() && digits < 6 && version[digits] >= '0' &&
         version[digits] <= '9') {
    major = major * 10 + (version[digits] - '0');
    ++digits;
  }
  if (digits == 0 || digits >= version.size() || version[digits] != '.') {
    return std::nullopt;
  }
  return major;
}

Status CheckLockingVersion(std::string_view store_name,
                           const Endpoint& endpoint, std::string_view version) {
  const std::optional<int> major = VersionMajor(version);
  if (!major || *major >= kMinLockingRedisMajor) return Status::OK();
  return Status::NotSupported(
      std::string(store_name) + ": " + endpoint.ToString() + " runs Redis " +
      std::string(version) + "; session locking needs Redis " +
      std::to_string(kMinLockingRedisMajor) +
      " or later (waiters block on BLPOP with timeouts in fractions of a "
      "second): upgrade the server, or turn session locking off (setting "
      "locking = 0)");
}

std::string StampedLockValue(std::string_view token, const Endpoint& at) {
  std::string value(token);
  value += '@';
  value += at.ToString();
  return value;
}

LockValue SplitLockValue(std::string_view value) {
  const size_t at = value.rfind('@');
  if (at == std::string_view::npos) return {value, {}};
  return {value.substr(0, at), value.substr(at + 1)};
}

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

namespace {

// The fast path's lock-taking pipeline: INFO server (once per connection:
// see Connection::server_version), UNWATCH (only if the connection may
// watch something: whatever it watched goes), SET NX PX, GET + PTTL of the
// data, WATCH. Marks the connection as watching the lock when the SET took
// it. Never sent after an ASK redirect: while a slot migrates, the lock
// key and the data key may sit on different nodes, and these single-key
// commands would not notice (the script's multi-key call gets TRYAGAIN).
// Sends nothing to a server known to be too old to lock on (refusal()).
// With `stamp`, the SET writes the token stamped with the server it goes to
// (redis_lock.h).
class WatchOnTake final : public ConnectionHook {
 public:
  // `commands`: INFO server, UNWATCH, SET, GET, [PTTL,] WATCH.
  WatchOnTake(std::span<const Command> commands, Connection::WatchedLock lock,
              const std::string& store_name, bool stamp)
      : commands_(commands),
        lock_(std::move(lock)),
        store_name_(store_name),
        stamp_(stamp) {}
  std::span<const Command> Pick(Connection& conn, bool asking,
                                std::span<const Command>) override {
    picked_.clear();
    refusal_ = Status::OK();
    ask_version_ = false;
    if (asking) return {};
    if (!conn.server_version().empty()) {
      refusal_ = CheckLockingVersion(store_name_, conn.endpoint(),
                                     conn.server_version());
      if (!refusal_.ok()) return {};
    } else {
      ask_version_ = true;
      picked_.push_back(commands_[0]);
    }
    if (conn.watching()) picked_.push_back(commands_[1]);
    picked_.insert(picked_.end(), commands_.begin() + 2, commands_.end());
    if (stamp_) {
      value_ = StampedLockValue(lock_.token, conn.endpoint());
      picked_[set_at()].args[2] = value_;
    }
    return picked_;
  }
  void Done(Connection& conn, bool asking, const Status& st,
            std::vector<Reply>* replies) override {
    if (asking || picked_.empty()) return;  // nothing was sent
    const bool complete = st.ok() && replies->size() == picked_.size();
    if (complete && ask_version_) {
      // An error (INFO renamed, or not allowed to this user) leaves the
      // version unknown, which is not refused; the reply is this hook's, so
      // it never fails the call.
      Reply& info = (*replies)[0];
      std::optional<std::string> version;
      if (info.type == Reply::Type::kString) {
        version = RedisVersionFromInfo(info.str);
      }
      conn.set_server_version(version.value_or("?"));
      refusal_ = CheckLockingVersion(store_name_, conn.endpoint(),
                                     conn.server_version());
      info = Reply();
      info.type = Reply::Type::kStatus;
      info.str = "OK";
    }
    // Judged on every reply that came, also when another failed the call
    // (a WATCH refused after the SET took the lock).
    const bool taken =
        replies->size() == picked_.size() && (*replies)[set_at()].Is("OK");
    taken_ = taken_ || taken;
    conn.set_watch_state(true, taken ? lock_ : Connection::WatchedLock{});
  }
  // Where the SET's reply is (GET, maybe PTTL, and WATCH follow).
  size_t set_at() const { return picked_.size() - (commands_.size() - 2); }
  // Not OK when the server is too old to lock on: learnt in this exchange
  // (whose SET may have taken the lock), or known before (nothing sent).
  const Status& refusal() const { return refusal_; }
  // True once an attempt's SET NX took the lock.
  bool taken() const { return taken_; }

 private:
  std::span<const Command> commands_;
  Connection::WatchedLock lock_;
  const std::string& store_name_;
  const bool stamp_;
  std::string value_;  // the stamped record the SET writes
  std::vector<Command> picked_;
  bool ask_version_ = false;
  bool taken_ = false;
  Status refusal_;
};

// The lock script's path: writes the record stamped with the server each
// attempt goes to into the last argument of the request's first command
// (the EVALSHA or EVAL), and remembers that server.
class StampLastArgument final : public ConnectionHook {
 public:
  explicit StampLastArgument(std::string_view token) : token_(token) {}
  std::span<const Command> Pick(Connection& conn, bool,
                                std::span<const Command> commands) override {
    picked_.assign(commands.begin(), commands.end());
    value_ = StampedLockValue(token_, conn.endpoint());
    picked_[0].args.back() = value_;
    sent_to_ = conn.endpoint();
    return picked_;
  }
  void Done(Connection&, bool, const Status&, std::vector<Reply>*) override {}
  // The server of the last attempt.
  const Endpoint& sent_to() const { return sent_to_; }

 private:
  const std::string_view token_;
  std::string value_;
  std::vector<Command> picked_;
  Endpoint sent_to_;
};

// How a waiter paces itself (lock_wait.h): it looks again at least every
// second, since a wake-up can be lost: after a Sentinel failover the old
// master accepts commands (and keeps our BLPOP) for seconds while the
// release wakes the new one, and a waiter that popped the wake token may die
// before it takes the lock. It looks 5 ms past the holder's lease, so that
// the lease has surely run out, and every kLocalHolderPoll at any holder of
// this host.
constexpr LockWaitPacing kPacing{.max_wait = kLongestLockWait,
                                 .lease_slack = Duration(5),
                                 .max_sleep = Duration(1000),
                                 .poll_own_process = true};
}  // namespace

ConnectionHook* RedisStore::StampHook(ConnectionHook* hook) const {
  return topology_->MasterCanChange() ? hook : nullptr;
}

Status RedisStore::RunScript(const LuaScript& script,
                             std::span<const std::string> keys,
                             std::span<const std::string_view> args,
                             const std::string& what, Reply* reply,
                             std::span<const Command> before,
                             std::span<const Command> after,
                             std::vector<Reply>* others, bool* unanswered,
                             bool durable, ConnectionHook* hook) {
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
  SK_RETURN_IF_ERROR(Run({.key = keys[0],
                          .commands = pipeline,
                          .what = what,
                          .keep_error = "NOSCRIPT",
                          .hook = hook,
                          .durable = durable,
                          .unanswered = unanswered},
                         &replies));
  if (replies[at].is_error()) {
    // NOSCRIPT: the script did not run (its neighbours did, and may run
    // again: a SET of the staging key, a GET). EVAL runs the source and
    // caches it, so the next EVALSHA finds it.
    pipeline[at].args[0] = "EVAL";
    pipeline[at].args[1] = script.source;
    SK_RETURN_IF_ERROR(Run({.key = keys[0],
                            .commands = pipeline,
                            .what = what,
                            .hook = hook,
                            .durable = durable,
                            .unanswered = unanswered},
                           &replies));
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

Result<LockedRead> RedisStore::LockAndRead(std::string_view id,
                                           const LockRequest& request) {
  // A lock this process failed to release (a failover, CLUSTERDOWN) may
  // hold up other requests until its lease ends: free it first. When its
  // server still does not answer, this call does not wait on it a second
  // time: a request costs one timeout of a server that accepts connections
  // and never answers, not one per command (docs/redis.md).
  if (std::optional<std::string> stuck = RetryFailedReleases();
      stuck && MaySameServer(*stuck, id)) {
    return Status::Unavailable(
        name() + ": lock of session " + SessionIdPrefix(id) +
        " not tried: the server did not answer the release of an earlier "
        "lock just before");
  }
  bool may_hold = false;
  const SteadyTime started = env_->SteadyNow();
  Result<LockedRead> got = TakeLockAndRead(id, request, &may_hold);
  if (!got.ok() && may_hold) {
    // A command that takes the lock went out but its reply never came (a
    // timeout, a broken connection) or was not usable, so the lock may be
    // this owner's now, while the caller is told it is not: release it, or
    // the next request waits out the whole lease of a lock nobody uses.
    // Owner-checked, on another connection (the failed one is closed).
    // After a call that waited read_timeout or longer for a server out of
    // reach (one that accepts connections and never answers), the release
    // would wait as long again: it is remembered instead, and sent by this
    // process's next call (above), so that the request costs one timeout.
    if (got.status().IsUnavailable() &&
        env_->SteadyNow() - started >= options_.read_timeout) {
      (void)Remembered(id, request.owner, got.status());
    } else {
      (void)Unlock(id, request.owner);
    }
  }
  return got;
}

bool RedisStore::MaySameServer(std::string_view a, std::string_view b) {
  if (a == b) return true;
  Result<Endpoint> at_a = topology_->Route(LockingKeys(a)[0]);
  Result<Endpoint> at_b = topology_->Route(LockingKeys(b)[0]);
  return !at_a.ok() || !at_b.ok() || *at_a == *at_b;
}

Result<std::optional<LockedRead>> RedisStore::TakeFreeLock(
    std::span<const std::string> keys, const std::string& token,
    const std::string& record_px, bool want_expiry, const std::string& what,
    bool* may_hold) {
  // The fast path, no script: take a free lock with SET NX and WATCH it
  // (see WatchOnTake), reading the data in the same round trip.
  // (A stale record, whose lease ran out, fails the SET NX too.)
  std::vector<Command> take = {{{"INFO", "server"}},
                               {{"UNWATCH"}},
                               {{"SET", keys[1], token, "NX", "PX", record_px}},
                               {{"GET", keys[0]}}};
  if (want_expiry) take.push_back({{"PTTL", keys[0]}});
  take.push_back({{"WATCH", keys[1]}});
  WatchOnTake hook(take, {keys[1], token}, name(),
                   topology_->MasterCanChange());
  bool unanswered = false;
  std::vector<Reply> replies;
  Status st = Run({.key = keys[0],
                   .commands = take,
                   .what = what,
                   .hook = &hook,
                   .unanswered = &unanswered},
                  &replies);
  // Until a reply says otherwise, the lock may be ours.
  *may_hold = unanswered || hook.taken();
  SK_RETURN_IF_ERROR(st);
  // Too old to lock on: LockAndRead releases what the SET may have taken.
  if (!hook.refusal().ok()) return hook.refusal();
  // No replies: redirected by ASK (a slot migrating), left to the script.
  if (!replies.empty()) {
    const size_t at = hook.set_at();
    const Reply& set = replies[at];
    if (set.Is("OK")) {
      Result<LockedRead> got = LockTaken(
          what, replies[at + 1], want_expiry ? &replies[at + 2] : nullptr, "");
      if (!got.ok()) return got.status();
      return std::optional<LockedRead>(std::move(*got));
    }
    // Held (by another request, or already by this owner): the script.
    if (!set.is_nil()) return Unexpected(what, "SET", set);
  }
  *may_hold = false;
  return std::optional<LockedRead>();
}

bool RedisStore::TakenBeforeFailover(std::string_view holder,
                                     const Endpoint& found_on) {
  const std::string_view taken_on = SplitLockValue(holder).taken_on;
  // Unstamped (a client that does not stamp), or found where it was taken.
  if (taken_on.empty() || taken_on == found_on.ToString()) return false;
  // Moved by resharding: the server it was taken on still serves slots.
  Result<std::vector<Endpoint>> masters = topology_->Masters();
  if (!masters.ok()) return false;  // not known: wait, as before
  for (const Endpoint& master : *masters) {
    if (master.ToString() == taken_on) return false;
  }
  return true;
}

Status RedisStore::FailedWhileQueued(std::string_view id,
                                     const LockRequest& request, Status failed,
                                     bool* may_hold) {
  // A release may have granted this owner the lock meanwhile. A server out
  // of reach would hold up an Unlock now by its timeouts: the release is
  // remembered instead, and re-issued by the next LockAndRead (or when the
  // store closes). Otherwise LockAndRead releases it at once.
  if (PendingReleases::MayStillHold(failed)) {
    pending_.Note(id, request.owner, failed, env_->SteadyNow());
  } else {
    *may_hold = true;
  }
  return failed;
}

Result<LockedRead> RedisStore::TakeLockAndRead(std::string_view id,
                                               const LockRequest& request,
                                               bool* may_hold) {
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
  // The lock record outlives the lease by kLockRecordRetention (store.h).
  const int64_t retention_ms = kLockRecordRetention.count();
  const std::string record_px =
      std::to_string(ClampTtl(request.lease) + retention_ms);
  const std::string retention = std::to_string(retention_ms);
  const std::string cap = std::to_string(request.max_waiters);
  const LockWait wait(env_, request, kPacing);
  Result<std::optional<LockedRead>> fast =
      TakeFreeLock(keys, token, record_px, request.want_expiry, what, may_hold);
  if (!fast.ok()) return fast.status();
  if (fast->has_value()) return std::move(**fast);
  // A holder known to be gone: the script takes its lock over if it still
  // holds it (compare-and-take-over, so a new holder is never broken).
  std::string expected;
  // Once queued, a release may grant the lock to this owner at any time:
  // a call that fails from then on may leave it holding the lock.
  bool queued = false;
  while (true) {
    // BLPOP waits whole milliseconds: with less than one left, this is the
    // last try, which does not register as a waiter (and leaves if it was).
    const Duration left = std::chrono::floor<Duration>(wait.Left());
    const bool last_try = left.count() <= 0;
    const std::string wait_ms = std::to_string(last_try ? 0 : left.count());
    // The record to write: the token, stamped by `stamp` where masters
    // change.
    const std::string_view args[] = {token,    record_px, cap,  wait_ms,
                                     expected, retention, token};
    StampLastArgument stamp(token);
    ConnectionHook* hook = StampHook(&stamp);
    // Read right behind the script, in the same round trip: once it holds
    // the lock, no locked writer can change the data in between.
    const Command read[] = {{{"GET", keys[0]}}, {{"PTTL", keys[0]}}};
    const std::span<const Command> reads(read, request.want_expiry ? 2 : 1);
    Reply reply;
    std::vector<Reply> data;
    // An error reply (TRYAGAIN, ...) means the script did not run; no
    // reply at all, that it may have.
    bool unanswered = false;
    Status st = RunScript(LockScript(), keys, args, what, &reply, {}, reads,
                          &data, &unanswered, /*durable=*/false, hook);
    *may_hold = unanswered;
    if (!st.ok()) {
      return queued ? FailedWhileQueued(id, request, st, may_hold) : st;
    }
    *may_hold = true;  // until the reply says who holds the lock
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
      if (data.size() != reads.size()) {
        return Unexpected(what, "EVALSHA", reply);
      }
      std::string broken = std::move(r[3].str);
      if (hook != nullptr) broken = SplitLockValue(broken).token;
      return LockTaken(what, data[0], request.want_expiry ? &data[1] : nullptr,
                       std::move(broken));
    }
    if ((r[0].integer != 0 && r[0].integer != 2) ||
        r[1].type != Reply::Type::kString) {
      return Unexpected(what, "EVALSHA", reply);
    }
    *may_hold = false;  // held by another: the script took nothing
    // Queued by now, unless this was the last try (which leaves) or the cap
    // refused it.
    if (!last_try && r[0].integer == 0) queued = true;
    std::string holder = std::move(r[1].str);
    const int64_t lease_left = r[2].integer;
    const std::string_view holder_token =
        hook != nullptr ? SplitLockValue(holder).token : holder;
    if (holder != expected &&
        (LockHolderIsGone(holder_token, env_) ||
         (hook != nullptr && TakenBeforeFailover(holder, stamp.sent_to())))) {
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
    if (std::chrono::floor<Duration>(wait.Left()).count() <= 0) continue;
    Result<std::optional<LockedRead>> granted = WaitForGrant(
        keys, token, wait, wait.NextSleep(holder_token, lease_left),
        request.want_expiry, what);
    if (!granted.ok()) {
      return FailedWhileQueued(id, request, granted.status(), may_hold);
    }
    if (granted->has_value()) return std::move(**granted);
    // No grant within the sleep: the script looks again (the holder may be
    // gone, its lease over, or the grant may have come just after).
  }
}

}  // namespace sessionkit::redis
