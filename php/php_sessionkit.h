/* Shared by the C files of the sessionkit PHP extension: the module
 * globals and the helpers one file offers the others. */
#ifndef PHP_SESSIONKIT_H_
#define PHP_SESSIONKIT_H_

/* clang-format off */
#include "php.h"
#include "ext/session/php_session.h"
/* clang-format on */

#include "sessionkit/c_api.h"

/* Longest session id (session_id.h) and lock token ("host|pid|random", the
 * host at most 255 bytes plus its identity) kept for the lock a request
 * holds, and the longest store error remembered between validate_sid and
 * read. */
#define SK_MAX_ID_LEN 256
#define SK_MAX_TOKEN_LEN 320
#define SK_MAX_ERROR_LEN 1024

ZEND_BEGIN_MODULE_GLOBALS(sessionkit)
/* ini settings */
bool locking;
zend_long lock_wait_ms; /* -1: auto (max_execution_time) */
zend_long lock_lease_ms;
zend_long lock_max_waiters;
zend_long lock_timeout_action; /* sk_lock_timeout_action */
zend_long compression;         /* sk_codec */
zend_long compression_level;
zend_long compression_threshold;
char *keys;         /* sessionkit.keys: the key file, "" for none */
char *legacy;       /* sessionkit.legacy: the old handler's spec, "" for none */
char *dictionaries; /* sessionkit.dictionaries: a directory, "" for none */
bool hash_ids;      /* sessionkit.hash_ids */
zend_long regenerate_grace; /* sessionkit.regenerate_grace, seconds */
char *user_key; /* sessionkit.user_key: a $_SESSION key, "" for none */
/* The user sessionkit_set_user() gave in this request (user_len 0: none),
 * recorded at each save until the request ends. */
char user[SK_MAX_USER_LEN];
size_t user_len;
/* The session it was given for: it goes with that session only (and with
 * the new id session_regenerate_id() gives it). */
char user_id[SK_MAX_ID_LEN];
size_t user_id_len;
char *bot_pattern;      /* sessionkit.bot_pattern: "" for the built-in list */
zend_long bot_lifetime; /* seconds, 0: off (and the others below) */
zend_long first_lifetime;
zend_long min_lifetime;
zend_long max_lifetime;
zend_long max_size; /* bytes, 0: no limit (and warn_size) */
zend_long warn_size;
char *metrics; /* sessionkit.metrics: the metrics file, "" for none */
/* The engine PS_OPEN took (held until PS_CLOSE or the end of the
 * request), so the engine cache never closes it under the request. */
sk_engine *open_engine;
/* The session this request read: its lock (or read-only state, or none)
 * and the session version read, passed back on write. Kept in fixed
 * buffers, not request memory, because PHP's session module writes and
 * closes in its RSHUTDOWN, and what is left is released after every
 * module's RSHUTDOWN (post deactivate). lock_id_len 0: nothing read. */
sk_engine *lock_engine;
sk_lock_state lock_state;
char lock_id[SK_MAX_ID_LEN + 1];
size_t lock_id_len;
char lock_token[SK_MAX_TOKEN_LEN + 1];
size_t lock_token_len;
uint64_t read_version;
uint32_t read_writes; /* the write count read (sk_result.writes) */
/* The highest write count any read of this request returned: the client
 * came back with a session written that often, so a session it writes
 * under a new id (session_regenerate_id reads the new id, empty) is no
 * first visit. Kept across sk_forget_lock; reset after the request. */
uint32_t request_writes;
/* The store key a read of a retired id followed (sk_result.followed_key);
 * lock_key_len 0: the id's own session. */
char lock_key[SK_MAX_ID_LEN + 1];
size_t lock_key_len;
/* The old session of session_regenerate_id(true), whose destroy waits for
 * the read of the new id (sessionkit_grace.c): what was read of it, as the
 * fields above. retiring_engine NULL: none. */
sk_engine *retiring_engine;
sk_lock_state retiring_state;
char retiring_id[SK_MAX_ID_LEN + 1];
size_t retiring_id_len;
char retiring_token[SK_MAX_TOKEN_LEN + 1];
size_t retiring_token_len;
uint64_t retiring_version;
char retiring_key[SK_MAX_ID_LEN + 1];
size_t retiring_key_len;
/* Strict mode: validate_sid of this id met a store error; the read that
 * follows fails with this message instead of using an unchecked id. */
char failed_id[SK_MAX_ID_LEN + 1];
size_t failed_id_len; /* 0: none */
char failed_message[SK_MAX_ERROR_LEN + 1];
HashTable *stores;  /* sessionkit_register_store(): name => object; NULL */
bool store_bailout; /* a store's method ended with a fatal error */
ZEND_END_MODULE_GLOBALS(sessionkit)

ZEND_EXTERN_MODULE_GLOBALS(sessionkit)
#define SKG(v) ZEND_MODULE_GLOBALS_ACCESSOR(sessionkit, v)

