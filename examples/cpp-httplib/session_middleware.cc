#include "session_middleware.h"

#include <charconv>
#include <cstdio>
#include <utility>

#include "sessionkit/session_id.h"

namespace skexample {

using sessionkit::ReadResult;
using sessionkit::Result;
using sessionkit::SessionLock;
using sessionkit::Status;

namespace {

// The value of cookie `name` in the request's Cookie header; empty if none.
std::string CookieValue(const httplib::Request& req, std::string_view name) {
  std::string all = req.get_header_value("Cookie");
  for (std::string_view rest = all; !rest.empty();) {
    size_t end = rest.find(';');
    std::string_view pair = rest.substr(0, end);
    rest = end == std::string_view::npos ? "" : rest.substr(end + 1);
    while (pair.starts_with(' ')) pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.starts_with(name) &&
        pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
  }
  return "";
}

// Answers 503 and logs why: the store cannot serve the session now.
void Unavailable(httplib::Response& res, const Status& status) {
  std::fprintf(stderr, "session: %s\n", status.ToString().c_str());
  res.headers.clear();
  res.set_header("Retry-After", "1");
  res.set_content("session store unavailable, try again\n", "text/plain");
  res.status = 503;
}

}  // namespace

std::optional<std::string> Session::Get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

void Session::Set(const std::string& key, std::string value) {
  values_[key] = std::move(value);
  changed_ = true;
}

void Session::Erase(const std::string& key) {
  changed_ = values_.erase(key) > 0 || changed_;
}

httplib::Server::Handler SessionMiddleware::Wrap(SessionHandler handler) const {
  return [this, handler = std::move(handler)](const httplib::Request& req,
                                              httplib::Response& res) {
    std::string id;
    ReadResult read;
    bool is_new = false;
    if (Status opened = Open(req, &id, &read, &is_new); !opened.ok()) {
      return Unavailable(res, opened);
    }
    // From here on the session's lock is held: every path releases it.
    Session session;
    auto values = ParseValues(read.payload);
    if (!values) {
      (void)engine_.Unlock(id, read.lock);
      res.set_content("session data not understood\n", "text/plain");
      res.status = 500;
      return;
    }
    session.values_ = std::move(*values);
    try {
      handler(req, res, session);
    } catch (...) {
      (void)engine_.Unlock(id, read.lock);
      throw;  // cpp-httplib answers 500
    }
    if (Status closed = Close(&id, read.lock, is_new, session, res);
        !closed.ok()) {
      Unavailable(res, closed);
    }
  };
}

Status SessionMiddleware::Open(const httplib::Request& req, std::string* id,
                               ReadResult* read, bool* is_new) const {
  std::string cookie = CookieValue(req, options_.cookie_name);
  // A malformed id never reaches the store (ValidateSessionId is what the
  // engine checks too; checking first saves the error).
  if (sessionkit::ValidateSessionId(cookie).ok()) {
    Result<ReadResult> result = engine_.ReadForUpdate(cookie, options_.lock);
    if (!result.ok()) return result.status();
    if (result->found) {
      *id = std::move(cookie);
      *read = std::move(result).value();
      *is_new = false;
      return Status::OK();
    }
    // Unknown, expired or destroyed: strict mode, the id is not adopted
    // (someone may have chosen it for the victim to use).
    SK_RETURN_IF_ERROR(engine_.Unlock(cookie, result->lock));
  }
  // A new session: nobody else knows its id yet, so it needs no lock.
  Result<std::string> created = engine_.CreateId();
  if (!created.ok()) return created.status();
  *id = std::move(created).value();
  *read = ReadResult{};
  *is_new = true;
  return Status::OK();
}

Status SessionMiddleware::Close(std::string* id, SessionLock lock, bool is_new,
                                const Session& session,
                                httplib::Response& res) const {
  if (session.destroy_) {
    // Ends the lock too: a request of this session still running cannot
    // write it back.
    SK_RETURN_IF_ERROR(engine_.Destroy(*id));
    SetCookie(res, "", /*clear=*/true);
    return Status::OK();
  }
  bool changed = session.changed_ || is_new;
  if (session.regenerate_ && !is_new) {
    // The old id leads to the new session for a short grace, then is gone.
    Result<std::string> new_id = engine_.CreateId();
    Result<ReadResult> replaced =
        new_id.ok() ? engine_.ReadReplacing(*new_id, options_.lock, *id, lock,
                                            options_.regenerate_grace)
                    : Result<ReadResult>(new_id.status());
    if (!replaced.ok()) {
      (void)engine_.Unlock(*id, lock);
      return replaced.status();
    }
    *id = std::move(new_id).value();
    lock = replaced->lock;
    is_new = changed = true;
  }
  if (!changed) {
    // Nothing changed: extend its life without rewriting it.
    Status touched = engine_.Touch(*id, options_.ttl, lock);
    // NotFound: it expired meanwhile (the lock is released): store it anew.
    if (!touched.IsNotFound()) return touched;
    lock = SessionLock{};
  }
  SK_RETURN_IF_ERROR(
      engine_.Write(*id, SerializeValues(session.values_), options_.ttl, lock));
  if (is_new) SetCookie(res, *id, /*clear=*/false);
  return Status::OK();
}

void SessionMiddleware::SetCookie(httplib::Response& res,
                                  const std::string& value, bool clear) const {
  std::string cookie =
      options_.cookie_name + "=" + value + "; Path=/; HttpOnly; SameSite=Lax";
  if (clear) cookie += "; Max-Age=0";
  if (options_.secure_cookie) cookie += "; Secure";
  res.set_header("Set-Cookie", cookie);
}

std::string SerializeValues(const std::map<std::string, std::string>& values) {
  std::string out;
  for (const auto& [key, value] : values) {
    out += key + "|s:" + std::to_string(value.size()) + ":\"" + value + "\";";
  }
  return out;
}

std::optional<std::map<std::string, std::string>> ParseValues(
    std::string_view payload) {
  std::map<std::string, std::string> values;
  while (!payload.empty()) {
    size_t bar = payload.find('|');
    if (bar == std::string_view::npos ||
        !payload.substr(bar + 1).starts_with("s:")) {
      return std::nullopt;
    }
    std::string key(payload.substr(0, bar));
    payload.remove_prefix(bar + 3);
    size_t size = 0;
    auto [end, error] =
        std::from_chars(payload.data(), payload.data() + payload.size(), size);
    if (error != std::errc()) return std::nullopt;
    payload.remove_prefix(end - payload.data());
    // :"<size bytes>";
    if (!payload.starts_with(":\"") || payload.size() < 4 ||
        size > payload.size() - 4 || payload.substr(2 + size, 2) != "\";") {
      return std::nullopt;
    }
    values[key] = std::string(payload.substr(2, size));
    payload.remove_prefix(size + 4);
  }
  return values;
}

}  // namespace skexample
