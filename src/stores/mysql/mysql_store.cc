#include "stores/mysql/mysql_store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <string>
#include <utility>

#include "sessionkit/session_id.h"
#include "stores/fork_generation.h"
#include "stores/lock_wait.h"
#include "stores/mysql/schema.h"
#include "stores/write_batches.h"

namespace sessionkit::mysql {
namespace {

// Idle connections kept per store; more are closed when given back.
constexpr size_t kMaxIdle = 8;

// The wait of the exchange that takes a lock over: the ended holder's
// connection frees the lock as soon as the server has ended it.
constexpr Duration kBreakWait{1000};
// The data one statement of WriteUnlessNewer carries, at most (unless one
// write alone is larger).
constexpr size_t kUnlessNewerBytes = 256 << 10;
// The largest value WriteUnlessNewer sends: as hex, twice this, well below
// MariaDB's default max_allowed_packet (16 MiB), which a statement over it
// would break the connection on (taken for an outage, every time).
constexpr size_t kUnlessNewerMaxValue = 1 << 20;
// Takeovers tried by one LockAndRead before it waits as for a live holder.
constexpr int kMaxBreaks = 3;

constexpr LockWaitPacing kPacing{};

static_assert(static_cast<int>(Prepared::kCount) <= Connection::kMaxStatements);

int64_t ToInt(const std::optional<std::string>& text) {
  int64_t v = 0;
  if (text) std::from_chars(text->data(), text->data() + text->size(), v);
  return v;
}

// The first row of the results (the first result set may be empty), or
// nullptr.
const Row* FirstRow(const std::vector<ResultSet>& results) {
  for (const ResultSet& set : results) {
    if (!set.rows.empty()) return &set.rows.front();
  }
  return nullptr;
}

// Whether the results hold a result set (rows or not), beside the
// statuses.
bool HasResultSet(const std::vector<ResultSet>& results) {
  for (const ResultSet& set : results) {
    if (set.has_rows) return true;
  }
  return false;
}

}  // namespace

MysqlStore::MysqlStore(MysqlOptions options)
    : options_(std::move(options)),
      prepared_(PreparedStatements(options_.table)),
      env_(Env::OrDefault(options_.env)),
      generation_(ForkGeneration()) {}

MysqlStore::~MysqlStore() {
  std::lock_guard<std::mutex> lock(mu_);
  DropIfForked();
}

void MysqlStore::DropIfForked() {
  const uint64_t now = ForkGeneration();
  if (now == generation_) return;
  for (ConnPtr& c : idle_) c->Abandon();
  for (auto& [key, c] : pinned_) c->Abandon();
  idle_.clear();
  pinned_.clear();
  generation_ = now;
}

Result<MysqlStore::ConnPtr> MysqlStore::Take(bool* reused) {
  if (reused != nullptr) *reused = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    DropIfForked();
    if (!idle_.empty()) {
      ConnPtr c = std::move(idle_.back());
      idle_.pop_back();
      if (reused != nullptr) *reused = true;
      return c;
    }
  }
  Result<ConnPtr> made = Connection::Open(options_);
  if (!made.ok()) return made.status();
  if (!schema_ready_.load()) SK_RETURN_IF_ERROR(EnsureSchema(**made));
  return made;
}

void MysqlStore::DropIdle() {
  std::vector<ConnPtr> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  DropIfForked();
  dropped.swap(idle_);
}

void MysqlStore::Give(ConnPtr conn) {
  if (conn == nullptr || conn->broken()) return;
  std::lock_guard<std::mutex> lock(mu_);
  DropIfForked();
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(conn));
}

MysqlStore::ConnPtr MysqlStore::TakePin(const PinKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  DropIfForked();
  auto it = pinned_.find(key);
  if (it == pinned_.end()) return nullptr;
  ConnPtr c = std::move(it->second);
  pinned_.erase(it);
  return c;
}

