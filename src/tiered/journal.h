// The write-behind journal of the tiered store: a durable queue, on the
// local host, of the writes and destroys that tiers marked `write=async`
// still have to receive. Every PHP-FPM worker of the host opens the same
// journal directory (one LMDB environment); any of them may drain it.
//
// One entry per (tier, session): the newest state that tier must get.
// Put coalesces (a newer version replaces an older one; an older one never
// replaces a newer), Claim hands due entries to one drainer at a time
// (their not_before moves past the claim, so other drainers skip them; a
// drainer that dies lets its claim run out), Done removes what was applied
// and Retry backs off what failed, both only while the version is still
// the one that was claimed: a Put that came in between stays pending.
//
// Order of Claim: entries come in the order they became due. An entry
// never tried is due from its first-pending time, so those come oldest
// pending first; a retried or claimed one is due from its not_before and
// queues behind what was already due then. Each Claim visits only due
// entries (a tier that is down, with its whole backlog backing off, costs
// nothing to ask).
//
// Durability (JournalOptions::sync): an OK from Put means the LMDB
// transaction committed. With sync=false (the default) the commit is in
// the OS page cache: a kill -9 of any process, or every process, loses
// nothing acknowledged, but a crash of the machine (power, kernel) may
// lose the last commits and, as with the LMDB store's sync=off, may leave
// a damaged file. With sync=true each commit is fsync'ed before Put
// returns: durable against a machine crash as well, at the price of one
// disk flush per Put (journal_test's DISABLED_PutTimings prints both).
//
// Time: Put stamps first-pending times with the Env's wall clock; Claim,
// Retry and Stats take the caller's `now` on that clock, which every
// process of the host shares. A wall clock stepped back by more than
// kMaxClaim does not hold the backlog back (see Claim); by less, it delays
// entries by at most the step.
//
// Room: every Put leaves a reserve free (a 32nd of map_size, 64KiB to
// 1MiB), or is refused as if the journal were full, so that a full journal
// can still be claimed and drained (LMDB copies every page it changes, a
// removal too).
//
// Processes: within a process, journals on one directory share one LMDB
// environment (LMDB must not be opened twice in a process); the first one
// opened sets map_size and sync for the whole process. A journal opened
// before fork() is never used through the parent's environment in the
// child: the child's first call opens its own (fork_generation.h), and the
// inherited one is neither used nor closed.
//
// The on-disk layout is in journal_layout.h.
#ifndef SESSIONKIT_TIERED_JOURNAL_H_
#define SESSIONKIT_TIERED_JOURNAL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"

namespace sessionkit::tiered {

struct JournalEnv;  // journal_env.h

// What a tier must do with a session.
enum class JournalOp : uint8_t {
  kWrite = 1,
  kDestroy = 2,
};

// One pending state of a session on a tier.
struct JournalEntry {
  uint32_t tier = 0;  // the tier's index in the tier list
  std::string id;     // a valid session id (session_id.h)
  JournalOp op = JournalOp::kWrite;
  // The session's version: grows with each write of the session; compared
  // numerically.
  uint64_t version = 0;
  std::string data;      // kWrite: the stored bytes; kDestroy: empty
  TimePoint expires_at;  // kWrite: the absolute expiry