/* sessionkit_report.c: reporting the library's results. */
void sk_flush(sk_result *r, const char *context);

/* Stores written in PHP (sessionkit_store.c). */
void sk_store_minit(int type);
void sk_store_rshutdown(void);
/* After a library call: raises a fatal error a store's method ended with
 * (zend_bailout) now that no library frame is below. */
void sk_store_rethrow_bailout(void);
void sk_fail(sk_result *r, const char *what, const zend_string *key);
void sk_log_only(sk_result *r, const char *context);
zend_string *sk_redacted_save_path(const char *save_path);

/* sessionkit_lock.c: lock settings and the lock a request holds. */
void sk_lock_register_ini(int type, int module_number);
void sk_lock_unregister_ini(int type, int module_number);
bool sk_lock_options_for_request(sk_lock_options *out);
void sk_forget_lock(void);
const sk_lock *sk_lock_for(const zend_string *key, sk_lock *out);
void sk_keep_lock(sk_engine *engine, const zend_string *key,
                  const sk_result *r);
void sk_release_lock(bool in_request);
/* Stores a whole number from 0 to INT32_MAX given to ini entry `entry` in
 * *p; otherwise warns, naming the setting and what it accepts (`accepts`:
 * "" or e.g. "\"auto\" or "), and fails. */
zend_result sk_set_non_negative(zend_ini_entry *entry, zend_string *new_value,
                                zend_long *p, const char *accepts);

/* sessionkit_compression.c: compression settings of this request. Their
 * ini entries go with the module's others (sk_lock_unregister_ini). */
void sk_compression_register_ini(int type, int module_number);
void sk_compression_for_request(sk_compression *out);

/* sessionkit_keys.c: the key file of sessionkit.keys (its ini entry goes
 * with the module's others, as compression's). */
void sk_keys_register_ini(int type, int module_number);
const char *sk_keys_path(size_t *len);

/* sessionkit_legacy.c: the old handler's sessions of sessionkit.legacy
 * (its ini entry goes with the module's others, as compression's). */
void sk_legacy_register_ini(int type, int module_number);
const char *sk_legacy_spec(size_t *len);
/* sessionkit_dictionaries.c: the dictionary directory of
 * sessionkit.dictionaries (its ini entry goes with the module's others). */
void sk_dictionaries_register_ini(int type, int module_number);
const char *sk_dictionaries_path(size_t *len);
/* sessionkit_hash_ids.c: sessionkit.hash_ids (its ini entry goes with the
 * module's others, as compression's). */
void sk_hash_ids_register_ini(int type, int module_number);
int sk_hash_ids(void);
/* sessionkit_lifetime.c: the lifetime policy and size limits (their ini
 * entries go with the module's others, as compression's): the engine
 * settings, and the request a write or touch of the session read with
 * `lock` (NULL: none read) serves. */
void sk_lifetime_register_ini(int type, int module_number);
void sk_lifetime_settings(sk_engine_settings *s);
void sk_request_for(const sk_lock *lock, sk_request *out);
/* sessionkit_grace.c: sessionkit.regenerate_grace (its ini entry goes with
 * the module's others) and the old id of session_regenerate_id(true).
 * hold_destroy: true when the destroy of `key` is held back for the read
 * of the new id; grace_read: that read (or, with nothing held back, a
 * plain sk_read); abandon: the held-back destroy done now. */
void sk_grace_register_ini(int type, int module_number);
zend_execute_data *sk_executing_function(const char *name, size_t len);
/* Whether session_regenerate_id() is the function executing. */
bool sk_in_regenerate(void);
bool sk_grace_hold_destroy(sk_engine *engine, const zend_string *key);
sk_code sk_grace_read(sk_engine *engine, const zend_string *key,
                      const sk_lock_options *lock, sk_result *r);
void sk_grace_abandon(bool in_request);
bool sk_grace_pending(void);

/* sessionkit.c: the engine of `save_path` with this request's settings,
 * held once (sk_engine_release it); NULL after a warning. */
sk_engine *sk_engine_for_save_path(const char *save_path);

/* sessionkit_users.c: sessions by user (its ini entry goes with the
 * module's others, as compression's). */
void sk_users_register_ini(int type, int module_number);
extern const zend_function_entry sk_users_functions[];
/* After a save of session `key`: records its user, if this request has
 * one (a warning when that fails). */
void sk_users_after_save(sk_engine *engine, const zend_string *key,
                         int64_t ttl_ms);
/* At the end of a request, or a logout: forgets its user. */
void sk_users_forget(void);
/* After a read of session `key`: the user sessionkit_set_user() gave goes
 * with the new id of a session_regenerate_id(), and is forgotten for any
 * other session. */
void sk_users_follow(const zend_string *key);
/* sessionkit_metrics.c: the metrics file of sessionkit.metrics (its ini
 * entry goes with the module's others, as compression's). */
void sk_metrics_register_ini(int type, int module_number);
const char *sk_metrics_path(size_t *len);

#endif /* PHP_SESSIONKIT_H_ */
