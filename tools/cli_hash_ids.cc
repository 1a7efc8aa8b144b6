// --hash-ids for get, rm and lock: the store keeps a session under its id's
// keyed hash when sessionkit.hash_ids is on, so the CLI hashes the ID it is
// given the same way (core/store_key.h, the engine's one rule) before
// looking it up.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli.h"
#include "core/store_key.h"
#include "sessionkit/keyring.h"

namespace sessionkit::cli {

void AddHashIdsFlags(CLI::App* cmd, std::string* keys_file, bool* hash_ids,
                     bool add_keys) {
  cmd->add_flag("--hash-ids,--hash_ids", *hash_ids,
                "The store keeps sessions under their id's hash "
                "(sessionkit.hash_ids): hash ID with the hash line of --keys "
                "first");
  if (add_keys) {
    cmd->add_option("--keys", *keys_file,
                    "Key file (as sessionkit.keys): decrypts the session, "
                    "and with --hash-ids its hash line hashes ID")
        ->type_name("FILE");
  }
}

Result<std::string> CliStoreKey(const std::string& id,
                                const std::string& keys_file, bool hash_ids) {
  EngineOptions options;
  options.hash_ids = hash_ids;
  options.setting_name = CliFlagName;
  if (hash_ids && !keys_file.empty()) {
    auto ring = KeyRing::Load(keys_file);
    if (!ring.ok()) return ring.status();
    options.keys = std::move(ring).value();
  }
  return StoreKey(options, id);
}

}  // namespace sessionkit::cli
