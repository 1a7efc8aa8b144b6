// The store URL grammar (see include/sessionkit/store_url.h and
// docs/configuration.md). Every error is InvalidArgument, starts with
// "bad <scheme> URL: " once the scheme is known, quotes the offending part,
// and never quotes a password: user info is only ever decoded, not echoed.
#include "sessionkit/store_url.h"

#include <arpa/inet.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "uri/schemes.h"
#include "uri/text.h"

namespace sessionkit {
namespace {

using uri::FindParam;
using uri::FindScheme;
using uri::NumberError;
using uri::ParamSpec;
using uri::ParamType;
using uri::PathRule;
using uri::Quote;
using uri::SchemeSpec;

constexpr size_t kMaxHostName = 253;
// A non-numeric "port" longer than this, in an authority without '@', may
// be a password whose '@host' was forgotten: it is described, not quoted.
constexpr size_t kMaxQuotedBadPort = 6;
constexpr uint64_t kMaxRedisDb = std::numeric_limits<int32_t>::max();

Status Bad(std::string_view scheme, std::string_view message) {
  return Status::InvalidArgument("bad " + std::string(scheme) +
                                 " URL: " + std::string(message));
}

// Quotes text that may hold user info: everything up to the last '@' is
// shown as "***".
std::string QuoteHidingUserInfo(std::string_view text) {
  size_t at = text.rfind('@');
  if (at == std::string_view::npos) return Quote(text);
  return Quote("***" + std::string(text.substr(at)));
}

bool IsHostChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool LooksLikeIpv6(std::string_view text) {
  for (char c : text) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
               (c >= 'A' && c <= 'F');
    if (!hex && c != ':' && c != '.') return false;
  }
  return true;
}

bool HasControlChar(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// The pieces of a network URL after "scheme://", before decoding.
struct Pieces {
  bool has_userinfo = false;
  std::string_view userinfo;
  std::string_view hostlist;
  std::string_view tail;  // empty, or starts with '/' or '?'
};

// Standard split: the authority ends at the first '/' or '?', and user info
// ends at the last '@' inside it.
Pieces SplitStandard(std::string_view rest) {
  Pieces p;
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos) p.tail = rest.substr(end);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    p.has_userinfo = true;
    p.userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  p.hostlist = authority;
  return p;
}

// Split for user info holding an unencoded '/' or '?': user info ends at
// the last '@' of the whole rest.
Pieces SplitAtLastAt(std::string_view rest) {
  size_t at = rest.rfind('@');
  Pieces p = SplitStandard(rest.substr(at + 1));
  p.has_userinfo = true;
  p.userinfo = rest.substr(0, at);
  return p;
}

Status ParsePort(const SchemeSpec& s, std::string_view host,
                 std::string_view text, bool has_userinfo, uint16_t* port) {
  if (text.empty()) {
    return Bad(s.name, "empty port after " + Quote(std::string(host) + ":"));
  }
  NumberError err;
  std::optional<uint64_t> v = uri::ParseWhole(text, &err);
  if (v) {
    if (*v < 1 || *v > 65535) {
      return Bad(s.name, "port " + Quote(text) + " of host " + Quote(host) +
                             " is out of range (1..65535)");
    }
    *port = static_cast<uint16_t>(*v);
    return Status::OK();
  }
  if (err == NumberError::kOverflow) {
    return Bad(s.name, "port " + Quote(text) + " of host " + Quote(host) +
                           " is out of range (1..65535)");
  }
  if (!has_userinfo && text.size() > kMaxQuotedBadPort) {
    return Bad(s.name, "host " + Quote(host) +
                           " is followed by ':' and something that is not a "
                           "port number (not shown, it may be a password; a "
                           "user and password are written user:password@host)");
  }
  return Bad(s.name, "port " + Quote(text) + " of host " + Quote(host) +
                         " is not a number (expected 1..65535)");
}

Status ParseHost(const SchemeSpec& s, std::string_view entry, bool has_userinfo,
                 HostPort* out) {
  std::string_view port_text;
  bool has_port = false;
  if (!entry.empty() && entry.front() == '[') {
    size_t close = entry.find(']');
    if (close == std::string_view::npos) {
      return Bad(s.name, "missing ']' after the IPv6 address in " +
                             Quote(entry) + " (expected [::1]:port)");
    }
    std::string addr(entry.substr(1, close - 1));
    in6_addr unused;
    // The character check also keeps a NUL byte from ending the C string
    // early.
    if (!LooksLikeIpv6(addr) ||
        inet_pton(AF_INET6, addr.c_str(), &unused) != 1) {
      return Bad(s.name,
                 Quote(entry.substr(0, close + 1)) + " is not an IPv6 address");
    }
    std::string_view after = entry.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Bad(s.name,
                   "unexpected " + Quote(after) + " after the IPv6 address " +
                       Quote(entry.substr(0, close + 1)) + " (expected :port)");
      }
      has_port = true;
      port_text = after.substr(1);
    }
    out->host = std::move(addr);
  } else {
    size_t colon = entry.find(':');
    if (colon != std::string_view::npos &&
        entry.find(':', colon + 1) != std::string_view::npos &&
        LooksLikeIpv6(entry)) {
      return Bad(s.name, Quote(entry) +
                             " looks like an IPv6 address: put it in "
                             "brackets, as in [::1]:" +
                             std::to_string(s.default_port));
    }
    std::string_view host = entry.substr(0, colon);
    if (host.empty()) {
      return Bad(s.name,
                 "a host name is missing (expected host[:port]" +
                     std::string(s.multi_host ? ", comma-separated" : "") +
                     ")");
    }
    for (char c : host) {
      if (!IsHostChar(c)) {
        return Bad(s.name,
                   "host " + Quote(host) + " contains " +
                       Quote(std::string_view(&c, 1)) +
                       ", which is not allowed in a host name (letters, "
                       "digits, '.', '-', '_'; an IPv6 address goes in "
                       "brackets)");
      }
    }
    if (host.size() > kMaxHostName) {
      return Bad(s.name, "host " + Quote(host) + " is longer than " +
                             std::to_string(kMaxHostName) + " characters");
    }
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = entry.substr(colon + 1);
    }
    out->host = std::string(host);
  }
  out->port = s.default_port;
  if (has_port) {
    SK_RETURN_IF_ERROR(
        ParsePort(s, out->host, port_text, has_userinfo, &out->port));
  }
  return Status::OK();
}

