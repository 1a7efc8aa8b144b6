#include "stores/postgres/postgres_store.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/session_id.h"
#include "stores/fork_generation.h"
#include "stores/postgres/pg_schema.h"
#include "stores/write_batches.h"

namespace sessionkit::postgres {
namespace {

// Idle connections kept per store (a PHP worker uses one at a time, plus
// one per held lock).
constexpr size_t kMaxIdle = 16;
// The data one statement of WriteUnlessNewer carries, at most (unless one
// write alone is larger), and its sessions: 3 parameters each, far below
// libpq's 65535.
constexpr size_t kUnlessNewerBytes = 256 << 10;
constexpr size_t kUnlessNewerRows = 4096;

std::string NoSuchSession(const std::string& store, const std::string& what) {
  return store + ": " + what + ": no such session (or it expired)";
}

}  // namespace

PostgresStore::PostgresStore(PostgresOptions options)
    : options_(std::move(options)),
      env_(Env::OrDefault(options_.env)),
      statements_(Statements(options_.table)),
      generation_(ForkGeneration()) {}

PostgresStore::~PostgresStore() = default;

Status PostgresStore::CheckId(std::string_view id, std::string_view op) const {
  Status valid = ValidateSessionId(id);
  if (valid.ok()) return valid;
  return Status::InvalidArgument(name() + ": " + std::string(op) + ": " +
                                 valid.message());
}

int64_t PostgresStore::NowMs() const { return ToUnixMillis(env_->WallNow()); }

Deadline PostgresStore::ExchangeDeadline(Duration extra) const {
  return std::chrono::steady_clock::now() + options_.read_timeout + extra;
}

int64_t PostgresStore::Key(std::string_view id) const {
  return LockKey(options_.database, options_.table, id);
}

void PostgresStore::CheckForkLocked() {
  const uint64_t generation = ForkGeneration();
  if (generation == generation_) return;
  // The parent's connections: their destructors close only this process's
  // copies of their sockets (the parent's sessions go on).
  idle_.clear();
  pinned_.clear();
  generation_ = generation;
}

Result<std::unique_ptr<Connection>> PostgresStore::Acquire(
    const std::string& what) {
  Result<std::unique_ptr<Connection>> conn = AcquireUnnamed();
  if (conn.ok()) return conn;
  return Status(conn.status().code(),
                conn.status().message() + " (" + what + ")");
}

Result<std::unique_ptr<Connection>> PostgresStore::AcquireUnnamed() {
  bool schema_ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CheckForkLocked();
    if (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    schema_ready = schema_ready_;
  }
  Result<std::unique_ptr<Connection>> conn =
      Connection::Open(options_, &round_trips_);
  if (!conn.ok()) return conn.status();
  // Setting up (the schema on the first connection, the statements) may
  // take more than a connect: it has the read timeout too.
  const Deadline deadline = ExchangeDeadline(options_.connect_timeout);
  if (!schema_ready) {
    SK_RETURN_IF_ERROR(EnsureSchema(**conn, options_, deadline));
    std::lock_guard<std::mutex> lock(mu_);
    schema_ready_ = true;
  }
  SK_RETURN_IF_ERROR((*conn)->Prepare(statements_, deadline));
  return conn;
}

void PostgresStore::Return(std::unique_ptr<Connection> conn) {
  if (conn == nullptr || conn->broken()) return;
  std::lock_guard<std::mutex> lock(mu_);
  CheckForkLocked();
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(conn));
}

bool PostgresStore::RetryOnNewConnection(const Connection& conn,
                                         bool* retried) {
  if (*retried || !conn.closed()) return false;
  *retried = true;
  std::lock_guard<std::mutex> lock(mu_);
  idle_.clear();
  return true;
}

Result<Rows> PostgresStore::Run(const std::string& statement,
                                std::vector<Param> params,
                                const std::string& what, bool prepared) {
  for (bool retried = false;;) {
    Result<std::unique_ptr<Connection>> conn = Acquire(what);
    if (!conn.ok()) return conn.status();
    Result<Rows> rows =
        prepared ? (*conn)->Exec(statement, params, ExchangeDeadline(), what)
                 : (*conn)->Query(statement, params, ExchangeDeadline(), what);
    if (rows.ok()) {
      Return(std::move(*conn));
      return rows;
    }
    if (!RetryOnNewConnection(**conn, &retried)) return rows.status();
  }
}

std::unique_ptr<Connection> PostgresStore::TakePinned(
    std::string_view id, std::optional<std::string_view> owner) {
  std::lock_guard<std::mutex> lock(mu_);
  CheckForkLocked();
  auto it = owner ? pinned_.find(PinKey(id, *owner))
                  : pinned_.lower_bound(PinKey(id, ""));
  if (it == pinned_.end() || it->first.first != id) return nullptr;
  std::unique_ptr<Connection> conn = std::move(it->second);
  pinned_.erase(it);
  return conn;
}

void PostgresStore::Pin(std::string_view id, std::string_view owner,
                        std::unique_ptr<Connection> conn) {
  std::vector<std::unique_ptr<Connection>> ended;
  std::lock_guard<std::mutex> lock(mu_);
  CheckForkLocked();
  for (auto it = pinned_.lower_bound(PinKey(id, ""));
       it != pinned_.end() && it->first.first == id;) {
    ended.push_back(std::move(it->second));
    it = pinned_.erase(it);
  }
  pinned_[PinKey(id, owner)] = std::move(conn);
}

Result<SessionRecord> PostgresStore::Read(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "read"));
  const std::string what = "read of session " + SessionIdPrefix(id);
  Result<Rows> rows = Run(kRead, {Param::Text(id), Param::Int8(NowMs())}, what);
  if (!rows.ok()) return rows.status();
  if (rows->size() == 0) return Status::NotFound(NoSuchSession(name(), what));
  SessionRecord record;
  record.data = std::string(rows->Bytes(0, 0));
  record.expires_at = FromUnixMillis(rows->Int(0, 1));
  return record;
}

