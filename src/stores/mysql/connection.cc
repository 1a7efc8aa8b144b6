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

}  // namespace

Connection::Connection(const MysqlOptions& options, MYSQL* mysql)
    : options_(options), mysql_(mysql) {}

Connection::~Connection() {
  if (mysql_ == nullptr) return;
  if (broken_) {
    // Nothing more goes over a broken connection (its server may hang):
    // shut the socket so that closing sends nothing and waits for nothing.
    const int fd = mysql_get_socket(mysql_);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }
  mysql_close(mysql_);
}

void Connection::Abandon() {
  if (mysql_ == nullptr) return;
  const int fd = mysql_get_socket(mysql_);
  if (fd >= 0) close(fd);
  // The MYSQL object still names the closed descriptor: it is left
  // behind (a few KiB), never closed, so nothing reaches the parent's
  // connection and no descriptor of this process is closed twice.
  mysql_ = nullptr;
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

Status Connection::Failure(std::string_view what, QueryError* error) {
  broken_ = true;
  if (error != nullptr) error->code = mysql_errno(mysql_);
  std::string detail = mysql_error(mysql_);
  if (detail.empty()) detail = "no answer";
  return Status::Unavailable(options_.name + ": " + std::string(what) + ": " +
                             detail);
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
  return conn;
}

Result<std::vector<ResultSet>> Connection::Query(std::string_view sql,
                                                 Duration extra,
                                                 QueryError* error) {
  if (broken_ || mysql_ == nullptr) {
    return Status::Unavailable(options_.name + ": connection was closed");
  }
  const SteadyTime deadline = DeadlineAfter(options_.read_timeout + extra);
  auto timed_out = [&] {
    broken_ = true;
    return Status::Unavailable(
        options_.name + ": no answer within read_timeout=" +
        std::to_string(options_.read_timeout.count()) + "ms" +
        (extra.count() > 0
             ? " (+" + std::to_string(extra.count()) + "ms of lock wait)"
             : std::string()));
  };
  int err = 0;
  int status = mysql_real_query_start(&err, mysql_, sql.data(), sql.size());
  if (!Drive(status, deadline, [&](int ready) {
        return mysql_real_query_cont(&err, mysql_, ready);
      })) {
    return timed_out();
  }
  if (err != 0) return Failure("query failed", error);
  std::vector<ResultSet> results;
  for (;;) {
    MYSQL_RES* res = nullptr;
    status = mysql_store_result_start(&res, mysql_);
    if (!Drive(status, deadline, [&](int ready) {
          return mysql_store_result_cont(&res, mysql_, ready);
        })) {
      return timed_out();
    }
    ResultSet set;
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
    results.push_back(std::move(set));
    if (!mysql_more_results(mysql_)) break;
    int next = 0;
    status = mysql_next_result_start(&next, mysql_);
    if (!Drive(status, deadline, [&](int ready) {
          return mysql_next_result_cont(&next, mysql_, ready);
        })) {
      return timed_out();
    }
    if (next > 0) return Failure("query failed", error);
    if (next < 0) break;
  }
  return results;
}

std::string Connection::Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2 + 3);
  out += "X'";
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  out += '\'';
  return out;
}

}  // namespace sessionkit::mysql