MysqlStore::ConnPtr MysqlStore::TakeAnyPin(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  DropIfForked();
  auto it = pinned_.lower_bound(PinKey(std::string(id), std::string()));
  if (it == pinned_.end() || it->first.first != id) return nullptr;
  ConnPtr c = std::move(it->second);
  pinned_.erase(it);
  return c;
}

void MysqlStore::Pin(PinKey key, ConnPtr conn) {
  std::lock_guard<std::mutex> lock(mu_);
  DropIfForked();
  pinned_[std::move(key)] = std::move(conn);
}

Status MysqlStore::EnsureSchema(Connection& conn) {
  std::lock_guard<std::mutex> lock(schema_mu_);
  if (schema_ready_.load()) return Status::OK();
  SK_RETURN_IF_ERROR(CheckServer(options_.name, conn.server_info()));
  const std::string where = options_.database + "." + options_.table;
  auto fail = [&](const Status& st, unsigned code, std::string_view what) {
    // A refusal of the server (a missing privilege) is the configuration's
    // to fix; anything else may pass.
    std::string msg = st.message() + " (" + std::string(what) + " " + where +
                      "; docs/mysql.md lists the privileges needed)";
    return code > 0 && code < 2000 ? Status::InvalidArgument(msg)
                                   : Status::Unavailable(msg);
  };
  QueryError err;
  // The rows of every result set of `sql`.
  auto rows_of = [&](const std::string& sql,
                     std::string_view what) -> Result<std::vector<Row>> {
    Result<std::vector<ResultSet>> sets = conn.Query(sql, Duration(0), &err);
    if (!sets.ok()) return fail(sets.status(), err.code, what);
    std::vector<Row> rows;
    for (ResultSet& set : *sets) {
      for (Row& r : set.rows) rows.push_back(std::move(r));
    }
    return rows;
  };
  auto read_schema = [&](std::vector<Row>* columns,
                         std::vector<Row>* routines) -> Status {
    Result<std::vector<Row>> c =
        rows_of(ColumnsQuery(options_.table), "reading the columns of");
    if (!c.ok()) return c.status();
    Result<std::vector<Row>> r =
        rows_of(RoutinesQuery(options_.table), "reading the procedures of");
    if (!r.ok()) return r.status();
    *columns = std::move(*c);
    *routines = std::move(*r);
    return Status::OK();
  };
  std::vector<Row> columns, routines;
  SK_RETURN_IF_ERROR(read_schema(&columns, &routines));
  // Only what is missing is created: MariaDB checks the privilege to
  // create before it looks whether the object exists, and a schema a DBA
  // made serves a user who may not create anything.
  bool has_table = false, has_locks = false;
  for (const Row& row : columns) {
    if (row.empty() || !row[0]) continue;
    has_table = has_table || *row[0] == options_.table;
    has_locks = has_locks || *row[0] == options_.table + "_locks";
  }
  const bool make_tables = !has_table || !has_locks;
  const bool make_procedures = routines.size() < 3;
  std::vector<std::string> statements = SchemaStatements(options_.table);
  for (size_t i = 0; i < statements.size(); ++i) {
    if (!(i < 2 ? make_tables : make_procedures)) continue;
    Result<std::vector<ResultSet>> done =
        conn.Query(statements[i], Duration(0), &err);
    if (!done.ok()) {
      return fail(
          done.status(), err.code,
          i < 2 ? "creating the tables of" : "creating the procedures of");
    }
  }
  if (make_tables || make_procedures) {
    SK_RETURN_IF_ERROR(read_schema(&columns, &routines));
  }
  SK_RETURN_IF_ERROR(
      CheckColumns(options_.name, options_.database, options_.table, columns));
  SK_RETURN_IF_ERROR(CheckRoutines(options_.name, options_.table, routines));
  schema_ready_ = true;
  return Status::OK();
}

MysqlStore::Statement MysqlStore::Prepare(Prepared which,
                                          std::vector<Param> params) const {
  const int slot = static_cast<int>(which);
  return Statement{slot, prepared_[slot], std::move(params)};
}