Status PostgresStore::Write(std::string_view id, std::string_view data,
                            Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(id, "write"));
  const int64_t now = NowMs();
  return Run(kWrite,
             {Param::Text(id), Param::Text(data),
              Param::Int8(now + ttl.count()), Param::Int8(now)},
             "write of session " + SessionIdPrefix(id))
      .status();
}

Status PostgresStore::WriteUnlessNewer(
    const std::vector<VersionedWrite>& writes) {
  for (const VersionedWrite& w : writes) {
    SK_RETURN_IF_ERROR(CheckId(w.id, "write unless newer"));
  }
  const int64_t now = NowMs();
  return SendInIdOrder(
      writes, kUnlessNewerBytes, kUnlessNewerRows,
      [&](std::span<const VersionedWrite> run) {
        std::vector<Param> params = {Param::Int8(now)};
        for (const VersionedWrite& w : run) {
          params.push_back(Param::Text(w.id));
          params.push_back(Param::Text(w.data));
          params.push_back(Param::Int8(now + w.ttl.count()));
        }
        return Run(WriteUnlessNewerSql(options_.table, run.size()),
                   std::move(params),
                   "write unless newer, " + std::to_string(run.size()) +
                       " sessions from session " +
                       SessionIdPrefix(run.front().id),
                   /*prepared=*/false)
            .status();
      });
}

Status PostgresStore::Touch(std::string_view id, Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(id, "touch"));
  const std::string what = "touch of session " + SessionIdPrefix(id);
  const int64_t now = NowMs();
  Result<Rows> rows =
      Run(kTouch,
          {Param::Text(id), Param::Int8(now + ttl.count()), Param::Int8(now)},
          what);
  if (!rows.ok()) return rows.status();
  if (rows->Affected() == 0) {
    return Status::NotFound(NoSuchSession(name(), what));
  }
  return Status::OK();
}

Status PostgresStore::Destroy(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "destroy"));
  const std::string what = "destroy of session " + SessionIdPrefix(id);
  // A lock this store holds is released on its own connection (which goes
  // back to the pool); the holder's later steps find no record.
  std::unique_ptr<Connection> pinned = TakePinned(id, std::nullopt);
  if (pinned != nullptr) {
    Result<Rows> rows = pinned->Exec(
        kDestroy, {{Param::Text(id), Param::Int8(Key(id)), Param::Bool(true)}},
        ExchangeDeadline(), what);
    if (rows.ok()) {
      Return(std::move(pinned));
      return Status::OK();
    }
  }
  return Run(kDestroy,
             {Param::Text(id), Param::Int8(Key(id)), Param::Bool(false)}, what)
      .status();
}

Result<bool> PostgresStore::Exists(std::string_view id) {
  return AnyRow(kExists, id);
}

Result<bool> PostgresStore::ExistsOrLocked(std::string_view id) {
  return AnyRow(kExistsOrLocked, id);
}

Result<bool> PostgresStore::AnyRow(const char* statement, std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "exists"));
  Result<Rows> rows = Run(statement, {Param::Text(id), Param::Int8(NowMs())},
                          "exists of session " + SessionIdPrefix(id));
  if (!rows.ok()) return rows.status();
  return rows->size() > 0;
}

Result<ScanPage> PostgresStore::Scan(const ScanOptions& options) {
  const int64_t limit =
      static_cast<int64_t>(std::clamp<size_t>(options.limit, 1, 10000));
  std::vector<Param> params = {Param::Text(options.cursor)};
  if (!options.include_expired) params.push_back(Param::Int8(NowMs()));
  params.push_back(Param::Int8(limit));
  Result<Rows> rows = Run(options.include_expired ? kScanAll : kScanLive,
                          std::move(params), "scan");
  if (!rows.ok()) return rows.status();
  ScanPage page;
  for (int r = 0; r < rows->size(); ++r) {
    SessionInfo info;
    info.id = std::string(rows->Bytes(r, 0));
    info.bytes = static_cast<uint64_t>(rows->Int(r, 1));
    info.expires_at = FromUnixMillis(rows->Int(r, 2));
    page.sessions.push_back(std::move(info));
  }
  if (rows->size() == limit) page.next_cursor = page.sessions.back().id;
  return page;
}

Result<GcResult> PostgresStore::Gc(TimePoint now) {
  return GcWithProgress(now, {});
}

Result<GcResult> PostgresStore::GcWithProgress(TimePoint now,
                                               const GcProgress& progress) {
  const int64_t now_ms = ToUnixMillis(now);
  GcResult result;
  // Batches of kGcBatch rows over the expires_at index: no statement holds
  // many row locks for long.
  for (;;) {
    Result<Rows> rows =
        Run(kGc, {Param::Int8(now_ms), Param::Int8(kGcBatch)}, "gc");
    if (!rows.ok()) return rows.status();
    const int64_t removed = rows->Int(0, 0);
    result.removed += static_cast<uint64_t>(removed);
    result.bytes_removed += static_cast<uint64_t>(rows->Int(0, 1));
    if (progress) progress(result);
    if (removed < kGcBatch) break;
  }
  for (;;) {
    Result<Rows> rows = Run(
        kGcLocks, {Param::Int8(now_ms), Param::Int8(kGcBatch)}, "gc of locks");
    if (!rows.ok()) return rows.status();
    if (rows->Int(0, 0) < kGcBatch) break;
  }
  return result;
}

Status PostgresStore::Health() {
  return Run(kHealth, {}, "health check").status();
}

}  // namespace sessionkit::postgres
