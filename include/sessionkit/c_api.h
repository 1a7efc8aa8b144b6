/* The C ABI of sessionkit: what the PHP extension (and any other C caller)
 * uses instead of the C++ API, so that no C++ exception and no longjmp ever
 * crosses between the caller and the library.
 *
 * Every function is noexcept: anything unexpected inside becomes an
 * SK_INTERNAL result. Every call that can fail fills a caller-owned
 * sk_result: a status code, a message, owned output buffers, and the log
 * lines the engine emitted during the call. Log lines are handed back rather
 * than delivered through a callback, so the caller reports them from its own
 * frames (php_error_docref may longjmp, which must never unwind C++ frames).
 *
 * Usage:
 *
 *   sk_result r = SK_RESULT_INIT;
 *   sk_engine* e = sk_engine_get(spec, spec_len, &r);
 *   ... report r.log / r.message, then sk_result_free(&r) ...
 *   sk_read(e, id, id_len, &r);
 *   ... use r.data / r.data_len / r.found ...
 *   sk_result_free(&r);
 *
 * Thread safety: every function may be called from any thread. An sk_engine
 * is shared process-wide and safe for concurrent use. An sk_result belongs to
 * one caller at a time.
 */
#ifndef SESSIONKIT_C_API_H_
#define SESSIONKIT_C_API_H_

#include <stddef.h>
#include <stdint.h>

#include "sessionkit/store_callbacks.h"

