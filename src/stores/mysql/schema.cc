#include "stores/mysql/schema.h"

#include <charconv>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sessionkit::mysql {
namespace {

// "@T" stands for the table's name in the statements below.
constexpr std::string_view kSessions = R"sql(
CREATE TABLE IF NOT EXISTS `@T` (
  id VARCHAR(256) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  data LONGBLOB NOT NULL,
  expires_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  version BIGINT NOT NULL DEFAULT 1,
  user_id VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  PRIMARY KEY (id),
  KEY `@T_expires_at` (expires_at),
  KEY `@T_user_id` (user_id)
) ENGINE=InnoDB)sql";

// Who holds a session's lock and until when, for waiters and takeovers.
// The lock itself is the server's GET_LOCK; these rows only describe it,
// and die with the server as its locks do: a MEMORY table, so that taking
// and ending a lock write no redo log and sync nothing (with InnoDB each
// cycle committed twice, the lock row's commit costing as much as the
// session's).
constexpr std::string_view kLocks = R"sql(
CREATE TABLE IF NOT EXISTS `@T_locks` (
  id VARCHAR(256) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner VARBINARY(512) NOT NULL,
  lease_until BIGINT NOT NULL,
  conn BIGINT UNSIGNED NOT NULL,
  keep_until BIGINT NOT NULL,
  waiters INT NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY `@T_locks_keep_until` (keep_until) USING BTREE
) ENGINE=MEMORY)sql";

// Takes the session's server lock (GET_LOCK) and reads the session. The
// lock name is a hash of "<database>.<table>/<id>". p_wait: seconds to
// wait for a held lock (0: try once); a waiter first takes one of
// p_max_waiters slot locks (0: no cap), which the server frees with its
// connection. p_break: the owner whose connection to end first (a lock
// taken over), when it still holds the lock. Returns, when acquired, the
// session's row (1, broken owner, data, expires_at), or no row when there
// is no session and no owner was broken (the common first visit); (1,
// broken owner, NULL, NULL) when there is no session but an owner was;
// (0, holder, NULL, lease_until) when held by another; (2, ...) when the
// waiters are full. Every statement costs server time on every cycle, so
// the common path runs four: the lock row is inserted (a row left by an
// earlier holder, who died or was taken over, is found by its duplicate
// key) and no result set is sent that says nothing.
constexpr std::string_view kLockProcedure = R"sql(
CREATE PROCEDURE IF NOT EXISTS `@T_sk5_lock`(
    IN p_id VARCHAR(256) CHARACTER SET ascii, IN p_owner VARBINARY(512),
    IN p_now BIGINT, IN p_lease_until BIGINT, IN p_keep_until BIGINT,
    IN p_wait DOUBLE, IN p_max_waiters INT, IN p_break VARBINARY(512))
