// Maps a parsed store URL to its backend, and opens engines over them.
#include "sessionkit/open.h"

#include <string>
#include <utility>

#include "sessionkit/stores/lmdb.h"
#include "sessionkit/stores/redis.h"

namespace sessionkit {

Result<std::unique_ptr<Store>> OpenStore(const StoreUrl& url) {
  if (url.scheme == "lmdb") {
    auto options = LmdbOptions::FromUrl(url);
    if (!options.ok()) return options.status();
    return OpenLmdbStore(*options);
  }
  if (url.scheme == "redis" || url.scheme == "rediss" ||
      url.scheme == "redis+sentinel" || url.scheme == "redis+cluster") {
    auto options = RedisOptions::FromUrl(url);
    if (!options.ok()) return options.status();
    return OpenRedisStore(*options);
  }
  return Status::NotSupported(url.Redacted() + ": the " + url.scheme +
                              " store is not available in this build (it "
                              "has the lmdb and redis stores)");
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view spec) {
  auto urls = ParseStoreSpec(spec);
  if (!urls.ok()) return urls.status();
  if (urls->size() != 1) {
    return Status::NotSupported(
        "several store URLs (tiers) are not available in this build; give "
        "one store URL");
  }
  return OpenStore(urls->front());
}

Result<std::unique_ptr<SessionEngine>> OpenEngine(std::string_view spec,
                                                  EngineOptions options) {
  auto store = OpenStore(spec);
  if (!store.ok()) return store.status();
  return std::make_unique<SessionEngine>(std::move(store).value(),
                                         std::move(options));
}

}  // namespace sessionkit
