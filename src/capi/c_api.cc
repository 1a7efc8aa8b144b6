// The C ABI over SessionEngine (include/sessionkit/c_api.h).
//
// Every entry point catches everything: no exception leaves this file.
// Engine log lines are collected per call through a thread-local sink and
// handed back in the sk_result, never delivered to the caller from inside
// the engine.
#include "sessionkit/c_api.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "capi/c_api_internal.h"
#include "capi/engine_settings.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/open.h"
#include "sessionkit/session_id.h"
#include "sessionkit/status.h"
#include "sessionkit/store_url.h"

#ifndef SK_VERSION_STRING
#define SK_VERSION_STRING "unknown"
#endif

struct sk_engine {
  std::unique_ptr<sessionkit::SessionEngine> engine;
  // Guarded by the cache's mutex: callers holding this handle
  // (sk_engine_get minus sk_engine_release), and when it was last handed
  // out (the cache's counter), for least-recently-used eviction.
  size_t refs = 0;
  uint64_t last_used = 0;
};

namespace sessionkit {
namespace {

struct LogLine {
  LogLevel level;
  std::string message;
};

// The lines logged by engines during the current call on this thread.
// Engines are shared, so the sink cannot live in the engine itself.
thread_local std::vector<LogLine>* tls_log_sink = nullptr;

void EngineLog(LogLevel level, std::string_view message) {
  std::vector<LogLine>* sink = tls_log_sink;
  if (sink == nullptr) return;
  try {
    sink->push_back(LogLine{level, std::string(message)});
  } catch (...) {
    // A log line lost to memory exhaustion must not fail the operation.
  }
}

// The C ABI serves the PHP extension: its messages name PHP's ini entries.
std::string PhpSettingName(std::string_view setting) {
  if (setting == "ttl") return "session.gc_maxlifetime";
  return "sessionkit." + std::string(setting);
}

// Collects engine log lines for the duration of one C API call.
//
// Thread safety: lives on one thread's stack.
class ScopedLogCapture {
 public:
  ScopedLogCapture() : previous_(tls_log_sink) { tls_log_sink = &lines_; }
  ~ScopedLogCapture() { tls_log_sink = previous_; }
  ScopedLogCapture(const ScopedLogCapture&) = delete;
  ScopedLogCapture& operator=(const ScopedLogCapture&) = delete;

  std::vector<LogLine>& lines() { return lines_; }

