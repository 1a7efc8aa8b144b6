#include "legacy/legacy_spec.h"

#include <array>
#include <optional>
#include <string>
#include <utility>

#include "uri/text.h"

namespace sessionkit::legacy {
namespace {

struct SchemeRow {
  std::string_view scheme;  // as the spec spells it
  LegacyKind kind;
  std::string_view store_scheme;    // the store URL of the same servers
  std::string_view default_prefix;  // "": the kind takes no prefix=
};

constexpr std::array<SchemeRow, 6> kSchemes = {{
    {"files", LegacyKind::kFiles, "", ""},
    {"phpredis", LegacyKind::kPhpRedis, "redis", "PHPREDIS_SESSION:"},
    {"cm-redis", LegacyKind::kCmRedis, "redis", "sess_"},
    {"php-memcached", LegacyKind::kPhpMemcached, "memcached", "memc.sess.key."},
    {"pdo-mysql", LegacyKind::kPdoMysql, "mysql", ""},
    {"pdo-pgsql", LegacyKind::kPdoPgsql, "postgres", ""},
}};

// PdoSessionHandler's options as parameters of the PDO specs.
struct PdoParam {
  std::string_view name;     // in the spec
  std::string_view symfony;  // the option of PdoSessionHandler
  std::string PdoTable::*field;
};

constexpr PdoParam kPdoParams[] = {
    {"table", "db_table", &PdoTable::table},
    {"id_col", "db_id_col", &PdoTable::id_col},
    {"data_col", "db_data_col", &PdoTable::data_col},
    {"lifetime_col", "db_lifetime_col", &PdoTable::lifetime_col},
    {"time_col", "db_time_col", &PdoTable::time_col},
};

// The store URL parameters that make no sense for reading an old handler
// (tiers are sessionkit's own).
constexpr std::string_view kRefusedParams[] = {"write", "journal", "breaker",
                                               "write_delay"};

Status Bad(std::string_view scheme, std::string_view message) {
  return Status::InvalidArgument("bad legacy spec (" + std::string(scheme) +
                                 "): " + std::string(message));
}

std::string KnownSchemes() {
  std::string out;
  for (const SchemeRow& row : kSchemes) {
    if (!out.empty()) out += ", ";
    out += std::string(row.scheme) + "://";
  }
  return out;
}

// A key prefix of the old handler's: printable, no spaces.
bool IsPlainName(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

// A table or column name: it goes into SQL (quoted), so nothing but ASCII
// letters, digits and '_'.
bool IsSqlName(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

// Takes PdoSessionHandler's parameters out of `rest` (the spec after
// "scheme://") into *pdo; *store_part is what is left, read as a store URL
// (whose grammar does not know them).
Status TakePdoParams(std::string_view scheme, std::string_view rest,
                     std::string* store_part, PdoTable* pdo) {
  const size_t q = rest.find('?');
  *store_part = std::string(rest.substr(0, q));
  if (q == std::string_view::npos) return Status::OK();
  std::string_view query = rest.substr(q + 1);
  std::string kept;
  bool any_kept = false;
  for (;;) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const PdoParam* param = nullptr;
    for (const PdoParam& p : kPdoParams) {
      if (p.name == name) param = &p;
    }
    if (param == nullptr) {
      kept += any_kept ? "&" : "";
      kept += pair;
      any_kept = true;
    } else {
      const std::string_view raw = eq == std::string_view::npos
                                       ? std::string_view()
                                       : pair.substr(eq + 1);
      std::string value;
      std::string_view bad;
      if (!uri::PercentDecode(raw, &value, &bad) || !IsSqlName(value)) {
        return Bad(scheme, std::string(name) + "=" + uri::Printable(raw) +
                               ": expected 1 to 64 letters, digits or _ (" +
                               std::string(param->symfony) +
                               " of PdoSessionHandler)");
      }
      pdo->*(param->field) = std::move(value);
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  if (any_kept) *store_part += "?" + kept;
  return Status::OK();
}

// "table=...", then the columns that are not Symfony's defaults.
std::string DescribePdo(const PdoTable& pdo) {
  const PdoTable defaults;
  std::string out;
  for (const PdoParam& p : kPdoParams) {
    const std::string& value = pdo.*(p.field);
    if (p.name != "table" && value == defaults.*(p.field)) continue;
    out += out.empty() ? "" : "&";
    out += std::string(p.name) + "=" + value;
  }
  return out;
}

Result<LegacySpec> ParseFiles(std::string_view rest) {
  LegacySpec out;
  out.kind = LegacyKind::kFiles;
  const size_t q = rest.find('?');
  std::string_view path = rest.substr(0, q);
  std::string_view query =
      q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  if (path.empty() || path.front() != '/') {
    return Bad("files",
               "expected files:///absolute/directory, got " + uri::Quote(rest) +
                   " (PHP's \"N;/dir\" is written files:///dir?depth=N)");
  }
  std::string_view bad;
  if (!uri::PercentDecode(path, &out.dir, &bad)) {
    return Bad("files", "bad escape " + uri::Quote(bad) + " in the path");
  }
  if (!uri::IsFilePath(out.dir)) {
    return Bad("files", "the directory has control characters");
  }
  while (out.dir.size() > 1 && out.dir.back() == '/') out.dir.pop_back();
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view()
                                          : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    uri::NumberError error = uri::NumberError::kNone;
    if (name == "depth") {
      std::optional<uint64_t> n = uri::ParseWhole(value, &error);
      if (!n || *n > static_cast<uint64_t>(kMaxFilesDepth)) {
        return Bad("files", "depth=" + uri::Printable(value) +
                                ": expected a whole number from 0 to " +
                                std::to_string(kMaxFilesDepth) +
                                " (the N of session.save_path \"N;/dir\")");
      }
      out.depth = static_cast<int>(*n);
    } else if (name == "lifetime") {
      // Bare seconds, as session.gc_maxlifetime; or with a unit.
      std::optional<uint64_t> s = uri::ParseWhole(value, &error);
      std::optional<int64_t> ms;
      if (s && *s <= 10ull * 365 * 86400) {
        ms = static_cast<int64_t>(*s) * 1000;
      } else if (!s) {
        ms = uri::DurationMillis(value, &error);
      }
      if (!ms || *ms <= 0) {
        return Bad("files", "lifetime=" + uri::Printable(value) +
                                ": expected seconds (session.gc_maxlifetime, "
                                "e.g. 1440) or a duration such as 24m");
      }
      out.lifetime = Duration(*ms);
    } else {
      return Bad("files", "unknown parameter " + uri::Quote(name) +
                              " (files:// takes depth and lifetime)");
    }
  }
  out.redacted = "files://" + out.dir + "?depth=" + std::to_string(out.depth) +
                 "&lifetime=" + std::to_string(out.lifetime.count() / 1000);
  return out;
}

}  // namespace

std::string_view DefaultPrefix(LegacyKind kind) {
  for (const SchemeRow& row : kSchemes) {
    if (row.kind == kind) return row.default_prefix;
  }
  return "";
}

Result<LegacySpec> ParseLegacySpec(std::string_view spec) {
  spec = uri::Trim(spec);
  const size_t sep = spec.find("://");
  if (sep == std::string_view::npos) {
    return Status::InvalidArgument(
        "bad legacy spec: expected scheme://..., one of " + KnownSchemes() +
        " (docs/migration.md)");
  }
  const std::string scheme = uri::Lower(spec.substr(0, sep));
  const std::string_view rest = spec.substr(sep + 3);
  const SchemeRow* row = nullptr;
  for (const SchemeRow& r : kSchemes) {
    if (r.scheme == scheme) row = &r;
  }
  if (row == nullptr) {
    return Status::InvalidArgument("bad legacy spec: unknown scheme " +
                                   uri::Quote(scheme) + "; expected one of " +
                                   KnownSchemes() + " (docs/migration.md)");
  }
  if (row->kind == LegacyKind::kFiles) return ParseFiles(rest);
  if (rest.find('|') != std::string_view::npos) {
    return Bad(scheme, "one old handler per spec ('|' is for tiers)");
  }
  const bool pdo = row->default_prefix.empty();
  LegacySpec out;
  out.kind = row->kind;
  std::string store_part(rest);
  if (pdo) {
    SK_RETURN_IF_ERROR(TakePdoParams(scheme, rest, &store_part, &out.pdo));
  }
  // The same servers as a store URL: one grammar for hosts, passwords and
  // connection settings. Its messages name the store scheme, so they are
  // reworded with the legacy one.
  auto url = ParseStoreUrl(std::string(row->store_scheme) + "://" + store_part);
  if (!url.ok()) {
    std::string message = url.status().message();
    const std::string from = "bad " + std::string(row->store_scheme) + " URL: ";
    if (message.rfind(from, 0) == 0) message = message.substr(from.size());
    return Bad(scheme, message);
  }
  for (std::string_view refused : kRefusedParams) {
    if (url->Param(refused)) {
      return Bad(scheme, "parameter " + uri::Quote(refused) +
                             " is a setting of sessionkit's own stores, not "
                             "of an old handler");
    }
  }
  if (!pdo) {
    std::string prefix =
        url->Param("prefix").value_or(std::string(row->default_prefix));
    if (!IsPlainName(prefix)) {
      return Bad(scheme, "prefix=" + uri::Printable(prefix) +
                             ": expected 1 to 64 printable characters "
                             "without spaces");
    }
    out.prefix = std::move(prefix);
  }
  std::string redacted = url->Redacted();
  redacted.replace(0, row->store_scheme.size(), scheme);
  if (pdo) {
    redacted += (url->params.empty() ? "?" : "&") + DescribePdo(out.pdo);
  }
  out.redacted = std::move(redacted);
  out.url = std::move(url).value();
  return out;
}

}  // namespace sessionkit::legacy