Status ParseHosts(const SchemeSpec& s, const Pieces& p,
                  std::vector<HostPort>* hosts) {
  if (p.hostlist.empty()) {
    return Bad(s.name, "no host given (expected " + std::string(s.name) +
                           "://127.0.0.1:" + std::to_string(s.default_port) +
                           ")");
  }
  std::string_view list = p.hostlist;
  while (true) {
    size_t comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    if (entry.empty()) {
      return Bad(s.name, "empty entry in the host list " + Quote(p.hostlist));
    }
    HostPort hp;
    SK_RETURN_IF_ERROR(ParseHost(s, entry, p.has_userinfo, &hp));
    hosts->push_back(std::move(hp));
    if (comma == std::string_view::npos) break;
    list = list.substr(comma + 1);
  }
  if (!s.multi_host && hosts->size() > 1) {
    std::string msg = "takes one host, got " + std::to_string(hosts->size()) +
                      " (" + Quote(p.hostlist) + ")";
    if (s.name == "redis" || s.name == "rediss") {
      msg += "; for several hosts use redis+sentinel:// or redis+cluster://";
    }
    return Bad(s.name, msg);
  }
  return Status::OK();
}

Status ParseQuery(const SchemeSpec& s, std::string_view query,
                  size_t host_count,
                  std::vector<std::pair<std::string, std::string>>* params) {
  if (query.empty()) return Status::OK();
  while (true) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    if (item.empty()) {
      return Bad(s.name,
                 "empty parameter in the query (a doubled or trailing '&'?)");
    }
    size_t eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    const ParamSpec* spec = FindParam(s, name);
    if (spec == nullptr) {
      std::string msg = "unknown parameter " + Quote(name) + " for " +
                        std::string(s.name) +
                        " URLs (valid: " + uri::ParamNames(s) + ")";
      if (s.name == "redis+cluster" && name == "db") {
        msg += "; Redis Cluster has only database 0";
      }
      return Bad(s.name, msg);
    }
    if (eq == std::string_view::npos) {
      return Bad(s.name, "parameter " + Quote(name) +
                             " has no value (expected " + std::string(name) +
                             "=VALUE)");
    }
    for (const auto& [seen, unused] : *params) {
      if (seen == name) {
        return Bad(s.name, "parameter " + Quote(name) + " is given twice");
      }
    }
    std::string value;
    std::string_view bad;
    if (!uri::PercentDecode(item.substr(eq + 1), &value, &bad)) {
      if (spec->type == ParamType::kSecret) {
        return Bad(s.name, "bad percent escape in the value of " +
                               std::string(name) + " (expected %XX)");
      }
      return Bad(s.name, "bad percent escape " + Quote(bad) +
                             " in the value of " + std::string(name) +
                             " (expected %XX with two hex digits)");
    }
    Status st = uri::ValidateParam(*spec, value, host_count);
    if (!st.ok()) return Bad(s.name, st.message());
    params->emplace_back(std::string(name), std::move(value));
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return Status::OK();
}

