// Access from an sk_engine handle to the C++ engine behind it, for tests and
// C++ code that mixes both APIs.
#ifndef SESSIONKIT_CAPI_C_API_INTERNAL_H_
#define SESSIONKIT_CAPI_C_API_INTERNAL_H_

#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"

namespace sessionkit {

// The engine behind `handle` (never null for a handle sk_engine_get
// returned). The engine lives until the process exits.
SessionEngine* EngineOf(sk_engine* handle);

}  // namespace sessionkit

#endif  // SESSIONKIT_CAPI_C_API_INTERNAL_H_
