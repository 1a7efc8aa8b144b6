// The callback store: a store whose primitives (get, set, add, delete) are
// C callbacks registered under a name (store_callbacks.h), for stores
// written in another language. PHP registers objects of its
// SessionKit\Store interface with sessionkit_register_store() and names
// them in session.save_path:
//
//   php://NAME
//
// The engine on top gives such a store what it gives any store: locking
// (a lock item taken with `add`), compression, encryption, lifetimes and
// metrics. docs/php-stores.md describes the keys, the values, the lock and
// what a store must guarantee.
#ifndef SESSIONKIT_STORES_CALLBACK_H_
#define SESSIONKIT_STORES_CALLBACK_H_

#include <memory>
#include <string>
#include <string_view>

#include "sessionkit/env.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/store_callbacks.h"
#include "sessionkit/store_url.h"

namespace sessionkit {

struct CallbackOptions {
  // The name the callbacks are registered under (php://NAME).
  std::string name;
  // Clocks and sleeps; nullptr: Env::Default().
  Env* env = nullptr;

  // Reads php://NAME (no parameters of its own).
  static Result<CallbackOptions> FromUrl(const StoreUrl& url);
};

// Opens the store of `options.name`. Nothing is looked up now: each call
// uses the callbacks registered under the name on the calling thread at
// that moment, and fails with InvalidArgument naming the store when there
// are none ("no store registered under this name"). A store may so outlive
// a registration (an engine kept across PHP requests); it never calls one
// that was withdrawn.
Result<std::unique_ptr<Store>> OpenCallbackStore(
    const CallbackOptions& options);

// Who may call a registration's callbacks.
enum class CallbackScope {
  // Only the registering thread: other threads do not see it (PHP, whose
  // objects belong to the thread of their request).
  kThisThread,
  // Every thread of the process: the callbacks are thread-safe. A
  // registration of the calling thread under the same name comes first.
  kAnyThread,
};

// Registers `callbacks` and `user` under `name`, replacing an earlier
// registration of the name in the same scope. `callbacks` and `user` must
// stay valid until withdrawn. InvalidArgument when `name` is not a valid
// store name (php://NAME must parse) or a callback is missing.
Status RegisterCallbackStore(std::string_view name,
                             const sk_store_callbacks* callbacks, void* user,
                             CallbackScope scope = CallbackScope::kThisThread);

// Withdraws every registration of `scope` (kThisThread: the calling
// thread's, as at the end of a PHP request). Stores opened on them fail
// from now on until the names are registered again.
void UnregisterCallbackStores(CallbackScope scope = CallbackScope::kThisThread);

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_CALLBACK_H_