const std::string* FindValue(
    const std::vector<std::pair<std::string, std::string>>& params,
    std::string_view name) {
  for (const auto& [n, v] : params) {
    if (n == name) return &v;
  }
  return nullptr;
}

Result<StoreUrl> ParseLmdb(const SchemeSpec& s, std::string_view rest) {
  size_t q = rest.find('?');
  std::string_view raw_path = rest.substr(0, q);
  if (raw_path.empty() || raw_path.front() != '/') {
    return Bad(s.name,
               "expected an absolute directory after 'lmdb://', as "
               "in lmdb:///var/lib/sessionkit (three slashes; no "
               "host), got " +
                   QuoteHidingUserInfo("lmdb://" + std::string(raw_path)));
  }
  StoreUrl url;
  url.scheme = std::string(s.name);
  std::string_view bad;
  if (!uri::PercentDecode(raw_path, &url.path, &bad)) {
    return Bad(s.name, "bad percent escape " + Quote(bad) + " in the path " +
                           Quote(raw_path) + " (expected %XX)");
  }
  if (HasControlChar(url.path)) {
    return Bad(s.name,
               "the path " + Quote(url.path) + " contains a control character");
  }
  if (url.path.find_first_not_of('/') == std::string::npos) {
    return Bad(s.name,
               "the path is the filesystem root: name a directory, "
               "as in lmdb:///var/lib/sessionkit");
  }
  if (q != std::string_view::npos) {
    SK_RETURN_IF_ERROR(ParseQuery(s, rest.substr(q + 1), 0, &url.params));
  }
  return url;
}