#ifdef __cplusplus
#define SK_NOEXCEPT noexcept
extern "C" {
#else
#define SK_NOEXCEPT
#endif

/* Mirrors sessionkit::StatusCode (status.h), value for value. */
typedef enum sk_code {
  SK_OK = 0,
  SK_NOT_FOUND = 1,
  SK_UNAVAILABLE = 2,
  SK_LOCK_LOST = 3,
  SK_CORRUPT = 4,
  SK_INVALID_ARGUMENT = 5,
  SK_NOT_SUPPORTED = 6,
  SK_RESOURCE_EXHAUSTED = 7,
  SK_INTERNAL = 8,
  SK_DEADLINE_EXCEEDED = 9
} sk_code;

/* Mirrors sessionkit::LogLevel (engine.h). */
typedef enum sk_log_level {
  SK_LOG_DEBUG = 0,
  SK_LOG_NOTICE = 1,
  SK_LOG_WARNING = 2
} sk_log_level;

/* The lock a locking sk_read took (sessionkit::LockState). */
typedef enum sk_lock_state {
  SK_LOCK_NONE = 0,    /* no lock: locking off, or a store without locks */
  SK_LOCK_HELD = 1,    /* held: pass it to sk_write / sk_touch / sk_unlock */
  SK_LOCK_READONLY = 2 /* the wait ran out: read unlocked, writes skipped */
} sk_lock_state;

/* What a locking read does when the wait runs out. */
typedef enum sk_lock_timeout_action {
  SK_LOCK_TIMEOUT_READONLY = 0, /* read unlocked; the write is skipped */
  SK_LOCK_TIMEOUT_FAIL = 1      /* fail with SK_DEADLINE_EXCEEDED */
} sk_lock_timeout_action;

/* The defaults of the lock limits: sessionkit::LockLimits' (lock.h), which
 * C cannot include; c_api_test.cc checks that they are equal. The PHP ini
 * defaults use them. */
#define SK_LOCK_DEFAULT_WAIT_MS 5000
#define SK_LOCK_DEFAULT_LEASE_MS 30000
#define SK_LOCK_DEFAULT_MAX_WAITERS 0

/* Session locking settings (sessionkit::LockOptions; the PHP ini entries
 * sessionkit.locking, lock_wait_ms, lock_lease_ms, lock_max_waiters,
 * lock_timeout_action). */
typedef struct sk_lock_options {
  int enabled;          /* 0: read without locking */
  int64_t wait_ms;      /* >= 0 */
  int64_t lease_ms;     /* > 0 */
  uint32_t max_waiters; /* 0: no limit */
  sk_lock_timeout_action timeout_action;
} sk_lock_options;

/* Locking on, with the default limits (sessionkit::LockOptions{}). */
#define SK_LOCK_OPTIONS_INIT                                  \
  {                                                           \
    1, SK_LOCK_DEFAULT_WAIT_MS, SK_LOCK_DEFAULT_LEASE_MS,     \
        SK_LOCK_DEFAULT_MAX_WAITERS, SK_LOCK_TIMEOUT_READONLY \
  }

/* The codec of stored payloads (sessionkit::FrameCodec), id for id. */
typedef enum sk_codec {
  SK_CODEC_NONE = 0,
  SK_CODEC_ZSTD = 1,
  SK_CODEC_LZ4 = 2,
  SK_CODEC_SNAPPY = 3,
  SK_CODEC_ZLIB = 4
} sk_codec;

/* sessionkit::kDefaultCompressionThreshold (engine.h), which C cannot
 * include; c_api_test.cc checks that they are equal. The highest level a
 * setting may ask for (zstd's; a codec with fewer levels uses its own
 * highest). */
#define SK_COMPRESSION_DEFAULT_THRESHOLD 2048
#define SK_COMPRESSION_MAX_LEVEL 22

/* How sk_write_compressed compresses (sessionkit::CompressionOptions; the
 * PHP ini entries sessionkit.compression, compression_level,
 * compression_threshold). Reading decodes every codec whatever these say. */
typedef struct sk_compression {
  /* An sk_codec, as an int: any value may come, and is checked.
   * SK_CODEC_NONE stores raw. */
  int32_t codec;
  int32_t level; /* 0: the codec's default; 0 to SK_COMPRESSION_MAX_LEVEL */
  uint64_t threshold; /* payloads smaller than this many bytes stay raw */
} sk_compression;

/* No compression, with the default threshold. */
#define SK_COMPRESSION_INIT \
  { SK_CODEC_NONE, 0, SK_COMPRESSION_DEFAULT_THRESHOLD }

/* A lock to release with a write, touch or unlock: the state and token a
 * locking sk_read returned (result->lock_state, result->lock_token), and the
 * session version that read returned (result->version; any sk_read, locking
 * or not), from which sk_write makes the version it stores. */
typedef struct sk_lock {
  sk_lock_state state;
  const char* token;
  size_t token_len;
  uint64_t read_version; /* 0: nothing read */
  /* What sk_read returned in result->followed_key (NULL, 0: nothing): a
   * read of an id retired by a regenerate goes to the session that replaced
   * it, and so do the write, touch and unlock that follow. */
  const char* followed_key;
  size_t followed_key_len;
} sk_lock;

/* One line the engine logged during a call. */
typedef struct sk_log_entry {
  sk_log_level level;
  char* message; /* NUL-terminated, owned by the sk_result */
} sk_log_entry;

/* The outcome of one call. Start from SK_RESULT_INIT (or a result passed to
 * sk_result_free) before each call: a call overwrites every field without
 * freeing what was there. Every function taking an sk_result* requires it to
 * be non-NULL (given NULL, it does nothing and returns SK_INTERNAL or
 * NULL). */
typedef struct sk_result {
  sk_code code;
  /* NUL-terminated: what went wrong, naming the store and the setting (see
   * sk_code_name for the category); NULL when code is SK_OK, or when memory
   * ran out. Never contains a password or a full session id. */
  char* message;
  /* sk_read: the session payload; sk_create_id / sk_generate_id: the new
   * id; sk_redact_spec: the redacted text. NUL-terminated (the terminator is
   * not counted in data_len) or NULL when there is no output. */
  char* data;
  size_t data_len;
  /* sk_read: 1 when a live session was found and decoded; sk_exists: 1 when
   * a live session exists. */
  int found;
  /* sk_gc: how many expired sessions were removed; sk_destroy_user: how
   * many sessions were destroyed; sk_user_sessions: how many are listed. */
  uint64_t removed;
  /* Lines the engine logged during this call, oldest first. */
  sk_log_entry* log;
  size_t log_count;
  /* A locking sk_read: the lock taken, and when SK_LOCK_HELD its owner
   * token (NUL-terminated), to pass back in an sk_lock. */
  sk_lock_state lock_state;
  char* lock_token;
  size_t lock_token_len;
  /* sk_read: the session version read (0 when not found, undecodable, or
   * written before versions existed), to pass back in sk_lock.read_version.
   * See docs/architecture.md, "The stored frame". */
  uint64_t version;
  /* sk_read: the session's write count for the lifetime policy (0 when
   * nothing was found), to pass back in sk_request.read_writes. */
  uint32_t writes;
  /* sk_read of an id retired by a regenerate within its grace
   * (sk_read_replacing): the store key of the session it read instead
   * (NUL-terminated), to pass back in sk_lock.followed_key whatever the
   * lock state. NULL otherwise. */
  char* followed_key;
  size_t followed_key_len;
} sk_result;

#define SK_RESULT_INIT \
  { SK_OK, NULL, NULL, 0, 0, 0, NULL, 0, SK_LOCK_NONE, NULL, 0, 0, 0, NULL, 0 }

/* A session engine bound to one store spec, owned by the library's engine
 * cache: valid from sk_engine_get until the matching sk_engine_release
 * (or sk_shutdown). */
typedef struct sk_engine sk_engine;

/* Frees every buffer `result` owns and resets it to SK_RESULT_INIT. Safe on
 * an already freed or SK_RESULT_INIT result, and on NULL. */
void sk_result_free(sk_result* result) SK_NOEXCEPT;

/* Returns the process-wide engine for `spec` (a store URL or several tiers,
 * see store_url.h), opening it on the first call for that exact spec and
 * reusing it afterwards: while a caller holds it, the same spec yields the
 * same pointer. Each successful call holds the engine once more; give it
 * back with sk_engine_release when done (a PHP request: at session close).
 * The cache keeps at most 8 engines that nobody holds, closing the least
 * recently used one beyond that, so a process that sees many specs stays
 * bounded; an engine that is held is never closed (a caller that never
 * releases keeps its engine until sk_shutdown). Opening parses the spec but
 * connects lazily, so an unreachable store shows up on the first operation,
 * not here. On error returns NULL and fills `result` (SK_INVALID_ARGUMENT
 * for a malformed spec, SK_NOT_SUPPORTED for a scheme without a backend); a
 * failed spec is not cached, so every later call reports the error
 * again. */
sk_engine* sk_engine_get(const char* spec, size_t spec_len,
                         sk_result* result) SK_NOEXCEPT;

/* What an engine stores beyond its store URL: in PHP, the ini entries
 * named by each field. Start from SK_ENGINE_SETTINGS_INIT, so that a field
 * the caller does not set is off; fields are only ever appended. */
typedef struct sk_engine_settings {
  /* sessionkit.keys: the key file whose key ring encrypts what the engine
   * writes and decrypts what it reads (docs/encryption.md); empty for
   * none. The file is read when the engine opens, so a changed key file is
   * picked up by a new process (a PHP-FPM reload). */
  const char* keys_path;
  size_t keys_path_len;
  /* sessionkit.legacy: the sessions of the handler the site is leaving,
   * read when sessionkit holds none (docs/migration.md); empty for none. */
  const char* legacy;
  size_t legacy_len;
  /* sessionkit.dictionaries: the directory of trained zstd dictionaries
   * (docs/compression.md); empty for none. Read when the engine opens, as
   * keys_path. */
  const char* dictionaries_path;
  size_t dictionaries_path_len;
  /* sessionkit.hash_ids: non-zero keeps sessions under a keyed hash of
   * their id (docs/hashed-ids.md); needs a key file with a hash line in
   * keys_path, else SK_INVALID_ARGUMENT naming both settings. */
  int hash_ids;
  /* The lifetime policy (docs/lifetimes.md; sessionkit::LifetimeOptions),
   * lifetimes in whole seconds, 0: off. sessionkit.bot_pattern: the
   * User-Agent patterns of bots (RE2), empty for the built-in list;
   * sessionkit.bot_lifetime (PHP's default: SK_DEFAULT_BOT_LIFETIME_S),
   * first_lifetime, min_lifetime, max_lifetime. SK_INVALID_ARGUMENT
   * naming the setting for a pattern RE2 cannot compile, a negative
   * lifetime, or a min_lifetime above max_lifetime. */
  const char* bot_pattern;
  size_t bot_pattern_len;
  int64_t bot_lifetime_s;
  int64_t first_lifetime_s;
  int64_t min_lifetime_s;
  int64_t max_lifetime_s;
  /* sessionkit.max_size / sessionkit.warn_size: limits in bytes of the
   * session data a write hands over; 0: none (sessionkit::SizeLimits). */
  uint64_t max_size;
  uint64_t warn_size;
  /* sessionkit.metrics: the metrics file the engine counts into, shared by
   * every process of the host (docs/metrics.md); empty for no metrics. A
   * file that cannot be used (not a metrics file, damaged, not writable)
   * does not stop the engine: it opens without metrics, with a warning
   * naming the file in result->log. */
  const char* metrics_path;
  size_t metrics_path_len;
} sk_engine_settings;

#define SK_ENGINE_SETTINGS_INIT \
  { NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, 0 }

/* sessionkit::kDefaultBotLifetime (lifetime.h) in seconds, which C cannot
 * include; c_api_lifetime_test.cc checks that they are equal. The PHP ini
 * default of sessionkit.bot_lifetime. */
#define SK_DEFAULT_BOT_LIFETIME_S 300

/* Who a write or touch serves, for the lifetime policy
 * (sessionkit::ClientInfo). */
typedef struct sk_request {
  /* Non-zero: an HTTP request (a web SAPI), whose client is a bot when its
   * User-Agent matches, is empty or is missing. 0: no request (a CLI
   * script), never a bot unless it names a user_agent. */
  int http;
  /* The User-Agent header; NULL when the request sent none. */
  const char* user_agent;
  size_t user_agent_len;
  /* The write count this request's sk_read returned (result->writes),
   * from which the session's writes are counted for the first-visit
   * lifetime; 0: nothing read (the write is the session's first). */
  uint32_t read_writes;
} sk_request;

#define SK_REQUEST_INIT \
  { 0, NULL, 0, 0 }

/* As sk_engine_get, for an engine with `settings` (NULL: none, which is
 * sk_engine_get). Each spec and settings pair is its own cached engine.
 * SK_INVALID_ARGUMENT naming the setting and what is wrong when a setting
 * cannot be used (for sessionkit.keys: the file cannot be read, is not
 * safe - readable or writable by others, owned by another user - or is
 * malformed); the engine is not opened then. Never puts key bytes in a
 * message. */
sk_engine* sk_engine_get_with(const char* spec, size_t spec_len,
                              const sk_engine_settings* settings,
                              sk_result* result) SK_NOEXCEPT;

/* Gives back one hold of `engine` taken by sk_engine_get; the pointer must
 * not be used afterwards unless the caller holds it otherwise. NULL is a
 * no-op. */
void sk_engine_release(sk_engine* engine) SK_NOEXCEPT;

/* Closes every cached engine and empties the cache, so that a process (or
 * a module being unloaded) releases its stores. Every sk_engine pointer
 * handed out before becomes invalid. Call only when no other thread uses an
 * engine, e.g. from PHP's module shutdown; sk_engine_get works again
 * afterwards. */
void sk_shutdown(void) SK_NOEXCEPT;

/* Reads a session. A missing or expired session is SK_OK with found=0 and
 * no data; stored data that cannot be decoded is SK_OK, found=0, and a
 * warning in result->log. result->version is the session version read:
 * pass it back in sk_lock.read_version to sk_write. SK_INVALID_ARGUMENT for a
 * malformed id, SK_UNAVAILABLE when the store cannot answer.
 *
 * With `lock` non-NULL and lock->enabled, takes the session's lock first
 * (in the same round trip where the store allows it): result->lock_state
 * and result->lock_token say what was taken; release it with sk_write,
 * sk_touch or sk_unlock. SK_DEADLINE_EXCEEDED when the wait ran out and
 * lock->timeout_action is SK_LOCK_TIMEOUT_FAIL (with READONLY: SK_OK,
 * lock_state SK_LOCK_READONLY and a warning in result->log);
 * SK_RESOURCE_EXHAUSTED when lock->max_waiters requests already wait;
 * SK_INVALID_ARGUMENT for a negative wait or a lease that is not
 * positive. */
sk_code sk_read(sk_engine* engine, const char* id, size_t id_len,
                const sk_lock_options* lock, sk_result* result) SK_NOEXCEPT;

/* sessionkit::kDefaultRegenerateGrace (engine.h) in seconds, the default
 * of sessionkit.regenerate_grace; c_api.cc checks that they are equal. The
 * longest grace a setting may ask for. */
#define SK_REGENERATE_GRACE_DEFAULT_S 5
#define SK_REGENERATE_GRACE_MAX_S 3600

/* The read of the new id in PHP's session_regenerate_id(true), when the old
 * id stays valid for `grace_ms` (sessionkit.regenerate_grace): the caller
 * read `old_id` with sk_read (`old_lock`: what it returned) and did not
 * destroy it. Copies the old session's data to `new_id` (expiring after
 * `grace_ms` unless the caller writes it), reads `new_id` as sk_read does,
 * then replaces the old id's value by a pointer to the new session that
 * expires after `grace_ms`, releasing the old lock in the same step; see
 * SessionEngine::ReadReplacing. `grace_ms` <= 0, or a SK_LOCK_READONLY
 * old lock: the old id is destroyed (sk_destroy) and `new_id` read. When
 * the read of `new_id` fails, its error is returned with the old session
 * left as it was, its lock still held. Result fields as sk_read. */
sk_code sk_read_replacing(sk_engine* engine, const char* new_id,
                          size_t new_id_len, const sk_lock_options* lock,
                          const char* old_id, size_t old_id_len,
                          const sk_lock* old_lock, int64_t grace_ms,
                          sk_result* result) SK_NOEXCEPT;

/* Stores `data` for `id`, expiring `ttl_ms` milliseconds from now (must be
 * positive), and releases `lock` (NULL: none) atomically with the write.
 * The value stored carries the session version that follows
 * lock->read_version (0 when `lock` is NULL): see SessionEngine::Write.
 * SK_RESOURCE_EXHAUSTED when the store is full. SK_LOCK_LOST (and a
 * warning; nothing written) when the lock was broken meanwhile. With a
 * SK_LOCK_READONLY lock nothing is written: SK_OK and a warning. */
sk_code sk_write(sk_engine* engine, const char* id, size_t id_len,
                 const char* data, size_t data_len, int64_t ttl_ms,
                 const sk_lock* lock, sk_result* result) SK_NOEXCEPT;

/* As sk_write, compressing as `compression` says (NULL: not at all): a
 * payload at or above its threshold is stored compressed when that shrinks
 * it. SK_INVALID_ARGUMENT for a codec that is not an sk_codec or a level
 * outside 0 to SK_COMPRESSION_MAX_LEVEL; nothing is written then. */
sk_code sk_write_compressed(sk_engine* engine, const char* id, size_t id_len,
                            const char* data, size_t data_len, int64_t ttl_ms,
                            const sk_lock* lock,
                            const sk_compression* compression,
                            sk_result* result) SK_NOEXCEPT;

/* Sets *codec to the codec `name` spells as the sessionkit.compression
 * setting does ("zstd", "lz4", "snappy", "zlib", "none"; "on"/"1" is zstd,
 * "off"/"0"/"" none; any case). SK_INVALID_ARGUMENT naming the setting and
 * the value otherwise, *codec unchanged. */
sk_code sk_parse_codec(const char* name, size_t name_len, sk_codec* codec,
                       sk_result* result) SK_NOEXCEPT;

/* Moves the expiry of a live session to `ttl_ms` from now without rewriting
 * it, and releases `lock` (NULL: none). SK_NOT_FOUND when the session no
 * longer exists (a held lock is released all the same): write it instead,
 * without the lock. SK_LOCK_LOST as sk_write. */
sk_code sk_touch(sk_engine* engine, const char* id, size_t id_len,
                 int64_t ttl_ms, const sk_lock* lock,
                 sk_result* result) SK_NOEXCEPT;

/* As sk_write_compressed (`compression` NULL: none), for `request` (NULL:
 * no request): the engine's lifetime policy decides the lifetime from
 * `ttl_ms` (the normal one), the request and the write count of
 * request->read_writes; its size limits apply (SK_INVALID_ARGUMENT naming the
 * size and sessionkit.max_size when refused: nothing written, the lock
 * released). See SessionEngine::Write. */
sk_code sk_write_for(sk_engine* engine, const char* id, size_t id_len,
                     const char* data, size_t data_len, int64_t ttl_ms,
                     const sk_lock* lock, const sk_compression* compression,
                     const sk_request* request, sk_result* result) SK_NOEXCEPT;

/* As sk_touch, with the lifetime sk_write_for would give. `data` is the
 * session's unchanged data (NULL: unknown): while its first-visit lifetime
 * still grows, the touch writes it, compressed as `compression` says, so
 * that the stored write count grows. */
sk_code sk_touch_for(sk_engine* engine, const char* id, size_t id_len,
                     const char* data, size_t data_len, int64_t ttl_ms,
                     const sk_lock* lock, const sk_compression* compression,
                     const sk_request* request, sk_result* result) SK_NOEXCEPT;

/* SK_OK when `pattern` is a usable sessionkit.bot_pattern (empty: the
 * built-in list); otherwise SK_INVALID_ARGUMENT naming the setting and
 * RE2's reason. */
sk_code sk_check_bot_pattern(const char* pattern, size_t pattern_len,
                             sk_result* result) SK_NOEXCEPT;

/* Releases `lock` when it is held (a request ending without a write);
 * SK_OK otherwise. */
sk_code sk_unlock(sk_engine* engine, const char* id, size_t id_len,
                  const sk_lock* lock, sk_result* result) SK_NOEXCEPT;

/* Deletes a session; SK_OK if it did not exist. */
sk_code sk_destroy(sk_engine* engine, const char* id, size_t id_len,
                   sk_result* result) SK_NOEXCEPT;

/* sk_destroy by the request that read `id` with `lock` (what sk_read
 * returned; NULL: as sk_destroy): also destroys the session the lock holds
 * through an id retired by a regenerate (lock->followed_key), which the
 * old id may no longer lead to once its grace ran out. */
sk_code sk_destroy_held(sk_engine* engine, const char* id, size_t id_len,
                        const sk_lock* lock, sk_result* result) SK_NOEXCEPT;

/* Removes expired sessions; result->removed says how many. */
sk_code sk_gc(sk_engine* engine, sk_result* result) SK_NOEXCEPT;

/* Sets result->found to 1 when a live session `id` exists. A malformed id
 * is SK_OK with found=0. */
sk_code sk_exists(sk_engine* engine, const char* id, size_t id_len,
                  sk_result* result) SK_NOEXCEPT;

/* Sessions by user (docs/users.md). A user name is any bytes, 1 to
 * SK_MAX_USER_LEN of them (sessionkit::kMaxUserNameLength, users.h);
 * another length is SK_INVALID_ARGUMENT saying so. */
#define SK_MAX_USER_LEN 256
/* Records that session `id` belongs to `user`, kept as long as sessions
 * of lifetime `ttl_ms` (positive) need; it leaves the index of the user it
 * belonged to before. SK_RESOURCE_EXHAUSTED when the user already has the
 * most live sessions an index holds; SK_DEADLINE_EXCEEDED when the user's
 * index stayed locked for the whole lock wait. */
sk_code sk_set_user(sk_engine* engine, const char* id, size_t id_len,
                    const char* user, size_t user_len, int64_t ttl_ms,
                    sk_result* result) SK_NOEXCEPT;
/* The live sessions of `user`: result->data holds their ids, each ended by
 * '\n' (NULL when there are none), result->removed how many. With
 * sessionkit.hash_ids and a key file without key lines the ids are stored
 * nowhere: the lines are then the keys the store keeps the sessions under
 * (result->found is 0; 1 when every line is an id). */
sk_code sk_user_sessions(sk_engine* engine, const char* user, size_t user_len,
                         sk_result* result) SK_NOEXCEPT;
/* Destroys every live session of `user` but `except_id` (NULL or empty:
 * none); result->removed says how many. */
sk_code sk_destroy_user(sk_engine* engine, const char* user, size_t user_len,
                        const char* except_id, size_t except_id_len,
                        sk_result* result) SK_NOEXCEPT;
/* Creates an id (OS CSPRNG, at least 128 bits: `length` is raised when
 * needed) that no live session in the store uses; result->data holds it.
 * bits_per_char: 4 (0-9a-f), 5 (0-9a-v) or 6 (0-9a-zA-Z,-). */
sk_code sk_create_id(sk_engine* engine, size_t length, int bits_per_char,
                     sk_result* result) SK_NOEXCEPT;

/* As sk_create_id without asking a store whether the id is taken. */
sk_code sk_generate_id(size_t length, int bits_per_char,
                       sk_result* result) SK_NOEXCEPT;

/* OK when `id` is a well-formed session id; otherwise SK_INVALID_ARGUMENT
 * saying what is wrong, without echoing the id. */
sk_code sk_validate_id(const char* id, size_t id_len,
                       sk_result* result) SK_NOEXCEPT;

/* Copies `spec` into result->data with every password (the part of a URL's
 * user-info after ':') and the value of any password-like query parameter
 * replaced by "***", for messages. Works on specs that do not parse. */
sk_code sk_redact_spec(const char* spec, size_t spec_len,
                       sk_result* result) SK_NOEXCEPT;

/* Stores written in the caller's language (store_callbacks.h,
 * docs/php-stores.md): session.save_path php://NAME (alone or as a tier)
 * uses the callbacks registered under NAME.
 *
 * Registers `callbacks` (which must stay valid until withdrawn) and `user`
 * under `name` (1 to 64 letters, digits, '_', '-' or '.') for the calling
 * thread only, replacing an earlier registration of the name: the library
 * calls them on this thread, during an sk_* call made on it, and nowhere
 * else. An engine of a php:// save path may be kept across requests: it
 * looks the name up at each call, so a call after sk_store_unregister_all
 * fails with SK_INVALID_ARGUMENT ("php://NAME: no store registered under
 * this name; ...") and never reaches a withdrawn `user`.
 * SK_INVALID_ARGUMENT naming what is wrong for a bad name or a missing
 * callback.
 *
 * A callback that cannot return normally (a PHP fatal error, which
 * longjmps) must not unwind the library's frames: the caller's glue catches
 * it around its own call (zend_try), answers SK_STORE_ERROR, and re-raises
 * it (zend_bailout) once the sk_* call it was made in has returned. */
sk_code sk_store_register(const char* name, size_t name_len,
                          const sk_store_callbacks* callbacks, void* user,
                          sk_result* result) SK_NOEXCEPT;

/* Withdraws every registration of the calling thread (at the end of a PHP
 * request, before the objects behind `user` are freed). */
void sk_store_unregister_all(void) SK_NOEXCEPT;

/* The library version, e.g. "0.1.0". */
const char* sk_version(void) SK_NOEXCEPT;

/* A short lower-case name for a code, e.g. "not found". */
const char* sk_code_name(sk_code code) SK_NOEXCEPT;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SESSIONKIT_C_API_H_ */