Result<std::vector<ResultSet>> MysqlStore::Exchange(Connection& conn,
                                                    const Statement& stmt,
                                                    Duration extra,
                                                    QueryError* error) {
  round_trips_++;
  if (stmt.slot < 0) return conn.Query(stmt.sql, extra, error);
  return conn.Execute(stmt.slot, stmt.sql, stmt.params, extra, error);
}

Result<std::vector<ResultSet>> MysqlStore::Send(ConnPtr* conn, bool reused,
                                                const Statement& stmt,
                                                Duration extra) {
  QueryError err;
  Result<std::vector<ResultSet>> out = Exchange(**conn, stmt, extra, &err);
  if (out.ok() || !reused || !err.gone()) return out;
  DropIdle();
  Result<ConnPtr> fresh = Take();
  if (!fresh.ok()) return fresh.status();
  *conn = std::move(*fresh);
  return Exchange(**conn, stmt, extra);
}

Result<std::vector<ResultSet>> MysqlStore::Run(const Statement& stmt) {
  bool reused = false;
  Result<ConnPtr> conn = Take(&reused);
  if (!conn.ok()) return conn.status();
  Result<std::vector<ResultSet>> out = Send(&*conn, reused, stmt);
  Give(std::move(*conn));
  return out;
}

Result<std::vector<ResultSet>> MysqlStore::RunPinnedOrIdle(
    ConnPtr pinned, const Statement& stmt) {
  if (pinned != nullptr) {
    QueryError err;
    Result<std::vector<ResultSet>> out =
        Exchange(*pinned, stmt, Duration(0), &err);
    if (out.ok() || !err.gone()) {
      Give(std::move(pinned));
      return out;
    }
    // The lock's connection was ended (a takeover, a Destroy, a restart of
    // the server): the lock row decides on another connection.
  }
  return Run(stmt);
}

int64_t MysqlStore::NowMs() const { return ToUnixMillis(env_->WallNow()); }

std::string MysqlStore::NotFound(std::string_view id) const {
  return options_.name + ": session " + SessionIdPrefix(id) + " not found";
}

Status MysqlStore::Failed(const Status& st, std::string_view op,
                          std::string_view id) const {
  if (st.ok()) return st;
  return Status(st.code(), st.message() + " (" + std::string(op) +
                               " of session " + SessionIdPrefix(id) + ")");
}

#define SK_CHECK_ID(id) \
  SK_RETURN_IF_ERROR(ValidateSessionId(id).WithContext(options_.name))

Result<SessionRecord> MysqlStore::Read(std::string_view id) {
  SK_CHECK_ID(id);
  Result<std::vector<ResultSet>> out =
      Run(Prepare(Prepared::kRead, {Param::Bytes(id), Param::Int(NowMs())}));
  if (!out.ok()) return Failed(out.status(), "read", id);
  const Row* row = FirstRow(*out);
  if (row == nullptr || row->size() != 2) {
    return Status::NotFound(NotFound(id));
  }
  SessionRecord record;
  record.data = (*row)[0].value_or("");
  record.expires_at = FromUnixMillis(ToInt((*row)[1]));
  return record;
}

Status MysqlStore::Write(std::string_view id, std::string_view data,
                         Duration ttl) {
  SK_CHECK_ID(id);
  const int64_t now = NowMs();
  Result<std::vector<ResultSet>> out = Run(Prepare(
      Prepared::kWrite, {Param::Bytes(id), Param::Bytes(data),
                         Param::Int(now + ttl.count()), Param::Int(now)}));
  return Failed(out.status(), "write", id);
}

