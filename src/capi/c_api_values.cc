// The C ABI's entry points over ids, codec names and store URLs
// (c_api.h: sk_create_id, sk_generate_id, sk_validate_id, sk_parse_codec,
// sk_redact_spec): small calls that c_api.cc's helpers guard as the rest.
#include <string>
#include <string_view>

#include "capi/c_api_internal.h"
#include "capi/engine_settings.h"
#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"
#include "sessionkit/session_id.h"
#include "sessionkit/store_url.h"

namespace sessionkit {
namespace {

sk_code SetId(sk_result* r, const Result<std::string>& id) {
  if (!id.ok()) return SetResultStatus(r, id.status());
  return SetResultData(r, *id);
}

SessionIdOptions IdOptions(size_t length, int bits_per_char) {
  SessionIdOptions options;
  options.length = length;
  options.bits_per_char = bits_per_char;
  return options;
}

}  // namespace
}  // namespace sessionkit

using sessionkit::View;

extern "C" {

sk_code sk_create_id(sk_engine* engine, size_t length, int bits_per_char,
                     sk_result* result) noexcept {
  return sessionkit::CallEngine(
      engine, result, "while creating a session id",
      [&](sessionkit::SessionEngine& e) -> sk_code {
        return sessionkit::SetId(
            result, e.CreateId(sessionkit::IdOptions(length, bits_per_char)));
      });
}

sk_code sk_generate_id(size_t length, int bits_per_char,
                       sk_result* result) noexcept {
  return sessionkit::CallGuarded(
      result, "while creating a session id", [&]() -> sk_code {
        return sessionkit::SetId(
            result, sessionkit::GenerateSessionId(
                        sessionkit::IdOptions(length, bits_per_char)));
      });
}

sk_code sk_validate_id(const char* id, size_t id_len,
                       sk_result* result) noexcept {
  return sessionkit::CallGuarded(
      result, "while checking a session id", [&]() -> sk_code {
        return sessionkit::SetResultStatus(
            result, sessionkit::ValidateSessionId(View(id, id_len)));
      });
}

sk_code sk_parse_codec(const char* name, size_t name_len, sk_codec* codec,
                       sk_result* result) noexcept {
  return sessionkit::CallGuarded(
      result, "while reading a compression setting", [&]() -> sk_code {
        auto parsed = sessionkit::ParseCompressionCodec(View(name, name_len));
        if (!parsed.ok()) {
          return sessionkit::SetResultStatus(
              result, sessionkit::Status::InvalidArgument(
                          sessionkit::PhpSettingNameOf("") +
                          parsed.status().message()));
        }
        if (codec != nullptr) *codec = static_cast<sk_codec>(*parsed);
        return SK_OK;
      });
}

sk_code sk_redact_spec(const char* spec, size_t spec_len,
                       sk_result* result) noexcept {
  return sessionkit::CallGuarded(
      result, "while redacting a store URL", [&]() -> sk_code {
        return sessionkit::SetResultData(
            result, sessionkit::RedactStoreSpec(View(spec, spec_len)));
      });
}

}  // extern "C"
