// One libpq connection of the PostgreSQL store, used without ever blocking
// in libpq: the connect runs PQconnectStartParams / PQconnectPoll and every
// exchange PQsendQueryPrepared / PQconsumeInput, all waiting in poll() with
// a deadline, so that connect_timeout and read_timeout hold to the
// millisecond, also against a server that accepts and never answers.
#ifndef SESSIONKIT_STORES_POSTGRES_PG_CONNECTION_H_
#define SESSIONKIT_STORES_POSTGRES_PG_CONNECTION_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "sessionkit/stores/postgres.h"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace sessionkit::postgres {

// Deadlines are on the steady clock: they bound kernel waits (poll) that
// pass in real time.
using Deadline = std::chrono::steady_clock::time_point;

// One parameter of a statement, borrowed for the call. Binary format: an
// int8 is 8 bytes big-endian, an int4 4 bytes, a bool 1 byte, text and
// bytea their bytes.
struct Param {
  std::string value;
  bool null = false;

  static Param Text(std::string_view s) { return {std::string(s)}; }
  static Param Int8(int64_t v);
  static Param Int4(int32_t v);
  static Param Bool(bool v) { return {std::string(1, v ? '\1' : '\0')}; }
  static Param Null() { return {std::string(), true}; }
};

// A statement prepared on every connection: its name and SQL.
struct Statement {
  std::string name;
  std::string sql;
};

// A result in binary format (see Param), owned.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result) {}
  ~Rows();
  Rows(Rows&& other) noexcept : result_(other.result_) {
    other.result_ = nullptr;
  }
  Rows& operator=(Rows&&) = delete;
  Rows(const Rows&) = delete;

  int size() const;
  bool IsNull(int row, int col) const;
  std::string_view Bytes(int row, int col) const;
  // An int8, int4 or bool column (by its length); 0 for NULL.
  int64_t Int(int row, int col) const;
  // Rows changed by an INSERT, UPDATE or DELETE.
  int64_t Affected() const;

 private:
  PGresult* result_;
};

class Connection {
 public:
  // Connects to the server of `options` within options.connect_timeout.
  // Unavailable naming the store and the server's reason. Every exchange
  // adds one to *round_trips.
  static Result<std::unique_ptr<Connection>> Open(
      const PostgresOptions& options, std::atomic<uint64_t>* round_trips);

  // Prepares `statements`, all in one round trip (pipeline mode).
  Status Prepare(std::span<const Statement> statements, Deadline deadline);

  // Closes the connection, except in a process forked after it was made
  // (the socket is the parent's: nothing is sent on it).
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs the prepared statement `name` with `params` and reads its result,
  // both by `deadline`. An error of the server or of the connection,
  // naming `what`; afterwards broken() is set and the connection must not
  // be used again.
  Result<Rows> Exec(const std::string& name, std::span<const Param> params,
                    Deadline deadline, const std::string& what);

  // Runs `sql` (one or more statements, no parameters) and discards the
  // results. Errors as Exec; the server's SQLSTATE is in sqlstate().
  Status Script(const std::string& sql, Deadline deadline,
                const std::string& what);

  // Runs one query with `params` (not prepared) and returns its result.
  Result<Rows> Query(const std::string& sql, std::span<const Param> params,
                     Deadline deadline, const std::string& what);

  bool broken() const { return broken_; }
  // True when the server closed the connection (or it never opened): a
  // request on it was not run, and another connection may try it.
  bool closed() const;
  // The server process of this connection (pg_backend_pid()).
  int backend_pid() const { return backend_pid_; }
  // The SQLSTATE of the last server error ("" when none).
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  Connection(PGconn* conn, std::string store_name,
             std::atomic<uint64_t>* round_trips);
  Status Connect(Deadline deadline);
  // Sends what libpq buffered and waits for every result of the query
  // just sent, by `deadline`; the last non-NULL result is returned.
  Result<Rows> Finish(Deadline deadline, const std::string& what);
  // Waits until the socket is ready for `events` or `deadline`.
  Status Wait(short events, Deadline deadline, const std::string& what);
  Status Fail(const std::string& what, const std::string& why);
  // Sends the query `sql` (or the prepared statement `name` when sql is
  // null) with `params`, binary both ways, and waits for its result.
  Result<Rows> Send(const char* sql, const char* name,
                    std::span<const Param> params, Deadline deadline,
                    const std::string& what);

  PGconn* conn_;
  const std::string store_name_;
  std::atomic<uint64_t>* round_trips_;
  uint64_t generation_;
  int backend_pid_ = 0;
  bool broken_ = false;
  std::string sqlstate_;
};

}  // namespace sessionkit::postgres

#endif  // SESSIONKIT_STORES_POSTGRES_PG_CONNECTION_H_
