// The PostgreSQL store (include/sessionkit/stores/postgres.h): every step is
// one prepared statement, so one round trip: read, write (an upsert),
// touch, destroy and the lock steps (plpgsql functions created with the
// schema, see pg_schema.cc).
//
// Locks: a session-level advisory lock of the server on the session's
// 64-bit key, held on a connection pinned to (session id, owner) from
// LockAndRead until the release; the server wakes a waiter blocked in
// pg_advisory_lock the instant the holder releases, and releases the lock
// itself when the holder's connection dies. The <table>_locks row carries
// the owner token, the lease and the holder's backend pid, which a takeover
// ends (pg_terminate_backend). docs/postgres.md tells the whole story.
#ifndef SESSIONKIT_STORES_POSTGRES_POSTGRES_STORE_H_
#define SESSIONKIT_STORES_POSTGRES_POSTGRES_STORE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/store.h"
#include "sessionkit/stores/postgres.h"
#include "stores/postgres/pg_connection.h"

namespace sessionkit::postgres {

// Thread safety: safe for concurrent use; each call uses a connection of its
// own (from the store's pool, or the one pinned to its lock).
class PostgresStore final : public Store {
 public:
  explicit PostgresStore(PostgresOptions options);
  ~PostgresStore() override;

  const std::string& name() const override { return options_.name; }
  Result<SessionRecord> Read(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  // Statements of at most kUnlessNewerBytes of data and kUnlessNewerRows
  // sessions each (a larger write goes alone), in id order.
  Status WriteUnlessNewer(const std::vector<VersionedWrite>& writes) override;
  Status Destroy(std::string_view id) override;
  Result<bool> Exists(std::string_view id) override;
  Result<bool> ExistsOrLocked(std::string_view id) override;
  Result<ScanPage> Scan(const ScanOptions& options) override;
  Result<GcResult> Gc(TimePoint now) override;
  // Reports after each batch of kGcBatch rows.
  Result<GcResult> GcWithProgress(TimePoint now,
                                  const GcProgress& progress) override;
  Status Health() override;

  Result<LockedRead> LockAndRead(std::string_view id,
                                 const LockRequest& request) override;
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const LockOwner& owner) override;
  Status TouchAndUnlock(std::string_view id, Duration ttl,
                        const LockOwner& owner) override;
  Status Unlock(std::string_view id, const LockOwner& owner) override;

  // Exchanges with the server so far (connection setup included), for
  // tests that count round trips.
  uint64_t round_trips() const { return round_trips_.load(); }

 private:
  using PinKey = std::pair<std::string, std::string>;  // (id, owner)

  Status CheckId(std::string_view id, std::string_view op) const;
  // Exists and ExistsOrLocked: whether `statement` (id, now) finds a row.
  Result<bool> AnyRow(const char* statement, std::string_view id);
  int64_t NowMs() const;
  Deadline ExchangeDeadline(Duration extra = Duration(0)) const;
  int64_t Key(std::string_view id) const;

  // A connection for one call: an idle one, or a new one (the schema is
  // made or checked on the first). A failure names `what` the connection
  // was for ("read of session abc..."), as the failures of a call do.
  Result<std::unique_ptr<Connection>> Acquire(const std::string& what);
  Result<std::unique_ptr<Connection>> AcquireUnnamed();
  // Back to the idle list; dropped when it failed or belongs to another
  // process (fork).
  void Return(std::unique_ptr<Connection> conn);
  // After `conn` failed: true (once per call, tracked in *retried) when the
  // server had closed it, e.g. in a restart, so that the step may be tried
  // again on a new connection; the idle connections, closed the same way,
  // are dropped.
  bool RetryOnNewConnection(const Connection& conn, bool* retried);
  // Runs the prepared statement `statement` (or, when `prepared` is false,
  // the query `statement`) on a pooled connection. A connection the server
  // closed meanwhile (a restart) is replaced once.
  Result<Rows> Run(const std::string& statement, std::vector<Param> params,
                   const std::string& what, bool prepared = true);
  // The connection pinned to (id, owner) (any owner of `id` for nullopt),
  // taken out of the pin table; nullptr when there is none.
  std::unique_ptr<Connection> TakePinned(std::string_view id,
                                         std::optional<std::string_view> owner);
  // Pins `conn`, now holding the lock of `id` for `owner`; drops pins of
  // other owners of `id` (their server sessions were ended).
  void Pin(std::string_view id, std::string_view owner,
           std::unique_ptr<Connection> conn);
  // Drops every connection when this is a forked child of the process
  // that made them. Under mu_.
  void CheckForkLocked();
  // WriteAndUnlock, TouchAndUnlock and Unlock: <table>_release in `mode`.
  Status Release(std::string_view id, const LockOwner& owner, int mode,
                 std::string_view data, Duration ttl, const char* op);

  const PostgresOptions options_;
  Env* const env_;
  const std::vector<Statement> statements_;
  std::atomic<uint64_t> round_trips_{0};

  std::mutex mu_;
  uint64_t generation_;
  bool schema_ready_ = false;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::map<PinKey, std::unique_ptr<Connection>> pinned_;
};

}  // namespace sessionkit::postgres

#endif  // SESSIONKIT_STORES_POSTGRES_POSTGRES_STORE_H_
