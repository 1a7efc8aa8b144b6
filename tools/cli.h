// The `sessionkit` command-line tool: inspect and maintain a session store.
//
//   sessionkit stats URL        counts, bytes and a size histogram
//   sessionkit ls URL           one line per session
//   sessionkit get URL ID       a session's payload, readably (--frame: its
//                               frame header and session version)
//   sessionkit rm URL ID        delete one session
//   sessionkit gc URL           delete expired sessions
//   sessionkit check URL        check an LMDB store for corruption
//   sessionkit compact URL      rewrite an LMDB store compactly
//   sessionkit keys generate|add FILE|list FILE
//                               manage an encryption key file
//   sessionkit train URL --out DIR
//                               train a zstd dictionary on stored sessions
//   sessionkit migrate FROM TO  copy every session into another store
//   sessionkit rekey URL        re-encrypt every session with the active key
//   sessionkit metrics          the metrics file, Prometheus text or JSON,
//                               or served over HTTP (--listen)
//   sessionkit top              live rates from the metrics file
//
// Without URL, the store is PHP's (cli_source.h).
// docs/cli.md describes every verb and the exit codes.
#ifndef SESSIONKIT_TOOLS_CLI_H_
#define SESSIONKIT_TOOLS_CLI_H_

#include <array>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "cli_source.h"
#include "sessionkit/clock.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/keyring.h"
#include "sessionkit/store.h"
#include "sessionkit/stores/tiered.h"

namespace CLI {
class App;
}  // namespace CLI

