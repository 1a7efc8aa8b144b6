#include "cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "cli_args.h"
#include "cli_bulk.h"
#include "cli_source.h"
#include "codec/compress.h"
#include "php_payload.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/keyring.h"
#include "sessionkit/open.h"
#include "sessionkit/session_id.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"
#include "sessionkit/users.h"

#ifndef SK_VERSION
#define SK_VERSION "unknown"
#endif

namespace sessionkit::cli {
namespace {

constexpr std::string_view kVerbs[] = {
    "stats",   "ls",   "get",   "rm",      "gc",    "lock",    "check",
    "compact", "keys", "train", "migrate", "rekey", "metrics", "top"};
constexpr char kVerbList[] =
    "stats, ls, get, rm, gc, lock, check, compact, keys, train, migrate, "
    "rekey, metrics, top";
constexpr size_t kScanPage = 1000;

// One invocation: the verb's arguments and where its output goes.
class Command : private Args {
 public:
  Command(std::string verb, Args args, std::ostream& out, std::ostream& err)
      : Args(std::move(args)), verb_(std::move(verb)), out_(out), err_(err) {}

  int Run() {
    if (int rc = ResolveUrl()) return rc;
    if (verb_ == "stats") return Stats();
    if (verb_ == "ls") return List();
    if (verb_ == "get") return Get();
    if (verb_ == "rm") return Remove();
    if (verb_ == "gc") return Gc();
    if (verb_ == "lock") return Lock();
    if (verb_ == "check") return RunCheck(url, repair, out_, err_);
    if (verb_ == "compact") return RunCompact(url, out_, err_);
    return Fail(kExitUsage, "unknown command " + Quoted(verb_));
  }

 private:
  int Fail(int code, const std::string& message) {
    err_ << "sessionkit " << verb_ << ": " << message << "\n";
    return code;
  }

  // Bad configuration is the caller's to fix (usage); anything else is an
  // operational failure.
  int FailWith(const Status& status) {
    return Fail(status.IsInvalidArgument() ? kExitUsage : kExitFailure,
                status.message());
  }

  // Sets `url` from the command line, SESSIONKIT_URL, --fpm-pool or
  // php.ini (cli_source.h).
  int ResolveUrl() {
    source.url = url;
    auto found = FindStoreUrl(source, UrlSourceOs::Real());
    if (!found.ok()) return Fail(kExitUsage, found.status().message());
    if (!found->warning.empty()) {
      err_ << "sessionkit " << verb_ << ": warning: " << found->warning << "\n";
    }
    url = found->url;
    return kExitOk;
  }

  // Opens `url` into store_. Returns kExitOk or an exit code after
  // printing why.
  int OpenStoreOrFail() {
    std::string error;
    const int rc = OpenCliStore(url, &store_, &error);
    return rc == kExitOk ? rc : Fail(rc, error);
  }

  int CheckId() {
    Status s = ValidateSessionId(id);
    if (!s.ok()) return Fail(kExitUsage, "bad session id: " + s.message());
    // From here on `id` is the store's key: the id's hash with --hash-ids.
    auto key = CliStoreKey(id, keys_file, hash_ids);
    if (!key.ok()) return FailWith(key.status());
    id = std::move(key).value();
    return kExitOk;
  }

  // Calls `visit(info, expired)` for every session, a page at a time; the
  // records of the user index (users.h) are no sessions and are left out.
  template <typename Visit>
  int ScanAll(bool with_expired, size_t max, Visit visit) {
    const TimePoint now = Clock::now();
    ScanOptions options;
    options.include_expired = with_expired;
    size_t seen = 0;
    for (;;) {
      options.limit = max == 0 ? kScanPage : std::min(kScanPage, max - seen);
      auto page = store_->Scan(options);
      if (!page.ok()) return FailWith(page.status());
      for (const SessionInfo& info : page->sessions) {
        if (max != 0 && seen >= max) return kExitOk;
        if (IsInternalStoreKey(info.id)) continue;
        const bool expired = info.expires_at <= now;
        if (expired && !with_expired) continue;
        visit(info, expired);
        ++seen;
      }
      if (page->next_cursor.empty() || (max != 0 && seen >= max)) break;
      if (page->next_cursor == options.cursor) {
        return Fail(kExitFailure,
                    store_->name() + ": scan did not advance (store bug)");
      }
      options.cursor = std::move(page->next_cursor);
    }
    return kExitOk;
  }

