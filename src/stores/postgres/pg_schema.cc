#include "stores/postgres/pg_schema.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/store.h"

namespace sessionkit::postgres {
namespace {

// "{T}" stands for the table name (an identifier checked by FromUrl) and
// "{R}" for kLockRecordRetention in milliseconds.
std::string Expand(std::string_view sql, const std::string& table) {
  std::string out;
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql.substr(i, 3) == "{T}") {
      out += table;
      i += 2;
    } else if (sql.substr(i, 3) == "{R}") {
      out += std::to_string(kLockRecordRetention.count());
      i += 2;
    } else {
      out += sql[i];
    }
  }
  return out;
}

constexpr std::string_view kTables = R"sql(
CREATE TABLE IF NOT EXISTS {T} (
  id varchar(256) COLLATE "C" PRIMARY KEY,
  data bytea NOT NULL,
  expires_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  user_id varchar(256)
);
CREATE INDEX IF NOT EXISTS {T}_expires_at ON {T} (expires_at);
CREATE INDEX IF NOT EXISTS {T}_user_id ON {T} (user_id);
CREATE UNLOGGED TABLE IF NOT EXISTS {T}_locks (
  id varchar(256) COLLATE "C" PRIMARY KEY,
  owner varchar(512) NOT NULL,
  lease_until bigint NOT NULL,
  conn integer NOT NULL,
  keep_until bigint NOT NULL,
  waiters integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS {T}_locks_keep ON {T}_locks (keep_until);
)sql";

// Ends the server session p_conn if it holds the advisory lock p_key, and
// waits (1 s at most) until the lock is free of it: the lock then passes at
// once to a waiter. (pg_terminate_backend's own wait polls every 100 ms.)
constexpr std::string_view kEndHolderFunction = R"sql(
CREATE OR REPLACE FUNCTION {T}_end_holder(p_key bigint, p_conn integer)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  hi oid := ((p_key >> 32) & 4294967295)::oid;
  lo oid := (p_key & 4294967295)::oid;
BEGIN
  PERFORM pg_terminate_backend(k.pid) FROM pg_locks k
    WHERE k.locktype = 'advisory' AND k.granted AND k.classid = hi
      AND k.objid = lo AND k.objsubid = 1 AND k.pid = p_conn
      AND k.database = (SELECT d.oid FROM pg_database d
                        WHERE d.datname = current_database());
  IF NOT FOUND THEN
    RETURN;
  END IF;
  FOR i IN 1..1000 LOOP
    EXIT WHEN NOT EXISTS (
      SELECT 1 FROM pg_locks k
        WHERE k.locktype = 'advisory' AND k.granted AND k.classid = hi
          AND k.objid = lo AND k.objsubid = 1 AND k.pid = p_conn);
    PERFORM pg_sleep(0.001);
  END LOOP;
END
$fn$;
)sql";

