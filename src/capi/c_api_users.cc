// The C ABI of sessions by user (c_api.h: sk_set_user, sk_user_sessions,
// sk_destroy_user) over SessionEngine's SetUser, UserSessions and
// DestroyUser. Every entry point runs through CallEngine: no exception
// leaves this file.
#include <string>

#include "capi/c_api_internal.h"
#include "capi/engine_settings.h"
#include "sessionkit/c_api.h"
#include "sessionkit/engine.h"
#include "sessionkit/users.h"

static_assert(sessionkit::kMaxUserNameLength == SK_MAX_USER_LEN);

using sessionkit::CallEngine;
using sessionkit::SessionEngine;
using sessionkit::SetResultStatus;
using sessionkit::View;

extern "C" {

sk_code sk_set_user(sk_engine* engine, const char* id, size_t id_len,
                    const char* user, size_t user_len, int64_t ttl_ms,
                    sk_result* result) noexcept {
  return CallEngine(engine, result, "while setting a session's user",
                    [&](SessionEngine& e) -> sk_code {
                      return SetResultStatus(
                          result,
                          e.SetUser(View(id, id_len), View(user, user_len),
                                    sessionkit::Duration(ttl_ms)));
                    });
}

sk_code sk_user_sessions(sk_engine* engine, const char* user, size_t user_len,
                         sk_result* result) noexcept {
  return CallEngine(engine, result, "while listing a user's sessions",
                    [&](SessionEngine& e) -> sk_code {
                      auto sessions = e.UserSessions(View(user, user_len));
                      if (!sessions.ok()) {
                        return SetResultStatus(result, sessions.status());
                      }
                      std::string lines;
                      bool known = true;
                      for (const sessionkit::UserSession& s : *sessions) {
                        lines += s.id;
                        lines += '\n';
                        known = known && s.id_known;
                      }
                      result->removed = sessions->size();
                      result->found = known ? 1 : 0;
                      if (lines.empty()) return SK_OK;
                      return sessionkit::SetResultData(result, lines);
                    });
}

sk_code sk_destroy_user(sk_engine* engine, const char* user, size_t user_len,
                        const char* except_id, size_t except_id_len,
                        sk_result* result) noexcept {
  return CallEngine(engine, result, "while destroying a user's sessions",
                    [&](SessionEngine& e) -> sk_code {
                      auto destroyed = e.DestroyUser(
                          View(user, user_len), View(except_id, except_id_len));
                      if (!destroyed.ok())
                        return SetResultStatus(result, destroyed.status());
                      result->removed = *destroyed;
                      return SK_OK;
                    });
}

}  // extern "C"