Status ParsePath(const SchemeSpec& s, std::string_view raw, bool has_path,
                 StoreUrl* url) {
  std::string_view bad;
  if (!uri::PercentDecode(raw, &url->path, &bad)) {
    return Bad(s.name, "bad percent escape " + Quote(bad) + " in the path " +
                           Quote(raw) + " (expected %XX)");
  }
  const std::string& path = url->path;
  switch (s.path) {
    case PathRule::kFilesystem:
      return Status::Internal("lmdb path parsed as a network path");
    case PathRule::kOptionalDb: {
      if (path.empty()) return Status::OK();
      NumberError err;
      std::optional<uint64_t> db = uri::ParseWhole(path, &err);
      if (!db || *db > kMaxRedisDb) {
        return Bad(s.name, "database " + Quote("/" + path) +
                               " must be a whole number from 0 to " +
                               std::to_string(kMaxRedisDb) + ", as in " +
                               std::string(s.name) + "://host:6379/0");
      }
      url->path = std::to_string(*db);
      return Status::OK();
    }
    case PathRule::kMasterName:
      if (path.empty()) {
        return Bad(s.name,
                   "the master name is missing: give it as the path, "
                   "as in redis+sentinel://h1:26379,h2:26379/mymaster");
      }
      for (char c : path) {
        if (c <= 0x20 || c >= 0x7f || c == '/') {
          return Bad(s.name, "master name " + Quote(path) +
                                 " may contain only printable ASCII without "
                                 "spaces or '/'");
        }
      }
      return Status::OK();
    case PathRule::kNone:
      if (has_path && !raw.empty()) {
        std::string msg = "takes no path, got " + Quote("/" + std::string(raw));
        if (s.name == "redis+cluster") {
          msg += " (Redis Cluster has only database 0)";
        }
        return Bad(s.name, msg);
      }
      return Status::OK();
    case PathRule::kDatabase:
      if (path.empty()) {
        return Bad(s.name,
                   "the database name is missing: give it as the "
                   "path, as in " +
                       std::string(s.name) + "://user:password@host/sessions");
      }
      if (HasControlChar(path) || path.find('/') != std::string::npos) {
        return Bad(s.name, "database name " + Quote(path) +
                               " may not contain '/' or control characters");
      }
      return Status::OK();
  }
  return Status::Internal("unhandled path rule");
}

Result<StoreUrl> ParseNetwork(const SchemeSpec& s, const Pieces& p) {
  StoreUrl url;
  url.scheme = std::string(s.name);
  if (p.has_userinfo) {
    size_t colon = p.userinfo.find(':');
    std::string_view user = p.userinfo.substr(0, colon);
    std::string_view bad;
    if (!uri::PercentDecode(user, &url.user, &bad)) {
      return Bad(s.name, "bad percent escape " + Quote(bad) +
                             " in the user name (expected %XX)");
    }
    if (colon != std::string_view::npos) {
      url.has_password = true;
      if (!uri::PercentDecode(p.userinfo.substr(colon + 1), &url.password,
                              &bad)) {
        return Bad(s.name,
                   "bad percent escape in the password (expected %XX with "
                   "two hex digits; write '%' itself as %25)");
      }
    }
  }
  SK_RETURN_IF_ERROR(ParseHosts(s, p, &url.hosts));

  std::string_view raw_path;
  std::string_view query;
  bool has_path = false;
  if (!p.tail.empty()) {
    size_t q = p.tail.find('?');
    if (p.tail.front() == '/') {
      has_path = true;
      raw_path = p.tail.substr(1, q == std::string_view::npos ? q : q - 1);
    }
    if (q != std::string_view::npos) query = p.tail.substr(q + 1);
  }
  SK_RETURN_IF_ERROR(ParsePath(s, raw_path, has_path, &url));
  SK_RETURN_IF_ERROR(ParseQuery(s, query, url.hosts.size(), &url.params));

  if (s.name == "redis") {
    for (const auto& [name, value] : url.params) {
      if (name.starts_with("tls_")) {
        return Bad(s.name, Quote(name) +
                               " only applies to TLS connections: use "
                               "rediss:// (Redis over TLS)");
      }
    }
  }
  if (s.path == PathRule::kOptionalDb) {
    if (const std::string* db = FindValue(url.params, "db")) {
      std::string canonical =
          std::to_string(uri::IntValue(*FindParam(s, "db"), *db));
      if (url.path.empty()) {
        url.path = canonical;
      } else if (url.path != canonical) {
        return Bad(s.name,
                   "the database is given twice with different "
                   "values: path " +
                       Quote("/" + url.path) + " and " + Quote("db=" + *db));
      }
    }
  }
  if (s.needs_user && url.user.empty()) {
    return Bad(s.name, "a user is required, as in " + std::string(s.name) +
                           "://user:password@host/database");
  }
  return url;
}

