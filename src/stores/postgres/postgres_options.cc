// PostgresOptions::FromUrl and OpenPostgresStore: the one place each
// PostgreSQL setting's syntax and range are written. The defaults are
// PostgresOptions' own (include/sessionkit/stores/postgres.h); the names
// are the postgres row of the URL grammar (src/uri/schemes.cc).
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sessionkit/store_url.h"
#include "sessionkit/stores/postgres.h"
#include "stores/postgres/postgres_store.h"

namespace sessionkit {
namespace {

constexpr std::string_view kPostgresSslModes[] = {
    "disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
constexpr std::string_view kSyncs[] = {"on", "off"};
// A setup or exchange longer than this is a configuration mistake.
constexpr Duration kMaxTimeout{600000};

bool IsIdentifier(std::string_view v) {
  if (v.empty()) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Status Validate(const PostgresOptions& o) {
  if (!IsIdentifier(o.table) || o.table.size() > PostgresOptions::kMaxTable) {
    return Status::InvalidArgument(
        "table=" + o.table.substr(0, 80) +
        ": expected an SQL identifier (a letter or '_', then letters, digits "
        "or '_') of at most " +
        std::to_string(PostgresOptions::kMaxTable) + " characters");
  }
  for (const auto& [name, d] : {std::pair{"connect_timeout", o.connect_timeout},
                                std::pair{"read_timeout", o.read_timeout}}) {
    if (d.count() < 1 || d > kMaxTimeout) {
      return Status::InvalidArgument(std::string(name) +
                                     ": must be from 1ms to 10m");
    }
  }
  if (o.user.empty()) return Status::InvalidArgument("a user is required");
  if (o.database.empty()) {
    return Status::InvalidArgument("a database name is required");
  }
  if (o.host.empty()) return Status::InvalidArgument("a host is required");
  if (o.port < 1 || o.port > 65535) {
    return Status::InvalidArgument("port " + std::to_string(o.port) +
                                   ": expected 1..65535");
  }
  if (!o.synchronous_commit.empty() && o.synchronous_commit != "on" &&
      o.synchronous_commit != "off") {
    return Status::InvalidArgument(
        "sync=" + o.synchronous_commit.substr(0, 40) + ": expected on or off");
  }
  for (std::string_view mode : kPostgresSslModes) {
    if (o.sslmode == mode) return Status::OK();
  }
  return Status::InvalidArgument("sslmode=" + o.sslmode.substr(0, 40) +
                                 ": expected one of disable, allow, prefer, "
                                 "require, verify-ca, verify-full");
}

std::string DefaultName(const PostgresOptions& o) {
  std::string host =
      o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
  return "postgres://" + o.user + (o.has_password ? ":***" : "") + "@" + host +
         ":" + std::to_string(o.port) + "/" + o.database + "?table=" + o.table;
}

Status ReadSettings(const StoreUrl& url, PostgresOptions* o) {
  o->table = url.Param("table").value_or(o->table);
  Result<Duration> connect =
      url.DurationParam("connect_timeout", o->connect_timeout);
  if (!connect.ok()) return connect.status();
  o->connect_timeout = *connect;
  Result<Duration> read = url.DurationParam("read_timeout", o->read_timeout);
  if (!read.ok()) return read.status();
  o->read_timeout = *read;
  Result<size_t> ssl = url.ChoiceParam("sslmode", kPostgresSslModes, 2);
  if (!ssl.ok()) return ssl.status();
  o->sslmode = std::string(kPostgresSslModes[*ssl]);
  Result<std::string> ca = url.PathParam("tls_ca", o->tls_ca);
  if (!ca.ok()) return ca.status();
  o->tls_ca = *ca;
  if (url.Param("sync").has_value()) {
    Result<size_t> sync = url.ChoiceParam("sync", kSyncs, 0);
    if (!sync.ok()) return sync.status();
    o->synchronous_commit = std::string(kSyncs[*sync]);
  }
  return Status::OK();
}

}  // namespace

Result<PostgresOptions> PostgresOptions::FromUrl(const StoreUrl& url) {
  if (url.scheme != "postgres") {
    return Status::InvalidArgument(url.Redacted() +
                                   ": not a postgres:// store URL");
  }
  PostgresOptions options;
  options.name = url.Redacted();
  if (url.hosts.size() != 1) {
    return Status::InvalidArgument(options.name + ": expected one host");
  }
  options.host = url.hosts[0].host;
  options.port = url.hosts[0].port;
  options.user = url.user;
  options.password = url.password;
  options.has_password = url.has_password;
  options.database = url.path;
  Status read = ReadSettings(url, &options);
  if (read.ok()) read = Validate(options);
  if (!read.ok()) {
    return Status::InvalidArgument(options.name + ": " + read.message());
  }
  return options;
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& in) {
  PostgresOptions options = in;
  if (options.name.empty()) options.name = DefaultName(options);
  Status valid = Validate(options);
  if (!valid.ok()) {
    return Status::InvalidArgument(options.name + ": " + valid.message());
  }
  return std::unique_ptr<Store>(
      std::make_unique<postgres::PostgresStore>(std::move(options)));
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const StoreUrl& url) {
  Result<PostgresOptions> options = PostgresOptions::FromUrl(url);
  if (!options.ok()) return options.status();
  return OpenPostgresStore(*options);
}

}  // namespace sessionkit