constexpr std::string_view kLockFunction = R"sql(
CREATE OR REPLACE FUNCTION {T}_lock(
    p_id text, p_key bigint, p_owner text, p_now bigint, p_lease bigint,
    p_held boolean, p_takeover text, p_max_waiters integer,
    p_wait_ms integer,
    OUT o_outcome integer, OUT o_found boolean, OUT o_data bytea,
    OUT o_expires_at bigint, OUT o_broken text, OUT o_holder text,
    OUT o_holder_lease bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  got boolean := p_held;
  hi oid := ((p_key >> 32) & 4294967295)::oid;
  lo oid := (p_key & 4294967295)::oid;
  c_owner text;
  c_lease bigint;
  c_conn integer;
  n integer;
  saved text;
  started timestamptz := clock_timestamp();
BEGIN
  -- Nothing this call writes needs the disk: the lock record is in an
  -- unlogged table, and a read may prune old row versions of the session's
  -- page, which writes WAL that a crash may lose. Without this the call's
  -- commit would wait for a WAL flush whenever the read pruned.
  PERFORM set_config('synchronous_commit', 'off', true);
  o_outcome := 0;
  o_found := false;
  IF NOT got THEN
    got := pg_try_advisory_lock(p_key);
  END IF;
  IF NOT got THEN
    SELECT l.owner, l.lease_until, l.conn INTO c_owner, c_lease, c_conn
      FROM {T}_locks l WHERE l.id = p_id;
    -- Take over: the lease ran out, or the caller saw the holder's process
    -- gone. Ends the holder's server session, which releases the lock.
    IF c_owner IS NOT NULL AND
       (c_lease <= p_now OR c_owner = p_takeover) THEN
      PERFORM {T}_end_holder(p_key, c_conn);
      got := pg_try_advisory_lock(p_key);
    END IF;
  END IF;
  -- The cap: the sessions waiting for this lock now. Asked on a first try
  -- only, which does not block (the row updated here stays locked until
  -- the call ends).
  IF NOT got AND p_max_waiters > 0 THEN
    SELECT count(*) INTO n FROM pg_locks k
      WHERE k.locktype = 'advisory' AND NOT k.granted AND k.classid = hi
        AND k.objid = lo AND k.objsubid = 1;
    IF n >= p_max_waiters THEN
      o_outcome := 2;
      o_holder := c_owner;
      o_holder_lease := c_lease;
      RETURN;
    END IF;
    UPDATE {T}_locks l SET waiters = n + 1 WHERE l.id = p_id;
  END IF;
  IF NOT got AND p_wait_ms > 0 THEN
    saved := current_setting('lock_timeout');
    PERFORM set_config('lock_timeout', p_wait_ms || 'ms', true);
    BEGIN
      PERFORM pg_advisory_lock(p_key);
      got := true;
    EXCEPTION WHEN lock_not_available THEN
      got := false;
    END;
    PERFORM set_config('lock_timeout', saved, true);
    -- The caller's clock as it is now, not when it called: the lease runs
    -- from the grant, and a session that expired meanwhile is not read.
    p_now := p_now + floor(1000 * extract(epoch FROM
                                          clock_timestamp() - started));
  END IF;
  IF NOT got THEN
    o_outcome := 1;
    SELECT l.owner, l.lease_until INTO o_holder, o_holder_lease
      FROM {T}_locks l WHERE l.id = p_id;
    RETURN;
  END IF;
  -- Held. A record of another owner: its holder's session ended without
  -- releasing (or was ended by a takeover).
  SELECT l.owner INTO c_owner FROM {T}_locks l WHERE l.id = p_id FOR UPDATE;
  IF c_owner IS NOT NULL AND c_owner <> p_owner THEN
    o_broken := c_owner;
  END IF;
  INSERT INTO {T}_locks AS l (id, owner, lease_until, conn, keep_until,
                              waiters)
    VALUES (p_id, p_owner, p_now + p_lease, pg_backend_pid(),
            p_now + p_lease + {R}, 0)
    ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner,
      lease_until = EXCLUDED.lease_until, conn = EXCLUDED.conn,
      keep_until = EXCLUDED.keep_until, waiters = 0;
  SELECT s.data, s.expires_at INTO o_data, o_expires_at
    FROM {T} s WHERE s.id = p_id AND s.expires_at > p_now;
  o_found := o_expires_at IS NOT NULL;
END
$fn$;
)sql";

constexpr std::string_view kReleaseFunction = R"sql(
CREATE OR REPLACE FUNCTION {T}_release(
    p_id text, p_key bigint, p_owner text, p_mode integer, p_data bytea,
    p_now bigint, p_expires bigint, p_held boolean)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  c_owner text;
  r integer := 0;
BEGIN
  SELECT l.owner INTO c_owner FROM {T}_locks l WHERE l.id = p_id FOR UPDATE;
  IF c_owner IS DISTINCT FROM p_owner THEN
    r := CASE WHEN p_mode = 0 THEN 0 ELSE 1 END;
  ELSE
    IF p_mode = 1 THEN
      INSERT INTO {T} AS s (id, data, expires_at, updated_at, version)
        VALUES (p_id, p_data, p_expires, p_now, 1)
        ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data,
          expires_at = EXCLUDED.expires_at,
          updated_at = EXCLUDED.updated_at, version = s.version + 1;
    ELSIF p_mode = 2 THEN
      UPDATE {T} s SET expires_at = p_expires, updated_at = p_now,
          version = s.version + 1
        WHERE s.id = p_id AND s.expires_at > p_now;
      IF NOT FOUND THEN
        r := 2;
      END IF;
    END IF;
    DELETE FROM {T}_locks l WHERE l.id = p_id;
  END IF;
  IF p_held THEN
    PERFORM pg_advisory_unlock(p_key);
  END IF;
  RETURN r;