std::string_view TypeName(ParamType type) {
  switch (type) {
    case ParamType::kSize:
      return "a size";
    case ParamType::kDuration:
      return "a duration";
    case ParamType::kBool:
      return "a boolean";
    case ParamType::kInt:
    case ParamType::kOctalMode:
      return "a whole number";
    case ParamType::kEnum:
      return "a choice";
    case ParamType::kPrefix:
      return "a key prefix";
    case ParamType::kPath:
      return "a file path";
    case ParamType::kIdentifier:
      return "an SQL identifier";
    case ParamType::kSecret:
      return "a secret";
  }
  return "a value";
}

// Finds the spec of `name` for a typed getter and the value to use (the
// parameter's own, else the one it falls back to; nullptr when neither was
// given). InvalidArgument when the scheme does not define `name` or defines
// it with a type none of `types` allows.
Status LookupTyped(const StoreUrl& url, std::string_view name,
                   std::initializer_list<ParamType> types,
                   std::string_view wanted, const ParamSpec** spec,
                   const std::string** value) {
  const SchemeSpec* s = FindScheme(url.scheme);
  if (s == nullptr) {
    return Status::InvalidArgument("unknown store scheme " + Quote(url.scheme));
  }
  *spec = FindParam(*s, name);
  if (*spec == nullptr) {
    return Status::InvalidArgument(
        Quote(name) + " is not a parameter of " + url.scheme +
        " URLs (valid: " + uri::ParamNames(*s) + ")");
  }
  bool type_ok = false;
  for (ParamType t : types) type_ok = type_ok || (*spec)->type == t;
  if (!type_ok) {
    return Status::InvalidArgument(
        "parameter " + Quote(name) + " of " + url.scheme + " URLs is " +
        std::string(TypeName((*spec)->type)) + ", not " + std::string(wanted));
  }
  *value = FindValue(url.params, name);
  if (*value == nullptr && !(*spec)->fallback_from.empty()) {
    *value = FindValue(url.params, (*spec)->fallback_from);
  }
  if (*value != nullptr) {
    Status st = uri::ValidateParam(**spec, **value, url.hosts.size());
    if (!st.ok()) return Bad(url.scheme, st.message());
  }
  return Status::OK();
}

// Renders params as "?a=1&b=2", secrets as "***".
std::string RenderQuery(const StoreUrl& url) {
  const SchemeSpec* s = FindScheme(url.scheme);
  std::string out;
  for (const auto& [name, value] : url.params) {
    out += out.empty() ? "?" : "&";
    out += uri::PercentEncode(name, "");
    out += "=";
    const ParamSpec* spec = s ? FindParam(*s, name) : nullptr;
    // A parameter this scheme does not know is rendered hidden too: it can
    // only come from a hand-built StoreUrl and might be a secret.
    if (spec == nullptr || spec->type == ParamType::kSecret) {
      out += "***";
    } else {
      out += uri::PercentEncode(value, "/:+");
    }
  }
  return out;
}

// Tiers are split at '|' and at a ',' directly followed (after spaces) by
// "scheme://"; a ',' inside a host list is followed by a host, never by
// "://", so it stays part of its URL.
bool StartsWithScheme(std::string_view text) {
  size_t i = text.find_first_not_of(" \t\n\r\f\v");
  if (i == std::string_view::npos) return false;
  text.remove_prefix(i);
  i = 0;
  auto alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  if (text.empty() || !alpha(text[0])) return false;
  while (i < text.size() &&
         (alpha(text[i]) || (text[i] >= '0' && text[i] <= '9') ||
          text[i] == '+' || text[i] == '.' || text[i] == '-')) {
    ++i;
  }
  return text.substr(i, 3) == "://";
}

std::vector<std::string_view> SplitTiers(std::string_view spec) {
  std::vector<std::string_view> tiers;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); ++i) {
    bool end = i == spec.size() || spec[i] == '|' ||
               (spec[i] == ',' && StartsWithScheme(spec.substr(i + 1)));
    if (end) {
      tiers.push_back(uri::Trim(spec.substr(start, i - start)));
      start = i + 1;
    }
  }
  return tiers;
}

