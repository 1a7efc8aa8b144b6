// The flags of the verbs cli.cc runs itself (cli_args.h).
#include <CLI/CLI.hpp>
#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "cli.h"
#include "cli_args.h"
#include "cli_bulk.h"
#include "php_payload.h"
#include "sessionkit/lock.h"

namespace sessionkit::cli {
namespace {

// CLI11's own number validators print their whole range on error.
CLI::Validator PositiveCount() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        size_t value = 0;
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (ec != std::errc() || ptr != end || value == 0) {
          return "must be a whole number of at least 1, not " + Quoted(text);
        }
        return "";
      },
      "");
}

constexpr char kUrlHelp[] =
    "Store URL, e.g. lmdb:///var/lib/sessionkit (same grammar as "
    "session.save_path). Left out: $SESSIONKIT_URL, else the --fpm-pool's "
    "session.save_path, else php.ini's";
constexpr char kIdHelp[] = "Session id (a-z A-Z 0-9 , - ; 1 to 256 characters)";

// The lock settings of `cmd`, named as the sessionkit.* ini entries, with
// LockLimits' defaults.
void AddLockFlags(CLI::App* cmd, LockOptions* lock) {
  const LockLimits defaults;
  cmd->add_option_function<int64_t>(
         "--lock-wait-ms,--lock_wait_ms",
         [lock](int64_t v) { lock->wait = Duration(v); },
         "How long to wait for a lock another request holds (default " +
             std::to_string(defaults.wait.count()) + ")")
      ->type_name("MS")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option_function<int64_t>(
         "--lock-lease-ms,--lock_lease_ms",
         [lock](int64_t v) { lock->lease = Duration(v); },
         "Lease of the lock taken (default " +
             std::to_string(defaults.lease.count()) + ")")
      ->type_name("MS")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lock-max-waiters,--lock_max_waiters", lock->max_waiters,
                  "Refuse at once when this many already wait (0: no "
                  "limit; default " +
                      std::to_string(defaults.max_waiters) + ")")
      ->type_name("N");
}

}  // namespace

std::string Quoted(std::string_view text) {
  return "'" + EscapeBytes(text) + "'";
}

void AddInspectCommands(CLI::App& app, Args* a) {
  CLI::App* stats = app.add_subcommand(
      "stats",
      "Count live and expired sessions, their bytes, and show a histogram of "
      "session sizes (powers of two).");
  stats->add_option("URL", a->url, kUrlHelp);
  stats->add_flag("--json", a->json, "Print one JSON object (for scripts)");
  stats->footer("Example: sessionkit stats lmdb:///var/lib/sessionkit");

  CLI::App* ls = app.add_subcommand(
      "ls",
      "List sessions, one per line: id, stored bytes, expiry (ISO-8601 UTC) "
      "and 'expired' for sessions past their expiry that gc has not removed.");
  ls->add_option("URL", a->url, kUrlHelp);
  ls->add_option("--limit", a->limit, "Print at most N sessions")
      ->type_name("N")
      ->check(PositiveCount());
  ls->add_flag("--expired", a->include_expired,
               "Also list expired sessions not yet removed by gc");
  AddUserFlags(ls, &a->user, &a->user_given, &a->keys_file, &a->hash_ids,
               /*destroy=*/false);
  ls->add_flag("--json", a->json,
               "Print a JSON array of {id, bytes, expires_at, expired}");
  ls->footer(
      "Example: sessionkit ls --limit 20 lmdb:///var/lib/sessionkit\n"
      "         sessionkit ls --user alice@example.com "
      "lmdb:///var/lib/sessionkit");

  CLI::App* get = app.add_subcommand(
      "get",
      "Print one session's payload: PHP session data (php or php_serialize "
      "format) as an indented tree, anything else as text with "
      "non-printable bytes escaped as \\xNN.");
  get->add_option("URL", a->url, kUrlHelp);
  get->add_option("ID", a->id, kIdHelp);
  CLI::Option* raw = get->add_flag(
      "--raw", a->raw, "Write the payload bytes unmodified to stdout");
  get->add_flag("--frame", a->show_frame,
                "Print the stored frame's header instead of the payload: "
                "format version, codec, key id, session version, payload "
                "size")
      ->excludes(raw);
  get->add_option("--keys", a->keys_file,
                  "Key file to decrypt an encrypted session with (as "
                  "sessionkit.keys)")
      ->type_name("FILE");
  AddHashIdsFlags(get, &a->keys_file, &a->hash_ids, /*add_keys=*/false);
  get->footer(
      "Example: sessionkit get lmdb:///var/lib/sessionkit "
      "4v7c0k2q9m3j5h8n1b6x2z4r7t9w0y3a");

  CLI::App* gc = app.add_subcommand(
      "gc",
      "Delete every expired session and print how many sessions and bytes "
      "were removed.");
  gc->add_option("URL", a->url, kUrlHelp);
}

void AddLockingCommands(CLI::App& app, Args* a) {
  CLI::App* rm = app.add_subcommand(
      "rm",
      "Delete one session. Fails when no live session has this id. Waits for "
      "the session's lock first (--locking=0 to delete without it), so that "
      "a request in flight cannot write the session back.");
  rm->add_option("URL", a->url, kUrlHelp);
  rm->add_option("ID", a->id, kIdHelp);
  rm->add_option("--locking", a->lock.enabled,
                 "Take the session lock before deleting (default 1)")
      ->type_name("0|1");
  AddLockFlags(rm, &a->lock);
  AddHashIdsFlags(rm, &a->keys_file, &a->hash_ids, /*add_keys=*/true);
  AddUserFlags(rm, &a->user, &a->user_given, nullptr, nullptr,
               /*destroy=*/true);

  CLI::App* lock_cmd = app.add_subcommand(
      "lock",
      "Take one session's lock as a PHP request would, say how long the wait "
      "took (and whose lock was taken over), hold it --hold-ms, release it. "
      "Exit 1 when the wait runs out or too many requests wait.");
  lock_cmd->add_option("URL", a->url, kUrlHelp);
  lock_cmd->add_option("ID", a->id, kIdHelp);
  lock_cmd->add_option("--hold-ms", a->hold_ms, "Hold the lock this long")
      ->type_name("MS")
      ->check(CLI::NonNegativeNumber);
  lock_cmd
      ->add_option("--lock-timeout-action,--lock_timeout_action",
                   a->timeout_action,
                   "What a request would do when the wait runs out: "
                   "readonly or fail (default fail; the tool exits 1 "
                   "either way)")
      ->check(CLI::IsMember({"readonly", "fail"}));
  AddLockFlags(lock_cmd, &a->lock);
  AddHashIdsFlags(lock_cmd, &a->keys_file, &a->hash_ids, /*add_keys=*/true);
}

}  // namespace sessionkit::cli
