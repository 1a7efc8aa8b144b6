// The verbs `migrate` and `rekey`: their command lines, what they open, and
// the bulk walk (cli_bulk.h) they run.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <iostream>
#include <string>

#include "cli.h"
#include "cli_bulk.h"
#include "php_payload.h"
#include "sessionkit/dictionaries.h"
#include "sessionkit/legacy.h"
#include "sessionkit/store_url.h"
#include "uri/schemes.h"

namespace sessionkit::cli {
namespace {

constexpr char kStateHelp[] =
    "Where the run keeps its progress, to continue after an interruption "
    "(default: sessionkit-<command>.state in the current directory; removed "
    "when the run completes)";

// True when `spec` names a sessionkit store (its first URL's scheme is one
// of the store URL grammar), not an old handler's sessions.
bool IsStoreSpec(std::string_view spec) {
  const size_t colon = spec.find("://");
  if (colon == std::string_view::npos) return false;
  std::string scheme(spec.substr(0, colon));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return uri::FindScheme(scheme) != nullptr;
}

// Runs one bulk verb; prints its errors as every verb does.
class BulkVerb {
 public:
  BulkVerb(std::string verb, const BulkArgs& args, std::ostream& out,
           std::ostream& err)
      : verb_(std::move(verb)), a_(args), out_(out), err_(err) {}

  int Migrate() {
    if (a_.from.empty() || a_.to.empty()) {
      return Fail(kExitUsage, "give both FROM and TO");
    }
    if (!IsStoreSpec(a_.to)) {
      return Fail(kExitUsage, "TO must be a sessionkit store URL (" +
                                  uri::KnownSchemes() + "), not " +
                                  Quoted(RedactStoreSpec(a_.to)));
    }
    if (a_.from == a_.to) {
      return Fail(kExitUsage, "FROM and TO are the same store");
    }
    if (int rc = LoadKeys()) return rc;
    if (a_.hash_ids && keys_ == nullptr) {
      return Fail(kExitUsage,
                  "--hash-ids needs --keys: the key file whose hash line "
                  "PHP hashes the ids with (sessionkit.keys)");
    }
    std::unique_ptr<LegacySource> from;
    std::string from_name;
    Warn(a_.from, "FROM");
    if (IsStoreSpec(a_.from)) {
      std::unique_ptr<Store> store;
      if (int rc = Open(a_.from, "FROM", &store)) return rc;
      from_name = store->name();
      from = StoreAsLegacySource(std::move(store), keys_);
    } else {
      auto legacy = OpenLegacySource(a_.from);
      if (!legacy.ok()) {
        return Fail(
            legacy.status().IsInvalidArgument() ? kExitUsage : kExitFailure,
            "FROM: " + legacy.status().message());
      }
      from = std::move(legacy).value();
      from_name = from->Describe();
    }
    Warn(a_.to, "TO");
    std::unique_ptr<Store> to_store;
    if (int rc = Open(a_.to, "TO", &to_store)) return rc;
    const std::string to_name = to_store->name();
    SessionEngine to(std::move(to_store), EngineSettings());
    auto task = MakeMigrateTask(*from, to);
    return Run(*task, "migrate\n" + a_.from + "\n" + a_.to,
               from_name + " -> " + to_name, "copied");
  }

  int Rekey() {
    UrlRequest source = a_.source;
    auto found = FindStoreUrl(source, UrlSourceOs::Real());
    if (!found.ok()) return Fail(kExitUsage, found.status().message());
    if (!found->warning.empty()) {
      err_ << "sessionkit " << verb_ << ": warning: " << found->warning << "\n";
    }
    if (int rc = LoadKeys()) return rc;
    if (int rc = LoadDictionaries()) return rc;
    std::unique_ptr<Store> store;
    if (int rc = Open(found->url, "", &store)) return rc;
    const std::string name = store->name();
    SessionEngine engine(std::move(store), EngineSettings());
    const uint16_t active = keys_->active_id();
    auto task = MakeRekeyTask(engine, active);
    // Another active key is another job: its state does not carry over.
    return Run(*task, "rekey\n" + found->url + "\n" + std::to_string(active),
               name + " to key id " + std::to_string(active), "re-encrypted");
  }

 private:
  static std::string Quoted(std::string_view text) {
    return "'" + EscapeBytes(text) + "'";
  }

  int Fail(int code, const std::string& message) {
    err_ << "sessionkit " << verb_ << ": " << message << "\n";
    return code;
  }

  // A URL typed on the command line with a password in it (what
  // RedactStoreSpec masks) is seen by other local users. migrate has no
  // other way to be given its URLs, so this only warns.
  void Warn(const std::string& url, const std::string& which) {
    if (RedactStoreSpec(url) == url) return;
    err_ << "sessionkit " << verb_ << ": warning: the " << which
         << " URL on the command line holds a password, which other local "
            "users see (ps) and shell history keeps\n";
  }

  int Open(const std::string& url, const std::string& which,
           std::unique_ptr<Store>* store) {
    std::string error;
    const int rc = OpenCliStore(url, store, &error);
    if (rc == kExitOk) return rc;
    return Fail(rc, which.empty() ? error : which + ": " + error);
  }

