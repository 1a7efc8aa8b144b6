// Access from an sk_engine handle to the C++ engine behind it, for tests and
// C++ code that mixes both APIs.
#ifndef SESSIONKIT_CAPI_C_API_INTERNAL_H_
#define SESSIONKIT_CAPI_C_API_INTERNAL_H_

#include <cstddef>
#include <string_view>

#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"

namespace sessionkit {

// The engine behind `handle` (never null for a handle sk_engine_get
// returned). The engine lives while its handle is valid (c_api.h).
SessionEngine* EngineOf(sk_engine* handle);

// The most engines the cache keeps when no caller holds them.
inline constexpr size_t kMaxCachedEngines = 8;

// How many engines the cache holds now, and whether it holds one for
// `spec`; for tests.
size_t CachedEngineCount();
bool IsEngineCached(std::string_view spec);

}  // namespace sessionkit

#endif  // SESSIONKIT_CAPI_C_API_INTERNAL_H_
