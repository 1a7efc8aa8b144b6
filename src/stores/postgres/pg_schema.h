// The SQL of the PostgreSQL store: the schema (tables, indexes and the
// plpgsql functions of the lock), the statements prepared on every
// connection, and the check of a table that exists already.
// docs/postgres.md shows the same schema for DBAs who create it by hand.
#ifndef SESSIONKIT_STORES_POSTGRES_PG_SCHEMA_H_
#define SESSIONKIT_STORES_POSTGRES_PG_SCHEMA_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/stores/postgres.h"
#include "stores/postgres/pg_connection.h"

namespace sessionkit::postgres {

// Names of the prepared statements (see Statements for their parameters).
inline constexpr char kRead[] = "sk_read";           // id, now
inline constexpr char kWrite[] = "sk_write";         // id, data, expires, now
inline constexpr char kTouch[] = "sk_touch";         // id, expires, now
inline constexpr char kExists[] = "sk_exists";       // id, now
inline constexpr char kExistsOrLocked[] = "sk_exists_or_locked";  // id, now
inline constexpr char kDestroy[] = "sk_destroy";     // id, key, held
inline constexpr char kLock[] = "sk_lock";           // see the function
inline constexpr char kRelease[] = "sk_release";     // see the function
inline constexpr char kScanLive[] = "sk_scan_live";  // cursor, now, limit
inline constexpr char kScanAll[] = "sk_scan_all";    // cursor, limit
inline constexpr char kGc[] = "sk_gc";               // now, batch
inline constexpr char kGcLocks[] = "sk_gc_locks";    // now, batch
inline constexpr char kHealth[] = "sk_health";

// Outcomes of <table>_lock and <table>_release.
inline constexpr int kLockAcquired = 0;
inline constexpr int kLockBusy = 1;
inline constexpr int kLockTooManyWaiters = 2;
inline constexpr int kReleaseOk = 0;
inline constexpr int kReleaseLost = 1;
inline constexpr int kReleaseNotFound = 2;
// Modes of <table>_release.
inline constexpr int kModeUnlock = 0;
inline constexpr int kModeWrite = 1;
inline constexpr int kModeTouch = 2;

// Rows Gc deletes in one statement at most.
inline constexpr int64_t kGcBatch = 1000;

// The statements every connection prepares, for `table`.
std::vector<Statement> Statements(const std::string& table);

// The query of Store::WriteUnlessNewer for `rows` sessions: $1 is now
// (int8), then per session its id (text), data (bytea) and expires_at
// (int8). Each row's check and write are one atomic step (INSERT ... ON
// CONFLICT DO UPDATE ... WHERE); a value's session version is read in SQL
// from its frame header, as Store::WriteUnlessNewer defines it.
std::string WriteUnlessNewerSql(const std::string& table, size_t rows);

// The whole schema as SQL (CREATE ... IF NOT EXISTS, CREATE OR REPLACE
// FUNCTION): what EnsureSchema runs, and docs/postgres.md shows.
std::string SchemaSql(const std::string& table);

// The 64-bit advisory lock key of session `id` of `table` in `database`.
int64_t LockKey(std::string_view database, std::string_view table,
                std::string_view id);

// Creates the schema when the table or its functions are missing, and
// checks the columns of tables that exist: an error naming the table and
// the column when one is missing or of another type.
Status EnsureSchema(Connection& conn, const PostgresOptions& options,
                    Deadline deadline);

}  // namespace sessionkit::postgres

#endif  // SESSIONKIT_STORES_POSTGRES_PG_SCHEMA_H_