  int LoadKeys() {
    if (a_.keys_file.empty()) return kExitOk;
    auto ring = KeyRing::Load(a_.keys_file);
    if (!ring.ok()) return Fail(kExitFailure, ring.status().message());
    keys_ = std::move(ring).value();
    return kExitOk;
  }

  int LoadDictionaries() {
    if (a_.dictionaries_dir.empty()) return kExitOk;
    auto loaded = Dictionaries::Load(a_.dictionaries_dir);
    if (!loaded.ok()) return Fail(kExitFailure, loaded.status().message());
    dictionaries_ = std::move(loaded).value();
    return kExitOk;
  }

  // The engine that writes: the key ring of --keys, the dictionaries of
  // --dictionaries, with --hash-ids the ids' hashes as keys; its messages
  // are left out (each session's outcome is counted and summed up instead).
  EngineOptions EngineSettings() const {
    EngineOptions options;
    options.keys = keys_;
    options.dictionaries = dictionaries_;
    options.hash_ids = a_.hash_ids;
    options.setting_name = CliFlagName;
    return options;
  }

  int Run(BulkTask& task, std::string job, std::string description,
          std::string done_word) {
    BulkOptions o;
    o.command = verb_;
    o.done_word = std::move(done_word);
    o.job = std::move(job);
    o.job_description = std::move(description);
    o.state_path = a_.state_file;
    o.dry_run = a_.dry_run;
    o.stop_after = a_.stop_after;
    o.progress_bar = &err_ == &std::cerr && isatty(STDERR_FILENO) == 1;
    return RunBulk(task, o, out_, err_).exit_code;
  }

  const std::string verb_;
  const BulkArgs& a_;
  std::ostream& out_;
  std::ostream& err_;
  std::shared_ptr<const KeyRing> keys_;
  std::shared_ptr<const Dictionaries> dictionaries_;
};

void AddCommonFlags(CLI::App* cmd, BulkArgs* a) {
  cmd->add_option("--state", a->state_file, kStateHelp)->type_name("FILE");
  cmd->add_flag("--dry-run", a->dry_run,
                "Count what would be done; write nothing (and no state)");
  // For tests of resumption: stop after N sessions as SIGINT would.
  cmd->add_option("--stop-after", a->stop_after)->group("");
}

}  // namespace

void AddBulkCommands(CLI::App& app, BulkArgs* a) {
  CLI::App* migrate = app.add_subcommand(
      "migrate",
      "Copy every live session of FROM (a sessionkit store URL, or an old "
      "handler's sessions, see docs/migration.md) into the store TO, with its "
      "remaining lifetime. A session TO already has is never replaced. "
      "Resumable: an interrupted run continues where it stopped.");
  migrate->add_option("FROM", a->from, "Where the sessions are now")
      ->required();
  migrate->add_option("TO", a->to, "The sessionkit store URL to copy into")
      ->required();
  migrate
      ->add_option("--keys", a->keys_file,
                   "Key file (as sessionkit.keys): decrypts FROM's sessions "
                   "and encrypts what is written to TO")
      ->type_name("FILE");
  AddHashIdsFlags(migrate, &a->keys_file, &a->hash_ids, /*add_keys=*/false);
  AddCommonFlags(migrate, a);
  migrate->footer(
      "Example: sessionkit migrate lmdb:///var/lib/sessionkit "
      "redis://127.0.0.1:6379/0");

  CLI::App* rekey = app.add_subcommand(
      "rekey",
      "Re-encrypt every session that is not under the key file's active key "
      "(or not encrypted) with the active key, under each session's lock, "
      "keeping its lifetime. Resumable.");
  rekey->add_option("URL", a->source.url,
                    "Store URL (left out: $SESSIONKIT_URL, else the "
                    "--fpm-pool's session.save_path, else php.ini's)");
  rekey
      ->add_option("--keys", a->keys_file,
                   "Key file (as sessionkit.keys); its first key is the one "
                   "sessions end up under")
      ->type_name("FILE")
      ->required();
  rekey
      ->add_option("--dictionaries", a->dictionaries_dir,
                   "Dictionary directory (as sessionkit.dictionaries): reads "
                   "the sessions compressed with its dictionaries, which are "
                   "written back compressed as they were")
      ->type_name("DIR");
  AddCommonFlags(rekey, a);
  AddUrlSourceFlags(rekey, &a->source);
  rekey->footer(
      "Example: sessionkit rekey lmdb:///var/lib/sessionkit --keys "
      "/etc/sessionkit/keys");
}

bool IsBulkVerb(std::string_view verb) {
  return verb == "migrate" || verb == "rekey";
}

int RunBulkVerb(const std::string& verb, const BulkArgs& args,
                std::ostream& out, std::ostream& err) {
  BulkVerb run(verb, args, out, err);
  return verb == "migrate" ? run.Migrate() : run.Rekey();
}

}  // namespace sessionkit::cli