 private:
  std::vector<LogLine>* previous_;
  std::vector<LogLine> lines_;
};

// Returns a malloc'd NUL-terminated copy, or nullptr when memory ran out.
char* CopyString(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) return nullptr;
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

void ResetResult(sk_result* r) { *r = sk_result SK_RESULT_INIT; }

sk_code SetStatus(sk_result* r, const Status& status) {
  r->code = static_cast<sk_code>(status.code());
  if (!status.ok()) r->message = CopyString(status.message());
  return r->code;
}

sk_code SetError(sk_result* r, sk_code code, std::string_view message) {
  r->code = code;
  r->message = CopyString(message);
  return code;
}

// Moves captured log lines into the result. Lines that cannot be copied for
// lack of memory are dropped.
void AttachLog(sk_result* r, std::vector<LogLine>& lines) {
  if (lines.empty()) return;
  auto* entries = static_cast<sk_log_entry*>(
      std::calloc(lines.size(), sizeof(sk_log_entry)));
  if (entries == nullptr) return;
  size_t n = 0;
  for (const LogLine& line : lines) {
    char* message = CopyString(line.message);
    if (message == nullptr) continue;
    entries[n].level = static_cast<sk_log_level>(line.level);
    entries[n].message = message;
    ++n;
  }
  r->log = entries;
  r->log_count = n;
}

// Runs `body` (which returns sk_code) with log capture and turns any
// exception into SK_INTERNAL. `result` must be non-null.
template <typename Body>
sk_code Guarded(sk_result* result, const char* what, Body&& body) noexcept {
  if (result == nullptr) return SK_INTERNAL;
  ResetResult(result);
  try {
    ScopedLogCapture capture;
    sk_code code;
    try {
      code = body();
    } catch (const std::bad_alloc&) {
      code = SetError(result, SK_INTERNAL,
                      std::string("out of memory in sessionkit ") + what);
    } catch (const std::exception& e) {
      code = SetError(result, SK_INTERNAL,
                      std::string("unexpected error in sessionkit ") + what +
                          ": " + e.what());
    } catch (...) {
      code = SetError(result, SK_INTERNAL,
                      std::string("unexpected error in sessionkit ") + what);
    }
    AttachLog(result, capture.lines());
    return code;
  } catch (...) {
    // Reached only when even building the message failed.
    result->code = SK_INTERNAL;
    return SK_INTERNAL;
  }
}

// Engines live until sk_shutdown, or until evicted: beyond
// kMaxCachedEngines, the least recently used engine that no caller holds is
// closed. The map itself is never destroyed, so no static destructor tears
// an engine down while something may still use it.
struct EngineCache {
  using Map = std::unordered_map<std::string, std::unique_ptr<sk_engine>>;
  std::mutex mu;
  Map engines;
  uint64_t clock = 0;
  // The last engine handed out: web workers use one save path, so most
  // lookups end here without hashing.
  std::string last_spec;
  sk_engine* last = nullptr;
};

EngineCache& Cache() {
  static EngineCache* cache = new EngineCache();
  return *cache;
}

// Moves engines beyond the bound that nobody holds, least recently used
// first, into `evicted`, so that they close after the lock is released.
// Requires cache.mu.
void EvictLocked(EngineCache& cache,
                 std::vector<std::unique_ptr<sk_engine>>* evicted) {
  while (cache.engines.size() > kMaxCachedEngines) {
    auto victim = cache.engines.end();
    for (auto it = cache.engines.begin(); it != cache.engines.end(); ++it) {
      if (it->second->refs != 0) continue;
      if (victim == cache.engines.end() ||
          it->second->last_used < victim->second->last_used) {
        victim = it;
      }
    }
    if (victim == cache.engines.end()) return;  // every engine is held
    if (cache.last == victim->second.get()) {
      cache.last = nullptr;
      cache.last_spec.clear();
    }
    evicted->push_back(std::move(victim->second));
    cache.engines.erase(victim);
  }
}

SessionLock LockOf(const sk_lock* lock) {
  SessionLock out;
  if (lock == nullptr) return out;
  out.read_version = lock->read_version;
  out.followed_key.assign(View(lock->followed_key, lock->followed_key_len));
  switch (lock->state) {
    case SK_LOCK_HELD:
      out.state = LockState::kHeld;
      out.owner.token.assign(View(lock->token, lock->token_len));
      break;
    case SK_LOCK_READONLY:
      out.state = LockState::kReadOnly;
      break;
    default:
      break;
  }
  return out;
}

// The engine's compression settings for `c` (NULL: none); InvalidArgument
// naming the PHP setting for a value out of range.
Result<CompressionOptions> CompressionOf(const sk_compression* c) {
  CompressionOptions out;
  if (c == nullptr) return out;
  if (c->codec < 0 || c->codec > kMaxFrameCodec) {
    return Status::InvalidArgument("sessionkit.compression: unknown codec id " +
                                   std::to_string(c->codec));
  }
  if (c->level < 0 || c->level > SK_COMPRESSION_MAX_LEVEL) {
    return Status::InvalidArgument(
        "sessionkit.compression_level must be between 0 and " +
        std::to_string(SK_COMPRESSION_MAX_LEVEL) + ", not " +
        std::to_string(c->level));
  }
  out.codec = static_cast<FrameCodec>(c->codec);
  out.level = c->level;
  out.threshold =
      c->threshold > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(c->threshold);
  return out;
}

sk_code NoEngine(sk_result* r) {
  return SetError(r, SK_INTERNAL, "no session engine given (open failed?)");
}

// The engine's lock options for `lock` (NULL: no locking);
// InvalidArgument for a negative wait or a lease that is not positive.
Result<LockOptions> LockOptionsOf(const sk_lock_options* lock) {
  LockOptions options;
  options.enabled = lock != nullptr && lock->enabled;
  if (!options.enabled) return options;
  if (lock->wait_ms < 0 || lock->lease_ms <= 0) {
    return Status::InvalidArgument(
        "lock_wait_ms must be >= 0 and lock_lease_ms > 0 (got " +
        std::to_string(lock->wait_ms) + " and " +
        std::to_string(lock->lease_ms) + ")");
  }
  options.wait = Duration(lock->wait_ms);
  options.lease = Duration(lock->lease_ms);
  options.max_waiters = lock->max_waiters;
  options.timeout_action = lock->timeout_action == SK_LOCK_TIMEOUT_FAIL
                               ? LockTimeoutAction::kFail
                               : LockTimeoutAction::kReadOnly;
  return options;
}

// Fills `result` from a read of `id` (sk_read, sk_read_replacing); a lock
// taken by a read it cannot hand back whole for lack of memory is released,
// since the caller, told the read failed, never releases it.
sk_code SetRead(sk_result* result, SessionEngine& engine, std::string_view id,
                Result<ReadResult>& read) {
  if (!read.ok()) return SetStatus(result, read.status());
  result->lock_state = static_cast<sk_lock_state>(read->lock.state);
  if (read->lock.state == LockState::kHeld) {
    result->lock_token = CopyString(read->lock.owner.token);
    if (result->lock_token == nullptr) {
      (void)engine.Unlock(id, read->lock);
      return SetError(result, SK_INTERNAL,
                      "out of memory while locking a session");
    }
    result->lock_token_len = read->lock.owner.token.size();
  }
  if (!read->lock.followed_key.empty()) {
    result->followed_key = CopyString(read->lock.followed_key);
    if (result->followed_key == nullptr) {
      (void)engine.Unlock(id, read->lock);
      return SetError(result, SK_INTERNAL,
                      "out of memory while reading a session");
    }
    result->followed_key_len = read->lock.followed_key.size();
  }
  result->found = read->found ? 1 : 0;
  result->version = read->version;
  result->writes = read->lock.read_writes;
  if (!read->payload.empty()) {
    result->data = CopyString(read->payload);
    if (result->data == nullptr) {
      (void)engine.Unlock(id, read->lock);
      return SetError(result, SK_INTERNAL,
                      "out of memory while reading a session");
    }
    result->data_len = read->payload.size();
  }
  return SK_OK;
}

}  // namespace

sk_code CallGuarded(sk_result* result, const char* what,
                    CallableRef<sk_code()> body) noexcept {
  return Guarded(result, what, body);
}

std::string PhpSettingNameOf(std::string_view setting) {
  return PhpSettingName(setting);
}

SessionLock SessionLockOf(const sk_lock* lock) { return LockOf(lock); }

Result<CompressionOptions> CompressionOptionsOf(const sk_compression* c) {
  return CompressionOf(c);
}

SessionEngine* EngineOf(sk_engine* handle) {
  return handle == nullptr ? nullptr : handle->engine.get();
}

size_t CachedEngineCount() {
  std::lock_guard<std::mutex> lock(Cache().mu);
  return Cache().engines.size();
}

bool IsEngineCached(std::string_view spec) {
  std::lock_guard<std::mutex> lock(Cache().mu);
  return Cache().engines.count(std::string(spec)) != 0;
}

sk_code CallEngine(sk_engine* handle, sk_result* result, const char* what,
                   CallableRef<sk_code(SessionEngine&)> body) noexcept {
  return Guarded(result, what, [&]() -> sk_code {
    if (handle == nullptr) return NoEngine(result);
    return body(*handle->engine);
  });
}

sk_code SetResultStatus(sk_result* result, const Status& status) {
  return SetStatus(result, status);
}

sk_code SetResultData(sk_result* result, std::string_view data) {
  result->data = CopyString(data);
  if (result->data == nullptr) {
    return SetError(result, SK_INTERNAL, "out of memory in sessionkit");
  }
  result->data_len = data.size();
  return SK_OK;
}

}  // namespace sessionkit