Status MysqlStore::WriteUnlessNewer(const std::vector<VersionedWrite>& writes) {
  for (const VersionedWrite& w : writes) {
    SK_CHECK_ID(w.id);
    if (w.data.size() > kUnlessNewerMaxValue) {
      return Status::NotSupported(
          options_.name + ": session " + SessionIdPrefix(w.id) + " holds " +
          std::to_string(w.data.size()) +
          " bytes, more than a version-checked statement sends (1 MiB): "
          "written under the session's lock instead");
    }
  }
  const int64_t now = NowMs();
  // A statement of at most kUnlessNewerBytes of data (sent as hex, twice
  // that), or of one write: far below any max_allowed_packet in use.
  return SendInIdOrder(
      writes, kUnlessNewerBytes, writes.size(),
      [&](std::span<const VersionedWrite> run) {
        const std::string sql = WriteUnlessNewerSql(options_.table, run, now);
        Status st = Run(Text(sql)).status();
        if (st.ok()) return st;
        return Status(st.code(), st.message() + " (write unless newer of " +
                                     std::to_string(run.size()) +
                                     " sessions, from session " +
                                     SessionIdPrefix(run.front().id) + ")");
      });
}

Status MysqlStore::Touch(std::string_view id, Duration ttl) {
  SK_CHECK_ID(id);
  const int64_t now = NowMs();
  Result<std::vector<ResultSet>> out = Run(
      Prepare(Prepared::kTouch, {Param::Int(now + ttl.count()), Param::Int(now),
                                 Param::Bytes(id), Param::Int(now)}));
  if (!out.ok()) return Failed(out.status(), "touch", id);
  if (out->empty() || out->front().affected == 0) {
    return Status::NotFound(NotFound(id));
  }
  return Status::OK();
}

Status MysqlStore::Destroy(std::string_view id) {
  SK_CHECK_ID(id);
  // On the connection of a lock of this session held here, the procedure
  // releases it; elsewhere it ends the holder's connection.
  return Failed(RunPinnedOrIdle(TakeAnyPin(id),
                                Prepare(Prepared::kDestroy, {Param::Bytes(id)}))
                    .status(),
                "destroy", id);
}

Result<bool> MysqlStore::Exists(std::string_view id) {
  SK_CHECK_ID(id);
  Result<std::vector<ResultSet>> out =
      Run(Prepare(Prepared::kExists, {Param::Bytes(id), Param::Int(NowMs())}));
  if (!out.ok()) return Failed(out.status(), "exists check", id);
  return FirstRow(*out) != nullptr;
}

Result<bool> MysqlStore::ExistsOrLocked(std::string_view id) {
  SK_CHECK_ID(id);
  const int64_t now = NowMs();
  Result<std::vector<ResultSet>> out = Run(Prepare(
      Prepared::kExistsOrLocked,
      {Param::Bytes(id), Param::Int(now), Param::Bytes(id), Param::Int(now)}));
  if (!out.ok()) return Failed(out.status(), "exists check", id);
  return FirstRow(*out) != nullptr;
}

Result<ScanPage> MysqlStore::Scan(const ScanOptions& options) {
  // Any cursor the ids column can hold: a row written by hand with an id
  // outside PHP's charset ends a page like any other.
  for (size_t i = 0; i < options.cursor.size(); ++i) {
    if (static_cast<unsigned char>(options.cursor[i]) >= 0x80) {
      return Status::InvalidArgument(
          options_.name + ": scan cursor has a non-ASCII byte at position " +
          std::to_string(i + 1) + " (the ids column holds ASCII only)");
    }
  }
  const size_t limit = std::clamp<size_t>(options.limit, 1, 10000);
  std::optional<int64_t> live_after;
  if (!options.include_expired) live_after = NowMs();
  const std::string sql =
      ScanSql(options_.table, options.cursor, live_after, limit);
  Result<std::vector<ResultSet>> out = Run(Text(sql));
  if (!out.ok()) return out.status();
  ScanPage page;
  for (const ResultSet& set : *out) {
    for (const Row& row : set.rows) {
      if (row.size() != 3) continue;
      SessionInfo info;
      info.id = row[0].value_or("");
      info.bytes = static_cast<uint64_t>(ToInt(row[1]));
      info.expires_at = FromUnixMillis(ToInt(row[2]));
      page.sessions.push_back(std::move(info));
    }
  }
  if (page.sessions.size() == limit) page.next_cursor = page.sessions.back().id;
  return page;
}

