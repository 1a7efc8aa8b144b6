// The C ABI of stores written in the caller's language (c_api.h:
// sk_store_register, sk_store_unregister_all) over the callback store's
// registry (stores/callback.h). No exception leaves this file.
#include <string_view>

#include "capi/c_api_internal.h"
#include "sessionkit/c_api.h"
#include "sessionkit/stores/callback.h"

extern "C" {

sk_code sk_store_register(const char* name, size_t name_len,
                          const sk_store_callbacks* callbacks, void* user,
                          sk_result* result) noexcept {
  return sessionkit::CallGuarded(
      result, "while registering a store", [&]() -> sk_code {
        if (name == nullptr && name_len > 0) {
          return sessionkit::SetResultStatus(
              result,
              sessionkit::Status::InvalidArgument("a store's name is missing"));
        }
        return sessionkit::SetResultStatus(
            result, sessionkit::RegisterCallbackStore(
                        std::string_view(name == nullptr ? "" : name, name_len),
                        callbacks, user));
      });
}

void sk_store_unregister_all(void) noexcept {
  try {
    sessionkit::UnregisterCallbackStores();
  } catch (...) {
    // Clearing a map does not throw; nothing to report from here.
  }
}

}  // extern "C"
