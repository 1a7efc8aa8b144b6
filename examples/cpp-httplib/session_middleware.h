// Cookie sessions for cpp-httplib on a sessionkit engine. Each request that
// goes through SessionMiddleware::Wrap is one session cycle, as PHP's
// session_start() ... session_write_close() is:
//
//   cookie -> id (unknown or malformed: a new id, never adopted)
//          -> ReadForUpdate (the session's lock is taken)
//          -> the handler reads and changes the Session
//          -> Write (or Touch when nothing changed), releasing the lock
//
// so the lock is held for the whole handler and concurrent requests of one
// session run one after the other: none loses another's update. Store
// errors become 503 responses; the handler never sees them.
#ifndef SESSIONKIT_EXAMPLES_CPP_HTTPLIB_SESSION_MIDDLEWARE_H_
#define SESSIONKIT_EXAMPLES_CPP_HTTPLIB_SESSION_MIDDLEWARE_H_

#include <httplib.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/engine.h"

namespace skexample {

// The session of one request: its values, a flat map of strings, which the
// handler reads and changes. Stored in PHP's session format (key|s:N:"...";)
// so that `sessionkit get` shows it and a PHP application could read it.
class Session {
 public:
  std::optional<std::string> Get(const std::string& key) const;
  void Set(const std::string& key, std::string value);
  void Erase(const std::string& key);
  const std::map<std::string, std::string>& values() const { return values_; }

  // Gives the session a new id when the request ends, keeping its values:
  // call it when the user's privileges change (a login), so that an id
  // known before (a fixated one) is worth nothing after.
  void Regenerate() { regenerate_ = true; }
  // Destroys the session when the request ends and clears the cookie.
  void Destroy() { destroy_ = true; }

 private:
  friend class SessionMiddleware;

  std::map<std::string, std::string> values_;
  bool changed_ = false;
  bool regenerate_ = false;
  bool destroy_ = false;
};

// A route's handler, given the request's session.
using SessionHandler =
    std::function<void(const httplib::Request&, httplib::Response&, Session&)>;

struct SessionOptions {
  std::string cookie_name = "SKSESSID";
  // How long a session lives after its last request.
  sessionkit::Duration ttl = std::chrono::minutes(24);
  // The session lock. enabled=false reads and writes without it: concurrent
  // requests of one session then overwrite each other's changes (the
  // example's --no-lock shows this). A wait that runs out fails the request
  // (503) rather than reading it without the lock, whose write would be
  // skipped.
  sessionkit::LockOptions lock = [] {
    sessionkit::LockOptions lock;
    lock.timeout_action = sessionkit::LockTimeoutAction::kFail;
    return lock;
  }();
  // How long the id a Regenerate retires still leads to the session, for
  // requests the browser sent before it got the new cookie.
  sessionkit::Duration regenerate_grace = sessionkit::kDefaultRegenerateGrace;
  // Adds Secure to the cookie: set it when the site is served over HTTPS.
  bool secure_cookie = false;
};

// Thread safety: Wrap's handlers may run concurrently (the engine is).
class SessionMiddleware {
 public:
  // `engine` must outlive the middleware and every handler Wrap returns.
  SessionMiddleware(sessionkit::SessionEngine& engine, SessionOptions options)
      : engine_(engine), options_(std::move(options)) {}

  // A cpp-httplib handler running `handler` inside a session cycle.
  httplib::Server::Handler Wrap(SessionHandler handler) const;

 private:
  // The request's session: the cookie's, when the store holds it, else a
  // new one. Sets *id, *read and whether the session is new.
  sessionkit::Status Open(const httplib::Request& req, std::string* id,
                          sessionkit::ReadResult* read, bool* is_new) const;
  // Ends the cycle: destroys, regenerates and stores as the handler asked.
  sessionkit::Status Close(std::string* id, sessionkit::SessionLock lock,
                           bool is_new, const Session& session,
                           httplib::Response& res) const;
  void SetCookie(httplib::Response& res, const std::string& value,
                 bool clear) const;

  sessionkit::SessionEngine& engine_;
  const SessionOptions options_;
};

// PHP's session format ("php" serialize_handler) for string values only:
// the format sessionkit's CLI decodes. Parse fails on anything else.
std::string SerializeValues(const std::map<std::string, std::string>& values);
std::optional<std::map<std::string, std::string>> ParseValues(
    std::string_view payload);

}  // namespace skexample

#endif  // SESSIONKIT_EXAMPLES_CPP_HTTPLIB_SESSION_MIDDLEWARE_H_
