// phpredis (a string key prefix+id, SETEX) and Cm_RedisSession (a hash
// prefix+id with the field `data`, tagged when compressed), on one Redis
// server, through the Redis store's connection layer.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "legacy/legacy_decode.h"
#include "legacy/legacy_sources.h"
#include "sessionkit/session_id.h"
#include "sessionkit/stores/redis.h"
#include "stores/redis/connection.h"
#include "stores/redis/pool.h"

namespace sessionkit::legacy {
namespace {

// phpredis's lock key of a session: <key>_LOCK (never a session).
constexpr std::string_view kPhpRedisLockSuffix = "_LOCK";

class RedisSource final : public LegacySource {
 public:
  RedisSource(LegacySpec spec, redis::ConnectionOptions config,
              redis::Endpoint endpoint)
      : spec_(std::move(spec)),
        pool_(std::make_shared<redis::ConnectionPool>(std::move(config))),
        endpoint_(std::move(endpoint)) {}

  Result<LegacySession> Read(std::string_view id) override {
    SK_RETURN_IF_ERROR(ValidateSessionId(id));
    const std::string key = spec_.prefix + std::string(id);
    std::vector<redis::Command> commands;
    if (cm()) {
      commands.push_back({{"HGET", key, "data"}});
    } else {
      commands.push_back({{"GET", key}});
    }
    commands.push_back({{"PTTL", key}});
    std::vector<redis::Reply> replies;
    SK_RETURN_IF_ERROR(Run(commands, &replies, /*read_only=*/true));
    const redis::Reply& value = replies[0];
    const redis::Reply& pttl = replies[1];
    if (value.is_error() || pttl.is_error()) {
      return Status::Unavailable(Describe() + ": " +
                                 (value.is_error() ? value.str : pttl.str));
    }
    // -2: gone (expired between the two commands).
    if (value.is_nil() || value.type != redis::Reply::Type::kString ||
        pttl.integer == -2) {
      return Status::NotFound("no session");
    }
    LegacySession session;
    session.ttl = Duration(pttl.integer > 0 ? pttl.integer : 0);
    if (!cm()) {
      session.payload = value.str;
      return session;
    }
    auto payload = DecodeCmData(value.str);
    if (!payload.ok()) {
      return Status::Corrupt(Describe() + ": session " + SessionIdPrefix(id) +
                             ": " + payload.status().message());
    }
    session.payload = std::move(payload).value();
    return session;
  }

  Status Delete(std::string_view id) override {
    SK_RETURN_IF_ERROR(ValidateSessionId(id));
    const std::string key = spec_.prefix + std::string(id);
    std::vector<redis::Reply> replies;
    std::vector<redis::Command> commands = {{{"DEL", key}}};
    SK_RETURN_IF_ERROR(Run(commands, &replies, /*read_only=*/false));
    if (replies[0].is_error()) {
      return Status::Unavailable(Describe() + ": DEL: " + replies[0].str);
    }
    return Status::OK();
  }

  Result<LegacyPage> Scan(std::string_view cursor, size_t limit) override {
    const std::string start = cursor.empty() ? "0" : std::string(cursor);
    const std::string match = EscapeGlob(spec_.prefix) + "*";
    const std::string count = std::to_string(std::max<size_t>(limit, 1));
    std::vector<redis::Command> commands = {
        {{"SCAN", start, "MATCH", match, "COUNT", count}}};
    std::vector<redis::Reply> replies;
    SK_RETURN_IF_ERROR(Run(commands, &replies, /*read_only=*/true));
    const redis::Reply& r = replies[0];
    if (r.is_error() || r.elements.size() != 2) {
      return Status::Unavailable(Describe() + ": SCAN: unexpected reply " +
                                 r.str);
    }
    LegacyPage page;
    if (r.elements[0].str != "0") page.next_cursor = r.elements[0].str;
    for (const redis::Reply& key : r.elements[1].elements) {
      std::string_view id = std::string_view(key.str).substr(
          std::min(spec_.prefix.size(), key.str.size()));
      if (!cm() && id.ends_with(kPhpRedisLockSuffix)) continue;
      if (ValidateSessionId(id).ok()) page.ids.emplace_back(id);
    }
    return page;
  }

  std::string Describe() const override { return spec_.redacted; }

 private:
  bool cm() const { return spec_.kind == LegacyKind::kCmRedis; }

  Status Run(const std::vector<redis::Command>& commands,
             std::vector<redis::Reply>* replies, bool read_only) {
    redis::PooledConnection conn(pool_.get(), endpoint_);
    Status s = conn->Execute(commands, replies, read_only);
    if (!s.ok()) return s;
    if (replies->size() != commands.size()) {
      return Status::Unavailable(Describe() + ": missing replies");
    }
    return Status::OK();
  }

  static std::string EscapeGlob(std::string_view text) {
    std::string out;
    for (char c : text) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
        out.push_back('\\');
      }
      out.push_back(c);
    }
    return out;
  }

  const LegacySpec spec_;
  std::shared_ptr<redis::ConnectionPool> pool_;
  const redis::Endpoint endpoint_;
};

}  // namespace

Result<std::unique_ptr<LegacySource>> NewRedisSource(LegacySpec spec) {
  // The Redis store's reader of the same URL: hosts, password, db,
  // timeouts and TLS, with its checks and messages. Its prefix (the
  // store's own default) is not used: the old handler's is spec.prefix.
  auto options = RedisOptions::FromUrl(spec.url);
  if (!options.ok()) return options.status();
  redis::ConnectionOptions config;
  config.store_name = spec.redacted;
  config.connect_timeout = options->connect_timeout;
  config.read_timeout = options->read_timeout;
  config.user = options->user;
  config.password = options->password;
  config.has_password = options->has_password;
  config.db = options->db;
  if (options->tls.enabled) {
    auto tls = redis::TlsContext::Create(options->tls, spec.redacted);
    if (!tls.ok()) return tls.status();
    config.tls = *tls;
  }
  redis::Endpoint endpoint{options->hosts.at(0).host,
                           options->hosts.at(0).port};
  return std::unique_ptr<LegacySource>(
      new RedisSource(std::move(spec), std::move(config), std::move(endpoint)));
}

}  // namespace sessionkit::legacy
