#include "stores/mysql/connection.h"

#include <errmsg.h>
#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <string>
#include <utility>

namespace sessionkit::mysql {
namespace {

SteadyTime DeadlineAfter(Duration d) {
  return std::chrono::steady_clock::now() + d;
}

// Waits on the connection's socket for what `status` (MYSQL_WAIT_*) asks,
// until `deadline`; returns the MYSQL_WAIT_* bits that happened, or -1 when
// the deadline passed.
int WaitForSocket(MYSQL* mysql, int status, SteadyTime deadline) {
  pollfd p{};
  p.fd = mysql_get_socket(mysql);
  if (status & MYSQL_WAIT_READ) p.events |= POLLIN;
  if (status & MYSQL_WAIT_WRITE) p.events |= POLLOUT;
  if (status & MYSQL_WAIT_EXCEPT) p.events |= POLLPRI;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return -1;
    int64_t wait_ms = left.count();
    bool library_timeout = false;
    if (status & MYSQL_WAIT_TIMEOUT) {
      const int64_t lib = mysql_get_timeout_value_ms(mysql);
      if (lib < wait_ms) {
        wait_ms = lib;
        library_timeout = true;
      }
    }
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(wait_ms, 1 << 30)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) {
      if (library_timeout) return MYSQL_WAIT_TIMEOUT;
      continue;  // the loop checks the deadline
    }
    int ready = 0;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) ready |= MYSQL_WAIT_READ;
    if (p.revents & (POLLOUT | POLLERR)) ready |= MYSQL_WAIT_WRITE;
    if (p.revents & POLLPRI) ready |= MYSQL_WAIT_EXCEPT;
    return ready != 0 ? ready : status & ~MYSQL_WAIT_TIMEOUT;
  }
}

// Binds `params` to `binds` (one each, `params` outliving them).
void BindParams(const std::vector<Param>& params,
                std::vector<MYSQL_BIND>* binds) {
  binds->assign(params.size(), MYSQL_BIND{});
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    MYSQL_BIND& b = (*binds)[i];
    switch (p.kind) {
      case Param::Kind::kNull:
        b.buffer_type = MYSQL_TYPE_NULL;
        break;
      case Param::Kind::kBytes:
      case Param::Kind::kText:
        // A BLOB parameter reaches the server as a binary string, with no
        // conversion; a STRING one in the connection's character set. A
        // null buffer would be sent as NULL: "" is not.
        b.buffer_type =
            p.kind == Param::Kind::kBytes ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
        b.buffer =
            const_cast<char*>(p.bytes.data() != nullptr ? p.bytes.data() : "");
        b.buffer_length = p.bytes.size();
        break;
      case Param::Kind::kInt:
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = const_cast<int64_t*>(&p.int_value);
        break;
      case Param::Kind::kDouble:
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        b.buffer = const_cast<double*>(&p.double_value);
        break;
    }
  }
}

// The size of the COM_STMT_EXECUTE packet that sends `params`, at most:
// the command, statement id, flags and iteration count (10 bytes), the NULL
// bitmap, the new-parameters flag, a type of 2 bytes per parameter, and
// each value (a string behind a length of up to 9 bytes).
uint64_t ExecutePacketBytes(const std::vector<Param>& params) {
  uint64_t n = 10 + (params.size() + 7) / 8 + 1 + 2 * params.size();
  for (const Param& p : params) {
    const bool bytes =
        p.kind == Param::Kind::kBytes || p.kind == Param::Kind::kText;
    n += bytes ? 9 + p.bytes.size() : 8;
  }
  return n;
}

