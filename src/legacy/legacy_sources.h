// One LegacySource per old handler, opened by OpenLegacySource
// (open_legacy.cc) from a parsed spec. Internal to src/legacy.
#ifndef SESSIONKIT_LEGACY_LEGACY_SOURCES_H_
#define SESSIONKIT_LEGACY_LEGACY_SOURCES_H_

#include <memory>

#include "legacy/legacy_spec.h"
#include "sessionkit/env.h"
#include "sessionkit/legacy.h"
#include "sessionkit/status.h"

namespace sessionkit::legacy {

// PHP's files handler (files_source.cc). `env` judges expiry by mtime.
std::unique_ptr<LegacySource> NewFilesSource(LegacySpec spec, Env* env);

// phpredis and Cm_RedisSession (redis_source.cc).
Result<std::unique_ptr<LegacySource>> NewRedisSource(LegacySpec spec);

// php-memcached (memcached_source.cc).
Result<std::unique_ptr<LegacySource>> NewMemcachedSource(LegacySpec spec);

// Symfony's PdoSessionHandler on MariaDB/MySQL or PostgreSQL
// (pdo_source.cc). `env` judges expiry by sess_lifetime.
Result<std::unique_ptr<LegacySource>> NewPdoSource(LegacySpec spec, Env* env);

}  // namespace sessionkit::legacy

#endif  // SESSIONKIT_LEGACY_LEGACY_SOURCES_H_