namespace sessionkit::cli {

// Exit codes.
inline constexpr int kExitOk = 0;
// The command was well-formed but failed: the store could not be opened or
// answered with an error, the session does not exist, its data is corrupt.
inline constexpr int kExitFailure = 1;
// The command line is wrong: unknown verb or flag, a missing argument, a
// malformed store URL or session id.
inline constexpr int kExitUsage = 2;

// Runs the tool as `main` would: parses argv, writes results to `out` and
// messages to `err`, and returns the exit code. Never throws.
int RunCli(int argc, const char* const* argv, std::ostream& out,
           std::ostream& err);

// The `check` verb (cli_check.cc): registers it on `app`, and runs it.
void AddCheckCommand(CLI::App& app, std::string* url, bool* repair);
int RunCheck(const std::string& url, bool repair, std::ostream& out,
             std::ostream& err);

// The `compact` verb (cli_compact.cc): registers it on `app`, and runs it.
CLI::App* AddCompactCommand(CLI::App& app, std::string* url);
int RunCompact(const std::string& url, std::ostream& out, std::ostream& err);

// The `keys` verb (cli_keys.cc): what its command line set.
struct KeysArgs {
  std::string file;
  std::string out;    // generate --out
  int id = 0;         // 0: 1 for generate, the next free id for add
  bool hash = false;  // add --hash: add the hash line instead of a key
  bool json = false;  // list --json
};
// Registers `keys` and its verbs on `app`, filling `args`; runs the verb
// chosen under `keys` (a parsed command line).
CLI::App* AddKeysCommand(CLI::App& app, KeysArgs* args);
int RunKeys(const CLI::App& keys, const KeysArgs& args, std::ostream& out,
            std::ostream& err);

// The `train` verb (cli_train.cc): what its command line set.
struct TrainArgs {
  std::string url;
  std::string out;        // the dictionary directory
  size_t samples = 1000;  // at most this many sessions
  size_t dict_size = 0;   // 0: kDefaultDictionarySize (dictionary_train.h)
  std::string keys;       // --keys: the key file
};
// Registers `train` on `app`, filling `args`; runs it.
CLI::App* AddTrainCommand(CLI::App& app, TrainArgs* args);
int RunTrain(const TrainArgs& args, std::ostream& out, std::ostream& err);
// get, rm and lock --hash-ids (cli_hash_ids.cc): registers the flag, and
// --keys too when `add_keys`.
void AddHashIdsFlags(CLI::App* cmd, std::string* keys_file, bool* hash_ids,
                     bool add_keys);
// The key the store keeps session `id` under: `id`, or with `hash_ids` its
// hash by the hash line of `keys_file`. InvalidArgument naming the flags
// when the file is missing, unusable or has no hash line.
Result<std::string> CliStoreKey(const std::string& id,
                                const std::string& keys_file, bool hash_ids);
// ls --user and rm --user (cli_users.cc): what their command lines set.
struct UserArgs {
  std::string user;
  std::string keys_file;  // --keys
  bool hash_ids = false;  // --hash-ids
  bool destroy = false;   // rm: destroy the sessions instead of listing
};
// Registers --user on `cmd`, setting *user and *user_given (ls: with --keys and
// --hash-ids too, given non-null; rm has them already).
void AddUserFlags(CLI::App* cmd, std::string* user, bool* user_given,
                  std::string* keys_file, bool* hash_ids, bool destroy);
// Lists (ls) or destroys (rm) the live sessions of args.user in `store`,
// as sessionkit_user_sessions() and sessionkit_destroy_user() do.
int RunUserSessions(std::unique_ptr<Store> store, const UserArgs& args,
                    std::ostream& out, std::ostream& err);
// Opens the store `url` names as every verb does: kExitUsage for a
// malformed URL or setting, kExitFailure for an lmdb:// directory that does
// not exist (a mistyped path never becomes a new empty store) or a store
// that cannot be opened. kExitOk with the store in *store, or the exit code
// with the reason in *error.
int OpenCliStore(const std::string& url, std::unique_ptr<Store>* store,
                 std::string* error);
// The flag that sets an engine setting, for the engine's messages
// (EngineOptions::setting_name): lock_wait_ms is --lock-wait-ms.
std::string CliFlagName(std::string_view setting);

// The engine of the verbs that lock (`lock`, `rm`) over `store`: the key
// ring of `keys_file` (none when empty), so an encrypted session reads as
// PHP reads it; messages go to `err` as "sessionkit VERB: ...", settings are
// named by their flags (lock_wait_ms is --lock-wait-ms). Null, with the
// reason in *error, when the key file cannot be used.
// `hash_ids`: the engine keeps sessions under their id's hash.
std::unique_ptr<SessionEngine> OpenCliEngineOver(std::unique_ptr<Store> store,
                                                 const std::string& keys_file,
                                                 const std::string& verb,
                                                 std::ostream& err,
                                                 std::string* error,
                                                 bool hash_ids = false);

// The bulk copies `migrate` and `rekey` (cli_bulk_verbs.cc): what their
// command lines set.
struct BulkArgs {
  std::string from;   // migrate FROM: a store URL or an old handler's spec
  std::string to;     // migrate TO
  UrlRequest source;  // rekey's URL, or where to find it
  std::string keys_file;
  std::string dictionaries_dir;  // rekey --dictionaries
  bool hash_ids = false;         // migrate --hash-ids
  std::string state_file;
  bool dry_run = false;
  uint64_t stop_after = 0;  // hidden, for tests: stop as SIGINT would
};
// Registers `migrate` and `rekey` on `app`, filling `args`.
void AddBulkCommands(CLI::App& app, BulkArgs* args);
// True for the verbs AddBulkCommands registers.
bool IsBulkVerb(std::string_view verb);
// Runs `verb` (a bulk verb) as parsed.
int RunBulkVerb(const std::string& verb, const BulkArgs& args,
                std::ostream& out, std::ostream& err);

// The verbs over the metrics file, `metrics` and `top` (cli_metrics.cc):
// what their command lines set.
struct MetricsArgs {
  std::string file;            // --file; empty: $SESSIONKIT_METRICS
  bool json = false;           // metrics --json
  std::string listen;          // metrics --listen HOST:PORT
  uint64_t max_requests = 0;   // hidden, for tests: serve this many, stop
  int64_t interval_ms = 1000;  // top --interval-ms
  uint64_t iterations = 0;     // top --iterations; 0: until interrupted
};
// Registers `metrics` and `top` on `app`, filling `args`.
void AddMetricsCommands(CLI::App& app, MetricsArgs* args);
// True for the verbs AddMetricsCommands registers.
bool IsMetricsVerb(std::string_view verb);
// Runs `verb` (a metrics verb) as parsed.
int RunMetricsVerb(const std::string& verb, const MetricsArgs& args,
                   std::ostream& out, std::ostream& err);

// The payload of a stored value whose frame is `frame` (`stored` decoded),
// for session `id`: decrypted with the key file `keys_file` when the frame
// is encrypted (InvalidArgument when none is given), then decompressed.
// Corrupt when it does not decrypt or decompress.
Result<std::string> OpenStoredPayload(std::string_view stored,
                                      const FrameView& frame,
                                      std::string_view id,
                                      const std::string& keys_file);
// As above, with a loaded key ring (nullptr: none given).
Result<std::string> OpenStoredPayload(std::string_view stored,
                                      const FrameView& frame,
                                      std::string_view id, const KeyRing* ring);

// `s` padded with spaces to `width` characters, on the left or the right
// (unchanged when it is as long already).
std::string PadLeft(const std::string& s, size_t width);
std::string PadRight(const std::string& s, size_t width);

// Formats `t` as ISO-8601 UTC with second precision, e.g.
// "2024-05-01T12:00:00Z".
std::string FormatIso8601Utc(TimePoint t);

// Formats a byte count for people: "512 B", "2 KiB", "1.5 MiB".
std::string FormatSize(uint64_t bytes);

// The fill level `stats` prints for a store with a limit of its own, one
// line: "space: 12.5 MiB in use, 1.3% of its limit of 931.3 GiB (<what sets
// it>); 14 MiB on disk".
std::string FormatUsage(const StoreUsage& usage);

// What `stats` prints of a store of tiers (ReportTiers): where the breakers
// are kept, then one line per tier: its number, name, sync or behind, its
// breaker (up, down for how long, being probed), failures in a row and the
// last one, and for a tier behind the journal's backlog.
std::string FormatTiers(const TiersReport& report);

// What `get --frame` prints of a stored frame's header, one "name: value"
// line each: format version, codec, key id, session version and payload
// size.
std::string FormatFrameHeader(const FrameHeader& header, size_t payload_bytes);

// Counts sessions by stored size in power-of-two buckets: bucket 0 holds
// empty values, bucket k >= 1 holds sizes in [2^(k-1), 2^k).
//
// Thread safety: a value; not safe for concurrent mutation.
class SizeHistogram {
 public:
  static constexpr int kBuckets = 65;

