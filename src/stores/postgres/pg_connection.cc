#include "stores/postgres/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "stores/fork_generation.h"

namespace sessionkit::postgres {
namespace {

// libpq's messages end in a newline and may span lines: one line, trimmed.
std::string OneLine(const char* text) {
  std::string out;
  for (const char* p = text; p != nullptr && *p != '\0'; ++p) {
    if (*p == '\n') {
      if (!out.empty() && out.back() != ' ') out += "; ";
    } else {
      out += *p;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) {
    out.pop_back();
  }
  return out.empty() ? "no message" : out;
}

void IgnoreNotice(void*, const char*) {}

uint64_t BigEndian(std::string_view bytes) {
  uint64_t v = 0;
  for (unsigned char c : bytes) v = (v << 8) | c;
  return v;
}

}  // namespace

Param Param::Int8(int64_t v) {
  std::string s(8, '\0');
  const uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(u >> (56 - 8 * i));
  return {std::move(s)};
}

Param Param::Int4(int32_t v) {
  std::string s(4, '\0');
  const uint32_t u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(u >> (24 - 8 * i));
  return {std::move(s)};
}

Rows::~Rows() {
  if (result_ != nullptr) PQclear(result_);
}

int Rows::size() const { return result_ ? PQntuples(result_) : 0; }

bool Rows::IsNull(int row, int col) const {
  return PQgetisnull(result_, row, col) != 0;
}

std::string_view Rows::Bytes(int row, int col) const {
  return {PQgetvalue(result_, row, col),
          static_cast<size_t>(PQgetlength(result_, row, col))};
}

int64_t Rows::Int(int row, int col) const {
  if (IsNull(row, col)) return 0;
  std::string_view b = Bytes(row, col);
  const uint64_t v = BigEndian(b);
  switch (b.size()) {
    case 8:
      return static_cast<int64_t>(v);
    case 4:
      return static_cast<int32_t>(static_cast<uint32_t>(v));
    case 2:
      return static_cast<int16_t>(static_cast<uint16_t>(v));
    default:
      return static_cast<int64_t>(v);
  }
}

int64_t Rows::Affected() const {
  const char* n = result_ ? PQcmdTuples(result_) : "";
  return n[0] == '\0' ? 0 : std::stoll(n);
}

Connection::Connection(PGconn* conn, std::string store_name,
                       std::atomic<uint64_t>* round_trips)
    : conn_(conn),
      store_name_(std::move(store_name)),
      round_trips_(round_trips),
      generation_(ForkGeneration()) {}

Connection::~Connection() {
  // A connection of the parent process: closing it would end the parent's
  // server session (libpq sends Terminate). Only this process's copy of
  // its socket is closed, so that the server session ends with the parent
  // (a killed parent's locks with it), not with the last of its children;
  // the PGconn's memory is left (freeing it would write to the socket).
  if (generation_ != ForkGeneration()) {
    const int fd = PQsocket(conn_);
    if (fd >= 0) close(fd);
    return;
  }
  PQfinish(conn_);
}

Result<std::unique_ptr<Connection>> Connection::Open(
    const PostgresOptions& options, std::atomic<uint64_t>* round_trips) {
  const Deadline deadline =
      std::chrono::steady_clock::now() + options.connect_timeout;
  const std::string port = std::to_string(options.port);
  std::vector<const char*> keys = {"host",      "port",    "dbname",
                                   "user",      "sslmode", "application_name",
                                   "gssencmode"};
  std::vector<const char*> values = {options.host.c_str(),
                                     port.c_str(),
                                     options.database.c_str(),
                                     options.user.c_str(),
                                     options.sslmode.c_str(),
                                     "sessionkit",
                                     "disable"};
  if (options.has_password) {
    keys.push_back("password");
    values.push_back(options.password.c_str());
  }
  if (!options.tls_ca.empty()) {
    keys.push_back("sslrootcert");
    values.push_back(options.tls_ca.c_str());
  }
  // Set with the startup packet: no round trip of its own. Read committed
  // whatever the database or role defaults to: the store's functions are
  // written for it (a lock granted after a wait reads the lock row as the
  // release left it; under repeatable read that read fails).
  std::string server_options =
      "-c default_transaction_isolation=read\\ committed";
  if (!options.synchronous_commit.empty()) {
    server_options += " -c synchronous_commit=" + options.synchronous_commit;
  }
  keys.push_back("options");
  values.push_back(server_options.c_str());
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* pg = PQconnectStartParams(keys.data(), values.data(), 0);
  if (pg == nullptr) {
    return Status::Unavailable(options.name +
                               ": cannot connect: out of memory");
  }
  std::unique_ptr<Connection> conn(
      new Connection(pg, options.name, round_trips));
  SK_RETURN_IF_ERROR(conn->Connect(deadline));
  return conn;
}

Status Connection::Fail(const std::string& what, const std::string& why) {
  broken_ = true;
  return Status::Unavailable(store_name_ + ": " + what + ": " + why);
}

Status Connection::Wait(short events, Deadline deadline,
                        const std::string& what) {
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= Deadline::duration::zero()) {
      return Fail(what, "no answer from the server within the timeout");
    }
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1000000000),
                static_cast<long>(ns % 1000000000)};
    pollfd p{PQsocket(conn_), events, 0};
    if (p.fd < 0) return Fail(what, "the connection has no socket");
    const int rc = ppoll(&p, 1, &ts, nullptr);
    if (rc > 0) return Status::OK();
    if (rc < 0 && errno != EINTR) {
      return Fail(what, std::string("poll: ") + std::strerror(errno));
    }
  }
}

