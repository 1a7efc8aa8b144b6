// The PostgreSQL store: sessions as rows of one table, locks as session-level
// advisory locks of the server, over libpq (non-blocking connect and
// queries: timeouts in milliseconds; statements prepared once per
// connection; connections kept across requests and dropped after fork()).
//
//   postgres://user[:password]@host[:port]/database[?params]
//   postgresql://...   (the same)
//
// docs/postgres.md describes every parameter, the schema (as SQL for DBAs),
// how locking works and the errors.
#ifndef SESSIONKIT_STORES_POSTGRES_H_
#define SESSIONKIT_STORES_POSTGRES_H_

#include <memory>
#include <string>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"

namespace sessionkit {

struct PostgresOptions {
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string user;
  std::string password;
  bool has_password = false;
  std::string database;
  // The sessions table; the lock table is "<table>_locks" and the functions
  // are "<table>_lock", "<table>_release" and "<table>_destroy". An SQL
  // identifier of at most kMaxTable characters (the suffixes must fit
  // PostgreSQL's 63).
  static constexpr size_t kMaxTable = 48;
  std::string table = "sessionkit_sessions";
  // Bounds the TCP connect, TLS handshake, authentication and statement
  // preparation of a new connection.
  Duration connect_timeout{100};
  // Bounds one exchange (sending a statement and reading its result); the
  // exchange of a lock wait gets the wait on top.
  Duration read_timeout{1000};
  // libpq's sslmode: disable, allow, prefer, require, verify-ca,
  // verify-full.
  std::string sslmode = "prefer";
  // PEM file of the CA(s) that sign the server certificate (libpq's
  // sslrootcert); empty: libpq's default.
  std::string tls_ca;
  // The store's connections' synchronous_commit: "off" acknowledges a
  // commit before the server has flushed it to disk (a crash of the server
  // may lose the last fraction of a second of writes, as LMDB's sync=off
  // and Redis's everysec do, and never corrupts); "on" waits for the flush;
  // empty: the server's own setting.
  std::string synchronous_commit;
  // A description for messages; never holds a password. FromUrl sets the
  // redacted URL; empty: OpenPostgresStore derives one.
  std::string name;
  // The clocks, host and processes the store asks (env.h): expiries and
  // leases (passed to the server as parameters), lock waits and holders;
  // nullptr: Env::Default(). Not a URL setting.
  Env* env = nullptr;

  // Reads and checks the options of a postgres:// URL: user, password,
  // host, port, database (the path), table, connect_timeout, read_timeout
  // (timeout= sets both), sslmode, tls_ca, sync (synchronous_commit); the
  // defaults above stand for
  // those not given. The one parser and validator of these settings.
  // InvalidArgument naming the parameter for a bad value.
  static Result<PostgresOptions> FromUrl(const StoreUrl& url);
};

// Opens a PostgreSQL store. Checks the options now (InvalidArgument naming
// the setting); connects lazily, on first use in each process, and then
// creates the schema when the table is missing (or checks the columns of
// the table found).
//
// Thread safety: the store is safe for concurrent use from several threads
// and several processes.
Result<std::unique_ptr<Store>> OpenPostgresStore(
    const PostgresOptions& options);

// The same for a postgres:// URL, read with PostgresOptions::FromUrl: what
// OpenStore (open.h) calls for the postgres scheme.
Result<std::unique_ptr<Store>> OpenPostgresStore(const StoreUrl& url);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_POSTGRES_H_
