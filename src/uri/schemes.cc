#include "uri/schemes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "uri/text.h"

namespace sessionkit::uri {
namespace {

constexpr size_t kMaxPrefix = 64;
constexpr size_t kMaxIdentifier = 64;

constexpr std::string_view kWriteModes[] = {"sync", "async"};

// The tier setting of every scheme.
constexpr ParamSpec kWrite{
    .name = "write", .type = ParamType::kEnum, .choices = kWriteModes};

// ---------------------------------------------------- stores of this build
// Names only: LmdbOptions::FromUrl, RedisOptions::FromUrl and
// PostgresOptions::FromUrl read and check the values.

constexpr ParamSpec kLmdbParams[] = {
    {.name = "map_size"},    {.name = "map_max"}, {.name = "sync"},
    {.name = "max_readers"}, {.name = "mode"},    kWrite,
};

constexpr ParamSpec kConnectTimeout{.name = "connect_timeout",
                                    .fallback_from = "timeout"};
constexpr ParamSpec kReadTimeout{.name = "read_timeout",
                                 .fallback_from = "timeout"};

constexpr ParamSpec kRedisParams[] = {
    kConnectTimeout,
    kReadTimeout,
    {.name = "timeout"},
    {.name = "prefix"},
    {.name = "db"},
    {.name = "durable"},
    {.name = "durable_timeout"},
    {.name = "tls_ca"},
    {.name = "tls_cert"},
    {.name = "tls_key"},
    {.name = "tls_insecure"},
    kWrite,
};

constexpr ParamSpec kSentinelParams[] = {
    kConnectTimeout,
    kReadTimeout,
    {.name = "timeout"},
    {.name = "prefix"},
    {.name = "db"},
    {.name = "sentinel_password", .type = ParamType::kSecret},
    {.name = "durable"},
    {.name = "durable_timeout"},
    {.name = "tls_ca"},
    {.name = "tls_cert"},
    {.name = "tls_key"},
    {.name = "tls_insecure"},
    kWrite,
};

constexpr ParamSpec kClusterParams[] = {
    kConnectTimeout,
    kReadTimeout,
    {.name = "timeout"},
    {.name = "prefix"},
    {.name = "durable"},
    {.name = "durable_timeout"},
    {.name = "tls_ca"},
    {.name = "tls_cert"},
    {.name = "tls_key"},
    {.name = "tls_insecure"},
    kWrite,
};

// mysql and postgres: MysqlOptions::FromUrl and PostgresOptions::FromUrl
// read and check the values.
constexpr ParamSpec kMysqlParams[] = {
    {.name = "table"},   kConnectTimeout,    kReadTimeout, {.name = "timeout"},
    {.name = "sslmode"}, {.name = "tls_ca"}, kWrite,
};
constexpr ParamSpec kPostgresParams[] = {
    {.name = "table"},   kConnectTimeout,
    kReadTimeout,        {.name = "timeout"},
    {.name = "sslmode"}, {.name = "tls_ca"},
    {.name = "sync"},    kWrite,
};

// memcached: MemcachedOptions::FromUrl reads and checks the values.
constexpr ParamSpec kMemcachedParams[] = {
    {.name = "replicas"},  {.name = "prefix"},       kConnectTimeout,
    kReadTimeout,          {.name = "timeout"},      {.name = "down_time"},
    {.name = "wake_file"}, {.name = "tls_ca"},       {.name = "tls_cert"},
    {.name = "tls_key"},   {.name = "tls_insecure"}, kWrite,
};

constexpr SchemeSpec kSchemes[] = {
    {"lmdb", 0, false, false, PathRule::kFilesystem, kLmdbParams},
    {"redis", 6379, false, false, PathRule::kOptionalDb, kRedisParams},
    {"rediss", 6379, false, false, PathRule::kOptionalDb, kRedisParams},
    {"redis+sentinel", 26379, true, false, PathRule::kMasterName,
     kSentinelParams},
    {"redis+cluster", 6379, true, false, PathRule::kNone, kClusterParams},
    {"memcached", 11211, true, false, PathRule::kNone, kMemcachedParams},
    {"mysql", 3306, false, true, PathRule::kDatabase, kMysqlParams},
    {"postgres", 5432, false, true, PathRule::kDatabase, kPostgresParams},
};

bool IsIdentifier(std::string_view v) {
  if (v.empty() || v.size() > kMaxIdentifier) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsPrefix(std::string_view v) {
  if (v.size() > kMaxPrefix) return false;
  for (char c : v) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

Status CheckDuration(const std::string& given, std::string_view value) {
  NumberError err;
  std::optional<int64_t> v = DurationMillis(value, &err);
  if (!v) {
    return Status::InvalidArgument(
        given + (err == NumberError::kOverflow
                     ? ": too long for a duration"
                     : ": expected a duration like 250ms or 2s "
                       "(units ms, s, m, h)"));
  }
  if (*v < 1) return Status::InvalidArgument(given + ": must be at least 1ms");
  return Status::OK();
}

Status CheckInt(const ParamSpec& spec, const std::string& given,
                std::string_view value, size_t host_count) {
  int64_t max = spec.max_is_hosts_minus_one
                    ? static_cast<int64_t>(host_count) - 1
                    : spec.max;
  NumberError err;
  std::optional<uint64_t> v = ParseWhole(value, &err);
  if (v && *v >= static_cast<uint64_t>(spec.min) &&
      *v <= static_cast<uint64_t>(max)) {
    return Status::OK();
  }
  std::string msg = given + ": expected a whole number from " +
                    std::to_string(spec.min) + " to " + std::to_string(max);
  if (spec.max_is_hosts_minus_one) {
    msg += " (at most one less than the " + std::to_string(host_count) +
           " host" + (host_count == 1 ? "" : "s") + ")";
  }
  return Status::InvalidArgument(msg);
}

}  // namespace

const SchemeSpec* FindScheme(std::string_view lower_name) {
  for (const SchemeSpec& s : kSchemes) {
    if (s.name == lower_name) return &s;
  }
  return nullptr;
}

std::string KnownSchemes() {
  std::string out;
  for (const SchemeSpec& s : kSchemes) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

const ParamSpec* FindParam(const SchemeSpec& scheme, std::string_view name) {
  for (const ParamSpec& p : scheme.params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string ParamNames(const SchemeSpec& scheme) {
  std::string out;
  for (const ParamSpec& p : scheme.params) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

Status ValidateParam(const ParamSpec& spec, std::string_view value,
                     size_t host_count) {
  // "name=value" as the operator wrote it (decoded, made printable).
  std::string given = std::string(spec.name) + "=" + Printable(value);
  switch (spec.type) {
    case ParamType::kStore:
    case ParamType::kSecret:
      return Status::OK();
    case ParamType::kDuration:
      return CheckDuration(given, value);
    case ParamType::kInt:
      return CheckInt(spec, given, value, host_count);
    case ParamType::kEnum:
      for (std::string_view choice : spec.choices) {
        if (value == choice) return Status::OK();
      }
      return Status::InvalidArgument(given + ": expected one of " +
                                     Join(spec.choices));
    case ParamType::kPrefix:
      if (IsPrefix(value)) return Status::OK();
      return Status::InvalidArgument(
          given + ": expected printable ASCII without spaces, at most " +
          std::to_string(kMaxPrefix) + " characters");
    case ParamType::kPath:
      if (IsFilePath(value)) return Status::OK();
      return Status::InvalidArgument(
          given + ": expected a file path (not empty, no control characters)");
    case ParamType::kIdentifier:
      if (IsIdentifier(value)) return Status::OK();
      return Status::InvalidArgument(
          given +
          ": expected an SQL identifier (a letter or '_', then up to 63 "
          "letters, digits or '_')");
  }
  return Status::Internal("unhandled parameter type of " +
                          std::string(spec.name));
}

}  // namespace sessionkit::uri