Status Connection::Connect(Deadline deadline) {
  const std::string what = "connect";
  if (PQstatus(conn_) == CONNECTION_BAD) {
    return Fail(what, OneLine(PQerrorMessage(conn_)));
  }
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      return Fail(what, OneLine(PQerrorMessage(conn_)));
    }
    SK_RETURN_IF_ERROR(Wait(state == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                            deadline, what));
    state = PQconnectPoll(conn_);
  }
  PQsetNoticeProcessor(conn_, &IgnoreNotice, nullptr);
  if (PQsetnonblocking(conn_, 1) != 0) {
    return Fail(what, OneLine(PQerrorMessage(conn_)));
  }
  backend_pid_ = PQbackendPID(conn_);
  return Status::OK();
}

Status Connection::Prepare(std::span<const Statement> statements,
                           Deadline deadline) {
  if (statements.empty()) return Status::OK();
  const std::string what = "prepare statements";
  // Every PREPARE and one sync in one flight: one round trip.
  if (PQenterPipelineMode(conn_) != 1) {
    return Fail(what, OneLine(PQerrorMessage(conn_)));
  }
  for (const Statement& s : statements) {
    if (PQsendPrepare(conn_, s.name.c_str(), s.sql.c_str(), 0, nullptr) != 1) {
      return Fail(what, OneLine(PQerrorMessage(conn_)));
    }
  }
  if (PQpipelineSync(conn_) != 1) {
    return Fail(what, OneLine(PQerrorMessage(conn_)));
  }
  ++*round_trips_;
  for (int flushed; (flushed = PQflush(conn_)) != 0;) {
    if (flushed < 0) return Fail(what, OneLine(PQerrorMessage(conn_)));
    SK_RETURN_IF_ERROR(Wait(POLLOUT, deadline, what));
  }
  std::string error;
  for (;;) {
    if (PQisBusy(conn_)) {
      SK_RETURN_IF_ERROR(Wait(POLLIN, deadline, what));
      if (PQconsumeInput(conn_) != 1) {
        return Fail(what, OneLine(PQerrorMessage(conn_)));
      }
      continue;
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) continue;  // the end of one statement's results
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR && error.empty()) {
      error = OneLine(PQresultErrorMessage(r));
    }
    PQclear(r);
    if (st == PGRES_PIPELINE_SYNC) break;
  }
  if (PQexitPipelineMode(conn_) != 1) {
    return Fail(what, OneLine(PQerrorMessage(conn_)));
  }
  if (!error.empty()) return Fail(what, error);
  return Status::OK();
}

Result<Rows> Connection::Finish(Deadline deadline, const std::string& what) {
  ++*round_trips_;
  for (;;) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) return Fail(what, OneLine(PQerrorMessage(conn_)));
    SK_RETURN_IF_ERROR(Wait(POLLOUT | POLLIN, deadline, what));
    if (PQconsumeInput(conn_) != 1) {
      return Fail(what, OneLine(PQerrorMessage(conn_)));
    }
  }
  PGresult* last = nullptr;
  std::string error;
  for (;;) {
    if (PQisBusy(conn_)) {
      Status waited = Wait(POLLIN, deadline, what);
      if (!waited.ok()) {
        if (last != nullptr) PQclear(last);
        return waited;
      }
      if (PQconsumeInput(conn_) != 1) {
        if (last != nullptr) PQclear(last);
        return Fail(what, OneLine(PQerrorMessage(conn_)));
      }
      continue;
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) break;
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ||
        st == PGRES_NONFATAL_ERROR) {
      if (error.empty()) {
        error = OneLine(PQresultErrorMessage(r));
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        sqlstate_ = state != nullptr ? state : "";
      }
      PQclear(r);
      continue;
    }
    if (last != nullptr) PQclear(last);
    last = r;
  }
  if (!error.empty() || PQstatus(conn_) == CONNECTION_BAD) {
    if (last != nullptr) PQclear(last);
    return Fail(what, error.empty() ? OneLine(PQerrorMessage(conn_)) : error);
  }
  return Rows(last);
}

Result<Rows> Connection::Send(const char* sql, const char* name,
                              std::span<const Param> params, Deadline deadline,
                              const std::string& what) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats(params.size(), 1);
  for (const Param& p : params) {
    values.push_back(p.null ? nullptr : p.value.data());
    lengths.push_back(static_cast<int>(p.value.size()));
  }
  const int n = static_cast<int>(params.size());
  const int sent =
      sql != nullptr ? PQsendQueryParams(conn_, sql, n, nullptr, values.data(),
                                         lengths.data(), formats.data(), 1)
                     : PQsendQueryPrepared(conn_, name, n, values.data(),
                                           lengths.data(), formats.data(), 1);
  if (sent != 1) return Fail(what, OneLine(PQerrorMessage(conn_)));
  return Finish(deadline, what);
}

Result<Rows> Connection::Exec(const std::string& name,
                              std::span<const Param> params, Deadline deadline,
                              const std::string& what) {
  return Send(nullptr, name.c_str(), params, deadline, what);
}

Result<Rows> Connection::Query(const std::string& sql,
                               std::span<const Param> params, Deadline deadline,
                               const std::string& what) {
  return Send(sql.c_str(), nullptr, params, deadline, what);
}

bool Connection::closed() const { return PQstatus(conn_) == CONNECTION_BAD; }

Status Connection::Script(const std::string& sql, Deadline deadline,
                          const std::string& what) {
  if (PQsendQuery(conn_, sql.c_str()) != 1) {
    return Fail(what, OneLine(PQerrorMessage(conn_)));
  }
  return Finish(deadline, what).status();
}

}  // namespace sessionkit::postgres
