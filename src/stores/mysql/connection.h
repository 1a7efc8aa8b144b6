// One connection to a MariaDB/MySQL server over Connector/C's non-blocking
// API, so that every exchange is bounded in milliseconds (the blocking
// API's timeouts are whole seconds): connect within connect_timeout, and
// send a statement and read all its results within read_timeout (plus the
// lock wait of the exchange that waits for a lock). The hot statements go
// over the binary protocol, each prepared once per connection. A connection
// that failed in any way is broken and never used again.
#ifndef SESSIONKIT_STORES_MYSQL_CONNECTION_H_
#define SESSIONKIT_STORES_MYSQL_CONNECTION_H_

#include <array>
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
struct st_mysql_stmt;

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

// One parameter of a prepared statement: NULL, bytes (a binary string, no
// character set), text (a string in the connection's character set, so
// compared in the collation of the column it meets, as PDO's strings are),
// a 64-bit integer or a double. Bytes and text are not copied: they must
// outlive the Execute they are passed to.
struct Param {
  enum class Kind { kNull, kBytes, kText, kInt, kDouble };
  static Param Null() { return Param(); }
  static Param Bytes(std::string_view v) {
    Param p;
    p.kind = Kind::kBytes;
    p.bytes = v;
    return p;
  }
  static Param Text(std::string_view v) {
    Param p = Bytes(v);
    p.kind = Kind::kText;
    return p;
  }
  static Param Int(int64_t v) {
    Param p;
    p.kind = Kind::kInt;
    p.int_value = v;
    return p;
  }
  static Param Double(double v) {
    Param p;
    p.kind = Kind::kDouble;
    p.double_value = v;
    return p;
  }

  Kind kind = Kind::kNull;
  std::string_view bytes;
  int64_t int_value = 0;
  double double_value = 0;
};

// The error number of the last failure (0: none, or not the server's).
// Server errors are below 2000; Connector/C's own from 2000.
struct QueryError {
  unsigned code = 0;

  // The connection itself is gone (ended by a takeover or a Destroy, by
  // the server, or by its restart): the statement may go again on another
  // connection.
  bool gone() const {
    return code == 2006 || code == 2013 || code == 1927 || code == 4031;
  }
};

// Thread safety: not thread-safe; one thread uses a connection at a time
// (the store hands it out from its pool).
class Connection {
 public:
  // Prepared statements one connection keeps: slots 0 to kMaxStatements-1.
  static constexpr int kMaxStatements = 8;

  // Connects, authenticates and selects options.database, all within
  // options.connect_timeout. Unavailable naming the store (options.name)
  // and what failed; never the password.
  static Result<std::unique_ptr<Connection>> Open(const MysqlOptions& options);

  // Closes the connection (COM_QUIT when it is healthy; the server frees
  // its prepared statements with it) and frees the statements' memory.
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `sql` (one statement, or a CALL) and reads every result, within
  // read_timeout + `extra`. On failure the connection is broken; *error
  // (when given) receives the error number.
  Result<std::vector<ResultSet>> Query(std::string_view sql,
                                       Duration extra = Duration(0),
                                       QueryError* error = nullptr);

  // Runs prepared statement `slot` (0 to kMaxStatements-1) with `params`
  // bound to its `?` in order, and reads every result as Query does: rows
  // as text, NULL as nullopt, affected rows for a result without rows. The
  // first use of `slot` on this connection prepares `sql` first (one more
  // round trip); later uses ignore `sql`, so a slot must always be given
  // the same text. All within read_timeout + `extra`; on failure the
  // connection is broken and *error (when given) receives the error number.
  Result<std::vector<ResultSet>> Execute(int slot, std::string_view sql,
                                         const std::vector<Param>& params,
                                         Duration extra = Duration(0),
                                         QueryError* error = nullptr);

  // True once an exchange failed: close it, never reuse it.
  bool broken() const { return broken_; }

  // The server's id of this connection (CONNECTION_ID()).
  uint64_t id() const { return id_; }

  // The server's version string, as the handshake gave it.
  std::string server_info() const;

  // The largest statement this connection sends, in bytes: the smaller of
  // the server's max_allowed_packet (read as it connected) and the
  // client's. Query and Execute refuse a larger one before sending it.
  uint64_t max_packet() const { return max_packet_; }

  // Forgets the connection without a word to the server: closes this
  // process's descriptor only (after fork(), the parent's connection lives
  // on). The object is then broken. Its prepared statements are left
  // behind with the connection's memory: freeing them could write to it.
  void Abandon();

 private:
  Connection(const MysqlOptions& options, st_mysql* mysql);
  // Drives a non-blocking call: `status` is what its _start returned;
  // `cont` is its _cont. False when the deadline passed first.
  template <typename Cont>
  bool Drive(int status, SteadyTime deadline, Cont cont);
  // Marks the connection broken; the error of `stmt` when it has one, else
  // the connection's.
  Status Failure(std::string_view what, QueryError* error,
                 st_mysql_stmt* stmt = nullptr);
  // Marks the connection broken: no answer within read_timeout + `extra`.
  Status TimedOut(Duration extra);
  // ResourceExhausted when a statement of `bytes` is over max_packet():
  // nothing is sent, and the connection stays usable.
  Status FitsPacket(uint64_t bytes) const;
  // Reads the server's max_allowed_packet into max_packet_, and sets
  // autocommit on and the time zone to UTC where they are not (Open).
  Status Settle();
  // Moves to the next result of the exchange under way (of `stmt`, or of
  // the text query when null); *more is false when there is none.
  Status NextResult(st_mysql_stmt* stmt, SteadyTime deadline, Duration extra,
                    QueryError* error, bool* more);
  // Reads every result of the exchange under way, `read(ResultSet&)`
  // (returning a Status) filling each in turn.
  template <typename Read>
  Result<std::vector<ResultSet>> ReadResults(st_mysql_stmt* stmt,
                                             SteadyTime deadline,
                                             Duration extra, QueryError* error,
                                             Read read);
  // Prepares `sql` in slot `slot` unless it already is; nullptr (the
  // connection broken, *status set) on failure.
  st_mysql_stmt* PrepareOnce(int slot, std::string_view sql,
                             SteadyTime deadline, Duration extra,
                             QueryError* error, Status* status);

  const MysqlOptions& options_;
  st_mysql* mysql_;
  std::array<st_mysql_stmt*, kMaxStatements> stmts_{};
  bool broken_ = false;
  uint64_t id_ = 0;
  uint64_t max_packet_ = 0;  // 0: not known yet (Open's own query)
};

}  // namespace sessionkit::mysql

#endif  // SESSIONKIT_STORES_MYSQL_CONNECTION_H_
