// Access from an sk_engine handle to the C++ engine behind it, for tests and
// C++ code that mixes both APIs.
#ifndef SESSIONKIT_CAPI_C_API_INTERNAL_H_
#define SESSIONKIT_CAPI_C_API_INTERNAL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"
#include "sessionkit/status.h"

namespace sessionkit {

// The engine behind `handle` (never null for a handle sk_engine_get
// returned). The engine lives while its handle is valid (c_api.h).
SessionEngine* EngineOf(sk_engine* handle);

// A reference to a callable, made without allocating. Entry points pass
// their bodies as this rather than as std::function: a std::function is
// built before the entry point's try, and its allocation failing in a
// noexcept function would end the worker instead of returning SK_INTERNAL.
// The callable must outlive the reference (a lambda passed in the call).
template <typename Signature>
class CallableRef;
template <typename R, typename... Args>
class CallableRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<
                            std::remove_cvref_t<F>, CallableRef>>>
  CallableRef(F&& callable) noexcept  // NOLINT: implicit, as std::function
      : object_(const_cast<void*>(
            static_cast<const void*>(std::addressof(callable)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(
              std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const {
    return call_(object_, std::forward<Args>(args)...);
  }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

// For C ABI functions defined outside c_api.cc (c_api_lifetime.cc,
// c_api_users.cc), the helpers every entry point uses (with CallEngine,
// SetResultStatus and SetResultData below): runs `body` with the engine's
// log lines captured into `result` and every exception turned into
// SK_INTERNAL (`result` must be non-null); the lock and the compression
// settings of C arguments (InvalidArgument naming the setting for a value
// out of range).
sk_code CallGuarded(sk_result* result, const char* what,
                    CallableRef<sk_code()> body) noexcept;
SessionLock SessionLockOf(const sk_lock* lock);
Result<CompressionOptions> CompressionOptionsOf(const sk_compression* c);
// What messages call setting `setting`: PHP's ini entry.
std::string PhpSettingNameOf(std::string_view setting);

// The most engines the cache keeps when no caller holds them.
inline constexpr size_t kMaxCachedEngines = 8;

// How many engines the cache holds now, and whether it holds one for
// `spec`; for tests.
size_t CachedEngineCount();
bool IsEngineCached(std::string_view spec);

// For the C ABI's other files (c_api_users.cc): runs `body` on the engine
// behind `handle` as every entry point does (log lines captured into
// `result`, any exception turned into SK_INTERNAL naming `what`, a NULL
// handle refused). `result` is reset first; NULL is SK_INTERNAL.
sk_code CallEngine(sk_engine* handle, sk_result* result, const char* what,
                   CallableRef<sk_code(SessionEngine&)> body) noexcept;
// Sets result->code, and result->message unless OK; returns the code.
sk_code SetResultStatus(sk_result* result, const Status& status);
// Copies `data` into result->data (NUL-terminated) and data_len; SK_OK, or
// SK_INTERNAL when memory ran out.
sk_code SetResultData(sk_result* result, std::string_view data);

}  // namespace sessionkit

#endif  // SESSIONKIT_CAPI_C_API_INTERNAL_H_