  // Kept by the journal (Put ignores what the caller sets, but for
  // not_before, see Put):
  // when this session first became pending on this tier (the backlog age),
  TimePoint first_pending;
  // how many times applying it failed (Retry),
  uint32_t attempts = 0;
  // and until when no drainer may take it (a claim or a backoff); the
  // epoch when it was never tried.
  TimePoint not_before;
};

// The backlog of one tier (Journal::Stats).
struct JournalTierStats {
  uint32_t tier = 0;
  uint64_t pending = 0;  // entries of the tier
  // The oldest first-pending time among them (now - this is the backlog
  // age); the epoch when none is pending.
  TimePoint oldest_pending;
  // Entries that failed at least once and wait for their retry time (or
  // are claimed again after such a failure).
  uint64_t in_backoff = 0;
  // Entries whose stored bytes cannot be decoded (Claim removes them).
  uint64_t corrupt = 0;
};

struct JournalOptions {
  // The journal's directory; created (mode 0700, parents too) if missing.
  std::string path;
  // The LMDB map: the most the journal may hold. A full journal refuses
  // Puts with ResourceExhausted until the backlog drains.
  uint64_t map_size = 256ull << 20;
  // false: durable against kill -9 of any process (the default); true: each
  // commit is fsync'ed, durable against a machine crash too (see above).
  bool sync = false;
  // true: commits write into the shared map (MDB_WRITEMAP), no system call
  // per page. Before each write, the map is allocated on disk up to what
  // the write may touch (a store into a hole of a full disk would crash
  // the process), in steps as the journal grows: a write the disk has no
  // room for fails with ResourceExhausted. Where the filesystem cannot
  // allocate, with sync (LMDB would flush the whole map at each commit:
  // 326 us a Put against 301 us through write calls), and with false,
  // through write calls. The first journal a process opens on a directory
  // decides, as for map_size.
  bool writemap = true;
  // For tests only: with writemap, allocating more than this many bytes of
  // the journal's file fails as on a full disk (0: as the disk allows).
  uint64_t disk_room_for_testing = 0;
  // Time (first-pending times) and the jitter of the backoff; nullptr:
  // Env::Default().
  Env* env = nullptr;
};

// The delay before retry number `attempts` (1 for the first failure):
// kRetryBase doubled for each earlier failure, capped at kRetryCap, of
// which a random share of up to half is taken off (`random` picks it,
// uniformly over its 64 bits). So it lies in [d/2, d] for that d.
inline constexpr Duration kRetryBase{100};
inline constexpr Duration kRetryCap{30'000};
Duration RetryDelay(uint32_t attempts, uint64_t random);

// The longest claim. An entry due later than now + kMaxClaim is due now:
// nothing made by now sets a due time that far off, so the wall clock was
// stepped back since.
inline constexpr Duration kMaxClaim{600'000};

// Thread safety: every method may be called concurrently from any thread
// of the process; several Journal objects (in one process or many) may
// share a directory.
class Journal {
 public:
  // Opens (creating if needed) the journal at options.path. InvalidArgument
  // for a bad setting or a path that is not a directory; NotSupported for
  // a journal written in a later format; Corrupt when its format record is
  // damaged; Unavailable when the OS refuses.
  static Result<std::unique_ptr<Journal>> Open(const JournalOptions& options);

  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Records that entry.tier must get this state of entry.id (its tier, id,
  // op, version, data and expiry, and not_before: when it may first be
  // applied, the epoch for at once; the other fields are the journal's).
  // Coalesces: replaces the pending entry of (tier, id) when its version is
  // lower or equal, keeping its first-pending time, resetting attempts, and
  // due at the earlier of the two not_before when the pending one was never
  // tried (a write does not push back the one it joins; a claimed or
  // backed-off entry is due at the new not_before); when the pending version is
  // higher, returns OK and changes nothing (the tier must get the newer one).
  // An entry of version 0 (a value without one, which cannot be ordered) always
  // replaces: the last one put wins. A damaged pending entry is replaced. OK
  // means committed (see sync). InvalidArgument for a bad id or a destroy with
  // data; ResourceExhausted when the journal is full (naming its path and
  // map_size). `only_if_pending`: changes nothing unless (tier, id) has an
  // entry (a destroy that reached the tier itself replaces what it still owed).
  Status Put(const JournalEntry& entry, bool only_if_pending = false);

  // Takes up to `max` entries of `tier` that are due at `now` (not_before
  // <= now) in the order they became due (see the top of this file), and
  // in the same transaction sets their not_before to now + claim_for, so
  // that other drainers skip them until then. Entries due after now +
  // kMaxClaim count as due too (a wall clock stepped back), after the
  // others. The entries are returned with not_before set to the end of the
  // claim (pass it to Done).
  // InvalidArgument when claim_for is not within (0, kMaxClaim]. A damaged
  // entry met on the way is removed (it can never be applied) and reported as
  // Corrupt naming the journal and the session; the next call goes on past it.
  Result<std::vector<JournalEntry>> Claim(uint32_t tier, size_t max,
                                          TimePoint now, Duration claim_for);

  // Removes the entry of (tier, id) if its version is still `version` and
  // no Put came since it was claimed (its not_before is still the claim's
  // end, `claimed_until`, as Claim returned it): a newer Put since then, or
  // one of the same version (a touch: a later expiry), stays pending. OK
  // also when nothing was removed.
  Status Done(uint32_t tier, const std::string& id, uint64_t version,
              TimePoint claimed_until);

  // Applying `version` of (tier, id) failed: if the pending version is
  // still `version`, counts the attempt and makes the entry due again at
  // now + RetryDelay(attempts). OK also when nothing changed.
  Status Retry(uint32_t tier, const std::string& id, uint64_t version,
               TimePoint now);

  // The pending entry with the highest version among all tiers for `id`
  // (what this host still owes some tier: read-your-writes), or nullopt.
  // Corrupt when one of them cannot be decoded.
  Result<std::optional<JournalEntry>> Pending(const std::string& id);

  // Per tier with pending entries, by tier: counts and backlog age at `now`.
  Result<std::vector<JournalTierStats>> Stats(TimePoint now);

  // The journal's directory as opened (canonical).
  const std::string& path() const { return dir_; }

 private:
  Journal(JournalOptions options, std::string dir);

  // This process's environment: the one this journal opened, or, after a
  // fork, a new one (the inherited one is left untouched). Lock-free once
  // open, so that a fork() while another thread is here cannot leave the
  // child a lock it never gets.
  Result<JournalEnv*> Acquire();

  const JournalOptions options_;
  Env* const os_;
  const std::string dir_;
  // env_.get() once this process opened it; a stale one after a fork.
  std::atomic<JournalEnv*> current_{nullptr};
  // Guarded by the registry's mutex (journal_env.h).
  std::shared_ptr<JournalEnv> env_;
  std::vector<std::shared_ptr<JournalEnv>> abandoned_;  // inherited
};

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_JOURNAL_H_
