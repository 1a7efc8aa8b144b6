#include "stores/redis/redis_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "sessionkit/session_id.h"
#include "stores/redis/redis_lock.h"
#include "stores/round_trips.h"

namespace sessionkit::redis {

RedisStore::RedisStore(RedisOptions options,
                       std::shared_ptr<ConnectionPool> pool,
                       std::unique_ptr<Topology> topology)
    : options_(std::move(options)),
      env_(Env::OrDefault(options_.env)),
      pool_(std::move(pool)),
      topology_(std::move(topology)),
      durability_(options_, pool_.get()) {}

RedisStore::~RedisStore() { (void)RetryFailedReleases(); }

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

std::string RedisStore::QueueKey(std::string_view id) const {
  return Key(id) + ":queue";
}

std::vector<std::string> RedisStore::LockingKeys(std::string_view id) const {
  return {Key(id), LockKey(id), WaitersKey(id), WakeKey(id), QueueKey(id)};
}

Status RedisStore::CheckId(std::string_view id, std::string_view op) const {
  Status valid = ValidateSessionId(id);
  if (valid.ok()) return valid;
  return Status::InvalidArgument(name() + ": " + std::string(op) + ": " +
                                 valid.message());
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

Result<SessionRecord> RedisStore::Read(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "read"));
  const std::string key = Key(id);
  const std::string what = "read of session " + SessionIdPrefix(id);
  // GET and PTTL in one write: one round trip.
  const Command commands[] = {{{"GET", key}}, {{"PTTL", key}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(
      Run({.key = key, .commands = commands, .read_only = true, .what = what},
          &replies));
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
  record.expires_at = ExpiryFromPttl(env_->WallNow(), pttl.integer);
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
    return Run({.key = key, .commands = del, .what = what, .durable = true},
               &replies);
  }
  const std::string ms = std::to_string(ClampTtl(ttl));
  const Command set[] = {{{"SET", key, data, "PX", ms}}};
  SK_RETURN_IF_ERROR(Run(
      {.key = key, .commands = set, .what = what, .durable = true}, &replies));
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
  SK_RETURN_IF_ERROR(
      Run({.key = key, .commands = pexpire, .what = what, .durable = true},
          &replies));
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
  return ExistsCheck(id, /*or_locked=*/false);
}

Result<bool> RedisStore::ExistsOrLocked(std::string_view id) {
  return ExistsCheck(id, /*or_locked=*/true);
}

Result<bool> RedisStore::ExistsCheck(std::string_view id, bool or_locked) {
  SK_RETURN_IF_ERROR(CheckId(id, "exists"));
  const std::string key = Key(id);
  const std::string what = "exists check of session " + SessionIdPrefix(id);
  const std::string lock_key = LockKey(id);  // Command borrows its words
  const Command both[] = {{{"EXISTS", key}}, {{"PTTL", lock_key}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run({.key = key,
                          .commands = std::span(both, or_locked ? 2 : 1),
                          .read_only = true,
                          .what = what},
                         &replies));
  for (size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].type != Reply::Type::kInteger) {
      return Unexpected(what, i == 0 ? "EXISTS" : "PTTL", replies[i]);
    }
  }
  // The lock record lives lease + kLockRecordRetention: held while the
  // lease runs.
  return replies[0].integer > 0 ||
         (or_locked && replies[1].integer > kLockRecordRetention.count());
}

Result<GcResult> RedisStore::Gc(TimePoint) { return GcResult{}; }

uint64_t RedisStore::TakeRoundTrips() {
  const ConnectionStats& stats = pool_->stats();
  return TakeNewCount(stats.round_trips, stats.round_trips_taken);
}

Status RedisStore::Health() {
  const Command ping[] = {{{"PING"}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(Run(
      {.key = "", .commands = ping, .read_only = true, .what = "health check"},
      &replies));
  if (!replies[0].Is("PONG")) {
    return Unexpected("health check", "PING", replies[0]);
  }
  return Status::OK();
}

}  // namespace sessionkit::redis