END
$fn$;
)sql";

constexpr std::string_view kDestroyFunction = R"sql(
CREATE OR REPLACE FUNCTION {T}_destroy(p_id text, p_key bigint,
                                      p_held boolean)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  c_conn integer;
BEGIN
  -- The lock row first, written (or kept, locked) until the commit: a lock
  -- taken meanwhile waits for it at its own row, so it reads the session
  -- after the delete (its read would not wait for the deleted row).
  INSERT INTO {T}_locks AS l (id, owner, lease_until, conn, keep_until,
                              waiters)
    VALUES (p_id, '', 0, pg_backend_pid(), 0, 0)
    ON CONFLICT (id) DO UPDATE SET waiters = l.waiters
    RETURNING l.conn INTO c_conn;
  DELETE FROM {T} s WHERE s.id = p_id;
  DELETE FROM {T}_locks l WHERE l.id = p_id;
  -- The lock passes to a waiter at once: released when this session holds
  -- it (p_held), else the holder's server session is ended.
  IF p_held THEN
    PERFORM pg_advisory_unlock(p_key);
  ELSIF c_conn IS NOT NULL AND c_conn <> pg_backend_pid() THEN
    PERFORM {T}_end_holder(p_key, c_conn);
  END IF;
END
$fn$;
)sql";

struct Column {
  std::string_view name;
  std::string_view type;  // format_type's prefix
};

constexpr Column kSessionColumns[] = {
    {"id", "character varying"}, {"data", "bytea"},
    {"expires_at", "bigint"},    {"updated_at", "bigint"},
    {"version", "bigint"},       {"user_id", "character varying"},
};
constexpr Column kLockColumns[] = {
    {"id", "character varying"}, {"owner", "character varying"},
    {"lease_until", "bigint"},   {"conn", "integer"},
    {"keep_until", "bigint"},    {"waiters", "integer"},
};

bool TypeMatches(std::string_view found, std::string_view want) {
  if (want == "character varying") {
    return found.starts_with("character varying") || found == "text";
  }
  return found == want;
}

// An error when `table`'s columns (name, type pairs of `rows`) lack one of
// `want`; NotFound when the table does not exist (no rows).
Status CheckColumns(const Rows& rows, std::string_view table,
                    std::span<const Column> want, const std::string& store) {
  if (rows.size() == 0) return Status::NotFound(std::string(table));
  for (const Column& c : want) {
    std::string found;
    bool seen = false;
    for (int r = 0; r < rows.size() && !seen; ++r) {
      if (rows.Bytes(r, 0) == c.name) {
        seen = true;
        found = std::string(rows.Bytes(r, 1));
      }
    }
    if (!seen) {
      return Status::InvalidArgument(
          store + ": table " + std::string(table) + " has no column " +
          std::string(c.name) +
          " (docs/postgres.md shows the schema sessionkit needs)");
    }
    if (!TypeMatches(found, c.type)) {
      return Status::InvalidArgument(
          store + ": table " + std::string(table) + ": column " +
          std::string(c.name) + " is " + found + ", expected " +
          std::string(c.type) + " (docs/postgres.md shows the schema)");
    }
  }
  return Status::OK();
}

// The upsert of a session (kWrite, WriteUnlessNewerSql): kInsert, the
// rows, kUpsert.
constexpr char kInsert[] =
    "INSERT INTO {T} AS s (id, data, expires_at, updated_at, version) "
    "VALUES ";
constexpr char kUpsert[] =
    " ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, "
    "expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at, "
    "version = s.version + 1";

// The session version of the bytea `v` as 8 bytes that compare as the
// number (bytea compares bytewise; big-endian), or 8 zero bytes (version
// 0, as store.h says) when `v` is not a format 2 frame: magic 0x9F 'K',
// format 2, a 16-byte header.
std::string VersionBytes(std::string_view v) {
  const std::string in(v);
  return "CASE WHEN substring(" + in +
         " from 1 for 3) = decode('9f4b02', 'hex') AND octet_length(" + in +
         ") >= 16 THEN substring(" + in +
         " from 9 for 8) "
         "ELSE decode('0000000000000000', 'hex') END";
}

