// Symfony's PdoSessionHandler: one row per session (id, data, lifetime,
// time) in a table on MariaDB/MySQL or PostgreSQL, through the connection
// layers of the mysql and postgres stores (their timeouts, TLS and
// messages).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "legacy/legacy_decode.h"
#include "legacy/legacy_sources.h"
#include "sessionkit/session_id.h"
#include "sessionkit/stores/mysql.h"
#include "sessionkit/stores/postgres.h"
#include "stores/fork_generation.h"
#include "stores/mysql/connection.h"
#include "stores/postgres/pg_connection.h"

namespace sessionkit::legacy {
namespace {

// Idle connections kept per source (a PHP worker uses one at a time).
constexpr size_t kMaxIdlePdo = 4;
// The most ids one Scan page asks for.
constexpr size_t kMaxPdoPage = 10000;

// The statements of a table, by their slot.
enum PdoStatement { kPdoRead = 0, kPdoDelete = 1, kPdoScan = 2, kPdoCount };

// Rows as text; NULL is nullopt.
using PdoRows = std::vector<std::vector<std::optional<std::string>>>;

// `name` quoted for the dialect. Names are ASCII letters, digits and '_'
// (legacy_spec.cc), so quoting needs no escapes.
std::string QuoteName(std::string_view name, bool pgsql) {
  if (!pgsql) return "`" + std::string(name) + "`";
  // PdoSessionHandler's SQL names them unquoted, and PostgreSQL folds
  // unquoted names to lower case.
  std::string lower(name);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return "\"" + lower + "\"";
}

// The SQL of each PdoStatement. The expiry columns are read as text (the
// decoder's input); PostgreSQL answers in binary, where text is its bytes.
std::vector<std::string> PdoSql(const PdoTable& t, bool pgsql) {
  auto q = [&](const std::string& name) { return QuoteName(name, pgsql); };
  const std::string as_text = pgsql ? "::text" : "";
  const std::string first = pgsql ? "$1" : "?";
  const std::string second = pgsql ? "$2" : "?";
  const std::string from = " FROM " + q(t.table) + " WHERE " + q(t.id_col);
  std::vector<std::string> sql(kPdoCount);
  sql[kPdoRead] = "SELECT " + q(t.data_col) + ", " + q(t.lifetime_col) +
                  as_text + ", " + q(t.time_col) + as_text + from + " = " +
                  first;
  sql[kPdoDelete] = "DELETE" + from + " = " + first;
  // Keyset pagination: the id column's own order, which the primary key's
  // index gives.
  sql[kPdoScan] = "SELECT " + q(t.id_col) + as_text + from + " > " + first +
                  " ORDER BY " + q(t.id_col) + " LIMIT " + second;
  return sql;
}

// The server side of a source: runs one statement with `key` (the id, or
// the scan's cursor) and, for kPdoScan, `limit`.
class PdoTableClient {
 public:
  virtual ~PdoTableClient() = default;
  virtual Result<PdoRows> Run(PdoStatement which, std::string_view key,
                              int64_t limit) = 0;
};

// The idle connections of a client, one process's own: a connection of the
// parent (after fork) is handed to `forget`, which makes sure dropping it
// leaves the parent's socket alone, and never reused.
template <typename Conn>
class IdleConnections {
 public:
  using Ptr = std::unique_ptr<Conn>;
  explicit IdleConnections(void (*forget)(Conn&))
      : forget_(forget), generation_(ForkGeneration()) {}
  ~IdleConnections() {
    std::lock_guard<std::mutex> lock(mu_);
    DropIfForked();
  }

  // A connection given back earlier by this process, or null.
  Ptr Take() {
    std::lock_guard<std::mutex> lock(mu_);
    DropIfForked();
    if (idle_.empty()) return nullptr;
    Ptr conn = std::move(idle_.back());
    idle_.pop_back();
    return conn;
  }
  // Keeps `conn` for the next Take unless it is broken or kMaxIdlePdo are
  // kept already.
  void Give(Ptr conn) {
    if (conn->broken()) return;
    std::lock_guard<std::mutex> lock(mu_);
    DropIfForked();
    if (idle_.size() < kMaxIdlePdo) idle_.push_back(std::move(conn));
  }
  // Closes every idle connection (the server closed them, say).
  void Clear() {
    std::vector<Ptr> dropped;
    std::lock_guard<std::mutex> lock(mu_);
    DropIfForked();
    dropped.swap(idle_);
  }