proc: BEGIN
  DECLARE v_name VARCHAR(64) DEFAULT
    CONCAT('sk', SHA1(CONCAT(DATABASE(), '.@T/', p_id)));
  DECLARE v_got INT DEFAULT 0;
  DECLARE v_slot VARCHAR(64) DEFAULT NULL;
  DECLARE v_i INT DEFAULT 0;
  DECLARE v_old VARBINARY(512) DEFAULT NULL;
  DECLARE v_conn BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_left INT DEFAULT 0;
  DECLARE v_started DECIMAL(20, 6) DEFAULT UNIX_TIMESTAMP(SYSDATE(6));
  DECLARE v_waited BIGINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR 1094 BEGIN END;
  DECLARE CONTINUE HANDLER FOR 1062 SET v_left = 1;
  IF IS_USED_LOCK(v_name) <=> CONNECTION_ID() THEN
    SET v_got = 1;
  ELSE
    IF p_break IS NOT NULL THEN
      SELECT owner, conn INTO v_old, v_conn FROM `@T_locks` WHERE id = p_id;
      IF v_old <=> p_break AND IS_USED_LOCK(v_name) <=> v_conn THEN
        KILL CONNECTION v_conn;
      END IF;
      SET v_old = NULL;
    END IF;
    SET v_got = IFNULL(GET_LOCK(v_name, 0), 0);
    IF v_got = 0 AND p_wait > 0 THEN
      IF p_max_waiters > 0 THEN
        WHILE v_slot IS NULL AND v_i < p_max_waiters DO
          IF GET_LOCK(CONCAT(v_name, ':', v_i), 0) = 1 THEN
            SET v_slot = CONCAT(v_name, ':', v_i);
          END IF;
          SET v_i = v_i + 1;
        END WHILE;
        IF v_slot IS NULL THEN
          SELECT 2, NULL, NULL, NULL;
          LEAVE proc;
        END IF;
      END IF;
      SET v_got = IFNULL(GET_LOCK(v_name, p_wait), 0);
      IF v_slot IS NOT NULL THEN
        DO RELEASE_LOCK(v_slot);
      END IF;
      -- The caller's clock as it is now, not when it called: the lease
      -- runs from the grant, and a session that expired meanwhile is not
      -- read.
      SET v_waited = FLOOR(1000 * (UNIX_TIMESTAMP(SYSDATE(6)) - v_started));
      SET p_now = p_now + v_waited;
      SET p_lease_until = p_lease_until + v_waited;
      SET p_keep_until = p_keep_until + v_waited;
    END IF;
  END IF;
  IF v_got = 1 THEN
    INSERT INTO `@T_locks` (id, owner, lease_until, conn, keep_until, waiters)
      VALUES (p_id, p_owner, p_lease_until, CONNECTION_ID(), p_keep_until, 0);
    IF v_left = 1 THEN
      SELECT owner INTO v_old FROM `@T_locks` WHERE id = p_id;
      UPDATE `@T_locks` SET owner = p_owner, lease_until = p_lease_until,
          conn = CONNECTION_ID(), keep_until = p_keep_until
        WHERE id = p_id;
      IF v_old = p_owner THEN
        SET v_old = NULL;
      END IF;
    END IF;
    SELECT 1, v_old, data, expires_at FROM `@T`
      WHERE id = p_id AND expires_at > p_now;
    IF v_old IS NOT NULL AND FOUND_ROWS() = 0 THEN
      SELECT 1, v_old, NULL, NULL;
    END IF;
  ELSE
    SELECT 0, l.owner, NULL, l.lease_until
      FROM (SELECT 1) AS one LEFT JOIN `@T_locks` AS l ON l.id = p_id;
  END IF;
END)sql";

// Ends p_owner's lock, after writing the session (p_mode 0), moving its
// expiry (1) or nothing else (2). Returns no result set when done; 'lost'
// (nothing done) when the lock is not p_owner's; 'notfound' when a touched
// session is gone (released all the same). A connection that holds the
// server lock holds it for p_owner: the store pins a connection to one
// owner's lock and releases on that one, and a takeover ends it, so the
// common path checks nothing more. On another connection (the lock's was
// ended) the server lock is taken first, so that no one takes it while
// the row is checked and the session written; a holder ended by a
// takeover is gone before its taker gets the server lock, so the row
// cannot change under a holder.
constexpr std::string_view kReleaseProcedure = R"sql(
CREATE PROCEDURE IF NOT EXISTS `@T_sk5_release`(
    IN p_id VARCHAR(256) CHARACTER SET ascii, IN p_owner VARBINARY(512),
    IN p_now BIGINT, IN p_expires BIGINT, IN p_data LONGBLOB, IN p_mode INT)
proc: BEGIN
  DECLARE v_name VARCHAR(64) DEFAULT
    CONCAT('sk', SHA1(CONCAT(DATABASE(), '.@T/', p_id)));
  DECLARE v_owner VARBINARY(512) DEFAULT NULL;
  DECLARE v_held INT DEFAULT 0;
  DECLARE v_n BIGINT DEFAULT 1;
  IF NOT (IS_USED_LOCK(v_name) <=> CONNECTION_ID()) THEN
    SET v_held = IFNULL(GET_LOCK(v_name, 0), 0);
    IF v_held = 1 THEN
      SELECT owner INTO v_owner FROM `@T_locks` WHERE id = p_id;
    END IF;
    IF v_owner IS NULL OR v_owner <> p_owner THEN
      IF v_held = 1 THEN
        DO RELEASE_LOCK(v_name);
      END IF;
      SELECT 'lost';
      LEAVE proc;
    END IF;
  END IF;
  IF p_mode = 0 THEN
    INSERT INTO `@T` (id, data, expires_at, updated_at, version)
      VALUES (p_id, p_data, p_expires, p_now, 1)
      ON DUPLICATE KEY UPDATE data = VALUES(data),
        expires_at = VALUES(expires_at), updated_at = VALUES(updated_at),
        version = version + 1;
  ELSEIF p_mode = 1 THEN
    UPDATE `@T` SET expires_at = p_expires, updated_at = p_now,
        version = version + 1
      WHERE id = p_id AND expires_at > p_now;
    SET v_n = ROW_COUNT();
  END IF;
  DELETE FROM `@T_locks` WHERE id = p_id;
  DO RELEASE_LOCK(v_name);
  IF v_n = 0 THEN
    SELECT 'notfound';
  END IF;