Result<GcResult> MysqlStore::Gc(TimePoint now) {
  return GcWithProgress(now, {});
}

Result<GcResult> MysqlStore::GcWithProgress(TimePoint now,
                                            const GcProgress& progress) {
  const std::string cut = std::to_string(ToUnixMillis(now));
  const std::string batch = std::to_string(kGcBatch);
  GcResult result;
  Result<ConnPtr> conn = Take();
  if (!conn.ok()) return conn.status();
  // Batches over the expires_at index, each its own short transaction.
  for (;;) {
    const std::string sql =
        "DELETE FROM `" + options_.table + "` WHERE expires_at <= " + cut +
        " ORDER BY expires_at LIMIT " + batch + " RETURNING LENGTH(data)";
    Result<std::vector<ResultSet>> out = Exchange(**conn, Text(sql));
    if (!out.ok()) return out.status();
    size_t n = 0;
    for (const ResultSet& set : *out) {
      for (const Row& row : set.rows) {
        ++n;
        if (!row.empty()) result.bytes_removed += ToInt(row[0]);
      }
    }
    result.removed += n;
    if (progress) progress(result);
    if (n < static_cast<size_t>(kGcBatch)) break;
  }
  // Lock rows of holders that never released, past their retention.
  for (;;) {
    const std::string sql =
        GcLocksSql(options_.table, ToUnixMillis(now), kGcBatch);
    Result<std::vector<ResultSet>> out = Exchange(**conn, Text(sql));
    if (!out.ok()) return out.status();
    if (out->empty() ||
        out->front().affected < static_cast<uint64_t>(kGcBatch)) {
      break;
    }
  }
  Give(std::move(*conn));
  return result;
}

Status MysqlStore::Health() { return Run(Text("DO 1")).status(); }

MysqlStore::Statement MysqlStore::LockCall(
    std::string_view id, const LockRequest& request, Duration wait,
    const std::string* break_owner) const {
  const int64_t now = NowMs();
  const int64_t lease_until = now + request.lease.count();
  // p_wait is in seconds (GET_LOCK's), to the millisecond.
  const double wait_s =
      static_cast<double>(std::max<int64_t>(wait.count(), 0)) / 1000.0;
  return Prepare(Prepared::kLock,
                 {Param::Bytes(id), Param::Bytes(request.owner.token),
                  Param::Int(now), Param::Int(lease_until),
                  Param::Int(lease_until + kLockRecordRetention.count()),
                  Param::Double(wait_s), Param::Int(request.max_waiters),
                  break_owner ? Param::Bytes(*break_owner) : Param::Null()});
}

