// MysqlOptions::FromUrl and OpenMysqlStore: the one place each setting of
// the MariaDB/MySQL store is read and checked. The defaults are
// MysqlOptions' own (include/sessionkit/stores/mysql.h); the names are the
// mysql row of the URL grammar (src/uri/schemes.cc).
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "sessionkit/store_url.h"
#include "sessionkit/stores/mysql.h"
#include "stores/mysql/mysql_store.h"
#include "stores/mysql/schema.h"

namespace sessionkit {
namespace {

constexpr std::string_view kMysqlSslModes[] = {
    "disabled", "preferred", "required", "verify_ca", "verify_identity"};

bool IsTableName(std::string_view v) {
  if (v.empty() || v.size() > mysql::kMaxTableName) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Status Validate(const MysqlOptions& options) {
  const std::string& name = options.name;
  if (options.host.empty()) {
    return Status::InvalidArgument(name + ": no host given");
  }
  if (options.database.empty()) {
    return Status::InvalidArgument(
        name + ": no database given (mysql://user:password@host/database)");
  }
  if (!IsTableName(options.table)) {
    return Status::InvalidArgument(
        name + ": table=" + options.table.substr(0, 80) +
        ": expected an SQL identifier (a letter or '_', then letters, digits "
        "or '_'), at most " +
        std::to_string(mysql::kMaxTableName) + " characters");
  }
  if (options.connect_timeout.count() < 1 || options.read_timeout.count() < 1) {
    return Status::InvalidArgument(
        name + ": connect_timeout and read_timeout must be at least 1ms");
  }
  return Status::OK();
}

}  // namespace

Result<MysqlOptions> MysqlOptions::FromUrl(const StoreUrl& url) {
  MysqlOptions options;
  options.name = url.Redacted();
  if (url.scheme != "mysql" || url.hosts.size() != 1) {
    return Status::InvalidArgument(options.name +
                                   ": expected mysql://user:password@host/db");
  }
  options.host = url.hosts.front().host;
  options.port = url.hosts.front().port;
  options.user = url.user;
  options.password = url.password;
  options.has_password = url.has_password;
  options.database = url.path;
  options.table = url.Param("table").value_or(options.table);
  Result<Duration> connect =
      url.DurationParam("connect_timeout", options.connect_timeout);
  if (!connect.ok()) return connect.status();
  options.connect_timeout = *connect;
  Result<Duration> read =
      url.DurationParam("read_timeout", options.read_timeout);
  if (!read.ok()) return read.status();
  options.read_timeout = *read;
  Result<size_t> ssl = url.ChoiceParam("sslmode", kMysqlSslModes, 1);
  if (!ssl.ok()) return ssl.status();
  options.ssl_mode = static_cast<MysqlSslMode>(*ssl);
  Result<std::string> ca = url.PathParam("tls_ca", options.tls_ca);
  if (!ca.ok()) return ca.status();
  options.tls_ca = *ca;
  if (!options.tls_ca.empty() && !url.Param("sslmode")) {
    // A CA alone asks for a verified connection.
    options.ssl_mode = MysqlSslMode::kVerifyCa;
  }
  SK_RETURN_IF_ERROR(Validate(options));
  return options;
}

Result<std::unique_ptr<Store>> OpenMysqlStore(const MysqlOptions& options) {
  MysqlOptions named = options;
  if (named.name.empty()) {
    named.name = "mysql://" + (named.user.empty() ? "" : named.user + "@") +
                 named.host + ":" + std::to_string(named.port) + "/" +
                 named.database + "?table=" + named.table;
  }
  SK_RETURN_IF_ERROR(Validate(named));
  return std::unique_ptr<Store>(new mysql::MysqlStore(std::move(named)));
}

}  // namespace sessionkit