// Reads the rows of the result `stmt` has stored, every column as text
// (as the text protocol gives them). Nothing goes over the network. False
// on failure (the statement's error set).
bool FetchRows(MYSQL_STMT* stmt, std::vector<Row>* rows) {
  MYSQL_RES* meta = mysql_stmt_result_metadata(stmt);
  if (meta == nullptr) return false;
  const unsigned n = mysql_num_fields(meta);
  const MYSQL_FIELD* fields = mysql_fetch_fields(meta);
  std::vector<MYSQL_BIND> out(n, MYSQL_BIND{});
  std::vector<std::string> buffers(n);
  std::vector<unsigned long> lengths(n);
  std::vector<my_bool> nulls(n);
  for (unsigned i = 0; i < n; ++i) {
    // max_length is the longest value of a string column
    // (STMT_ATTR_UPDATE_MAX_LENGTH); numbers as text fit in 64.
    buffers[i].resize(std::max<unsigned long>(fields[i].max_length, 64));
    out[i].buffer_type = MYSQL_TYPE_STRING;
    out[i].buffer = buffers[i].data();
    out[i].buffer_length = buffers[i].size();
    out[i].length = &lengths[i];
    out[i].is_null = &nulls[i];
  }
  mysql_free_result(meta);
  if (mysql_stmt_bind_result(stmt, out.data()) != 0) return false;
  for (;;) {
    const int rc = mysql_stmt_fetch(stmt);
    if (rc == MYSQL_NO_DATA) return true;
    if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) return false;
    Row row(n);
    for (unsigned i = 0; i < n; ++i) {
      if (nulls[i]) continue;
      if (lengths[i] <= buffers[i].size()) {
        row[i].emplace(buffers[i].data(), lengths[i]);
        continue;
      }
      // Longer than its buffer (a converted value): fetched again whole.
      std::string whole(lengths[i], '\0');
      unsigned long length = 0;
      MYSQL_BIND b{};
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = whole.data();
      b.buffer_length = whole.size();
      b.length = &length;
      if (mysql_stmt_fetch_column(stmt, &b, i, 0) != 0) return false;
      row[i] = std::move(whole);
    }
    rows->push_back(std::move(row));
  }
}

}  // namespace

Connection::Connection(const MysqlOptions& options, MYSQL* mysql)
    : options_(options), mysql_(mysql) {}

Connection::~Connection() {
  if (mysql_ != nullptr) {
    if (broken_) {
      // Nothing more goes over a broken connection (its server may hang):
      // shut the socket so that closing sends nothing and waits for nothing.
      const int fd = mysql_get_socket(mysql_);
      if (fd >= 0) shutdown(fd, SHUT_RDWR);
    }
    // Closed first, the connection detaches its statements (the server
    // frees them with it): mysql_stmt_close then only frees memory, where
    // on a live connection it would send COM_STMT_CLOSE and could read.
    mysql_close(mysql_);
  }
  for (MYSQL_STMT*& stmt : stmts_) {
    if (stmt != nullptr) mysql_stmt_close(stmt);
    stmt = nullptr;
  }
}

void Connection::Abandon() {
  if (mysql_ == nullptr) return;
  const int fd = mysql_get_socket(mysql_);
  if (fd >= 0) close(fd);
  // The MYSQL object still names the closed descriptor: it is left
  // behind (a few KiB), never closed, so nothing reaches the parent's
  // connection and no descriptor of this process is closed twice. Its
  // statements stay with it: mysql_stmt_close would write to it.
  mysql_ = nullptr;
  stmts_.fill(nullptr);
  broken_ = true;
}

template <typename Cont>
bool Connection::Drive(int status, SteadyTime deadline, Cont cont) {
  while (status != 0) {
    const int ready = WaitForSocket(mysql_, status, deadline);
    if (ready < 0) return false;
    status = cont(ready);
  }
  return true;
}

Status Connection::Failure(std::string_view what, QueryError* error,
                           MYSQL_STMT* stmt) {
  broken_ = true;
  unsigned code = stmt != nullptr ? mysql_stmt_errno(stmt) : 0;
  std::string detail = code != 0 ? mysql_stmt_error(stmt) : "";
  if (code == 0) {
    code = mysql_errno(mysql_);
    detail = mysql_error(mysql_);
  }
  if (error != nullptr) error->code = code;
  if (detail.empty()) detail = "no answer";
  return Status::Unavailable(options_.name + ": " + std::string(what) + ": " +
                             detail);
}

Status Connection::TimedOut(Duration extra) {
  broken_ = true;
  return Status::Unavailable(
      options_.name + ": no answer within read_timeout=" +
      std::to_string(options_.read_timeout.count()) + "ms" +
      (extra.count() > 0
           ? " (+" + std::to_string(extra.count()) + "ms of lock wait)"
           : std::string()));
}