Result<LockedRead> MysqlStore::LockAndRead(std::string_view id,
                                           const LockRequest& request) {
  SK_CHECK_ID(id);
  PinKey key(std::string(id), request.owner.token);
  ConnPtr conn = TakePin(key);
  bool reused = false;
  if (conn == nullptr) {
    Result<ConnPtr> taken = Take(&reused);
    if (!taken.ok()) return Failed(taken.status(), "locked read", id);
    conn = std::move(*taken);
  }
  const LockWait wait(env_, request, kPacing);
  Duration call_wait(0);
  std::optional<std::string> break_owner;
  int breaks = 0;
  for (;;) {
    Result<std::vector<ResultSet>> out = Send(
        &conn, reused,
        LockCall(id, request, call_wait, break_owner ? &*break_owner : nullptr),
        call_wait);
    reused = false;
    if (!out.ok()) return Failed(out.status(), "locked read", id);
    const Row* row = FirstRow(*out);
    const bool empty_set = row == nullptr && HasResultSet(*out);
    if (!empty_set && (row == nullptr || row->size() != 4)) {
      return Status::Internal(options_.name +
                              ": the lock procedure returned no row");
    }
    // An empty result set: acquired, no session, no owner broken.
    const int64_t state = empty_set ? 1 : ToInt((*row)[0]);
    LockedRead read;
    if (empty_set) {
      read.outcome = LockOutcome::kAcquired;
      Pin(std::move(key), std::move(conn));
      return read;
    }
    if (state == 1) {
      read.outcome = LockOutcome::kAcquired;
      read.broken_owner = (*row)[1].value_or("");
      read.found = (*row)[2].has_value();
      if (read.found) {
        read.record.data = *(*row)[2];
        read.record.expires_at = FromUnixMillis(ToInt((*row)[3]));
      }
      Pin(std::move(key), std::move(conn));
      return read;
    }
    if (state == 2) {
      Give(std::move(conn));
      read.outcome = LockOutcome::kTooManyWaiters;
      return read;
    }
    const std::optional<std::string>& holder = (*row)[1];
    const int64_t lease_left = holder ? ToInt((*row)[3]) - NowMs() : -1;
    if (holder && *holder != request.owner.token && breaks < kMaxBreaks &&
        (lease_left <= 0 || LockHolderIsGone(*holder, env_))) {
      // The lease ran out, or the holder's process is gone: end its
      // connection, which frees the server lock, and take it.
      break_owner = *holder;
      ++breaks;
      call_wait = kBreakWait;
      continue;
    }
    break_owner.reset();
    if (wait.Expired()) {
      Give(std::move(conn));
      read.outcome = LockOutcome::kTimedOut;
      return read;
    }
    call_wait = std::max(Duration(1),
                         std::chrono::ceil<Duration>(wait.NextSleep(
                             holder.value_or(""), holder ? lease_left : -1)));
  }
}

Status MysqlStore::Release(std::string_view id, const LockOwner& owner,
                           ReleaseMode mode, std::string_view data,
                           Duration ttl) {
  SK_CHECK_ID(id);
  const int64_t now = NowMs();
  Result<std::vector<ResultSet>> out = RunPinnedOrIdle(
      TakePin(PinKey(std::string(id), owner.token)),
      Prepare(Prepared::kRelease,
              {Param::Bytes(id), Param::Bytes(owner.token), Param::Int(now),
               Param::Int(now + ttl.count()),
               mode == ReleaseMode::kWrite ? Param::Bytes(data) : Param::Null(),
               Param::Int(static_cast<int>(mode))}));
  if (!out.ok()) {
    return Failed(out.status(),
                  mode == ReleaseMode::kWrite   ? "write and unlock"
                  : mode == ReleaseMode::kTouch ? "touch and unlock"
                                                : "unlock",
                  id);
  }
  const Row* row = FirstRow(*out);
  const std::string said = row != nullptr && !row->empty()
                               ? row->front().value_or("")
                               : std::string();
  if (said == "lost") {
    if (mode == ReleaseMode::kUnlock) return Status::OK();
    return Status::LockLost(options_.name + ": the lock of session " +
                            SessionIdPrefix(id) +
                            " is no longer held by this request");
  }
  if (said == "notfound") return Status::NotFound(NotFound(id));
  if (!said.empty() || HasResultSet(*out)) {
    return Status::Internal(options_.name +
                            ": the release procedure returned \"" +
                            said.substr(0, 40) + "\"");
  }
  // Done: the procedure says nothing then.
  return Status::OK();
}

Status MysqlStore::WriteAndUnlock(std::string_view id, std::string_view data,
                                  Duration ttl, const LockOwner& owner) {
  return Release(id, owner, ReleaseMode::kWrite, data, ttl);
}

Status MysqlStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                  const LockOwner& owner) {
  return Release(id, owner, ReleaseMode::kTouch, {}, ttl);
}

Status MysqlStore::Unlock(std::string_view id, const LockOwner& owner) {
  return Release(id, owner, ReleaseMode::kUnlock, {}, Duration(0));
}

}  // namespace sessionkit::mysql