END)sql";

// Takes the session's lock first, ending whichever connection holds it
// (a few tries: another waiter may get it between the end of one holder and
// this GET_LOCK), then deletes the session and its lock row, and releases
// the lock. A holder's release checks nothing but holding the server lock
// on its own connection, so a row deleted before its holder is ended could
// be written again by it (the session back after its logout); with the
// lock taken first, the holder's release finds it lost. On the connection
// of a lock of this session held here, that lock is taken already.
constexpr std::string_view kDestroyProcedure = R"sql(
CREATE PROCEDURE IF NOT EXISTS `@T_sk5_destroy`(
    IN p_id VARCHAR(256) CHARACTER SET ascii)
BEGIN
  DECLARE v_name VARCHAR(64) DEFAULT
    CONCAT('sk', SHA1(CONCAT(DATABASE(), '.@T/', p_id)));
  DECLARE v_holder BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_mine INT DEFAULT 0;
  DECLARE v_tries INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR 1094 BEGIN END;
  IF IS_USED_LOCK(v_name) <=> CONNECTION_ID() THEN
    SET v_mine = 1;
  END IF;
  WHILE v_mine = 0 AND v_tries < 3 DO
    SET v_holder = IS_USED_LOCK(v_name);
    IF v_holder IS NOT NULL THEN
      KILL CONNECTION v_holder;
    END IF;
    SET v_mine = IFNULL(GET_LOCK(v_name, 0.25), 0);
    SET v_tries = v_tries + 1;
  END WHILE;
  IF v_mine = 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT =
      'the session lock could not be taken from its holder for the destroy';
  END IF;
  DELETE FROM `@T` WHERE id = p_id;
  DELETE FROM `@T_locks` WHERE id = p_id;
  DO RELEASE_LOCK(v_name);
END)sql";

std::string WithTable(std::string_view sql, std::string_view table) {
  std::string out;
  out.reserve(sql.size() + 64);
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '@' && i + 1 < sql.size() && sql[i + 1] == 'T') {
      out += table;
      ++i;
    } else {
      out += sql[i];
    }
  }
  return out;
}

// The columns the store uses and the data types it accepts for each.
struct Column {
  bool locks;  // of `<table>_locks`, else of `<table>`
  std::string_view name;
  std::vector<std::string_view> types;
};

const std::vector<Column>& Columns() {
  static const std::vector<Column> columns = {
      {false, "id", {"varchar", "varbinary", "char", "binary"}},
      {false, "data", {"longblob", "mediumblob", "blob"}},
      {false, "expires_at", {"bigint"}},
      {false, "updated_at", {"bigint"}},
      {false, "version", {"bigint"}},
      {false, "user_id", {"varchar", "varbinary"}},
      {true, "id", {"varchar", "varbinary", "char", "binary"}},
      {true, "owner", {"varbinary", "varchar"}},
      {true, "lease_until", {"bigint"}},
      {true, "conn", {"bigint"}},
      {true, "keep_until", {"bigint"}},
      {true, "waiters", {"int", "bigint"}},
  };
  return columns;
}

}  // namespace

std::string Procedure(std::string_view table, std::string_view step) {
  return "`" + std::string(table) + "_sk5_" + std::string(step) + "`";
}

std::vector<std::string> SchemaStatements(std::string_view table) {
  std::vector<std::string> out;
  for (std::string_view sql : {kSessions, kLocks, kLockProcedure,
                               kReleaseProcedure, kDestroyProcedure}) {
    out.push_back(WithTable(sql, table));
  }
  return out;
}

