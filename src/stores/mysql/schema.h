// The schema of the MariaDB/MySQL store: the sessions table, its lock table
// and the procedures that do each locked step in one round trip, as SQL
// (docs/mysql.md shows the same for DBAs), the statements of the steps,
// and the check of an existing table's columns.
#ifndef SESSIONKIT_STORES_MYSQL_SCHEMA_H_
#define SESSIONKIT_STORES_MYSQL_SCHEMA_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "stores/mysql/connection.h"

namespace sessionkit::mysql {

// The longest table name: `<table>_locks` and the procedures' names
// (`<table>_sk5_release`) stay within MariaDB's 64 characters.
inline constexpr size_t kMaxTableName = 48;

// The most rows one statement of Gc deletes.
inline constexpr int kGcBatch = 1000;

// The name of the procedure `step` ("lock", "release", "destroy") of
// `table`, quoted for SQL.
std::string Procedure(std::string_view table, std::string_view step);

// The statements of the store's hot steps, prepared once per connection
// (Connection::Execute's slots): kRead (id, now), kWrite (id, data,
// expires_at, now), kTouch (expires_at, now, id, now), kExists (id, now),
// kExistsOrLocked (id, now, id, now), then the CALLs of the procedures:
// kDestroy, kLock, kRelease.
enum class Prepared : int {
  kRead,
  kWrite,
  kTouch,
  kExists,
  kExistsOrLocked,
  kDestroy,
  kLock,
  kRelease,
  kCount
};

// The SQL of each Prepared statement of `table` (`?` for each parameter),
// indexed by the enum.
std::vector<std::string> PreparedStatements(std::string_view table);

// The statement of Store::WriteUnlessNewer for `writes` at
// `now_ms` (expires_at = now_ms + ttl), values as hex literals. Each row's
// check and write are one atomic step of InnoDB (INSERT ... ON DUPLICATE
// KEY UPDATE); a value's session version is read in SQL from its frame
// header, as Store::WriteUnlessNewer defines it.
std::string WriteUnlessNewerSql(std::string_view table,
                                std::span<const VersionedWrite> writes,
                                int64_t now_ms);

// The statement of one page of Store::Scan: up to `limit` rows (id,
// LENGTH(data), expires_at) whose id sorts after `cursor` (any ASCII
// bytes; "" for the first page), in id order, only those that expire after
// `live_after_ms` when it is given.
std::string ScanSql(std::string_view table, std::string_view cursor,
                    std::optional<int64_t> live_after_ms, size_t limit);

// The statement of one batch of Gc's lock rows: up to `batch` rows past
// their retention at `cut_ms`, but for those whose holder's connection
// still holds the session's server lock.
std::string GcLocksSql(std::string_view table, int64_t cut_ms, int batch);

// The statements that create the tables and procedures of `table` when
// they are missing (CREATE ... IF NOT EXISTS), in order.
std::vector<std::string> SchemaStatements(std::string_view table);

// A query listing (table_name, column_name, data_type) of the columns of
// `table` and `<table>_locks` in the current database.
std::string ColumnsQuery(std::string_view table);

// A query listing (lower_case_table_names, routine name, definition) of
// the procedures the store of `table` calls, found in the current
// database as the server finds them: routine names ignore case.
std::string RoutinesQuery(std::string_view table);

// OK when each procedure of RoutinesQuery's `rows` was made for `table`:
// its definition names the table exactly (ignoring case where the
// server's table names do). Otherwise InvalidArgument naming `store`: the
// procedures of a table whose name differs only in case, which would read
// and write that table. A definition the user may not see passes.
Status CheckRoutines(std::string_view store, std::string_view table,
                     const std::vector<Row>& rows);

// OK when `server_info` (mysql_get_server_info: "10.11.6-MariaDB-0+deb12u1")
// names a MariaDB of 10.3 or later, what the schema's SQL needs; otherwise
// InvalidArgument naming `store` and the server found (MySQL lacks DELETE
// ... RETURNING, and CREATE PROCEDURE IF NOT EXISTS before 8.0.29).
Status CheckServer(std::string_view store, std::string_view server_info);

// OK when the rows of ColumnsQuery have every column the store uses with a
// type it can use; otherwise InvalidArgument naming `store`, the table and
// the column.
Status CheckColumns(std::string_view store, std::string_view database,
                    std::string_view table, const std::vector<Row>& rows);

}  // namespace sessionkit::mysql

#endif  // SESSIONKIT_STORES_MYSQL_SCHEMA_H_