using sessionkit::Guarded;
using sessionkit::View;

extern "C" {

void sk_result_free(sk_result* result) noexcept {
  if (result == nullptr) return;
  std::free(result->message);
  std::free(result->data);
  for (size_t i = 0; i < result->log_count; ++i) {
    std::free(result->log[i].message);
  }
  std::free(result->log);
  std::free(result->lock_token);
  std::free(result->followed_key);
  sessionkit::ResetResult(result);
}

sk_engine* sk_engine_get(const char* spec, size_t spec_len,
                         sk_result* result) noexcept {
  return sk_engine_get_with(spec, spec_len, nullptr, result);
}

sk_engine* sk_engine_get_with(const char* spec, size_t spec_len,
                              const sk_engine_settings* settings,
                              sk_result* result) noexcept {
  if (result == nullptr) return nullptr;
  sk_engine* engine = nullptr;
  // Declared before the lock: evicted engines close after it is released.
  std::vector<std::unique_ptr<sk_engine>> evicted;
  Guarded(result, "while opening the store", [&]() -> sk_code {
    const std::string spec_key =
        sessionkit::EngineCacheKey(View(spec, spec_len), settings);
    const std::string_view key = spec_key;
    auto& cache = sessionkit::Cache();
    std::lock_guard<std::mutex> lock(cache.mu);
    if (cache.last != nullptr && cache.last_spec == key) {
      engine = cache.last;
    } else {
      std::string owned(key);
      auto it = cache.engines.find(owned);
      if (it == cache.engines.end()) {
        sessionkit::EngineOptions options;
        options.log = sessionkit::EngineLog;
        options.setting_name = sessionkit::PhpSettingName;
        if (sessionkit::Status applied =
                sessionkit::ApplyEngineSettings(settings, &options);
            !applied.ok()) {
          return sessionkit::SetStatus(result, applied);
        }
        if (std::string warning = sessionkit::ApplyMetricsSetting(
                settings, View(spec, spec_len), &options);
            !warning.empty()) {
          sessionkit::EngineLog(sessionkit::LogLevel::kWarning, warning);
        }
        auto opened =
            sessionkit::OpenEngine(View(spec, spec_len), std::move(options));
        if (!opened.ok()) return sessionkit::SetStatus(result, opened.status());
        auto entry = std::make_unique<sk_engine>();
        entry->engine = std::move(opened).value();
        it = cache.engines.emplace(owned, std::move(entry)).first;
      }
      cache.last_spec = std::move(owned);
      cache.last = it->second.get();
      engine = cache.last;
    }
    ++engine->refs;
    engine->last_used = ++cache.clock;
    sessionkit::EvictLocked(cache, &evicted);
    return SK_OK;
  });
  return result->code == SK_OK ? engine : nullptr;
}

void sk_engine_release(sk_engine* engine) noexcept {
  if (engine == nullptr) return;
  try {
    std::vector<std::unique_ptr<sk_engine>> evicted;
    auto& cache = sessionkit::Cache();
    std::lock_guard<std::mutex> lock(cache.mu);
    if (engine->refs > 0) --engine->refs;
    sessionkit::EvictLocked(cache, &evicted);
    // The lock guard is destroyed first: evicted engines close without it.
  } catch (...) {
    // Eviction only moves pointers; nothing to report.
  }
}

void sk_shutdown(void) noexcept {
  try {
    auto& cache = sessionkit::Cache();
    std::unordered_map<std::string, std::unique_ptr<sk_engine>> engines;
    {
      std::lock_guard<std::mutex> lock(cache.mu);
      engines.swap(cache.engines);
      cache.last = nullptr;
      cache.last_spec.clear();
    }
    // Engines close their stores here, outside the lock.
  } catch (...) {
    // Nothing useful to report at shutdown.
  }
}

sk_code sk_read(sk_engine* engine, const char* id, size_t id_len,
                const sk_lock_options* lock, sk_result* result) noexcept {
  return Guarded(result, "while reading a session", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    auto options = sessionkit::LockOptionsOf(lock);
    if (!options.ok()) return sessionkit::SetStatus(result, options.status());
    auto read = engine->engine->ReadForUpdate(View(id, id_len), *options);
    return sessionkit::SetRead(result, *engine->engine, View(id, id_len), read);
  });
}

