#include "uri/schemes.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "uri/text.h"

namespace sessionkit::uri {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kMaxDb = std::numeric_limits<int32_t>::max();
constexpr size_t kMaxPrefix = 64;
constexpr size_t kMaxIdentifier = 64;

constexpr std::string_view kWriteModes[] = {"sync", "async"};
constexpr std::string_view kLmdbSync[] = {"off", "meta", "full"};
constexpr std::string_view kMysqlSsl[] = {"disabled", "preferred", "required",
                                          "verify_ca", "verify_identity"};
constexpr std::string_view kPostgresSsl[] = {
    "disable", "allow", "prefer", "require", "verify-ca", "verify-full"};

constexpr ParamSpec kWrite{"write", ParamType::kEnum, 0, 0, kWriteModes};
constexpr ParamSpec kConnectTimeout{
    "connect_timeout", ParamType::kDuration, 0, 0, {}, "timeout"};
constexpr ParamSpec kReadTimeout{"read_timeout", ParamType::kDuration, 0, 0, {},
                                 "timeout"};
constexpr ParamSpec kTimeout{"timeout", ParamType::kDuration};
constexpr ParamSpec kPrefix{"prefix", ParamType::kPrefix};
constexpr ParamSpec kTlsCa{"tls_ca", ParamType::kPath};
constexpr ParamSpec kTlsCert{"tls_cert", ParamType::kPath};
constexpr ParamSpec kTlsKey{"tls_key", ParamType::kPath};
constexpr ParamSpec kTlsInsecure{"tls_insecure", ParamType::kBool};
constexpr ParamSpec kDb{"db", ParamType::kInt, 0, kMaxDb};

constexpr ParamSpec kLmdbParams[] = {
    {"map_size", ParamType::kSize, kMiB},
    {"sync", ParamType::kEnum, 0, 0, kLmdbSync},
    {"max_readers", ParamType::kInt, 1, 65535},
    {"mode", ParamType::kOctalMode, 0, 0777},
    kWrite,
};

constexpr ParamSpec kRedisParams[] = {
    kConnectTimeout, kReadTimeout, kTimeout, kPrefix,      kDb,
    kTlsCa,          kTlsCert,     kTlsKey,  kTlsInsecure, kWrite,
};

constexpr ParamSpec kSentinelParams[] = {
    kConnectTimeout, kReadTimeout, kTimeout,
    kPrefix,         kDb,          {"sentinel_password", ParamType::kSecret},
    kTlsCa,          kTlsCert,     kTlsKey,
    kTlsInsecure,    kWrite,
};

constexpr ParamSpec kClusterParams[] = {
    kConnectTimeout, kReadTimeout, kTimeout,     kPrefix, kTlsCa,
    kTlsCert,        kTlsKey,      kTlsInsecure, kWrite,
};

constexpr ParamSpec kMemcachedParams[] = {
    {"replicas", ParamType::kInt, 0, 0, {}, {}, true},
    kPrefix,
    kConnectTimeout,
    kReadTimeout,
    kTimeout,
    kWrite,
};

constexpr ParamSpec kMysqlParams[] = {
    {"table", ParamType::kIdentifier},
    kConnectTimeout,
    kReadTimeout,
    kTimeout,
    {"sslmode", ParamType::kEnum, 0, 0, kMysqlSsl},
    kTlsCa,
    kWrite,
};

constexpr ParamSpec kPostgresParams[] = {
    {"table", ParamType::kIdentifier},
    kConnectTimeout,
    kReadTimeout,
    kTimeout,
    {"sslmode", ParamType::kEnum, 0, 0, kPostgresSsl},
    kTlsCa,
    kWrite,
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

std::string Join(std::span<const std::string_view> items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

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

bool IsPath(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// Parses an octal mode "0600" or "600"; nullopt unless 1-4 octal digits.
std::optional<int64_t> OctalValue(std::string_view v) {
  if (v.empty() || v.size() > 4) return std::nullopt;
  int64_t value = 0;
  for (char c : v) {
    if (c < '0' || c > '7') return std::nullopt;
    value = value * 8 + (c - '0');
  }
  return value;
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
  NumberError err;
  switch (spec.type) {
    case ParamType::kSize: {
      std::optional<uint64_t> v = SizeValue(value, &err);
      if (!v) {
        return Status::InvalidArgument(
            given + (err == NumberError::kOverflow
                         ? ": too large for a size"
                         : ": expected a size like 512MiB or 1GiB"));
      }
      if (*v < static_cast<uint64_t>(spec.min)) {
        return Status::InvalidArgument(given + ": must be at least " +
                                       (spec.min == kMiB
                                            ? std::string("1MiB")
                                            : std::to_string(spec.min) + "B"));
      }
      return Status::OK();
    }
    case ParamType::kDuration: {
      std::optional<int64_t> v = DurationMillis(value, &err);
      if (!v) {
        return Status::InvalidArgument(
            given + (err == NumberError::kOverflow
                         ? ": too long for a duration"
                         : ": expected a duration like 250ms or 2s "
                           "(units ms, s, m, h)"));
      }
      if (*v < 1) {
        return Status::InvalidArgument(given + ": must be at least 1ms");
      }
      return Status::OK();
    }
    case ParamType::kBool:
      if (!BoolValue(value)) {
        return Status::InvalidArgument(
            given + ": expected 1/0, true/false, on/off or yes/no");
      }
      return Status::OK();
    case ParamType::kInt: {
      int64_t max = spec.max_is_hosts_minus_one
                        ? static_cast<int64_t>(host_count) - 1
                        : spec.max;
      std::optional<uint64_t> v = ParseWhole(value, &err);
      if (!v || *v < static_cast<uint64_t>(spec.min) ||
          *v > static_cast<uint64_t>(max)) {
        std::string msg = given + ": expected a whole number from " +
                          std::to_string(spec.min) + " to " +
                          std::to_string(max);
        if (spec.max_is_hosts_minus_one) {
          msg += " (at most one less than the " + std::to_string(host_count) +
                 " host" + (host_count == 1 ? "" : "s") + ")";
        }
        return Status::InvalidArgument(msg);
      }
      return Status::OK();
    }
    case ParamType::kOctalMode: {
      std::optional<int64_t> v = OctalValue(value);
      if (!v || *v > spec.max) {
        return Status::InvalidArgument(
            given + ": expected an octal file mode like 0600 (at most 0777)");
      }
      return Status::OK();
    }
    case ParamType::kEnum:
      for (std::string_view choice : spec.choices) {
        if (value == choice) return Status::OK();
      }
      return Status::InvalidArgument(given + ": expected one of " +
                                     Join(spec.choices));
    case ParamType::kPrefix:
      if (!IsPrefix(value)) {
        return Status::InvalidArgument(
            given + ": expected printable ASCII without spaces, at most " +
            std::to_string(kMaxPrefix) + " characters");
      }
      return Status::OK();
    case ParamType::kPath:
      if (!IsPath(value)) {
        return Status::InvalidArgument(
            given +
            ": expected a file path (not empty, no control characters)");
      }
      return Status::OK();
    case ParamType::kIdentifier:
      if (!IsIdentifier(value)) {
        return Status::InvalidArgument(
            given +
            ": expected an SQL identifier (a letter or '_', then up to 63 "
            "letters, digits or '_')");
      }
      return Status::OK();
    case ParamType::kSecret:
      return Status::OK();
  }
  return Status::Internal("unhandled parameter type of " +
                          std::string(spec.name));
}

int64_t IntValue(const ParamSpec& spec, std::string_view value) {
  if (spec.type == ParamType::kOctalMode) return OctalValue(value).value_or(0);
  NumberError err;
  return static_cast<int64_t>(ParseWhole(value, &err).value_or(0));
}

}  // namespace sessionkit::uri