  int Stats() {
    if (int rc = OpenStoreOrFail()) return rc;
    StoreTotals t;
    t.store = store_->name();
    uint64_t* const count = t.count;
    uint64_t* const bytes = t.bytes;
    // A big store takes a while: a count on a terminal meanwhile.
    BulkOptions shown;
    shown.command = "stats";
    shown.progress_bar = &err_ == &std::cerr && isatty(STDERR_FILENO) == 1;
    std::optional<BulkProgress> progress;
    if (shown.progress_bar) progress.emplace(shown, std::nullopt, 0, err_);
    int rc = ScanAll(/*with_expired=*/true, 0,
                     [&](const SessionInfo& info, bool expired) {
                       count[expired] += 1;
                       bytes[expired] += info.bytes;
                       t.histogram.Add(info.bytes, expired);
                       if (progress) progress->Tick(count[0] + count[1]);
                     });
    if (progress) progress->Finish(count[0] + count[1]);
    if (rc != kExitOk) return rc;
    if (json) {
      out_ << FormatStatsJson(t, store_->Usage());
      return kExitOk;
    }

    out_ << "store: " << store_->name() << "\n\n";
    const auto row = [&](const std::string& label, uint64_t n, uint64_t b) {
      out_ << PadRight(label, 8) << PadLeft(std::to_string(n), 10)
           << PadLeft(std::to_string(b), 14) << "  " << FormatSize(b) << "\n";
    };
    out_ << PadRight("", 8) << PadLeft("sessions", 10) << PadLeft("bytes", 14)
         << "\n";
    row("live", count[0], bytes[0]);
    row("expired", count[1], bytes[1]);
    row("total", count[0] + count[1], bytes[0] + bytes[1]);
    if (Result<StoreUsage> usage = store_->Usage(); usage.ok()) {
      out_ << "\n" << FormatUsage(*usage);
    }
    if (count[0] + count[1] > 0) {
      out_ << "\nsize histogram (stored bytes per session)\n"
           << t.histogram.Format();
    }
    if (Result<TiersReport> tiers = ReportTiers(*store_); tiers.ok()) {
      out_ << "\n" << FormatTiers(*tiers);
    }
    return kExitOk;
  }

  int List() {
    if (int rc = OpenStoreOrFail()) return rc;
    if (user_given) {
      return RunUserSessions(std::move(store_),
                             UserArgs{user, keys_file, hash_ids, false}, out_,
                             err_);
    }
    // --json: one array, written as the scan goes.
    const char* separator = "[\n";
    const int rc = ScanAll(
        include_expired, limit, [&](const SessionInfo& info, bool expired) {
          if (json) {
            out_ << separator << FormatSessionJson(info, expired);
            separator = ",\n";
            return;
          }
          out_ << EscapeBytes(info.id) << "  "
               << PadLeft(std::to_string(info.bytes), 8) << "  "
               << FormatIso8601Utc(info.expires_at)
               << (expired ? "  expired" : "") << "\n";
        });
    if (json && rc == kExitOk)
      out_ << (*separator == '[' ? "[" : "") << "\n]\n";
    return rc;
  }

  int Get() {
    if (int rc = CheckId()) return rc;
    if (int rc = OpenStoreOrFail()) return rc;
    const std::string who = "session " + SessionIdPrefix(id);
    auto record = store_->Read(id);
    if (!record.ok()) {
      if (record.status().IsNotFound()) {
        return Fail(kExitFailure, "no live " + who + " in " + store_->name());
      }
      return FailWith(record.status());
    }
    auto frame = DecodeFrame(record->data);
    if (!frame.ok()) {
      return Fail(kExitFailure,
                  who + " in " + store_->name() +
                      " is unreadable: " + frame.status().message());
    }
    if (show_frame) {
      out_ << FormatFrameHeader(frame->header, frame->payload.size());
      return kExitOk;
    }
    if ((frame->header.flags & kFrameFlagTombstone) != 0) {
      return Fail(kExitFailure,
                  "no live " + who + " in " + store_->name() +
                      ": it was destroyed (a tombstone of session version " +
                      std::to_string(frame->header.session_version) +
                      " is kept)");
    }
    if ((frame->header.flags & kFrameFlagPointer) != 0) {
      // The new session's key is not printed: with hash_ids off it is the
      // new id, a live session.
      return Fail(kExitFailure,
                  "no live " + who + " in " + store_->name() +
                      ": its id was replaced by session_regenerate_id() and "
                      "leads to the new session until its grace ends "
                      "(sessionkit.regenerate_grace)");
    }
    auto opened = OpenStoredPayload(record->data, *frame, id, keys_file);
    if (!opened.ok()) {
      return Fail(kExitFailure,
                  who + " in " + store_->name() +
                      " is unreadable: " + opened.status().message());
    }
    const std::string_view payload = *opened;
    if (raw) {
      out_.write(payload.data(), static_cast<std::streamsize>(payload.size()));
      out_.flush();
      return out_ ? kExitOk : Fail(kExitFailure, "could not write to stdout");
    }
    auto session = ParsePhpSessionAnyFormat(payload);
    if (session.ok()) {
      out_ << FormatPhpSession(*session);
    } else {
      err_ << "sessionkit get: note: the payload is not PHP session data ("
           << session.status().message() << "); showing its " << payload.size()
           << " bytes\n";
      out_ << EscapeBytes(payload) << "\n";
    }
    return kExitOk;
  }

