// Tiers: one Store made of several, fastest first, as a save path of URLs
// separated by `|` opens it:
//
//   redis://cache|redis://cache2          two redundant caches
//   memcached://m1,m2|redis://r1          a cache in front of another
//
// Every tier is written (at once, in parallel); reads ask every tier at once
// and the newest version of the session wins (the session version each
// stored frame carries, frame.h), so a tier that lost a session or came
// back with old data is repaired, never believed. The lock lives on the
// first tier that can lock. docs/tiers.md explains tiers, versions, read
// repair, the lock tier and what happens while a tier is down.
#ifndef SESSIONKIT_STORES_TIERED_H_
#define SESSIONKIT_STORES_TIERED_H_

#include <memory>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"

namespace sessionkit {

struct TieredOptions {
  // The tiers, fastest first: 2 to kMaxTiers stores.
  std::vector<std::unique_ptr<Store>> tiers;
  // How long a tier that failed to answer (Unavailable, DeadlineExceeded)
  // is left out by this process before a request tries it again.
  Duration retry_after{1000};
  // How long the mark of a destroyed session (a tombstone) is kept in every
  // tier when some tier could not be reached at the Destroy, so that the
  // copy that tier still holds never comes back. Longer than any session
  // lives.
  Duration tombstone_ttl{7 * 24 * 3600 * 1000LL};
  // The clocks the tier health and tombstones go by (env.h); nullptr:
  // Env::Default().
  Env* env = nullptr;

  static constexpr size_t kMaxTiers = 8;
};

// Opens a store over `options.tiers`. InvalidArgument for fewer than two or
// more than kMaxTiers tiers. The tiers are used as given (each with its own
// settings); they connect lazily.
//
// Thread safety of the store: as its tiers' (every shipped store is safe
// from several threads and processes).
Result<std::unique_ptr<Store>> OpenTieredStore(TieredOptions options);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_TIERED_H_