// Names whose values RedactSpecText hides: any parameter that may hold a
// credential, whatever the scheme.
bool MayHoldSecret(std::string_view name) {
  std::string lower;
  for (char c : name) {
    lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  for (std::string_view word :
       {"pass", "pwd", "auth", "secret", "key", "token"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

// Whether a new URL of a tier list starts at text[i]: a '|' or ',' followed
// by "scheme://".
bool IsTierStart(std::string_view text, size_t i) {
  return (text[i] == '|' || text[i] == ',') &&
         StartsWithScheme(text.substr(i + 1));
}

// Replaces the value of every password-like query parameter in `text` by
// "***". A value runs to the next '&' or the next tier, so a '|' or '#'
// inside a password does not end it.
std::string RedactParams(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i++];
    out.push_back(c);
    if (c != '?' && c != '&') continue;
    size_t eq = text.find_first_of("=&|?/#", i);
    if (eq == std::string_view::npos || text[eq] != '=' ||
        !MayHoldSecret(text.substr(i, eq - i))) {
      continue;
    }
    out.append(text.substr(i, eq + 1 - i));
    out.append("***");
    i = eq + 1;
    while (i < text.size() && text[i] != '&' && !IsTierStart(text, i)) ++i;
  }
  return out;
}

// RedactStoreSpec for a spec that does not parse: works on the raw text.
// Such a spec says nothing reliable about where a password ends (it may
// hold a raw '/', '?', '#', '|', '@' or even "://"), so everything between
// the first "://" (or the start, when the spec does not begin with a
// scheme) and the last '@' is masked, whatever tier it belongs to.
std::string RedactSpecText(std::string_view spec) {
  size_t last_at = spec.rfind('@');
  if (last_at == std::string_view::npos) return RedactParams(spec);
  size_t start = 0;
  if (StartsWithScheme(spec)) start = spec.find("://") + 3;
  std::string out(spec.substr(0, start));
  out += "***";
  out += RedactParams(spec.substr(last_at));
  return out;
}

}  // namespace

Result<StoreUrl> ParseStoreUrl(std::string_view url) {
  url = uri::Trim(url);
  if (url.empty()) {
    return Status::InvalidArgument(
        "empty store URL (expected e.g. lmdb:///var/lib/sessionkit)");
  }
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    if (url.front() == '/') {
      return Status::InvalidArgument(
          "bad store URL: " + Quote(url) +
          " is a path, not a store URL: for an LMDB store in that directory "
          "write lmdb://" +
          uri::Printable(url));
    }
    size_t colon = url.find(':');
    if (colon != std::string_view::npos &&
        FindScheme(uri::Lower(url.substr(0, colon))) != nullptr) {
      std::string scheme = uri::Lower(url.substr(0, colon));
      return Bad(scheme,
                 "expected '//' after '" + scheme + ":', as in " + scheme +
                     (scheme == "lmdb" ? ":///var/lib/sessionkit" : "://host"));
    }
    return Status::InvalidArgument(
        "bad store URL: " + QuoteHidingUserInfo(url) +
        " has no scheme (expected scheme://..., scheme one of " +
        uri::KnownSchemes() + ")");
  }
  std::string scheme = uri::Lower(url.substr(0, sep));
  if (scheme == "postgresql") scheme = "postgres";
  const SchemeSpec* s = FindScheme(scheme);
  if (s == nullptr) {
    return Status::InvalidArgument("bad store URL: unknown scheme " +
                                   QuoteHidingUserInfo(url.substr(0, sep)) +
                                   " (known: " + uri::KnownSchemes() +
                                   "; postgresql is an alias of postgres)");
  }
  std::string_view rest = url.substr(sep + 3);
  if (s->path == PathRule::kFilesystem) return ParseLmdb(*s, rest);

  Pieces standard = SplitStandard(rest);
  Result<StoreUrl> parsed = ParseNetwork(*s, standard);
  if (parsed.ok() || standard.tail.find('@') == std::string_view::npos) {
    return parsed;
  }
  // An '@' after the first '/' or '?': most likely user info with an
  // unencoded '/' or '?' (and, when there is an '@' before it too, an
  // unencoded '@'). The first error may then quote part of the password,
  // so report from the split that keeps it hidden.
  Result<StoreUrl> hidden = ParseNetwork(*s, SplitAtLastAt(rest));
  if (hidden.ok()) {
    if (standard.has_userinfo) {
      return Bad(s->name,
                 "the part before the last '@' contains an unencoded '/', "
                 "'?' or '@': percent-encode them in a user name or "
                 "password (%2F, %3F, %40)");
    }
    return Bad(s->name,
               "the part before '@' contains an unencoded '/' or '?': "
               "percent-encode them in a user name or password (%2F, %3F)");
  }
  return Status::InvalidArgument(
      hidden.status().message() +
      " (if the password contains '/', '?' or '@', percent-encode them as "
      "%2F, %3F and %40)");
}

