// Store URLs: one grammar for session.save_path, the CLI and the C++ API.
//
//   lmdb:///var/lib/sessionkit?map_size=1GiB&sync=off
//   redis://[user][:password]@host[:port][/db][?params]
//   rediss://...                       (Redis over TLS)
//   redis+sentinel://[:password@]h1:26379,h2:26379/mymaster[?params]
//   redis+cluster://[:password@]h1:7000,h2:7001[?params]
//   memcached://h1:11211,h2:11211[?params]
//   mysql://user:password@host[:port]/database[?params]
//   postgres://user:password@host[:port]/database[?params]
//   php://NAME                         (a store written in PHP, registered
//                                       under NAME: docs/php-stores.md)
//
// Several URLs separated by `|` (or by `,` directly before another
// `scheme://`) form tiers, fastest first. Every scheme accepts
// `write=sync|async` (async: the tier is written behind).
// docs/configuration.md lists every parameter of every scheme.
#ifndef SESSIONKIT_STORE_URL_H_
#define SESSIONKIT_STORE_URL_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace sessionkit {

struct HostPort {
  std::string host;  // name, IPv4, or IPv6 without brackets
  uint16_t port = 0;
};

// A parsed store URL. The parser checks the grammar (hosts, ports, path)
// and the parameter names against the scheme's list; the values of a
// store's settings are read, and checked, by that store's Options::FromUrl
// (include/sessionkit/stores/), which owns each setting's type, range and
// default, with the readers below. OpenStore (open.h) does both before
// opening anything.
//
// Thread safety: a value; const methods may be called concurrently.
struct StoreUrl {
  std::string scheme;    // "lmdb", "redis", "rediss", "redis+sentinel", ...
  std::string user;      // percent-decoded; empty if none
  std::string password;  // percent-decoded
  bool has_password = false;
  std::vector<HostPort> hosts;  // default ports filled in; empty for lmdb
  // Percent-decoded path without the leading '/' for network schemes (redis
  // db number, sentinel master name, SQL database name); the absolute
  // filesystem path for lmdb.
  std::string path;
  // Query parameters in the order given, percent-decoded, names checked.
  std::vector<std::pair<std::string, std::string>> params;

  // The URL with any password replaced by "***", for messages and logs.
  std::string Redacted() const;

  // Where the URL's sessions are: its scheme, hosts, path and the
  // parameters that locate them (a key prefix, a database, a table), by
  // name; no user, password, or setting of how they are reached or written
  // (timeouts, write_delay, ...). Two URLs of one store's sessions have one
  // Location, however their settings differ or are ordered. The journal of
  // tiers knows a tier by it (docs/tiers.md).
  std::string Location() const;

  // The raw value of a parameter, if given.
  std::optional<std::string> Param(std::string_view name) const;

  // Readers of parameter values, for a store's Options::FromUrl: the value
  // of `name` (or of the parameter it falls back to, as connect_timeout and
  // read_timeout fall back to timeout) in the syntax the reader names, or
  // `fallback` when neither was given. InvalidArgument "bad <scheme> URL:
  // name=value: expected ..." when the value does not parse, or naming
  // `name` when the scheme has no such parameter. They check syntax only:
  // ranges are the store's.
  Result<uint64_t> SizeParam(std::string_view name, uint64_t fallback) const;
  Result<Duration> DurationParam(std::string_view name,
                                 Duration fallback) const;
  Result<bool> BoolParam(std::string_view name, bool fallback) const;
  // A whole number (digits only). "db" of redis:// and rediss:// is read
  // from the path, where the parser puts db= too.
  Result<int64_t> IntParam(std::string_view name, int64_t fallback) const;
  // An octal file mode: 1 to 4 octal digits ("0600", "640").
  Result<unsigned> ModeParam(std::string_view name, unsigned fallback) const;
  // A file path: not empty, no control characters.
  Result<std::string> PathParam(std::string_view name,
                                std::string fallback) const;
  // One of `choices`, as its index; the error lists them.
  Result<size_t> ChoiceParam(std::string_view name,
                             std::span<const std::string_view> choices,
                             size_t fallback) const;

  // True when `write=async` was given (a written-behind tier).
  bool write_async() const;
};

// Parses one URL. InvalidArgument quoting the offending part for an unknown
// scheme, a malformed authority, port or path, or an unknown parameter
// (and, for the schemes whose store is not in this build yet, a value that
// breaks its rule: docs/configuration.md). The values of a store's
// settings are checked by its Options::FromUrl: OpenStore (open.h) parses
// and checks both.
Result<StoreUrl> ParseStoreUrl(std::string_view url);

// Parses a save path: one URL or several tiers (see above). Empty parts and
// a spec with no URL are errors.
Result<std::vector<StoreUrl>> ParseStoreSpec(std::string_view spec);

// A save path fit for messages: every tier rendered with Redacted() when
// `spec` parses; otherwise the raw text with user info ("user:***@") and the
// values of parameters whose name contains "password" or "auth" masked, so
// that even a malformed spec can be shown without leaking a password.
std::string RedactStoreSpec(std::string_view spec);

// Value syntaxes shared by all schemes (the readers above use the same),
// exposed for ini settings and flags.
//
// Sizes: a whole number with an optional unit B, K/KB/KiB, M/MB/MiB,
// G/GB/GiB, T/TB/TiB (case-insensitive; all binary multiples).
Result<uint64_t> ParseSize(std::string_view text);
// Durations: a whole number with a unit ms, s, m, h (e.g. "250ms", "2s");
// a bare number is milliseconds.
Result<Duration> ParseDuration(std::string_view text);
// Booleans: 1/0, true/false, on/off, yes/no (case-insensitive).
Result<bool> ParseBool(std::string_view text);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORE_URL_H_
