// The store URL grammar after the scheme: user info, hosts and ports,
// paths and the query (see include/sessionkit/store_url.h and
// docs/configuration.md). Every error is InvalidArgument, starts with
// "bad <scheme> URL: ", quotes the offending part, and never quotes a
// password: user info is only ever decoded, not echoed.
#include "uri/grammar.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "uri/schemes.h"
#include "uri/text.h"

namespace sessionkit::uri {
namespace {

constexpr size_t kMaxHostName = 253;
// A non-numeric "port" longer than this, in an authority without '@', may
// be a password whose '@host' was forgotten: it is described, not quoted.
constexpr size_t kMaxQuotedBadPort = 6;

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

Status ParsePort(const SchemeSpec& s, std::string_view host,
                 std::string_view text, bool has_userinfo, uint16_t* port) {
  if (text.empty()) {
    return Bad(s.name, "empty port after " + Quote(std::string(host) + ":"));
  }
  NumberError err;
  std::optional<uint64_t> v = ParseWhole(text, &err);
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
                        std::string(s.name) + " URLs (valid: " + ParamNames(s) +
                        ")";
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
    if (!PercentDecode(item.substr(eq + 1), &value, &bad)) {
      if (spec->type == ParamType::kSecret) {
        return Bad(s.name, "bad percent escape in the value of " +
                               std::string(name) + " (expected %XX)");
      }
      return Bad(s.name, "bad percent escape " + Quote(bad) +
                             " in the value of " + std::string(name) +
                             " (expected %XX with two hex digits)");
    }
    Status st = ValidateParam(*spec, value);
    if (!st.ok()) return Bad(s.name, st.message());
    params->emplace_back(std::string(name), std::move(value));
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return Status::OK();
}

// A Redis database number (path or db= of redis:// and rediss://).
std::optional<uint64_t> DbNumber(std::string_view text) {
  NumberError err;
  std::optional<uint64_t> db = ParseWhole(text, &err);
  if (!db || *db > static_cast<uint64_t>(kMaxRedisDb)) return std::nullopt;
  return db;
}

// db= is the other spelling of the path of redis:// and rediss://: it
// becomes the path, and the two must agree when both are given.
Status ReconcileDb(const SchemeSpec& s, StoreUrl* url) {
  const std::string* db = FindValue(url->params, "db");
  if (db == nullptr) return Status::OK();
  std::optional<uint64_t> number = DbNumber(*db);
  if (!number) {
    return Bad(s.name, "db=" + Printable(*db) +
                           ": expected a whole number from 0 to " +
                           std::to_string(kMaxRedisDb));
  }
  std::string canonical = std::to_string(*number);
  if (url->path.empty()) {
    url->path = canonical;
  } else if (url->path != canonical) {
    return Bad(s.name,
               "the database is given twice with different "
               "values: path " +
                   Quote("/" + url->path) + " and " + Quote("db=" + *db));
  }
  return Status::OK();
}

Status ParsePath(const SchemeSpec& s, std::string_view raw, bool has_path,
                 StoreUrl* url) {
  std::string_view bad;
  if (!PercentDecode(raw, &url->path, &bad)) {
    return Bad(s.name, "bad percent escape " + Quote(bad) + " in the path " +
                           Quote(raw) + " (expected %XX)");
  }
  const std::string& path = url->path;
  switch (s.path) {
    case PathRule::kFilesystem:
    case PathRule::kName:
      return Status::Internal(std::string(s.name) +
                              " path parsed as a network path");
    case PathRule::kOptionalDb: {
      if (path.empty()) return Status::OK();
      std::optional<uint64_t> db = DbNumber(path);
      if (!db) {
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

}  // namespace

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
  if (!PercentDecode(raw_path, &url.path, &bad)) {
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
    SK_RETURN_IF_ERROR(ParseQuery(s, rest.substr(q + 1), &url.params));
  }
  return url;
}

Result<StoreUrl> ParseName(const SchemeSpec& s, std::string_view rest) {
  const size_t q = rest.find('?');
  const std::string_view name = rest.substr(0, q);
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  };
  if (name.empty() || name.size() > kMaxStoreNameLength ||
      !std::all_of(name.begin(), name.end(), allowed)) {
    return Bad(s.name,
               "expected the name of a registered store after 'php://' (1 "
               "to " +
                   std::to_string(kMaxStoreNameLength) +
                   " letters, digits, '_', '-' or '.'), as in php://cart, "
                   "got " +
                   QuoteHidingUserInfo(name));
  }
  StoreUrl url;
  url.scheme = std::string(s.name);
  url.path = std::string(name);
  if (q != std::string_view::npos) {
    SK_RETURN_IF_ERROR(ParseQuery(s, rest.substr(q + 1), &url.params));
  }
  return url;
}

Result<StoreUrl> ParseNetwork(const SchemeSpec& s, const Pieces& p) {
  StoreUrl url;
  url.scheme = std::string(s.name);
  if (p.has_userinfo) {
    size_t colon = p.userinfo.find(':');
    std::string_view user = p.userinfo.substr(0, colon);
    std::string_view bad;
    if (!PercentDecode(user, &url.user, &bad)) {
      return Bad(s.name, "bad percent escape " + Quote(bad) +
                             " in the user name (expected %XX)");
    }
    if (colon != std::string_view::npos) {
      url.has_password = true;
      if (!PercentDecode(p.userinfo.substr(colon + 1), &url.password, &bad)) {
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
  SK_RETURN_IF_ERROR(ParseQuery(s, query, &url.params));

  if (s.name == "redis") {
    for (const auto& [name, value] : url.params) {
      if (name.starts_with("tls_")) {
        return Bad(s.name, Quote(name) +
                               " only applies to TLS connections: use "
                               "rediss:// (Redis over TLS)");
      }
    }
  }
  if (s.path == PathRule::kOptionalDb) SK_RETURN_IF_ERROR(ReconcileDb(s, &url));
  if (s.needs_user && url.user.empty()) {
    return Bad(s.name, "a user is required, as in " + std::string(s.name) +
                           "://user:password@host/database");
  }
  return url;
}

}  // namespace sessionkit::uri