namespace {

void AppendHex(std::string* out, std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  *out += "X'";
  for (unsigned char c : bytes) {
    out->push_back(kDigits[c >> 4]);
    out->push_back(kDigits[c & 15]);
  }
  *out += "'";
}

// The session version of value `v` as 8 bytes that compare as the number
// (big-endian), or 8 zero bytes (version 0, as store.h says) when `v` is
// not a format 2 frame: magic 0x9F 'K', format 2, a 16-byte header.
std::string VersionBytes(std::string_view v) {
  std::string in(v);
  return "IF(LEFT(" + in + ", 3) = X'9F4B02' AND LENGTH(" + in +
         ") >= 16, SUBSTRING(" + in + ", 9, 8), X'0000000000000000')";
}

}  // namespace

std::string WriteUnlessNewerSql(std::string_view table,
                                std::span<const VersionedWrite> writes,
                                int64_t now_ms) {
  std::string sql = WithTable(
      "INSERT INTO `@T` (id, data, expires_at, updated_at, version) VALUES ",
      table);
  const std::string now = std::to_string(now_ms);
  for (const VersionedWrite& w : writes) {
    sql += &w == &writes.front() ? "(" : ", (";
    AppendHex(&sql, w.id);
    sql += ", ";
    AppendHex(&sql, w.data);
    sql += ", " + std::to_string(now_ms + w.ttl.count()) + ", " + now + ", 1)";
  }
  // The check is made once per row, on its old values, into a variable of
  // the connection that the assignments after it read (they run left to
  // right; comparing the data after its assignment is not reliable).
  const std::string keep_old = "@sk_keep_old := (expires_at > " + now +
                               " AND " + VersionBytes("data") + " > " +
                               VersionBytes("VALUES(data)") + ")";
  sql += " ON DUPLICATE KEY UPDATE updated_at = IF(" + keep_old +
         ", updated_at, VALUES(updated_at)), version = IF(@sk_keep_old, "
         "version, version + 1), data = IF(@sk_keep_old, data, VALUES(data)), "
         "expires_at = IF(@sk_keep_old, expires_at, VALUES(expires_at))";
  return sql;
}

std::string ScanSql(std::string_view table, std::string_view cursor,
                    std::optional<int64_t> live_after_ms, size_t limit) {
  // The cursor is the last id of the page before, whatever a row holds: a
  // literal in the id column's character set (its collation then decides,
  // so the primary key serves the range), written in hex, so no byte of it
  // is read as SQL.
  std::string sql = WithTable(
      "SELECT id, LENGTH(data), expires_at FROM `@T` WHERE id > _ascii ",
      table);
  AppendHex(&sql, cursor);
  if (live_after_ms)
    sql += " AND expires_at > " + std::to_string(*live_after_ms);
  sql += " ORDER BY id LIMIT " + std::to_string(limit);
  return sql;
}

std::string GcLocksSql(std::string_view table, int64_t cut_ms, int batch) {
  // Not the row of a holder whose connection still holds the server lock
  // (a web server that died without closing it): without the row, nobody
  // could take its lock over.
  return WithTable(
      "DELETE FROM `@T_locks` WHERE keep_until <= " + std::to_string(cut_ms) +
          " AND NOT (IS_USED_LOCK(CONCAT('sk', SHA1(CONCAT(DATABASE(), "
          "'.@T/', id)))) <=> conn) ORDER BY keep_until LIMIT " +
          std::to_string(batch),
      table);
}

std::vector<std::string> PreparedStatements(std::string_view table) {
  std::vector<std::string> out(static_cast<size_t>(Prepared::kCount));
  auto set = [&](Prepared which, std::string_view sql) {
    out[static_cast<size_t>(which)] = WithTable(sql, table);
  };
  set(Prepared::kRead,
      "SELECT data, expires_at FROM `@T` WHERE id = ? AND expires_at > ?");
  set(Prepared::kWrite,
      "INSERT INTO `@T` (id, data, expires_at, updated_at, version) VALUES "
      "(?, ?, ?, ?, 1) ON DUPLICATE KEY UPDATE data = VALUES(data), "
      "expires_at = VALUES(expires_at), updated_at = VALUES(updated_at), "
      "version = version + 1");
  set(Prepared::kTouch,
      "UPDATE `@T` SET expires_at = ?, updated_at = ?, version = version + 1 "
      "WHERE id = ? AND expires_at > ?");
  set(Prepared::kExists, "SELECT 1 FROM `@T` WHERE id = ? AND expires_at > ?");
  // A lock row whose lease runs: a session being created.
  set(Prepared::kExistsOrLocked,
      "SELECT 1 FROM `@T` WHERE id = ? AND expires_at > ? UNION ALL "
      "SELECT 1 FROM `@T_locks` WHERE id = ? AND lease_until > ? LIMIT 1");
  set(Prepared::kDestroy, "CALL " + Procedure(table, "destroy") + "(?)");
  set(Prepared::kLock,
      "CALL " + Procedure(table, "lock") + "(?, ?, ?, ?, ?, ?, ?, ?)");
  set(Prepared::kRelease,
      "CALL " + Procedure(table, "release") + "(?, ?, ?, ?, ?, ?)");
  return out;
}