Result<std::vector<StoreUrl>> ParseStoreSpec(std::string_view spec) {
  if (uri::Trim(spec).empty()) {
    return Status::InvalidArgument(
        "empty store URL (expected e.g. lmdb:///var/lib/sessionkit, or "
        "several URLs separated by '|')");
  }
  std::vector<std::string_view> tiers = SplitTiers(spec);
  auto where = [&](size_t i) {
    return tiers.size() > 1 ? "tier " + std::to_string(i + 1) + ": "
                            : std::string();
  };
  // A tier without "://" is reported first: it is often the tail of a
  // password that held a '|', and the error of the tier before it could
  // quote the rest of that password.
  for (size_t i = 0; i < tiers.size(); ++i) {
    if (tiers[i].empty()) {
      return Status::InvalidArgument(
          "tier " + std::to_string(i + 1) + " of " +
          std::to_string(tiers.size()) +
          " is empty (a doubled or trailing '|' or ','?)");
    }
    if (tiers.size() > 1 && tiers[i].find("://") == std::string_view::npos) {
      std::string msg = ParseStoreUrl(tiers[i]).status().message();
      if (tiers[i].find('@') != std::string_view::npos) {
        msg += "; if a password contains '|', percent-encode it as %7C";
      }
      return Status::InvalidArgument(where(i) + msg);
    }
  }
  std::vector<StoreUrl> urls;
  urls.reserve(tiers.size());
  for (size_t i = 0; i < tiers.size(); ++i) {
    Result<StoreUrl> url = ParseStoreUrl(tiers[i]);
    if (!url.ok()) {
      if (tiers.size() == 1) return url.status();
      return url.status().WithContext("tier " + std::to_string(i + 1));
    }
    urls.push_back(std::move(url).value());
  }
  return urls;
}

std::string RedactStoreSpec(std::string_view spec) {
  auto urls = ParseStoreSpec(spec);
  if (!urls.ok()) return RedactSpecText(spec);
  std::string out;
  for (const StoreUrl& url : *urls) {
    if (!out.empty()) out += "|";
    out += url.Redacted();
  }
  return out;
}

std::string StoreUrl::Redacted() const {
  std::string out = scheme + "://";
  if (scheme == "lmdb") {
    out += uri::PercentEncode(path, "/:+");
    return out + RenderQuery(*this);
  }
  if (!user.empty() || has_password) {
    out += uri::PercentEncode(user, "");
    if (has_password) out += ":***";
    out += "@";
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (i > 0) out += ",";
    const std::string& h = hosts[i].host;
    if (h.find(':') != std::string::npos) {
      out += "[" + h + "]";
    } else {
      out += uri::PercentEncode(h, "");
    }
    out += ":" + std::to_string(hosts[i].port);
  }
  if (!path.empty()) out += "/" + uri::PercentEncode(path, ":+");
  return out + RenderQuery(*this);
}

