// The machinery of the CLI's bulk copies (`migrate`, `rekey`): walks a
// source page by page, hands each session to the command, shows progress on
// stderr, keeps a state file so that an interrupted run continues where it
// stopped, and ends with a summary. docs/cli.md, "Bulk copies", describes
// what an operator sees.
#ifndef SESSIONKIT_TOOLS_CLI_BULK_H_
#define SESSIONKIT_TOOLS_CLI_BULK_H_

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/engine.h"
#include "sessionkit/keyring.h"
#include "sessionkit/legacy.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"

namespace sessionkit::cli {

// The exit code of a run stopped by SIGINT, SIGTERM (or --stop-after) with
// its state saved: 128 + SIGINT, as a shell reports an interrupted command.
inline constexpr int kExitInterrupted = 130;

// How long a bulk command waits for a session's lock before it skips the
// session (counted as locked; a re-run picks it up). Short: a request holds
// a lock for milliseconds, and a stuck lock must not stall the whole run.
inline constexpr Duration kBulkLockWait{1000};

// Sessions asked of the source per page (and between two state saves).
inline constexpr size_t kBulkPageSize = 500;

// At most this many unreadable sessions are named in the summary.
inline constexpr size_t kBulkSamples = 5;

// What became of one session.
enum class BulkOutcome {
  kCopied,      // written (with --dry-run: would be)
  kPresent,     // skipped: the destination already has it
  kExpired,     // skipped: expired, gone or destroyed meanwhile
  kActiveKey,   // skipped: already under the active key (rekey)
  kLocked,      // skipped: its lock was held for the whole wait
  kUnreadable,  // skipped: it cannot be read or decoded
};
inline constexpr size_t kBulkOutcomes = 6;

struct BulkVisit {
  BulkOutcome outcome = BulkOutcome::kCopied;
  std::string reason;  // for kUnreadable and kLocked; never a whole id
};

// Counts by outcome.
struct BulkCounts {
  std::array<uint64_t, kBulkOutcomes> by{};
  uint64_t& operator[](BulkOutcome o) { return by[static_cast<size_t>(o)]; }
  uint64_t operator[](BulkOutcome o) const {
    return by[static_cast<size_t>(o)];
  }
  uint64_t total() const;
};

struct BulkPage {
  std::vector<std::string> ids;
  std::string next_cursor;  // empty when the walk is complete
};

// What a bulk command walks and what it does with each session.
//
// Thread safety: called from one thread.
class BulkTask {
 public:
  virtual ~BulkTask() = default;
  // The page of ids that starts at `cursor` (empty: the first). The same
  // cursor gives the same page again while the source is unchanged.
  virtual Result<BulkPage> Scan(const std::string& cursor, size_t limit) = 0;
  // How many sessions the walk will see (for the progress bar, asked only
  // on a terminal); nullopt when it cannot be told. The default walks Scan
  // once: ids only, no session is read.
  virtual std::optional<uint64_t> Total();
  // Handles session `id`; with `dry_run`, says what it would do and writes
  // nothing. An error stops the run (the store does not answer): the state
  // is saved and a re-run retries this session.
  virtual Result<BulkVisit> Visit(const std::string& id, bool dry_run) = 0;
};

struct BulkOptions {
  // The command ("migrate"), for messages and the state file.
  std::string command;
  // What the summary calls a written session ("copied", "re-encrypted").
  std::string done_word = "copied";
  // Everything that makes two runs the same job (command, source and
  // destination as typed). Only a hash of it is stored.
  std::string job;
  // The job for messages, without passwords: "lmdb:///a -> redis://h:6379".
  std::string job_description;
  // Where the state is kept; empty: DefaultBulkStatePath(command).
  std::string state_path;
  bool dry_run = false;
  size_t page_size = kBulkPageSize;
  // Stops (as SIGINT would) after this many sessions of this run; 0: never.
  // For tests of resumption.
  uint64_t stop_after = 0;
  // A progress bar redrawn in place (stderr is a terminal); else a plain
  // line every `progress_every`.
  bool progress_bar = false;
  Duration progress_every{10000};
};

// Progress of a long walk on stderr: a bar redrawn in place on a terminal
// (o.progress_bar), else a plain line every o.progress_every. With `total`
// (sessions to see, `already` of them seen by an earlier run) a bar with
// an ETA; without, a count and a rate. migrate, rekey and stats show it.
//
// Thread safety: one thread.
class BulkProgress {
 public:
  BulkProgress(const BulkOptions& o, std::optional<uint64_t> total,
               uint64_t already, std::ostream& err);
  // Redraws with `done` sessions seen, at most every 200 ms on a terminal.
  void Tick(uint64_t done);
  // On a terminal: the last redraw, and the end of the bar's line.
  void Finish(uint64_t done);

 private:
  void Draw(uint64_t done, std::chrono::steady_clock::time_point now);

  const BulkOptions& o_;
  const std::optional<uint64_t> total_;
  const uint64_t already_;
  std::ostream& err_;
  const std::chrono::steady_clock::time_point start_ =
      std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ = start_;
};

struct BulkReport {
  int exit_code = 0;
  BulkCounts counts;  // of the whole job, earlier runs included
  bool interrupted = false;
  bool finished = false;  // the walk is complete; the state file is gone
};

// The state file a command uses without --state: "sessionkit-<command>.state"
// in the current directory.
std::string DefaultBulkStatePath(std::string_view command);

// Runs the walk: continues the state file's job when there is one (refuses
// a state file of another job, exit kExitUsage), saves the state after
// every page and when stopped, removes it when the walk completes. Progress
// goes to `err`, the summary to `out`. Exit codes: kExitOk when every
// session was handled, kExitFailure when some were locked or unreadable or
// the source failed (the state then stays for a re-run), kExitInterrupted.
// --dry-run reads and writes no state file. Installs SIGINT and SIGTERM
// handlers for the run's length.
BulkReport RunBulk(BulkTask& task, const BulkOptions& options,
                   std::ostream& out, std::ostream& err);

// The lock options of a bulk command's locking reads: kBulkLockWait, then
// DeadlineExceeded (counted as locked), never a read-only fallback.
LockOptions BulkLockOptions();

// The outcome of a locking read that failed: kLocked for a lock held the
// whole wait or too many waiters (with the reason), nullopt for an error
// that should stop the run.
std::optional<BulkVisit> LockedVisit(const Status& status);

// --- The commands' tasks ---------------------------------------------------

// migrate (cli_migrate.cc): copies every live session of `from` into `to`
// with its remaining lifetime, encoded with `to`'s settings. A session `to`
// already has (also one destroyed there, or unreadable there) is never
// replaced: checked under `to`'s lock, written only when not found.
std::unique_ptr<BulkTask> MakeMigrateTask(LegacySource& from,
                                          SessionEngine& to);

// A sessionkit store as a source of migrate: Scan lists its ids (expired
// ones included, which Read then says NotFound for), Read decodes a frame
// with `keys` (null: only unencrypted frames read). Delete is NotSupported:
// migrate never deletes.
std::unique_ptr<LegacySource> StoreAsLegacySource(
    std::unique_ptr<Store> store, std::shared_ptr<const KeyRing> keys);

// rekey (cli_rekey.cc): writes every session of `engine`'s store whose
// frame is not under key `active_key` again, through the engine (so under
// its lock, with its remaining lifetime). `engine` encrypts with a key ring
// whose active key is `active_key`.
std::unique_ptr<BulkTask> MakeRekeyTask(SessionEngine& engine,
                                        uint16_t active_key);

}  // namespace sessionkit::cli

#endif  // SESSIONKIT_TOOLS_CLI_BULK_H_
