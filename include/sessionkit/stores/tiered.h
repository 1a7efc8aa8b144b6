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
#include <utility>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"

namespace sessionkit {

struct TieredOptions {
  struct Tier {
    Tier(std::unique_ptr<Store> store_in, bool async_in = false,
         std::string location_in = {})
        : store(std::move(store_in)),
          async(async_in),
          location(std::move(location_in)) {}

    std::unique_ptr<Store> store;
    // Written behind, through the journal; read only when no synchronous
    // tier has the session.
    bool async = false;
    // Where its sessions are, as the journal knows the tier (its URL's
    // StoreUrl::Location, which a change of its settings leaves as it is,
    // so a backlog queued before the change still drains); empty: the
    // store's name.
    std::string location;
  };
  // The tiers, fastest first: 2 to kMaxTiers stores, the first synchronous.
  std::vector<Tier> tiers;
  // true: every call to a tier is made on the thread that called the store
  // of tiers, one tier after another, never on the tiers' own threads: for
  // a tier that may only be called on its caller's thread (php://, whose
  // callbacks are PHP code). The journal is drained on a thread of its
  // own, also into the synchronous tiers that missed a write: OpenStore
  // (open.h) refuses any tier written behind beside a php:// tier.
  bool on_caller_thread = false;
  // The journal's directory, on this host, shared by every process that
  // opens these tiers (created mode 0700 when missing); needed when a tier
  // is async. Each async tier is known in it by its name().
  std::string journal_path;
  // false: the journal survives a kill -9 of any process; true: it also
  // survives a crash of the machine, at one disk flush per write
  // (tiered/journal.h).
  bool journal_sync = false;
  // The circuit breakers of the tiers, one per tier, shared by every
  // process of the host through a file of shared memory (docs/tiers.md, a
  // tier that is down). Empty: /dev/shm/sessionkit-breaker-<euid> (without
  // /dev/shm: in $TMPDIR, else /tmp); "off": each process keeps its own;
  // otherwise an absolute path. Created mode 0600; only a file of the
  // calling user is used. A file that cannot be used only makes the
  // breakers this process's.
  std::string breaker_path;
  // How long a tier whose breaker opened is skipped before one caller of
  // the host asks it again (a probe).
  Duration breaker_interval{1000};
  // How many outages in a row (Unavailable) open a tier's breaker; a
  // timeout (DeadlineExceeded, or an outage that took breaker_slow_failure
  // or longer: the tier did not answer in time) opens it at once.
  uint32_t breaker_failures = 3;
  Duration breaker_slow_failure{50};
  // How long the mark of a destroyed session (a tombstone) is kept in every
  // tier when some tier could not be reached at the Destroy, so that the
  // copy that tier still holds never comes back. Longer than any session
  // lives.
  Duration tombstone_ttl{7 * 24 * 3600 * 1000LL};
  // How long a write waits in the journal before it is applied to the
  // tiers behind (0 to kMaxWriteDelay): the writes of a session within it
  // are applied once. Meanwhile the journal holds it (durable, and read by
  // this host's requests); another host reading the tier behind sees the
  // session as it was. Destroys, and what a synchronous tier missed, do
  // not wait.
  Duration write_delay{2000};
  static constexpr Duration kMaxWriteDelay{10000};
  // How often each process's drain thread takes what is due from the
  // journal (1 ms to kMaxDrainEvery; at once again after a full batch).
  // Writes do not wake it: those of one round coalesce (a session written
  // ten times is applied once) and are claimed together, which is what
  // keeps a tier behind cheap for the requests.
  Duration drain_every{1000};
  static constexpr Duration kMaxDrainEvery{60000};
  // The clocks the breakers and tombstones go by (env.h); nullptr:
  // Env::Default().
  Env* env = nullptr;

  static constexpr size_t kMaxTiers = 8;
};

// Opens a store over `options.tiers`. InvalidArgument for fewer than two or
// more than kMaxTiers tiers, a first tier that is async, an async tier
// without journal_path, a breaker_path that is neither empty, "off" nor
// absolute, or a breaker_interval, breaker_failures or breaker_slow_failure
// below 1; the journal's
// errors (journal.h) when it cannot be opened. The tiers are used as given
// (each with its own settings); they connect lazily.
//
// Thread safety of the store: as its tiers' (every shipped store is safe
// from several threads and processes).
Result<std::unique_ptr<Store>> OpenTieredStore(TieredOptions options);

// One tier of a store of tiers as this host sees it (ReportTiers).
struct TierReport {
  enum class Breaker {
    kUp,       // called
    kDown,     // skipped for `for_ms` more
    kProbing,  // one caller asks it; the probe runs out in `for_ms`
  };
  std::string name;  // the tier's URL without password
  bool async = false;
  Breaker breaker = Breaker::kUp;
  int64_t for_ms = 0;
  // Whether its breaker is in the host's file (else this process's).
  bool shared = false;
  uint64_t consecutive_failures = 0;
  uint64_t opened = 0;   // times its breaker opened
  uint64_t skipped = 0;  // calls left out
  uint64_t failures = 0;
  // The last outage: how long ago (-1: none recorded) and its code.
  int64_t last_failure_ago_ms = -1;
  StatusCode last_failure_code = StatusCode::kOk;
  // async: what the journal of this host still owes it.
  uint64_t pending = 0;     // entries
  uint64_t in_backoff = 0;  // entries that failed and wait for a retry
  Duration backlog_age{0};  // since the oldest entry became pending
};

struct TiersReport {
  std::vector<TierReport> tiers;  // in order, fastest first
  // The breakers' file; empty when they are this process's.
  std::string breaker_path;
  // Why they are this process's although a file was asked for; empty
  // otherwise.
  std::string breaker_note;
  // The journal's error when its backlog could not be read.
  Status journal = Status::OK();
  // Entries the journal holds for tiers not in this configuration (of
  // another save path sharing the journal, or of a tier whose location
  // changed or that was removed): nothing here drains them.
  uint64_t orphaned = 0;
};

// The tiers of `store`, their breakers and the journal's backlog, now.
// NotSupported when `store` is not a store of tiers.
Result<TiersReport> ReportTiers(Store& store);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_TIERED_H_
