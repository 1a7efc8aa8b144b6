#include "uri/schemes.h"

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "uri/text.h"

namespace sessionkit::uri {
namespace {

constexpr std::string_view kWriteModes[] = {"sync", "async"};

// The tier settings every scheme takes besides its own (FindParam and
// ParamNames add them): whether it is written behind, the directory of the
// journal that writes it, the file of the tiers' circuit breakers, and how
// long a tier behind waits for its writes (docs/tiers.md).
constexpr ParamSpec kWrite{
    .name = "write", .type = ParamType::kEnum, .choices = kWriteModes};
constexpr ParamSpec kJournal{.name = "journal"};
constexpr ParamSpec kBreaker{.name = "breaker"};
constexpr ParamSpec kWriteDelay{.name = "write_delay"};
constexpr ParamSpec kTierParams[] = {kWrite, kJournal, kBreaker, kWriteDelay};

// Names only: each store's Options::FromUrl reads and checks the values.

constexpr ParamSpec kLmdbParams[] = {
    {.name = "map_size"},    {.name = "map_max"}, {.name = "sync"},
    {.name = "max_readers"}, {.name = "mode"},    {.name = "writemap"},
};

constexpr ParamSpec kConnectTimeout{.name = "connect_timeout",
                                    .fallback_from = "timeout"};
constexpr ParamSpec kReadTimeout{.name = "read_timeout",
                                 .fallback_from = "timeout"};

constexpr ParamSpec kRedisParams[] = {
    kConnectTimeout,
    kReadTimeout,
    {.name = "timeout"},
    {.name = "prefix", .locates = true},
    {.name = "db", .locates = true},
    {.name = "durable"},
    {.name = "durable_timeout"},
    {.name = "tls_ca"},
    {.name = "tls_cert"},
    {.name = "tls_key"},
    {.name = "tls_insecure"},
};

constexpr ParamSpec kSentinelParams[] = {
    kConnectTimeout,
    kReadTimeout,
    {.name = "timeout"},
    {.name = "prefix", .locates = true},
    {.name = "db", .locates = true},
    {.name = "sentinel_password", .type = ParamType::kSecret},
    {.name = "durable"},
    {.name = "durable_timeout"},
    {.name = "tls_ca"},
    {.name = "tls_cert"},
    {.name = "tls_key"},
    {.name = "tls_insecure"},
};

constexpr ParamSpec kClusterParams[] = {
    kConnectTimeout,     kReadTimeout,
    {.name = "timeout"}, {.name = "prefix", .locates = true},
    {.name = "durable"}, {.name = "durable_timeout"},
    {.name = "tls_ca"},  {.name = "tls_cert"},
    {.name = "tls_key"}, {.name = "tls_insecure"},
};

// mysql and postgres: MysqlOptions::FromUrl and PostgresOptions::FromUrl
// read and check the values.
constexpr ParamSpec kMysqlParams[] = {
    {.name = "table", .locates = true},
    kConnectTimeout,
    kReadTimeout,
    {.name = "timeout"},
    {.name = "sslmode"},
    {.name = "tls_ca"},
};
constexpr ParamSpec kPostgresParams[] = {
    {.name = "table", .locates = true},
    kConnectTimeout,
    kReadTimeout,
    {.name = "timeout"},
    {.name = "sslmode"},
    {.name = "tls_ca"},
    {.name = "sync"},
};

// memcached: MemcachedOptions::FromUrl reads and checks the values.
constexpr ParamSpec kMemcachedParams[] = {
    {.name = "replicas"}, {.name = "prefix", .locates = true},
    kConnectTimeout,      kReadTimeout,
    {.name = "timeout"},  {.name = "down_time"},
    {.name = "failover"}, {.name = "wake_file"},
    {.name = "tls_ca"},   {.name = "tls_cert"},
    {.name = "tls_key"},  {.name = "tls_insecure"},
};

// php: a store written in PHP, registered under the URL's name
// (CallbackOptions::FromUrl); no parameters of its own.
constexpr std::span<const ParamSpec> kPhpParams = {};

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
    {"php", 0, false, false, PathRule::kName, kPhpParams},
};

// A scheme's own parameters, then the tier settings every scheme takes.
std::array<std::span<const ParamSpec>, 2> AllParams(const SchemeSpec& scheme) {
  return {scheme.params, kTierParams};
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
  for (std::span<const ParamSpec> list : AllParams(scheme)) {
    for (const ParamSpec& p : list) {
      if (p.name == name) return &p;
    }
  }
  return nullptr;
}

std::string ParamNames(const SchemeSpec& scheme) {
  std::string out;
  for (std::span<const ParamSpec> list : AllParams(scheme)) {
    for (const ParamSpec& p : list) {
      if (!out.empty()) out += ", ";
      out += p.name;
    }
  }
  return out;
}

Status ValidateParam(const ParamSpec& spec, std::string_view value) {
  switch (spec.type) {
    case ParamType::kStore:
    case ParamType::kSecret:
      return Status::OK();
    case ParamType::kEnum:
      for (std::string_view choice : spec.choices) {
        if (value == choice) return Status::OK();
      }
      // "name=value" as the operator wrote it (decoded, made printable).
      return Status::InvalidArgument(std::string(spec.name) + "=" +
                                     Printable(value) + ": expected one of " +
                                     Join(spec.choices));
  }
  return Status::Internal("unhandled parameter type of " +
                          std::string(spec.name));
}

}  // namespace sessionkit::uri