constexpr char kColumnsSql[] =
    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) "
    "FROM pg_attribute a WHERE a.attrelid = to_regclass($1::text) "
    "AND a.attnum > 0 AND NOT a.attisdropped";

}  // namespace

std::vector<Statement> Statements(const std::string& table) {
  std::vector<Statement> s = {
      {kRead,
       "SELECT data, expires_at FROM {T} WHERE id = $1::text AND "
       "expires_at > $2::int8"},
      {kWrite, std::string(kInsert) +
                   "($1::text, $2::bytea, $3::int8, $4::int8, 1)" + kUpsert},
      {kTouch,
       "UPDATE {T} SET expires_at = $2::int8, updated_at = $3::int8, "
       "version = version + 1 WHERE id = $1::text AND expires_at > $3::int8"},
      {kExists,
       "SELECT 1 FROM {T} WHERE id = $1::text AND expires_at > $2::int8"},
      // A lock record whose lease runs: a session being created.
      {kExistsOrLocked,
       "SELECT 1 FROM {T} WHERE id = $1::text AND expires_at > $2::int8 "
       "UNION ALL SELECT 1 FROM {T}_locks WHERE id = $1::text AND "
       "lease_until > $2::int8 LIMIT 1"},
      {kDestroy, "SELECT {T}_destroy($1::text, $2::int8, $3::bool)"},
      {kLock,
       "SELECT * FROM {T}_lock($1::text, $2::int8, $3::text, $4::int8, "
       "$5::int8, $6::bool, $7::text, $8::int4, $9::int4)"},
      {kRelease,
       "SELECT {T}_release($1::text, $2::int8, $3::text, $4::int4, "
       "$5::bytea, $6::int8, $7::int8, $8::bool)"},
      {kScanLive,
       "SELECT id::text, octet_length(data)::int8, expires_at FROM {T} "
       "WHERE id > $1::text AND expires_at > $2::int8 ORDER BY id "
       "LIMIT $3::int8"},
      {kScanAll,
       "SELECT id::text, octet_length(data)::int8, expires_at FROM {T} "
       "WHERE id > $1::text ORDER BY id LIMIT $2::int8"},
      {kGc,
       "WITH d AS (DELETE FROM {T} WHERE id IN (SELECT id FROM {T} "
       "WHERE expires_at <= $1::int8 ORDER BY expires_at LIMIT $2::int8 "
       "FOR UPDATE SKIP LOCKED) AND expires_at <= $1::int8 "
       "RETURNING octet_length(data) AS n) "
       "SELECT count(*)::int8, coalesce(sum(n), 0)::int8 FROM d"},
      // Not the record of a holder whose server session still holds an
      // advisory lock (a web server that died without closing its
      // connection): without it, nobody could take its lock over.
      {kGcLocks,
       "WITH d AS (DELETE FROM {T}_locks WHERE id IN (SELECT l.id FROM "
       "{T}_locks l WHERE l.keep_until <= $1::int8 AND NOT EXISTS (SELECT 1 "
       "FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted AND "
       "k.pid = l.conn) ORDER BY l.keep_until LIMIT $2::int8 FOR UPDATE OF l "
       "SKIP LOCKED) RETURNING 1) SELECT count(*)::int8 FROM d"},
      {kHealth, "SELECT 1"},
  };
  for (Statement& st : s) st.sql = Expand(st.sql, table);
  return s;
}

std::string WriteUnlessNewerSql(const std::string& table, size_t rows) {
  std::string sql = kInsert;
  for (size_t i = 0; i < rows; ++i) {
    const size_t p = 2 + 3 * i;
    sql += (i == 0 ? "($" : ", ($") + std::to_string(p) + "::text, $" +
           std::to_string(p + 1) + "::bytea, $" + std::to_string(p + 2) +
           "::int8, $1::int8, 1)";
  }
  // Written unless the stored value is live (it expires after now) and of
  // a higher version; a kept row is left as it is.
  sql += std::string(kUpsert) + " WHERE s.expires_at <= $1::int8 OR " +
         VersionBytes("s.data") + " <= " + VersionBytes("EXCLUDED.data");
  return Expand(sql, table);
}

