// The spec of an old handler's sessions (sessionkit.legacy, `sessionkit
// migrate`), parsed. docs/migration.md documents each form:
//
//   files:///var/lib/php/sessions?depth=0&lifetime=1440
//   phpredis://[:password@]host[:port][/db]?prefix=PHPREDIS_SESSION:
//   cm-redis://[:password@]host[:port][/db]?prefix=sess_
//   php-memcached://h1:11211,h2:11211?prefix=memc.sess.key.
//   pdo-mysql://user:password@host[:port]/db?table=sessions&id_col=sess_id
//   pdo-pgsql://user:password@host[:port]/db?table=sessions&id_col=sess_id
//
// The network forms are the store URLs of the same servers (store_url.h)
// under another scheme, so they take the same connection parameters
// (timeouts, TLS); the old handler's own settings are the few above.
#ifndef SESSIONKIT_LEGACY_LEGACY_SPEC_H_
#define SESSIONKIT_LEGACY_LEGACY_SPEC_H_

#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "sessionkit/store_url.h"

namespace sessionkit::legacy {

enum class LegacyKind {
  kFiles,         // PHP's files handler
  kPhpRedis,      // phpredis's session handler
  kCmRedis,       // Cm_RedisSession (one hash per session)
  kPhpMemcached,  // php-memcached's session handler
  kPdoMysql,      // Symfony's PdoSessionHandler on MariaDB/MySQL
  kPdoPgsql,      // ... on PostgreSQL
};

// PdoSessionHandler's table and columns: its options db_table, db_id_col,
// db_data_col, db_lifetime_col and db_time_col, with its defaults. SQL
// names of 1 to 64 letters, digits or '_' (the sources quote them).
struct PdoTable {
  std::string table = "sessions";
  std::string id_col = "sess_id";
  std::string data_col = "sess_data";
  std::string lifetime_col = "sess_lifetime";
  std::string time_col = "sess_time";
};

// The files handler's defaults: PHP's session.gc_maxlifetime.
inline constexpr Duration kDefaultFilesLifetime{1440 * 1000};
// The deepest session.save_path "N;/path" this reads.
inline constexpr int kMaxFilesDepth = 16;

struct LegacySpec {
  LegacyKind kind = LegacyKind::kFiles;
  // The spec with any password hidden (LegacySource::Describe).
  std::string redacted;

  // kFiles: the directory, its levels of subdirectories (PHP's "N;"), and
  // the lifetime after the last write (session.gc_maxlifetime).
  std::string dir;
  int depth = 0;
  Duration lifetime = kDefaultFilesLifetime;

  // Network kinds: the store URL of the same server(s) (scheme redis,
  // memcached, mysql or postgres) for their connection settings.
  StoreUrl url;
  // Redis and memcached kinds: the key prefix before the id.
  std::string prefix;
  // PDO kinds: the table and its columns (table=, id_col=, data_col=,
  // lifetime_col=, time_col=).
  PdoTable pdo;
};

// The default key prefix of `kind` ("" for files and PDO).
std::string_view DefaultPrefix(LegacyKind kind);

// Parses a legacy spec. InvalidArgument naming the part that is wrong
// (an unknown scheme lists the known ones); a password never appears in a
// message.
Result<LegacySpec> ParseLegacySpec(std::string_view spec);

}  // namespace sessionkit::legacy

#endif  // SESSIONKIT_LEGACY_LEGACY_SPEC_H_