 private:
  void DropIfForked() {
    const uint64_t now = ForkGeneration();
    if (now == generation_) return;
    for (Ptr& conn : idle_) forget_(*conn);
    idle_.clear();
    generation_ = now;
  }

  void (*const forget_)(Conn&);
  std::mutex mu_;
  uint64_t generation_;    // guarded by mu_
  std::vector<Ptr> idle_;  // guarded by mu_
};

class MysqlTableClient final : public PdoTableClient {
 public:
  MysqlTableClient(MysqlOptions options, std::vector<std::string> sql)
      : options_(std::move(options)),
        sql_(std::move(sql)),
        idle_([](mysql::Connection& conn) { conn.Abandon(); }) {}

  Result<PdoRows> Run(PdoStatement which, std::string_view key,
                      int64_t limit) override {
    // Text, as PDO binds a string: compared in the id column's collation,
    // the one its ORDER BY uses.
    std::vector<mysql::Param> params = {mysql::Param::Text(key)};
    if (which == kPdoScan) params.push_back(mysql::Param::Int(limit));
    bool reused = false;
    auto conn = Take(&reused);
    if (!conn.ok()) return conn.status();
    mysql::QueryError error;
    auto results =
        (*conn)->Execute(which, sql_[which], params, Duration(0), &error);
    if (!results.ok() && reused && error.gone()) {
      // An idle connection the server has closed since (wait_timeout, a
      // restart): once more on a new one.
      idle_.Clear();
      conn = Take(nullptr);
      if (!conn.ok()) return conn.status();
      results = (*conn)->Execute(which, sql_[which], params);
    }
    idle_.Give(std::move(*conn));
    if (!results.ok()) return results.status();
    PdoRows rows;
    for (mysql::ResultSet& set : *results) {
      for (mysql::Row& row : set.rows) rows.push_back(std::move(row));
    }
    return rows;
  }

 private:
  using ConnPtr = std::unique_ptr<mysql::Connection>;

  Result<ConnPtr> Take(bool* reused) {
    if (ConnPtr conn = idle_.Take()) {
      if (reused != nullptr) *reused = true;
      return conn;
    }
    return mysql::Connection::Open(options_);
  }

  // The connections keep a reference to the options: declared first,
  // destroyed last.
  const MysqlOptions options_;
  const std::vector<std::string> sql_;
  IdleConnections<mysql::Connection> idle_;
};

class PgTableClient final : public PdoTableClient {
 public:
  PgTableClient(PostgresOptions options, std::vector<std::string> sql)
      : options_(std::move(options)),
        // A parent's connections: their destructors leave the sockets alone.
        idle_([](postgres::Connection&) {}) {
    for (size_t i = 0; i < sql.size(); ++i) {
      statements_.push_back({"sk_pdo_" + std::to_string(i), sql[i]});
    }
  }

  Result<PdoRows> Run(PdoStatement which, std::string_view key,
                      int64_t limit) override {
    static constexpr const char* kWhat[] = {"read", "delete", "scan"};
    std::vector<postgres::Param> params = {postgres::Param::Text(key)};
    if (which == kPdoScan) params.push_back(postgres::Param::Int8(limit));
    for (bool retried = false;;) {
      bool reused = false;
      auto conn = Take(&reused);
      if (!conn.ok()) return conn.status();
      auto rows = (*conn)->Exec(statements_[which].name, params,
                                Deadline(options_.read_timeout), kWhat[which]);
      if (!rows.ok()) {
        // An idle connection the server has closed since: once more on a
        // new one.
        if (retried || !reused || !(*conn)->closed()) return rows.status();
        retried = true;
        idle_.Clear();
        continue;
      }
      idle_.Give(std::move(*conn));
      PdoRows out(static_cast<size_t>(rows->size()));
      for (int r = 0; r < rows->size(); ++r) {
        for (int c = 0; c < (which == kPdoScan ? 1 : 3); ++c) {
          if (rows->IsNull(r, c)) {
            out[r].emplace_back();
          } else {
            out[r].emplace_back(std::string(rows->Bytes(r, c)));
          }
        }
      }
      return out;
    }
  }

 private:
  using ConnPtr = std::unique_ptr<postgres::Connection>;

  static postgres::Deadline Deadline(Duration after) {
    return std::chrono::steady_clock::now() + after;
  }

  Result<ConnPtr> Take(bool* reused) {
    if (ConnPtr conn = idle_.Take()) {
      *reused = true;
      return conn;
    }
    auto conn = postgres::Connection::Open(options_, &round_trips_);
    if (!conn.ok()) return conn.status();
    SK_RETURN_IF_ERROR((*conn)->Prepare(
        statements_,
        Deadline(options_.connect_timeout + options_.read_timeout)));
    return conn;
  }

