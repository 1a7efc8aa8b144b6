// sk_engine_settings (c_api.h) turned into EngineOptions, and the key under
// which the C ABI's engine cache keeps an engine opened with them.
#ifndef SESSIONKIT_CAPI_ENGINE_SETTINGS_H_
#define SESSIONKIT_CAPI_ENGINE_SETTINGS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"
#include "sessionkit/status.h"

namespace sessionkit {

// A C caller's (pointer, length) as a view: a null pointer is empty
// whatever the length says.
inline std::string_view View(const char* data, size_t size) {
  return data == nullptr ? std::string_view() : std::string_view(data, size);
}

// The cache key of an engine for `spec` with `settings` (nullptr: none):
// equal for two calls exactly when they must share one engine. A spec
// alone (no setting on) is its own key.
std::string EngineCacheKey(std::string_view spec,
                           const sk_engine_settings* settings);

// Sets in `options` what `settings` ask for (nullptr: nothing).
// InvalidArgument naming the ini entry when a setting cannot be used.
Status ApplyEngineSettings(const sk_engine_settings* settings,
                           EngineOptions* options);

// Sets options->metrics to the sink of the metrics file `settings` name
// (nullptr or none named: nothing), labelled with the store of `spec`.
// A file that cannot be used is the returned warning (the engine opens
// without metrics); empty when all went well.
std::string ApplyMetricsSetting(const sk_engine_settings* settings,
                                std::string_view spec, EngineOptions* options);

}  // namespace sessionkit

#endif  // SESSIONKIT_CAPI_ENGINE_SETTINGS_H_
