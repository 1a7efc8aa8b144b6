// The MariaDB/MySQL store: sessions as rows of a table, locked in the server
// (GET_LOCK / RELEASE_LOCK, with a row of `<table>_locks` for the owner, the
// lease and the waiters), over MariaDB Connector/C.
//
//   mysql://user:password@host[:port]/database[?params]
//
// docs/mysql.md describes every parameter, the schema (created on first
// use), how locking works and the errors.
#ifndef SESSIONKIT_STORES_MYSQL_H_
#define SESSIONKIT_STORES_MYSQL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"

namespace sessionkit {

// TLS towards the server (sslmode=, as the MySQL clients name it).
enum class MysqlSslMode {
  kDisabled,        // plain TCP
  kPreferred,       // TLS when the server offers it, else plain
  kRequired,        // TLS, server certificate not verified
  kVerifyCa,        // TLS, certificate signed by tls_ca
  kVerifyIdentity,  // kVerifyCa, and the certificate names the host
};

struct MysqlOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 3306;
  std::string user;
  // Sent when has_password is set.
  std::string password;
  bool has_password = false;
  // The database (schema) that holds the tables. Required.
  std::string database;
  // The sessions table; its lock rows live in `<table>_locks`. An SQL
  // identifier of at most 48 characters (the procedures add a suffix).
  std::string table = "sessionkit_sessions";
  // Bounds connecting (TCP, handshake, authentication) to the server.
  Duration connect_timeout{100};
  // Bounds one exchange: sending a statement and reading all its results.
  // The wait of a held lock is added to it for the exchange that waits.
  Duration read_timeout{1000};
  MysqlSslMode ssl_mode = MysqlSslMode::kPreferred;
  // PEM file of the CA(s) that sign the server certificate (kVerifyCa,
  // kVerifyIdentity); empty: the system's default CAs.
  std::string tls_ca;
  // A description for messages; never holds a password. FromUrl sets the
  // redacted URL; empty: OpenMysqlStore derives one from the options.
  std::string name;
  // The clocks, host and processes the store asks (env.h): expiries and
  // leases are decided on its wall clock and passed to the server, never
  // the server's NOW(); lock waits run on its steady clock. nullptr:
  // Env::Default(). Not a URL setting.
  Env* env = nullptr;

  // Reads and checks the options of a mysql:// URL: user, password, host,
  // port, the database (the path), table, connect_timeout, read_timeout
  // (timeout= sets both), sslmode, tls_ca; the defaults above stand for
  // those not given. The one parser and validator of these settings.
  // InvalidArgument naming the parameter for a bad value.
  static Result<MysqlOptions> FromUrl(const StoreUrl& url);
};

// Opens a MariaDB/MySQL store. Checks the options now (InvalidArgument
// naming the setting); connects lazily, and creates the tables and their
// procedures when missing on first use. Connections are kept per process
// (one pool per store: idle ones, plus one pinned to each held lock) and
// dropped after fork() and after any error.
Result<std::unique_ptr<Store>> OpenMysqlStore(const MysqlOptions& options);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_MYSQL_H_
