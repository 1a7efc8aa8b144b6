// Opening stores and engines from store URLs (store_url.h): the layer above
// the engine and the stores, and the only one that knows every backend of
// this build. The C ABI, the CLI and C++ servers open through it; the
// engine itself is given a Store and knows no backend and no URL.
#ifndef SESSIONKIT_OPEN_H_
#define SESSIONKIT_OPEN_H_

#include <memory>
#include <string_view>

#include "sessionkit/engine.h"
#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"

namespace sessionkit {

// Opens the backend a parsed URL names, reading its settings with the
// store's Options::FromUrl first. InvalidArgument naming a bad setting,
// NotSupported for a scheme this build has no backend for, Unavailable when
// the backend cannot be reached. Opening is cheap: stores connect lazily.
// The store asks `env` for clocks, sleeps and processes (env.h; nullptr:
// Env::Default()); it must outlive the store.
Result<std::unique_ptr<Store>> OpenStore(const StoreUrl& url,
                                         Env* env = nullptr);

// Parses `spec` (one URL or several tiers, see store_url.h) and opens it.
// The settings of every tier are checked before anything is opened, so a
// bad value is InvalidArgument (naming the tier when there are several)
// even where the spec could not be opened anyway.
Result<std::unique_ptr<Store>> OpenStore(std::string_view spec,
                                         Env* env = nullptr);

// Opens the store(s) named by `spec` and an engine over them; engine and
// stores share options.env.
// InvalidArgument for a malformed spec, or for options.hash_ids without a
// key ring holding a hash secret (nothing is opened then); NotSupported for a
// scheme without a backend in this build.
Result<std::unique_ptr<SessionEngine>> OpenEngine(std::string_view spec,
                                                  EngineOptions options = {});

}  // namespace sessionkit

#endif  // SESSIONKIT_OPEN_H_
