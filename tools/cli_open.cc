// How every verb opens the store a URL names.
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "cli.h"
#include "php_payload.h"
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

}  // namespace sessionkit::cli