  const PostgresOptions options_;
  std::vector<postgres::Statement> statements_;
  std::atomic<uint64_t> round_trips_{0};
  IdleConnections<postgres::Connection> idle_;
};

// Any failure of the server or of the connection is an outage for the
// engine (a warning and a miss): a refused password or a missing table
// too, which no retry of this request mends either.
Status PdoOutage(const Status& s) {
  if (s.IsUnavailable() || s.IsDeadlineExceeded()) return s;
  return Status::Unavailable(s.message());
}

class PdoSource final : public LegacySource {
 public:
  PdoSource(LegacySpec spec, Env* env, std::unique_ptr<PdoTableClient> client)
      : spec_(std::move(spec)),
        env_(Env::OrDefault(env)),
        client_(std::move(client)) {}

  Result<LegacySession> Read(std::string_view id) override {
    SK_RETURN_IF_ERROR(ValidateSessionId(id));
    auto rows = client_->Run(kPdoRead, id, 0);
    if (!rows.ok()) return PdoOutage(rows.status());
    if (rows->empty()) return Status::NotFound("no session");
    const auto& row = rows->front();
    if (row.size() != 3 || !row[0] || !row[1] || !row[2]) {
      return Status::Corrupt(Describe() + ": session " + SessionIdPrefix(id) +
                             ": a column is NULL");
    }
    // PdoSessionHandler stores no empty session (it deletes the row): an
    // empty one is the row its lock inserts for an id it has not seen.
    if (row[0]->empty()) return Status::NotFound("no session");
    const int64_t now_s = ToUnixMillis(env_->WallNow()) / 1000;
    auto ttl = PdoRowTtl(*row[1], *row[2], now_s);
    if (ttl.status().IsNotFound()) return ttl.status();
    if (!ttl.ok()) {
      return Status::Corrupt(Describe() + ": session " + SessionIdPrefix(id) +
                             ": " + ttl.status().message());
    }
    return LegacySession{std::move(*rows->front()[0]), *ttl};
  }

  Status Delete(std::string_view id) override {
    SK_RETURN_IF_ERROR(ValidateSessionId(id));
    auto rows = client_->Run(kPdoDelete, id, 0);
    return rows.ok() ? Status::OK() : PdoOutage(rows.status());
  }

  Result<LegacyPage> Scan(std::string_view cursor, size_t limit) override {
    limit = std::clamp<size_t>(limit, 1, kMaxPdoPage);
    auto rows = client_->Run(kPdoScan, cursor, static_cast<int64_t>(limit));
    if (!rows.ok()) return PdoOutage(rows.status());
    LegacyPage page;
    for (const auto& row : *rows) {
      if (row.empty() || !row[0]) continue;
      if (ValidateSessionId(*row[0]).ok()) page.ids.push_back(*row[0]);
      // An id sessionkit cannot hold is skipped, not where the next page
      // starts.
      page.next_cursor = *row[0];
    }
    if (rows->size() < limit) page.next_cursor.clear();
    return page;
  }

  std::string Describe() const override { return spec_.redacted; }

 private:
  const LegacySpec spec_;
  Env* const env_;
  const std::unique_ptr<PdoTableClient> client_;
};

}  // namespace

Result<std::unique_ptr<LegacySource>> NewPdoSource(LegacySpec spec, Env* env) {
  // The store's reader of the same URL: host, user, password, database,
  // timeouts and TLS, with its checks. Its table is not used: the old
  // handler's is spec.pdo.
  std::unique_ptr<PdoTableClient> client;
  if (spec.kind == LegacyKind::kPdoMysql) {
    auto options = MysqlOptions::FromUrl(spec.url);
    if (!options.ok()) return options.status();
    options->name = spec.redacted;
    client = std::make_unique<MysqlTableClient>(
        std::move(options).value(), PdoSql(spec.pdo, /*pgsql=*/false));
  } else {
    auto options = PostgresOptions::FromUrl(spec.url);
    if (!options.ok()) return options.status();
    options->name = spec.redacted;
    client = std::make_unique<PgTableClient>(std::move(options).value(),
                                             PdoSql(spec.pdo, /*pgsql=*/true));
  }
  return std::unique_ptr<LegacySource>(
      new PdoSource(std::move(spec), env, std::move(client)));
}

}  // namespace sessionkit::legacy
