// SessionEngine: what a web server's session layer calls (the PHP extension
// through the C API, or a C++ server directly). It validates ids, encodes
// payloads into frames and drives one Store. It holds no PHP types and opens
// no socket itself.
#ifndef SESSIONKIT_ENGINE_H_
#define SESSIONKIT_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/session_id.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"

namespace sessionkit {

enum class LogLevel { kDebug, kNotice, kWarning };

// Receives what an operator should see: corrupt data read as empty, a full
// store, a refused write. Must not throw.
using LogFunction = std::function<void(LogLevel, std::string_view)>;

struct EngineOptions {
  // Where warnings go; empty to drop them.
  LogFunction log;
};

// The outcome of SessionEngine::Read.
struct ReadResult {
  // The session payload (PHP's serialized session data); empty when the
  // session is new, expired, or its stored data was unreadable.
  std::string payload;
  // True when a live session was found and decoded.
  bool found = false;
};

// Thread safety: safe for concurrent use when the store is (every shipped
// store is). Engines are meant to be long-lived: one per process and store
// spec, reused across requests.
class SessionEngine {
 public:
  // Opens the store(s) named by `store_spec` (see store_url.h).
  // InvalidArgument for a malformed spec, NotSupported for a scheme without a
  // backend in this build.
  static Result<std::unique_ptr<SessionEngine>> Open(
      std::string_view store_spec, EngineOptions options = {});

  // Uses an already opened store.
  SessionEngine(std::unique_ptr<Store> store, EngineOptions options);

  SessionEngine(const SessionEngine&) = delete;
  SessionEngine& operator=(const SessionEngine&) = delete;

  // Reads a session. A missing or expired session is found=false with an
  // empty payload. Stored data that cannot be decoded is logged as a warning
  // and read as an empty session (found=false), never an error. Errors:
  // InvalidArgument for a bad id, Unavailable when the store cannot answer.
  Result<ReadResult> Read(std::string_view id);

  // Stores `payload` for `id`, expiring `ttl` from now. ResourceExhausted
  // when the store is full (also logged as a warning).
  Status Write(std::string_view id, std::string_view payload, Duration ttl);

  // Extends the life of an unchanged session without rewriting it. When the
  // session vanished meanwhile (NotFound), the caller should Write instead.
  Status Touch(std::string_view id, Duration ttl);

  // Deletes a session; OK if it did not exist.
  Status Destroy(std::string_view id);

  // Removes expired sessions; returns how many.
  Result<GcResult> Gc();

  // True when a live session `id` exists (PHP's validate_sid). A malformed
  // id is simply false.
  Result<bool> Exists(std::string_view id);

  // Creates a fresh id (CSPRNG, >= 128 bits) that no live session uses.
  Result<std::string> CreateId(const SessionIdOptions& options = {});

  // The underlying store (for the CLI and tests).
  Store& store() { return *store_; }

 private:
  void Log(LogLevel level, std::string_view message) const;

  std::unique_ptr<Store> store_;
  EngineOptions options_;
};

}  // namespace sessionkit

#endif  // SESSIONKIT_ENGINE_H_