sk_code sk_read_replacing(sk_engine* engine, const char* new_id,
                          size_t new_id_len, const sk_lock_options* lock,
                          const char* old_id, size_t old_id_len,
                          const sk_lock* old_lock, int64_t grace_ms,
                          sk_result* result) noexcept {
  return Guarded(result, "while regenerating a session id", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    auto options = sessionkit::LockOptionsOf(lock);
    if (!options.ok()) return sessionkit::SetStatus(result, options.status());
    auto read = engine->engine->ReadReplacing(
        View(new_id, new_id_len), *options, View(old_id, old_id_len),
        sessionkit::LockOf(old_lock), sessionkit::Duration(grace_ms));
    return sessionkit::SetRead(result, *engine->engine,
                               View(new_id, new_id_len), read);
  });
}

sk_code sk_write(sk_engine* engine, const char* id, size_t id_len,
                 const char* data, size_t data_len, int64_t ttl_ms,
                 const sk_lock* lock, sk_result* result) noexcept {
  return Guarded(result, "while writing a session", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    return sessionkit::SetStatus(
        result, engine->engine->Write(View(id, id_len), View(data, data_len),
                                      sessionkit::Duration(ttl_ms),
                                      sessionkit::LockOf(lock)));
  });
}

sk_code sk_write_compressed(sk_engine* engine, const char* id, size_t id_len,
                            const char* data, size_t data_len, int64_t ttl_ms,
                            const sk_lock* lock,
                            const sk_compression* compression,
                            sk_result* result) noexcept {
  return Guarded(result, "while writing a session", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    auto options = sessionkit::CompressionOf(compression);
    if (!options.ok()) return sessionkit::SetStatus(result, options.status());
    return sessionkit::SetStatus(
        result, engine->engine->Write(View(id, id_len), View(data, data_len),
                                      sessionkit::Duration(ttl_ms),
                                      sessionkit::LockOf(lock), *options));
  });
}

