// Sessions kept by the handler a site is leaving (PHP's files handler,
// phpredis, Cm_RedisSession, php-memcached, Symfony's PdoSessionHandler),
// read in that handler's own format so that switching to sessionkit logs
// nobody out. The engine reads a legacy copy on a miss
// (EngineOptions::legacy); `sessionkit migrate` copies them in bulk.
// docs/migration.md lists the spec of each handler.
#ifndef SESSIONKIT_LEGACY_H_
#define SESSIONKIT_LEGACY_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"

namespace sessionkit {

// One session as the old handler stored it.
struct LegacySession {
  // PHP's serialized session data, as the handler was given it.
  std::string payload;
  // How long it had left to live when read.
  Duration ttl{0};
};

// One page of LegacySource::Scan.
struct LegacyPage {
  // Real session ids (the old handlers key by the id itself).
  std::vector<std::string> ids;
  // Where the next page starts; empty when the scan is complete.
  std::string next_cursor;
};

// The sessions of one old handler.
//
// Thread safety: implementations are safe for concurrent use.
class LegacySource {
 public:
  virtual ~LegacySource() = default;

  // The session `id` as the old handler kept it. NotFound when it has none,
  // or only an expired one (an expired copy is never read: it would bring
  // back a session its user has left). Corrupt naming the format when the
  // stored value cannot be decoded; Unavailable when the old store does not
  // answer (within its timeout).
  virtual Result<LegacySession> Read(std::string_view id) = 0;

  // Removes the old handler's copy of `id`, so that it cannot come back
  // once sessionkit holds the session or it was destroyed. OK when there is
  // none.
  virtual Status Delete(std::string_view id) = 0;

  // Lists session ids, at most about `limit` per page, from `cursor` (empty
  // to start; then the previous page's next_cursor). Expired copies may be
  // listed; Read says NotFound for them.
  virtual Result<LegacyPage> Scan(std::string_view cursor, size_t limit) = 0;

  // The spec this source was opened from, with any password hidden, for
  // messages.
  virtual std::string Describe() const = 0;
};

// Opens the old handler's sessions named by `spec` (docs/migration.md).
// Connects lazily. InvalidArgument naming what is wrong with the spec;
// NotSupported for a format this build cannot read. `env` (nullptr:
// Env::Default()) is the clock that judges expiry.
Result<std::unique_ptr<LegacySource>> OpenLegacySource(std::string_view spec,
                                                       Env* env = nullptr);

}  // namespace sessionkit

#endif  // SESSIONKIT_LEGACY_H_
