// The C ABI of the lifetime policy and size limits (c_api.h: sk_write_for,
// sk_touch_for, sk_check_bot_pattern); the engine settings that turn them
// on are in engine_settings.cc.
#include <optional>
#include <string>
#include <string_view>

#include "capi/c_api_internal.h"
#include "capi/engine_settings.h"
#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"
#include "sessionkit/lifetime.h"

namespace sessionkit {
namespace {

static_assert(kDefaultBotLifetime ==
              std::chrono::seconds(SK_DEFAULT_BOT_LIFETIME_S));

ClientInfo ClientOf(const sk_request* request) {
  ClientInfo client;
  if (request == nullptr) return client;
  client.http = request->http != 0;
  if (request->user_agent != nullptr) {
    client.user_agent =
        std::string_view(request->user_agent, request->user_agent_len);
  }
  return client;
}

// The engine's lock of `lock` with the write count `request` read.
SessionLock LockFor(const sk_lock* lock, const sk_request* request) {
  SessionLock out = SessionLockOf(lock);
  if (request != nullptr) out.read_writes = request->read_writes;
  return out;
}

// Runs `op` (SessionEngine&, const CompressionOptions&) -> Status on the
// engine of `engine` with the compression settings of `compression`,
// reporting into `result` as every entry point does.
template <typename Op>
sk_code OnEngine(sk_engine* engine, const sk_compression* compression,
                 sk_result* result, const char* what, Op&& op) noexcept {
  return CallEngine(engine, result, what, [&](SessionEngine& e) -> sk_code {
    auto options = CompressionOptionsOf(compression);
    if (!options.ok()) return SetResultStatus(result, options.status());
    return SetResultStatus(result, op(e, *options));
  });
}

}  // namespace
}  // namespace sessionkit

using sessionkit::LockFor;
using sessionkit::View;

extern "C" {

sk_code sk_write_for(sk_engine* engine, const char* id, size_t id_len,
                     const char* data, size_t data_len, int64_t ttl_ms,
                     const sk_lock* lock, const sk_compression* compression,
                     const sk_request* request, sk_result* result) noexcept {
  return sessionkit::OnEngine(
      engine, compression, result, "while writing a session",
      [&](sessionkit::SessionEngine& e,
          const sessionkit::CompressionOptions& options) {
        return e.Write(View(id, id_len), View(data, data_len),
                       sessionkit::Duration(ttl_ms), LockFor(lock, request),
                       options, sessionkit::ClientOf(request));
      });
}

sk_code sk_touch_for(sk_engine* engine, const char* id, size_t id_len,
                     const char* data, size_t data_len, int64_t ttl_ms,
                     const sk_lock* lock, const sk_compression* compression,
                     const sk_request* request, sk_result* result) noexcept {
  return sessionkit::OnEngine(
      engine, compression, result, "while touching a session",
      [&](sessionkit::SessionEngine& e,
          const sessionkit::CompressionOptions& options) {
        std::optional<std::string_view> payload;
        if (data != nullptr) payload = View(data, data_len);
        return e.Touch(View(id, id_len), sessionkit::Duration(ttl_ms),
                       LockFor(lock, request), sessionkit::ClientOf(request),
                       payload, options);
      });
}

sk_code sk_check_bot_pattern(const char* pattern, size_t pattern_len,
                             sk_result* result) noexcept {
  return sessionkit::CallGuarded(
      result, "while checking sessionkit.bot_pattern", [&]() -> sk_code {
        sessionkit::LifetimeOptions options;
        options.bot_pattern.assign(View(pattern, pattern_len));
        auto policy = sessionkit::LifetimePolicy::Create(
            std::move(options), sessionkit::PhpSettingNameOf);
        return sessionkit::SetResultStatus(result, policy.status());
      });
}

}  // extern "C"
