// The schemes of the store URL grammar and the parameter names each
// accepts. docs/configuration.md documents the same tables for operators.
//
// Where each fact about a parameter lives:
// - its name: here, in its scheme's row (the grammar refuses other names);
// - its type, range and default: the store's Options::FromUrl and the
//   defaults of its Options struct (include/sessionkit/stores/*.h); such a
//   parameter is kStore here;
// - `write`, the tier setting every scheme accepts: here.
#ifndef SESSIONKIT_URI_SCHEMES_H_
#define SESSIONKIT_URI_SCHEMES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "sessionkit/status.h"

namespace sessionkit::uri {

// What the grammar checks of a parameter's value.
enum class ParamType {
  kStore,   // nothing: the store's Options::FromUrl reads and checks it
  kSecret,  // kStore, and never quoted; redacted when rendered
  kEnum,    // one of `choices` (`write`)
};

struct ParamSpec {
  std::string_view name;
  ParamType type = ParamType::kStore;
  // A parameter that supplies this one's value when it is absent (timeout
  // sets both connect_timeout and read_timeout).
  std::string_view fallback_from = {};
  std::span<const std::string_view> choices = {};  // kEnum
  // Part of where the sessions are (a key prefix, a database, a table), not
  // of how they are reached or written: StoreUrl::Location keeps it.
  bool locates = false;
};

// What the path of a URL means for a scheme.
enum class PathRule {
  kFilesystem,  // lmdb: an absolute directory, empty authority
  kOptionalDb,  // redis, rediss: optional database number (or db=)
  kMasterName,  // redis+sentinel: required master name
  kNone,        // redis+cluster, memcached: no path
  kDatabase,    // mysql, postgres: required database name
  kName,        // php: the name a store was registered under, no host
};

struct SchemeSpec {
  std::string_view name;
  uint16_t default_port;  // 0 for lmdb and php
  bool multi_host;        // more than one host allowed
  bool needs_user;
  PathRule path;
  // Its own parameters; the tier settings (write, journal, breaker,
  // write_delay) every scheme takes come on top (FindParam, ParamNames).
  std::span<const ParamSpec> params;
};

// The longest name of a php:// store (php://NAME).
inline constexpr size_t kMaxStoreNameLength = 64;

// The largest Redis database number, for the path of redis:// URLs.
inline constexpr int64_t kMaxRedisDb = INT32_MAX;

// The scheme named `lower_name` (already lower case; "postgresql" is not an
// alias here), or nullptr.
const SchemeSpec* FindScheme(std::string_view lower_name);

// "lmdb, redis, rediss, ..." for messages.
std::string KnownSchemes();

// The parameter `name` of `scheme`, or nullptr.
const ParamSpec* FindParam(const SchemeSpec& scheme, std::string_view name);

// "map_size, sync, ..." for messages.
std::string ParamNames(const SchemeSpec& scheme);

// Checks `value` (percent-decoded) against the rule of `spec` (nothing for
// kStore and kSecret). The error starts with "name=value: " and says what
// was expected.
Status ValidateParam(const ParamSpec& spec, std::string_view value);

}  // namespace sessionkit::uri

#endif  // SESSIONKIT_URI_SCHEMES_H_