sk_code sk_touch(sk_engine* engine, const char* id, size_t id_len,
                 int64_t ttl_ms, const sk_lock* lock,
                 sk_result* result) noexcept {
  return Guarded(result, "while touching a session", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    return sessionkit::SetStatus(
        result,
        engine->engine->Touch(View(id, id_len), sessionkit::Duration(ttl_ms),
                              sessionkit::LockOf(lock)));
  });
}

sk_code sk_unlock(sk_engine* engine, const char* id, size_t id_len,
                  const sk_lock* lock, sk_result* result) noexcept {
  return Guarded(result, "while unlocking a session", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    return sessionkit::SetStatus(
        result,
        engine->engine->Unlock(View(id, id_len), sessionkit::LockOf(lock)));
  });
}

sk_code sk_destroy(sk_engine* engine, const char* id, size_t id_len,
                   sk_result* result) noexcept {
  return sk_destroy_held(engine, id, id_len, nullptr, result);
}

sk_code sk_destroy_held(sk_engine* engine, const char* id, size_t id_len,
                        const sk_lock* lock, sk_result* result) noexcept {
  return Guarded(result, "while destroying a session", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    // No lock: a SessionLock that holds nothing, which Destroy(id) is.
    return sessionkit::SetStatus(
        result,
        engine->engine->Destroy(View(id, id_len),
                                lock == nullptr ? sessionkit::SessionLock{}
                                                : sessionkit::LockOf(lock)));
  });
}

sk_code sk_gc(sk_engine* engine, sk_result* result) noexcept {
  return Guarded(result, "while collecting garbage", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    auto gc = engine->engine->Gc();
    if (!gc.ok()) return sessionkit::SetStatus(result, gc.status());
    result->removed = gc->removed;
    return SK_OK;
  });
}

sk_code sk_exists(sk_engine* engine, const char* id, size_t id_len,
                  sk_result* result) noexcept {
  return Guarded(result, "while looking up a session", [&]() -> sk_code {
    if (engine == nullptr) return sessionkit::NoEngine(result);
    auto exists = engine->engine->Exists(View(id, id_len));
    if (!exists.ok()) return sessionkit::SetStatus(result, exists.status());
    result->found = *exists ? 1 : 0;
    return SK_OK;
  });
}

const char* sk_version(void) noexcept { return SK_VERSION_STRING; }

const char* sk_code_name(sk_code code) noexcept {
  // StatusCodeName returns views of string literals, so data() is
  // NUL-terminated.
  return sessionkit::StatusCodeName(static_cast<sessionkit::StatusCode>(code))
      .data();
}

}  // extern "C"