std::optional<std::string> StoreUrl::Param(std::string_view name) const {
  const std::string* v = FindValue(params, name);
  if (v == nullptr) return std::nullopt;
  return *v;
}

Result<uint64_t> StoreUrl::SizeParam(std::string_view name,
                                     uint64_t fallback) const {
  const ParamSpec* spec;
  const std::string* value;
  SK_RETURN_IF_ERROR(
      LookupTyped(*this, name, {ParamType::kSize}, "a size", &spec, &value));
  if (value == nullptr) return fallback;
  NumberError err;
  return uri::SizeValue(*value, &err).value_or(fallback);
}

Result<Duration> StoreUrl::DurationParam(std::string_view name,
                                         Duration fallback) const {
  const ParamSpec* spec;
  const std::string* value;
  SK_RETURN_IF_ERROR(LookupTyped(*this, name, {ParamType::kDuration},
                                 "a duration", &spec, &value));
  if (value == nullptr) return fallback;
  NumberError err;
  std::optional<int64_t> ms = uri::DurationMillis(*value, &err);
  return ms ? Duration(*ms) : fallback;
}

Result<bool> StoreUrl::BoolParam(std::string_view name, bool fallback) const {
  const ParamSpec* spec;
  const std::string* value;
  SK_RETURN_IF_ERROR(
      LookupTyped(*this, name, {ParamType::kBool}, "a boolean", &spec, &value));
  if (value == nullptr) return fallback;
  return uri::BoolValue(*value).value_or(fallback);
}

Result<int64_t> StoreUrl::IntParam(std::string_view name,
                                   int64_t fallback) const {
  const ParamSpec* spec;
  const std::string* value;
  SK_RETURN_IF_ERROR(LookupTyped(*this, name,
                                 {ParamType::kInt, ParamType::kOctalMode},
                                 "a whole number", &spec, &value));
  if (value == nullptr) {
    // redis://host/3 gives the database as the path.
    const SchemeSpec* s = FindScheme(scheme);
    if (name == "db" && s->path == PathRule::kOptionalDb && !path.empty()) {
      NumberError err;
      std::optional<uint64_t> db = uri::ParseWhole(path, &err);
      if (!db || *db > kMaxRedisDb) {
        return Bad(scheme,
                   "database " + Quote("/" + path) + " is not a whole number");
      }
      return static_cast<int64_t>(*db);
    }
    return fallback;
  }
  return uri::IntValue(*spec, *value);
}

bool StoreUrl::write_async() const {
  const std::string* v = FindValue(params, "write");
  return v != nullptr && *v == "async";
}

Result<uint64_t> ParseSize(std::string_view text) {
  NumberError err;
  std::optional<uint64_t> v = uri::SizeValue(text, &err);
  if (v) return *v;
  if (err == NumberError::kOverflow) {
    return Status::InvalidArgument("size " + Quote(text) + " is too large");
  }
  return Status::InvalidArgument(
      Quote(text) +
      " is not a size: expected a whole number with an optional unit B, "
      "K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB, like 512MiB or 1GiB");
}

Result<Duration> ParseDuration(std::string_view text) {
  NumberError err;
  std::optional<int64_t> v = uri::DurationMillis(text, &err);
  if (v) return Duration(*v);
  if (err == NumberError::kOverflow) {
    return Status::InvalidArgument("duration " + Quote(text) + " is too long");
  }
  return Status::InvalidArgument(
      Quote(text) +
      " is not a duration: expected a whole number with a unit ms, s, m or "
      "h, like 250ms or 2s (a bare number is milliseconds)");
}

Result<bool> ParseBool(std::string_view text) {
  std::optional<bool> v = uri::BoolValue(text);
  if (v) return *v;
  return Status::InvalidArgument(
      Quote(text) +
      " is not a boolean: expected 1/0, true/false, on/off or "
      "yes/no");
}

}  // namespace sessionkit
