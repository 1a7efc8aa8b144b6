// Tiers: one Store made of several, fastest first, as a save path of URLs
// separated by `|` opens it:
//
//   redis://cache|redis://cache2              two redundant caches
//   memcached://m1,m2|redis://r1              a cache in front of another
//   redis://cache|mysql://u:p@db/app?write=async
//                                             a cache, and a database
//                                             written behind
//
// Every tier is written: the synchronous ones at once, in parallel; those
// written behind (async) through a journal on the local host that a thread
// of each process drains. Reads ask the synchronous tiers at once and the
// newest version of the session wins (the session version each stored
// frame carries, frame.h), so a tier that lost a session or came back with
// old data is repaired, never believed; the tiers written behind are read
// when no synchronous tier has the session. The lock lives on the first
// tier that can lock. docs/tiers.md explains tiers, versions, the journal,
// read repair, the lock tier and what happens while a tier is down.
#ifndef SESSIONKIT_STORES_TIERED_H_
#define SESSIONKIT_STORES_TIERED_H_

#include <memory>
#include <string>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"

namespace sessionkit {

struct TieredOptions {
  struct Tier {
    std::unique_ptr<Store> store;
    // Written behind, through the journal; read only when no synchronous
    // tier has the session.
    bool async = false;
  };
  // The tiers, fastest first: 2 to kMaxTiers stores, the first synchronous.
  std::vector<Tier> tiers;
  // The journal's directory, on this host, shared by every process that
  // opens these tiers (created mode 0700 when missing); needed when a tier
  // is async. Each async tier is known in it by its name().
  std::string journal_path;
  // false: the journal survives a kill -9 of any process; true: it also
  // survives a crash of the machine, at one disk flush per write
  // (tiered/journal.h).
  bool journal_sync = false;
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
// more than kMaxTiers tiers, a first tier that is async, or an async tier
// without journal_path; the journal's errors (journal.h) when it cannot be
// opened. The tiers are used as given (each with its own settings); they
// connect lazily.
//
// Thread safety of the store: as its tiers' (every shipped store is safe
// from several threads and processes).
Result<std::unique_ptr<Store>> OpenTieredStore(TieredOptions options);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_TIERED_H_
