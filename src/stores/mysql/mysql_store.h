// The MariaDB/MySQL store (include/sessionkit/stores/mysql.h): sessions in
// `<table>`, lock rows in `<table>_locks`, each locked step one CALL of a
// procedure created with the schema (schema.h).
#ifndef SESSIONKIT_STORES_MYSQL_MYSQL_STORE_H_
#define SESSIONKIT_STORES_MYSQL_MYSQL_STORE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/store.h"
#include "sessionkit/stores/mysql.h"
#include "stores/mysql/connection.h"
#include "stores/mysql/schema.h"

namespace sessionkit::mysql {

// Thread safety: safe for concurrent use from several threads (each call
// takes a connection of its own from the pool), and from several processes
// on the same tables; a forked child makes connections of its own.
class MysqlStore final : public Store {
 public:
  // `options` are checked (MysqlOptions::FromUrl's rules) and named.
  explicit MysqlStore(MysqlOptions options);
  ~MysqlStore() override;

  const std::string& name() const override { return options_.name; }
  Result<SessionRecord> Read(std::string_view id) override;
  Status Write(std::string_view id, std::string_view data,
               Duration ttl) override;
  Status Touch(std::string_view id, Duration ttl) override;
  // One statement per 256 KiB of data (docs/mysql.md).
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

  // Statements sent to the server by this store so far (connecting, the
  // schema's creation and the preparing of statements not counted): one
  // per step's round trip. For tests.
  uint64_t round_trips() const { return round_trips_.load(); }

 private:
  using ConnPtr = std::unique_ptr<Connection>;
  using PinKey = std::pair<std::string, std::string>;  // id, owner
  enum class ReleaseMode { kWrite = 0, kTouch = 1, kUnlock = 2 };

  // An idle connection of this process (*reused set), or a new one (the
  // schema made ready on the first).
  Result<ConnPtr> Take(bool* reused = nullptr);
  // Closes the idle connections (after one of them was found dead).
  void DropIdle();
  // Back to the idle ones, unless broken or of another process.
  void Give(ConnPtr conn);
  // The connection pinned to the lock (id, owner), if any, out of the map.
  ConnPtr TakePin(const PinKey& key);
  // Any connection pinned to a lock of `id`, out of the map.
  ConnPtr TakeAnyPin(std::string_view id);
  void Pin(PinKey key, ConnPtr conn);
  // Drops every connection made before a fork() (never closing them).
  void DropIfForked();
  Status EnsureSchema(Connection& conn);

  // What a step sends: the text `sql` (no slot), or prepared statement
  // `slot`, whose SQL is `sql`, with `params`.
  struct Statement {
    int slot = -1;
    std::string_view sql;
    std::vector<Param> params;
  };
  // The text `sql`, sent as it is.
  static Statement Text(std::string_view sql) { return {-1, sql, {}}; }
  // Prepared statement `which` of this store's table.
  Statement Prepare(Prepared which, std::vector<Param> params) const;

  // Sends `stmt` on `conn`, counting the round trip.
  Result<std::vector<ResultSet>> Exchange(Connection& conn,
                                          const Statement& stmt,
                                          Duration extra = Duration(0),
                                          QueryError* error = nullptr);
  // Sends `stmt` on `*conn`. When `*conn` came from the idle pool and turns
  // out to be gone (the server restarted since its last use), the idle
  // ones are dropped and `stmt` goes once more on a new connection.
  Result<std::vector<ResultSet>> Send(ConnPtr* conn, bool reused,
                                      const Statement& stmt,
                                      Duration extra = Duration(0));
  // Takes a connection, sends `stmt`, gives it back.
  Result<std::vector<ResultSet>> Run(const Statement& stmt);
  // Runs `stmt` on `pinned` (when given), else (or when that connection
  // turns out dead) on an idle one; the connection is given back after.
  Result<std::vector<ResultSet>> RunPinnedOrIdle(ConnPtr pinned,
                                                 const Statement& stmt);

  Status Release(std::string_view id, const LockOwner& owner, ReleaseMode mode,
                 std::string_view data, Duration ttl);
  // The CALL of the lock procedure.
  Statement LockCall(std::string_view id, const LockRequest& request,
                     Duration wait, const std::string* break_owner) const;

  int64_t NowMs() const;
  // `st` with the step and the session it was about appended, as the
  // other stores name them: "... (read of session abcdef...)".
  Status Failed(const Status& st, std::string_view op,
                std::string_view id) const;
  std::string NotFound(std::string_view id) const;

  const MysqlOptions options_;
  // The SQL of each Prepared statement, indexed by it.
  const std::vector<std::string> prepared_;
  Env* const env_;
  std::mutex mu_;
  uint64_t generation_;
  std::vector<ConnPtr> idle_;
  std::map<PinKey, ConnPtr> pinned_;
  std::mutex schema_mu_;
  std::atomic<bool> schema_ready_{false};
  std::atomic<uint64_t> round_trips_{0};
};

}  // namespace sessionkit::mysql

#endif  // SESSIONKIT_STORES_MYSQL_MYSQL_STORE_H_