Status Connection::FitsPacket(uint64_t bytes) const {
  if (max_packet_ == 0 || bytes <= max_packet_) return Status::OK();
  return Status::ResourceExhausted(
      options_.name + ": a statement of " + std::to_string(bytes) +
      " bytes is larger than the server's max_allowed_packet (" +
      std::to_string(max_packet_) + " bytes): not sent");
}

Status Connection::Settle() {
  // The server answers a statement over its max_allowed_packet with an
  // error and the end of the connection, which a client still sending
  // sees as "server has gone away": an outage to tiers and breakers, and
  // one that sending again never ends. Knowing the limit, a statement over
  // it is refused before it is sent, for what it is.
  // A server (or account) whose sessions start with autocommit off would
  // keep every write in a transaction that never commits (and rolls back
  // with the connection); one whose time zone is not UTC converts the
  // procedures' times through it, ambiguously in the hour a clock goes
  // back. Both are set as the store needs them when they are not.
  Result<std::vector<ResultSet>> out = Query(
      "SELECT @@max_allowed_packet, @@autocommit, @@time_zone, "
      "@@system_time_zone");
  if (!out.ok()) return out.status();
  const Row* row = out->empty() || out->front().rows.empty()
                       ? nullptr
                       : &out->front().rows.front();
  auto column = [&](size_t i) {
    return row != nullptr && row->size() > i ? (*row)[i].value_or("") : "";
  };
  const std::string packet = column(0);
  uint64_t server = 0;
  if (std::from_chars(packet.data(), packet.data() + packet.size(), server)
              .ec != std::errc() ||
      server == 0) {
    broken_ = true;
    return Status::Unavailable(options_.name +
                               ": the server's max_allowed_packet is \"" +
                               packet + "\", not a size");
  }
  unsigned long client = 0;
  if (mysql_get_optionv(mysql_, MYSQL_OPT_MAX_ALLOWED_PACKET, &client) != 0 ||
      client == 0) {
    client = server;
  }
  max_packet_ = std::min<uint64_t>(server, client);
  const std::string zone = column(2) == "SYSTEM" ? column(3) : column(2);
  const bool utc = zone == "+00:00" || zone == "UTC" || zone == "GMT" ||
                   zone == "Etc/UTC" || zone == "Universal";
  if (column(1) != "1" || !utc) {
    SK_RETURN_IF_ERROR(
        Query("SET SESSION autocommit = 1, time_zone = '+00:00'").status());
  }
  return Status::OK();
}