  // Takes the session's lock as a request would (engine logs go to
  // stderr). Returns kExitOk with the lock in `held`, or an exit code.
  int TakeLock(SessionEngine& engine, const LockOptions& options,
               SessionLock& held) {
    const auto start = std::chrono::steady_clock::now();
    auto read = engine.ReadForUpdate(id, options);
    if (!read.ok()) return FailWith(read.status());
    held = read->lock;
    waited_ = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    return kExitOk;
  }

  // The engine of `lock` and `rm`, with the key ring of --keys: an
  // encrypted session is then read (and locked) as PHP reads it, not as
  // an undecodable value.
  int OpenCliEngine(std::unique_ptr<SessionEngine>* engine) {
    std::string error;
    *engine =
        OpenCliEngineOver(std::move(store_), keys_file, verb_, err_, &error);
    return *engine ? kExitOk : Fail(kExitUsage, error);
  }

  int Lock() {
    if (int rc = CheckId()) return rc;
    if (int rc = OpenStoreOrFail()) return rc;
    std::unique_ptr<SessionEngine> engine;
    if (int rc = OpenCliEngine(&engine)) return rc;
    SessionLock held;
    if (int rc = TakeLock(*engine, lock, held)) return rc;
    if (held.state == LockState::kReadOnly) {
      return Fail(kExitFailure,
                  "the wait ran out: a request would read session " +
                      SessionIdPrefix(id) + " read-only");
    }
    if (held.state != LockState::kHeld) {
      return Fail(kExitFailure, engine->store().name() +
                                    " cannot lock sessions (locking is off "
                                    "or the store has no locks)");
    }
    out_ << "locked session " << SessionIdPrefix(id) << " after "
         << waited_.count() << " ms" << std::endl;
    if (hold_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    }
    Status s = engine->Unlock(id, held);
    if (!s.ok()) return FailWith(s);
    out_ << "released it after holding it " << hold_ms << " ms\n";
    return kExitOk;
  }

  int Remove() {
    if (user_given) {
      if (!id.empty()) return Fail(kExitUsage, "--user takes no session id");
      if (int rc = OpenStoreOrFail()) return rc;
      return RunUserSessions(std::move(store_),
                             UserArgs{user, keys_file, hash_ids, true}, out_,
                             err_);
    }
    if (int rc = CheckId()) return rc;
    if (int rc = OpenStoreOrFail()) return rc;
    // With locking, wait for a request in flight so that its write cannot
    // bring the session back after the delete.
    std::unique_ptr<SessionEngine> engine;
    SessionLock held;
    if (lock.enabled) {
      if (int rc = OpenCliEngine(&engine)) return rc;
      // Nothing to do with a session that stays locked: fail, never delete
      // under another request's feet.
      LockOptions options = lock;
      options.timeout_action = LockTimeoutAction::kFail;
      if (int rc = TakeLock(*engine, options, held)) return rc;
    }
    Store& store = engine ? engine->store() : *store_;
    auto exists = store.Exists(id);
    if (!exists.ok()) return FailWith(exists.status());
    // Destroy even when not live: an expired leftover goes too.
    Status s = store.Destroy(id);
    if (engine) {
      Status unlocked = engine->Unlock(id, held);
      if (s.ok()) s = unlocked;
    }
    if (!s.ok()) return FailWith(s);
    if (!*exists) {
      return Fail(kExitFailure, "no live session " + SessionIdPrefix(id) +
                                    " in " + store.name());
    }
    out_ << "removed session " << SessionIdPrefix(id) << "\n";
    return kExitOk;
  }

  int Gc() {
    if (int rc = OpenStoreOrFail()) return rc;
    // On a terminal, the sessions removed so far (LMDB's gc of a big
    // store is long work).
    BulkOptions shown;
    shown.command = "gc";
    shown.progress_bar = &err_ == &std::cerr && isatty(STDERR_FILENO) == 1;
    std::optional<BulkProgress> progress;
    if (shown.progress_bar) progress.emplace(shown, std::nullopt, 0, err_);
    auto result =
        store_->GcWithProgress(Clock::now(), [&](const GcResult& so_far) {
          if (progress) progress->Tick(so_far.removed);
        });
    if (progress) progress->Finish(result.ok() ? result->removed : 0);
    if (!result.ok()) return FailWith(result.status());
    out_ << "removed " << result->removed << " expired session"
         << (result->removed == 1 ? "" : "s") << ", " << result->bytes_removed
         << " bytes (" << FormatSize(result->bytes_removed) << ")\n";
    return kExitOk;
  }

