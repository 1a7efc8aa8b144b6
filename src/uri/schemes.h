// The schemes of the store URL grammar and the parameters each accepts.
// docs/configuration.md documents the same tables for operators.
#ifndef SESSIONKIT_URI_SCHEMES_H_
#define SESSIONKIT_URI_SCHEMES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "sessionkit/status.h"

namespace sessionkit::uri {

// The syntax of a parameter value.
enum class ParamType {
  kSize,        // 512MiB, 1GiB
  kDuration,    // 250ms, 2s
  kBool,        // 1/0 true/false on/off yes/no
  kInt,         // whole number in [min, max]
  kOctalMode,   // file mode 0600 or 600, at most 0777
  kEnum,        // one of `choices`
  kPrefix,      // key prefix: printable ASCII without spaces
  kPath,        // a file path
  kIdentifier,  // an SQL identifier
  kSecret,      // any bytes; never quoted, redacted when rendered
};

struct ParamSpec {
  std::string_view name;
  ParamType type;
  int64_t min = 0;  // kInt: smallest value; kSize: smallest byte count
  int64_t max = 0;  // kInt: largest value
  std::span<const std::string_view> choices = {};  // kEnum
  // A parameter that supplies this one's value when it is absent (timeout
  // sets both connect_timeout and read_timeout).
  std::string_view fallback_from = {};
  // kInt only: the largest value is the number of hosts minus one.
  bool max_is_hosts_minus_one = false;
};

// What the path of a URL means for a scheme.
enum class PathRule {
  kFilesystem,  // lmdb: an absolute directory, empty authority
  kOptionalDb,  // redis, rediss: optional database number
  kMasterName,  // redis+sentinel: required master name
  kNone,        // redis+cluster, memcached: no path
  kDatabase,    // mysql, postgres: required database name
};

struct SchemeSpec {
  std::string_view name;
  uint16_t default_port;  // 0 for lmdb
  bool multi_host;        // more than one host allowed
  bool needs_user;
  PathRule path;
  std::span<const ParamSpec> params;
};

// The scheme named `lower_name` (already lower case; "postgresql" is not an
// alias here), or nullptr.
const SchemeSpec* FindScheme(std::string_view lower_name);

// "lmdb, redis, rediss, ..." for messages.
std::string KnownSchemes();

// The parameter `name` of `scheme`, or nullptr.
const ParamSpec* FindParam(const SchemeSpec& scheme, std::string_view name);

// "map_size, sync, ..." for messages.
std::string ParamNames(const SchemeSpec& scheme);

// Checks `value` (percent-decoded) against `spec`. `host_count` bounds
// parameters such as replicas. The error starts with "name=value: " (the
// value left out for secrets) and says what was expected.
Status ValidateParam(const ParamSpec& spec, std::string_view value,
                     size_t host_count);

// Parses a kInt or kOctalMode value that ValidateParam accepted.
int64_t IntValue(const ParamSpec& spec, std::string_view value);

}  // namespace sessionkit::uri

#endif  // SESSIONKIT_URI_SCHEMES_H_
