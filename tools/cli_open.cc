// How every verb opens the store a URL names, and the engine of the verbs
// that lock.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "cli.h"
#include "php_payload.h"
#include "sessionkit/engine.h"
#include "sessionkit/keyring.h"
#include "sessionkit/open.h"
#include "sessionkit/store_url.h"

namespace sessionkit::cli {

int OpenCliStore(const std::string& url, std::unique_ptr<Store>* out,
                 std::string* error) {
  auto urls = ParseStoreSpec(url);
  if (!urls.ok()) {
    *error = "bad store URL: " + urls.status().message();
    return kExitUsage;
  }
  auto store = OpenStore(url);  // checks the settings; creates nothing
  if (!store.ok() && store.status().IsInvalidArgument()) {
    *error = "bad store URL: " + store.status().message();
    return kExitUsage;
  }
  // The LMDB store creates a missing directory; for an inspection tool a
  // mistyped path must be an error, not a new empty store.
  for (const StoreUrl& u : *urls) {
    if (u.scheme != "lmdb") continue;
    std::error_code ec;
    if (!std::filesystem::is_directory(u.path, ec)) {
      *error = "no LMDB store at '" + EscapeBytes(u.path) +
               "': the directory does not exist";
      return kExitFailure;
    }
  }
  if (!store.ok()) {
    *error = store.status().message();
    return kExitFailure;
  }
  *out = std::move(store).value();
  return kExitOk;
}

std::string CliFlagName(std::string_view setting) {
  std::string flag = "--" + std::string(setting);
  std::replace(flag.begin() + 2, flag.end(), '_', '-');
  return flag;
}

std::unique_ptr<SessionEngine> OpenCliEngineOver(std::unique_ptr<Store> store,
                                                 const std::string& keys_file,
                                                 const std::string& verb,
                                                 std::ostream& err,
                                                 std::string* error,
                                                 bool hash_ids) {
  EngineOptions options;
  options.hash_ids = hash_ids;
  if (!keys_file.empty()) {
    auto loaded = KeyRing::Load(keys_file);
    if (!loaded.ok()) {
      *error = "--keys: " + loaded.status().message();
      return nullptr;
    }
    options.keys = std::move(loaded).value();
  }
  options.log = [&err, verb](LogLevel level, std::string_view message) {
    if (level != LogLevel::kDebug) {
      err << "sessionkit " << verb << ": " << message << "\n";
    }
  };
  options.setting_name = CliFlagName;
  return std::make_unique<SessionEngine>(std::move(store), options);
}

}  // namespace sessionkit::cli