Result<std::unique_ptr<Connection>> Connection::Open(
    const MysqlOptions& options) {
  MYSQL* mysql = mysql_init(nullptr);
  if (mysql == nullptr) {
    return Status::ResourceExhausted(options.name + ": out of memory");
  }
  std::unique_ptr<Connection> conn(new Connection(options, mysql));
  mysql_options(mysql, MYSQL_OPT_NONBLOCK, nullptr);
  // Whole seconds, a backstop behind the deadlines kept here.
  const unsigned secs = static_cast<unsigned>(
      (options.connect_timeout.count() + options.read_timeout.count()) / 1000 +
      1);
  mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
  mysql_options(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (options.ssl_mode != MysqlSslMode::kDisabled) {
    const char* ca = options.tls_ca.empty() ? nullptr : options.tls_ca.c_str();
    mysql_ssl_set(mysql, nullptr, nullptr, ca, nullptr, nullptr);
    // Despite its name, this asks for TLS when the server offers it;
    // without the certificate check Connector/C goes on in plain text
    // when it does not (sslmode=required is checked after connecting).
    const my_bool use_tls = 1;
    mysql_options(mysql, MYSQL_OPT_SSL_ENFORCE, &use_tls);
    // Connector/C checks the chain and the host name together.
    const my_bool verify = options.ssl_mode == MysqlSslMode::kVerifyCa ||
                           options.ssl_mode == MysqlSslMode::kVerifyIdentity;
    mysql_options(mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }
  const SteadyTime deadline = DeadlineAfter(options.connect_timeout);
  MYSQL* ret = nullptr;
  int status = mysql_real_connect_start(
      &ret, mysql, options.host.c_str(), options.user.c_str(),
      options.has_password ? options.password.c_str() : nullptr,
      options.database.c_str(), options.port, nullptr,
      CLIENT_MULTI_RESULTS | CLIENT_FOUND_ROWS);
  if (!conn->Drive(status, deadline, [&](int ready) {
        return mysql_real_connect_cont(&ret, mysql, ready);
      })) {
    conn->broken_ = true;
    return Status::Unavailable(
        options.name + ": no connection within connect_timeout=" +
        std::to_string(options.connect_timeout.count()) + "ms");
  }
  if (ret == nullptr) {
    Status failed = conn->Failure("cannot connect", nullptr);
    const unsigned code = mysql_errno(mysql);
    if (code == ER_ACCESS_DENIED_ERROR || code == ER_DBACCESS_DENIED_ERROR ||
        code == ER_BAD_DB_ERROR) {
      // Retrying cannot help: the user, password or database is wrong.
      return Status::InvalidArgument(failed.message());
    }
    return failed;
  }
  if (options.ssl_mode > MysqlSslMode::kPreferred &&
      mysql_get_ssl_cipher(mysql) == nullptr) {
    conn->broken_ = true;
    return Status::Unavailable(options.name +
                               ": the server does not offer TLS, which "
                               "sslmode requires");
  }
  // Over TLS, Connector/C leaves the socket blocking after the handshake,
  // and a blocking read would wait past every deadline here: with the
  // socket non-blocking, its reads and writes come back to Drive's poll.
  const int fd = mysql_get_socket(mysql);
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return conn->Failure("cannot make the socket non-blocking", nullptr);
  }
  conn->id_ = mysql_thread_id(mysql);
  SK_RETURN_IF_ERROR(conn->Settle());
  return conn;
}

Status Connection::NextResult(MYSQL_STMT* stmt, SteadyTime deadline,
                              Duration extra, QueryError* error, bool* more) {
  *more = false;
  if (stmt != nullptr ? !mysql_stmt_more_results(stmt)
                      : !mysql_more_results(mysql_)) {
    return Status::OK();
  }
  int next = 0;
  const int status = stmt != nullptr ? mysql_stmt_next_result_start(&next, stmt)
                                     : mysql_next_result_start(&next, mysql_);
  if (!Drive(status, deadline, [&](int ready) {
        return stmt != nullptr ? mysql_stmt_next_result_cont(&next, stmt, ready)
                               : mysql_next_result_cont(&next, mysql_, ready);
      })) {
    return TimedOut(extra);
  }
  if (next > 0) return Failure("query failed", error, stmt);
  *more = next == 0;
  return Status::OK();
}

template <typename Read>
Result<std::vector<ResultSet>> Connection::ReadResults(MYSQL_STMT* stmt,
                                                       SteadyTime deadline,
                                                       Duration extra,
                                                       QueryError* error,
                                                       Read read) {
  // A CALL gives its SELECTs' result sets, then its own status.
  std::vector<ResultSet> results;
  for (bool more = true; more;) {
    ResultSet set;
    SK_RETURN_IF_ERROR(read(set));
    results.push_back(std::move(set));
    SK_RETURN_IF_ERROR(NextResult(stmt, deadline, extra, error, &more));
  }
  return results;
}

std::string Connection::server_info() const {
  const char* info =
      mysql_ == nullptr ? nullptr : mysql_get_server_info(mysql_);
  return info == nullptr ? std::string() : std::string(info);
}

Result<std::vector<ResultSet>> Connection::Query(std::string_view sql,
                                                 Duration extra,
                                                 QueryError* error) {
  if (broken_ || mysql_ == nullptr) {
    return Status::Unavailable(options_.name + ": connection was closed");
  }
  // The command byte and the text.
  SK_RETURN_IF_ERROR(FitsPacket(1 + sql.size()));
  const SteadyTime deadline = DeadlineAfter(options_.read_timeout + extra);
  int err = 0;
  int status = mysql_real_query_start(&err, mysql_, sql.data(), sql.size());
  if (!Drive(status, deadline, [&](int ready) {
        return mysql_real_query_cont(&err, mysql_, ready);
      })) {
    return TimedOut(extra);
  }
  if (err != 0) return Failure("query failed", error);
  return ReadResults(nullptr, deadline, extra, error, [&](ResultSet& set) {
    MYSQL_RES* res = nullptr;
    const int started = mysql_store_result_start(&res, mysql_);
    if (!Drive(started, deadline, [&](int ready) {
          return mysql_store_result_cont(&res, mysql_, ready);
        })) {
      return TimedOut(extra);
    }
    if (res != nullptr) {
      set.has_rows = true;
      const unsigned fields = mysql_num_fields(res);
      while (MYSQL_ROW row = mysql_fetch_row(res)) {
        const unsigned long* lengths = mysql_fetch_lengths(res);
        Row out(fields);
        for (unsigned i = 0; i < fields; ++i) {
          if (row[i] != nullptr) out[i].emplace(row[i], lengths[i]);
        }
        set.rows.push_back(std::move(out));
      }
      mysql_free_result(res);
    } else if (mysql_field_count(mysql_) != 0) {
      return Failure("reading a result failed", error);
    } else {
      set.affected = mysql_affected_rows(mysql_);
    }
    return Status::OK();
  });
}

MYSQL_STMT* Connection::PrepareOnce(int slot, std::string_view sql,
                                    SteadyTime deadline, Duration extra,
                                    QueryError* error, Status* status) {
  if (stmts_[slot] != nullptr) return stmts_[slot];
  // Kept from here on, prepared or not: the destructor frees it.
  MYSQL_STMT* stmt = stmts_[slot] = mysql_stmt_init(mysql_);
  if (stmt == nullptr) {
    *status = Failure("cannot make a statement", error);
    return nullptr;
  }
  // Sizes the output buffers of string columns (FetchRows).
  const my_bool update_max_length = 1;
  mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max_length);
  int err = 0;
  const int started =
      mysql_stmt_prepare_start(&err, stmt, sql.data(), sql.size());
  if (!Drive(started, deadline, [&](int ready) {
        return mysql_stmt_prepare_cont(&err, stmt, ready);
      })) {
    *status = TimedOut(extra);
    return nullptr;
  }
  if (err != 0) {
    *status = Failure("preparing a statement failed", error, stmt);
    return nullptr;
  }
  return stmt;
}

