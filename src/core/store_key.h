// The key a store keeps a session under: its id, or with hash_ids the id's
// keyed hash (KeyRing::HashSessionId), so that a copy of the store does not
// hand out live session ids (docs/hashed-ids.md). Every call of the engine
// that passes an id to its store goes through StoreKey.
#ifndef SESSIONKIT_CORE_STORE_KEY_H_
#define SESSIONKIT_CORE_STORE_KEY_H_

#include <string>
#include <string_view>

#include "sessionkit/engine.h"
#include "sessionkit/status.h"

namespace sessionkit {

// OK unless `options` asks for hash_ids without a key ring that holds a
// hash secret: then InvalidArgument naming both settings (by
// options.setting_name) and how to fix it.
Status CheckIdHashing(const EngineOptions& options);

// The store key of the valid session id `id`: `id` itself, or its hash when
// options.hash_ids is on. InvalidArgument for an id that starts with
// kInternalKeyPrefix (users.h): such keys are sessionkit's own records.
// Errors as CheckIdHashing (nothing may then reach
// the store under the plain id).
Result<std::string> StoreKey(const EngineOptions& options, std::string_view id);

}  // namespace sessionkit

#endif  // SESSIONKIT_CORE_STORE_KEY_H_