  std::string verb_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<Store> store_;
  std::chrono::milliseconds waited_{0};  // by the last TakeLock
};

bool IsVerb(std::string_view word) {
  for (std::string_view v : kVerbs) {
    if (v == word) return true;
  }
  return false;
}

// A usage error for a first word that is no verb, or for none at all;
// kExitOk when the command line may be parsed.
int CheckVerb(int argc, const char* const* argv, std::ostream& err) {
  if (argc >= 2 && argv[1][0] != '-' && !IsVerb(argv[1])) {
    err << "sessionkit: unknown command " << Quoted(argv[1])
        << "; commands are " << kVerbList << " (see sessionkit --help)\n";
    return kExitUsage;
  }
  if (argc < 2) {
    err << "sessionkit: no command given; commands are " << kVerbList
        << " (see sessionkit --help)\n";
    return kExitUsage;
  }
  return kExitOk;
}

// get, rm and lock take [URL] ID: a lone argument is the id.
int ShiftId(const std::string& verb, Args* a, std::ostream& err) {
  if (verb != "get" && verb != "rm" && verb != "lock") return kExitOk;
  if (!a->id.empty() || (verb == "rm" && a->user_given)) return kExitOk;
  if (a->url.empty() || a->url.find("://") != std::string::npos) {
    err << "sessionkit " << verb << ": no session id given (sessionkit " << verb
        << " [URL] ID; see 'sessionkit " << verb << " --help')\n";
    return kExitUsage;
  }
  a->id = std::move(a->url);
  a->url.clear();
  return kExitOk;
}

int RunParsed(int argc, const char* const* argv, std::ostream& out,
              std::ostream& err) {
  if (int rc = CheckVerb(argc, argv, err); rc != kExitOk) return rc;
  CLI::App app{"Inspect and maintain a sessionkit session store.",
               "sessionkit"};
  app.set_version_flag("--version", std::string("sessionkit ") + SK_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 success; 1 the operation failed (store unavailable, "
      "session not found, corrupt data); 2 usage error (unknown command or "
      "flag, missing argument, bad URL or session id).\n"
      "Run 'sessionkit COMMAND --help' for a command's options.");
  Args a;
  AddInspectCommands(app, &a);
  AddLockingCommands(app, &a);
  AddCheckCommand(app, &a.url, &a.repair);
  AddCompactCommand(app, &a.url);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    AddUrlSourceFlags(sub, &a.source);
  }
  KeysArgs keys_args;
  CLI::App* keys = AddKeysCommand(app, &keys_args);  // no store URL
  TrainArgs train_args;
  CLI::App* train = AddTrainCommand(app, &train_args);  // its URL is required
  BulkArgs bulk_args;
  AddBulkCommands(app, &bulk_args);
  MetricsArgs metrics_args;
  AddMetricsCommands(app, &metrics_args);  // no store URL

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // help
    std::string verb;
    for (const CLI::App* sub : app.get_subcommands()) verb = sub->get_name();
    const std::string where =
        verb.empty() ? "sessionkit" : "sessionkit " + verb;
    err << where << ": " << EscapeBytes(e.what()) << " (see '" << where
        << " --help')\n";
    return kExitUsage;
  }

  const CLI::App* chosen = app.get_subcommands().at(0);
  if (chosen == keys) return RunKeys(*keys, keys_args, out, err);
  if (chosen == train) return RunTrain(train_args, out, err);
  if (IsMetricsVerb(chosen->get_name())) {
    return RunMetricsVerb(chosen->get_name(), metrics_args, out, err);
  }
  if (IsBulkVerb(chosen->get_name())) {
    return RunBulkVerb(chosen->get_name(), bulk_args, out, err);
  }
  if (int rc = ShiftId(chosen->get_name(), &a, err); rc != kExitOk) return rc;
  a.lock.timeout_action = *ParseLockTimeoutAction(a.timeout_action);
  return Command(chosen->get_name(), std::move(a), out, err).Run();
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::ostream& out,
           std::ostream& err) {
  try {
    return RunParsed(argc, argv, out, err);
  } catch (const std::exception& e) {
    err << "sessionkit: internal error: " << EscapeBytes(e.what()) << "\n";
    return kExitFailure;
  }
}

}  // namespace sessionkit::cli
