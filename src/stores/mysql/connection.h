// One connection to a MariaDB/MySQL server over Connector/C's non-blocking
// API, so that every exchange is bounded in milliseconds (the blocking
// API's timeouts are whole seconds): connect within connect_timeout, and
// send a statement and read all its results within read_timeout (plus the
// lock wait of the exchange that waits for a lock). A connection that
// failed in any way is broken and never used again.
#ifndef SESSIONKIT_STORES_MYSQL_CONNECTION_H_
#define SESSIONKIT_STORES_MYSQL_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "sessionkit/stores/mysql.h"

struct st_mysql;

namespace sessionkit::mysql {

// One row of a result set: NULL is nullopt.
using Row = std::vector<std::optional<std::string>>;

// One result of a statement: the rows of a result set, or (for a statement
// without one) the affected row count.
struct ResultSet {
  bool has_rows = false;
  std::vector<Row> rows;
  uint64_t affected = 0;
};

// The error number of the last failure (0: none, or not the server's).
// Server errors are below 2000; Connector/C's own from 2000.
struct QueryError {
  unsigned code = 0;
};

// Thread safety: not thread-safe; one thread uses a connection at a time
// (the store hands it out from its pool).
class Connection {
 public:
  // Connects, authenticates and selects options.database, all within
  // options.connect_timeout. Unavailable naming the store (options.name)
  // and what failed; never the password.
  static Result<std::unique_ptr<Connection>> Open(const MysqlOptions& options);

  // Closes the connection (COM_QUIT when it is healthy).
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `sql` (one statement, or a CALL) and reads every result, within
  // read_timeout + `extra`. On failure the connection is broken; *error
  // (when given) receives the error number.
  Result<std::vector<ResultSet>> Query(std::string_view sql,
                                       Duration extra = Duration(0),
                                       QueryError* error = nullptr);

  // `bytes` as an SQL literal: X'<hex>' (any bytes, no character set).
  static std::string Hex(std::string_view bytes);

  // True once an exchange failed: close it, never reuse it.
  bool broken() const { return broken_; }

  // The server's id of this connection (CONNECTION_ID()).
  uint64_t id() const { return id_; }

  // Forgets the connection without a word to the server: closes this
  // process's descriptor only (after fork(), the parent's connection lives
  // on). The object is then broken.
  void Abandon();

 private:
  Connection(const MysqlOptions& options, st_mysql* mysql);
  // Drives a non-blocking call: `status` is what its _start returned;
  // `cont` is its _cont. False when the deadline passed first.
  template <typename Cont>
  bool Drive(int status, SteadyTime deadline, Cont cont);
  Status Failure(std::string_view what, QueryError* error);

  const MysqlOptions& options_;
  st_mysql* mysql_;
  bool broken_ = false;
  uint64_t id_ = 0;
};

}  // namespace sessionkit::mysql

#endif  // SESSIONKIT_STORES_MYSQL_CONNECTION_H_