// The functions' version, kept as the comment of {T}_lock and {T}_destroy:
// a store that finds another replaces the functions (CREATE OR REPLACE),
// so that a release's fixes reach tables made by an earlier one.
constexpr std::string_view kFunctionsVersion = "sessionkit functions 2";

constexpr std::string_view kFunctionsComment = R"sql(
COMMENT ON FUNCTION {T}_lock(text, bigint, text, bigint, bigint, boolean,
                             text, integer, integer) IS '{V}';
COMMENT ON FUNCTION {T}_destroy(text, bigint, boolean) IS '{V}';
)sql";

std::string SchemaSql(const std::string& table) {
  std::string comment = Expand(kFunctionsComment, table);
  for (size_t at; (at = comment.find("{V}")) != std::string::npos;) {
    comment.replace(at, 3, kFunctionsVersion);
  }
  return Expand(kTables, table) + Expand(kEndHolderFunction, table) +
         Expand(kLockFunction, table) + Expand(kReleaseFunction, table) +
         Expand(kDestroyFunction, table) + comment;
}

int64_t LockKey(std::string_view database, std::string_view table,
                std::string_view id) {
  // FNV-1a, 64 bits: the same key in every process and build.
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(database);
  mix(".");
  mix(table);
  mix(std::string_view("\0", 1));
  mix(id);
  return static_cast<int64_t>(h);
}

Status EnsureSchema(Connection& conn, const PostgresOptions& options,
                    Deadline deadline) {
  const std::string& t = options.table;
  const std::string what = "check of table " + t;
  const std::string locks = t + "_locks";
  Result<Rows> sessions = conn.Query(
      kColumnsSql, std::vector<Param>{Param::Text(t)}, deadline, what);
  if (!sessions.ok()) return sessions.status();
  Result<Rows> lock_rows = conn.Query(
      kColumnsSql, std::vector<Param>{Param::Text(locks)}, deadline, what);
  if (!lock_rows.ok()) return lock_rows.status();
  Status s = CheckColumns(*sessions, t, kSessionColumns, options.name);
  Status l = CheckColumns(*lock_rows, locks, kLockColumns, options.name);
  if (!s.ok() && !s.IsNotFound()) return s;
  if (!l.ok() && !l.IsNotFound()) return l;
  const std::string functions =
      "SELECT (to_regprocedure('" + t +
      "_lock(text,bigint,text,bigint,bigint,boolean,text,integer,integer)') "
      "IS NOT NULL AND to_regprocedure('" +
      t +
      "_release(text,bigint,text,integer,bytea,bigint,bigint,boolean)') "
      "IS NOT NULL AND to_regprocedure('" +
      t + "_destroy(text,bigint,boolean)') IS NOT NULL AND to_regprocedure('" +
      t + "_end_holder(bigint,integer)') IS NOT NULL) AND " +
      "obj_description(to_regprocedure('" + t +
      "_lock(text,bigint,text,bigint,bigint,boolean,text,integer,integer)'), "
      "'pg_proc') IS NOT DISTINCT FROM '" +
      std::string(kFunctionsVersion) +
      "' AND obj_description(to_regprocedure('" + t +
      "_destroy(text,bigint,boolean)'), 'pg_proc') IS NOT DISTINCT FROM '" +
      std::string(kFunctionsVersion) + "'";
  Result<Rows> have = conn.Query(functions, {}, deadline, what);
  if (!have.ok()) return have.status();
  if (s.ok() && l.ok() && have->Int(0, 0) != 0) return Status::OK();
  // Something is missing: create it, one process at a time.
  const std::string sql = "BEGIN; SELECT pg_advisory_xact_lock(" +
                          std::to_string(LockKey(options.database, t, "")) +
                          "); " + SchemaSql(t) + "COMMIT;";
  Status created = conn.Script(sql, deadline, "creation of table " + t);
  if (!created.ok() && conn.sqlstate() == "42501") {
    return Status::Unavailable(
        created.message() +
        " (the user may not create the schema: create it as "
        "docs/postgres.md shows, or grant CREATE on the schema)");
  }
  return created;
}

}  // namespace sessionkit::postgres