std::string ColumnsQuery(std::string_view table) {
  return WithTable(
      "SELECT table_name, column_name, data_type FROM "
      "information_schema.columns WHERE table_schema = DATABASE() AND "
      "table_name IN ('@T', '@T_locks')",
      table);
}

Status CheckServer(std::string_view store, std::string_view server_info) {
  // A server behind a replication-compatible prefix says
  // "5.5.5-10.11.6-MariaDB".
  std::string_view version = server_info;
  if (version.starts_with("5.5.5-")) version.remove_prefix(6);
  int major = 0, minor = 0;
  const char* end = version.data() + version.size();
  auto [p, ec] = std::from_chars(version.data(), end, major);
  if (ec == std::errc() && p < end && *p == '.') {
    std::from_chars(p + 1, end, minor);
  }
  const bool mariadb = server_info.find("MariaDB") != std::string_view::npos;
  if (mariadb && (major > 10 || (major == 10 && minor >= 3))) {
    return Status::OK();
  }
  return Status::InvalidArgument(
      std::string(store) + ": the server is " +
      (mariadb ? "MariaDB " : "MySQL ") +
      std::string(server_info.substr(0, 60)) +
      "; this store needs MariaDB 10.3 or later (docs/mysql.md)");
}

std::string RoutinesQuery(std::string_view table) {
  return WithTable(
      "SELECT @@lower_case_table_names, ROUTINE_NAME, ROUTINE_DEFINITION "
      "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND "
      "ROUTINE_TYPE = 'PROCEDURE' AND ROUTINE_NAME IN ('@T_sk5_lock', "
      "'@T_sk5_release', '@T_sk5_destroy')",
      table);
}

Status CheckRoutines(std::string_view store, std::string_view table,
                     const std::vector<Row>& rows) {
  auto lower = [](std::string text) {
    for (char& c : text) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
  };
  for (const Row& row : rows) {
    if (row.size() != 3 || !row[2]) continue;
    const bool fold = row[0].value_or("0") != "0";
    const std::string body = fold ? lower(*row[2]) : *row[2];
    const std::string named = "`" + std::string(table) + "`";
    if (body.find(fold ? lower(named) : named) != std::string::npos) continue;
    return Status::InvalidArgument(
        std::string(store) + ": procedure " + row[1].value_or("?") +
        " is of another table, whose name differs from " + std::string(table) +
        " only in case (MariaDB's procedure names ignore case, so the two "
        "tables' stores would share it and read each other's sessions): give "
        "this table a name of its own");
  }
  return Status::OK();
}

Status CheckColumns(std::string_view store, std::string_view database,
                    std::string_view table, const std::vector<Row>& rows) {
  const std::string locks = std::string(table) + "_locks";
  for (const Column& column : Columns()) {
    const std::string_view in = column.locks ? locks : table;
    const Row* found = nullptr;
    for (const Row& row : rows) {
      if (row.size() == 3 && row[0] == in && row[1] == column.name) {
        found = &row;
      }
    }
    const std::string where = std::string(store) + ": table " +
                              std::string(database) + "." + std::string(in);
    if (found == nullptr) {
      return Status::InvalidArgument(where + " has no column " +
                                     std::string(column.name) +
                                     " (docs/mysql.md shows the schema)");
    }
    const std::string& type = (*found)[2].value_or("");
    bool ok = false;
    for (std::string_view t : column.types) ok = ok || type == t;
    if (!ok) {
      std::string expected;
      for (std::string_view t : column.types) {
        expected += (expected.empty() ? "" : " or ") + std::string(t);
      }
      return Status::InvalidArgument(
          where + ": column " + std::string(column.name) + " is " + type +
          ", expected " + expected + " (docs/mysql.md shows the schema)");
    }
  }
  return Status::OK();
}

}  // namespace sessionkit::mysql