  // Returns the bucket of a size.
  static int BucketOf(uint64_t bytes);

  // Counts one session.
  void Add(uint64_t bytes, bool expired);

  uint64_t live(int bucket) const { return counts_[bucket][0]; }
  uint64_t expired(int bucket) const { return counts_[bucket][1]; }

  // An aligned table with the columns from, below, live, expired and a bar,
  // one row per bucket from the smallest to the largest non-empty one.
  // Empty string when nothing was counted.
  std::string Format() const;
  // The non-empty buckets as a JSON array of {"from", "below", "live",
  // "expired"} (bytes and counts); "[]" when nothing was counted.
  std::string FormatJson() const;

 private:
  std::array<std::array<uint64_t, 2>, kBuckets> counts_{};
};

// --json output (cli_json.cc). `s` as a JSON string literal, quotes
// included: '"', '\\' and bytes below 0x20 or from 0x7f escaped as
// \u00XX (a byte above 0x7f is one character), so any stored key prints
// as valid JSON.
std::string JsonString(std::string_view s);
// One session as `ls --json` lists it: {"id", "bytes", "expires_at" (ISO
// 8601 UTC), "expired"}.
std::string FormatSessionJson(const SessionInfo& info, bool expired);
// What `stats` counted: sessions and bytes, live [0] and expired [1].
struct StoreTotals {
  std::string store;  // its name, as in messages
  uint64_t count[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
  SizeHistogram histogram;
};
// What `stats --json` prints: {"store", "live", "expired", "total" (each
// {"sessions", "bytes"}), "usage" (null for a store without a limit of
// its own), "histogram"}, one line.
std::string FormatStatsJson(const StoreTotals& totals,
                            const Result<StoreUsage>& usage);

}  // namespace sessionkit::cli

#endif  // SESSIONKIT_TOOLS_CLI_H_
