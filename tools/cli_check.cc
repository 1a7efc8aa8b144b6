// `sessionkit check URL [--repair]`: checks an LMDB store for corruption
// (src/stores/lmdb/lmdb_check.h), frees the reader slots of dead processes
// in an intact one and, with --repair, moves a corrupt one aside so that the
// next opening starts an empty store.
#include <lmdb.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <system_error>

#include "cli.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_check.h"

namespace sessionkit::cli {

void AddCheckCommand(CLI::App& app, std::string* url, bool* repair) {
  CLI::App* check = app.add_subcommand(
      "check",
      "Read every page and record of an LMDB store, as the store would, in a "
      "child process, and say whether it is intact. Exit 1 when it is "
      "corrupt (e.g. after an OS crash with sync=off).");
  check->add_option("URL", *url,
                    "LMDB store URL, e.g. lmdb:///var/lib/sessionkit "
                    "(default: see 'Which store' in docs/cli.md)");
  check->add_flag("--repair", *repair,
                  "When corrupt, move data.mdb and lock.mdb aside (to "
                  "*.corrupt-<unix time>): the next opening starts an empty "
                  "store. Refused while a process has the store open");
  check->footer("Example: sessionkit check lmdb:///var/lib/sessionkit");
}

int RunCheck(const std::string& url, bool repair, std::ostream& out,
             std::ostream& err) {
  const auto fail = [&err](int code, const std::string& message) {
    err << "sessionkit check: " << message << "\n";
    return code;
  };
  auto urls = ParseStoreSpec(url);
  if (!urls.ok()) {
    return fail(kExitUsage, "bad store URL: " + urls.status().message());
  }
  if (urls->size() != 1) {
    return fail(kExitUsage, "check takes one lmdb:// URL, not " +
                                std::to_string(urls->size()) + " tiers");
  }
  const StoreUrl& u = urls->front();
  if (u.scheme != "lmdb") {
    return fail(kExitUsage, "not supported for " + u.scheme +
                                ": check reads LMDB stores only");
  }
  auto options = LmdbOptions::FromUrl(u);
  if (!options.ok()) return fail(kExitUsage, options.status().message());
  std::error_code ec;
  if (!std::filesystem::is_directory(options->path, ec)) {
    return fail(kExitFailure, "no LMDB store at '" + options->path +
                                  "': the directory does not exist");
  }
  const lmdb_internal::LmdbCheckResult check =
      lmdb_internal::CheckLmdb(options->path, options->max_readers);
  if (check.outcome == lmdb_internal::LmdbCheckResult::Outcome::kError) {
    return fail(kExitFailure, check.Summary());
  }
  if (check.ok()) {
    out << check.Summary() << "\n";
    if (!check.has_data) return kExitOk;
    int cleared = 0;
    const int rc = lmdb_internal::ClearDeadReaderSlots(
        options->path, options->max_readers, &cleared);
    if (rc != 0) {
      return fail(kExitFailure,
                  "cannot clear the reader slots of dead "
                  "processes: " +
                      std::string(mdb_strerror(rc)));
    }
    out << "reader slots: "
        << (cleared == 0 ? std::string("none left by dead processes")
                         : "freed " + std::to_string(cleared) +
                               " left by processes that died mid-read")
        << "\n";
    return kExitOk;
  }
  if (!repair) {
    return fail(kExitFailure,
                check.Summary() + " (run 'sessionkit check --repair " + url +
                    "' with PHP stopped to move it aside; its sessions are "
                    "lost)");
  }
  if (lmdb_internal::LmdbInUse(options->path)) {
    return fail(kExitFailure, check.Summary() +
                                  "; not repaired: processes have the store "
                                  "open (stop PHP first)");
  }
  std::string moved;
  if (int rc = lmdb_internal::MoveLmdbAside(options->path, &moved)) {
    return fail(kExitFailure, check.Summary() + "; could not move it aside: " +
                                  std::generic_category().message(rc));
  }
  out << check.Summary() << "\n"
      << "repaired: " << moved << "; the next opening starts an empty store\n";
  return kExitOk;
}

}  // namespace sessionkit::cli
