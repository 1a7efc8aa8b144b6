// `sessionkit compact [URL]`: rewrites the LMDB tiers of a store compactly
// while PHP keeps using them (src/stores/lmdb/lmdb_compact.h).
#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <system_error>

#include "cli.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_compact.h"

namespace sessionkit::cli {

CLI::App* AddCompactCommand(CLI::App& app, std::string* url) {
  CLI::App* compact = app.add_subcommand(
      "compact",
      "Rewrite an LMDB store without the space of deleted and expired "
      "sessions, while PHP keeps using it. Writers wait while the live data "
      "is copied; no session is lost.");
  compact->add_option("URL", *url,
                      "LMDB store URL, e.g. lmdb:///var/lib/sessionkit "
                      "(default: see 'Which store' in docs/cli.md)");
  compact->footer("Example: sessionkit compact lmdb:///var/lib/sessionkit");
  return compact;
}

int RunCompact(const std::string& url, std::ostream& out, std::ostream& err) {
  const auto fail = [&err](int code, const std::string& message) {
    err << "sessionkit compact: " << message << "\n";
    return code;
  };
  auto urls = ParseStoreSpec(url);
  if (!urls.ok()) {
    return fail(kExitUsage, "bad store URL: " + urls.status().message());
  }
  int compacted = 0;
  for (const StoreUrl& u : *urls) {
    if (u.scheme != "lmdb") continue;
    auto options = LmdbOptions::FromUrl(u);
    if (!options.ok()) return fail(kExitUsage, options.status().message());
    const std::string name = "lmdb://" + options->path;
    std::error_code ec;
    if (!std::filesystem::is_directory(options->path, ec)) {
      return fail(kExitFailure, "no LMDB store at '" + options->path +
                                    "': the directory does not exist");
    }
    ++compacted;
    auto stats = lmdb_internal::CompactLmdb(*options);
    if (stats.status().IsNotFound()) {
      out << name << ": nothing to compact (no data.mdb yet)\n";
      continue;
    }
    if (!stats.ok()) return fail(kExitFailure, stats.status().message());
    out << name << ": compacted: data.mdb " << stats->bytes_before << " -> "
        << stats->bytes_after << " bytes (" << FormatSize(stats->bytes_before)
        << " -> " << FormatSize(stats->bytes_after) << "), " << stats->entries
        << " records; writers waited " << stats->writers_paused.count()
        << " ms\n";
  }
  if (compacted == 0) {
    return fail(kExitUsage, "compact is for lmdb:// stores; " +
                                urls->front().scheme +
                                " reclaims space itself");
  }
  return kExitOk;
}

}  // namespace sessionkit::cli