Result<std::vector<ResultSet>> Connection::Execute(
    int slot, std::string_view sql, const std::vector<Param>& params,
    Duration extra, QueryError* error) {
  if (broken_ || mysql_ == nullptr) {
    return Status::Unavailable(options_.name + ": connection was closed");
  }
  if (slot < 0 || slot >= kMaxStatements) {
    return Status::Internal(options_.name + ": no statement slot " +
                            std::to_string(slot));
  }
  // One deadline for the prepare and the execution: the first use of a
  // slot is bounded as every later one.
  const SteadyTime deadline = DeadlineAfter(options_.read_timeout + extra);
  Status failed;
  MYSQL_STMT* stmt = PrepareOnce(slot, sql, deadline, extra, error, &failed);
  if (stmt == nullptr) return failed;
  if (mysql_stmt_param_count(stmt) != params.size()) {
    return Status::Internal(options_.name + ": the statement takes " +
                            std::to_string(mysql_stmt_param_count(stmt)) +
                            " parameters, not " +
                            std::to_string(params.size()));
  }
  SK_RETURN_IF_ERROR(FitsPacket(ExecutePacketBytes(params)));
  std::vector<MYSQL_BIND> binds;
  BindParams(params, &binds);
  if (!binds.empty() && mysql_stmt_bind_param(stmt, binds.data()) != 0) {
    return Failure("binding parameters failed", error, stmt);
  }
  int err = 0;
  int status = mysql_stmt_execute_start(&err, stmt);
  if (!Drive(status, deadline, [&](int ready) {
        return mysql_stmt_execute_cont(&err, stmt, ready);
      })) {
    return TimedOut(extra);
  }
  if (err != 0) return Failure("query failed", error, stmt);
  return ReadResults(stmt, deadline, extra, error, [&](ResultSet& set) {
    if (mysql_stmt_field_count(stmt) == 0) {
      set.affected = mysql_stmt_affected_rows(stmt);
      return Status::OK();
    }
    const int started = mysql_stmt_store_result_start(&err, stmt);
    if (!Drive(started, deadline, [&](int ready) {
          return mysql_stmt_store_result_cont(&err, stmt, ready);
        })) {
      return TimedOut(extra);
    }
    set.has_rows = true;
    if (err != 0 || !FetchRows(stmt, &set.rows)) {
      return Failure("reading a result failed", error, stmt);
    }
    return Status::OK();
  });
}

}  // namespace sessionkit::mysql
