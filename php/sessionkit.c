/* The sessionkit PHP extension: registers the session module "sessionkit"
 * (session.save_handler = sessionkit) over the C ABI of the library.
 *
 * Only C runs here. The library is reached through sessionkit/c_api.h, whose
 * functions never throw; every PHP warning is raised from these C frames,
 * after the library call has returned, so a longjmp out of php_error_docref
 * (a fatal error in a user error handler) never unwinds C++ frames. Before
 * raising anything, the library's malloc'd result is copied into request
 * memory and freed, so such a longjmp leaks nothing either.
 *
 * Thread safety: the engines behind the handles are shared process-wide and
 * thread-safe; everything else is per request (PS() globals).
 */
/* php.h must come first: the other PHP headers rely on what it defines. */
/* clang-format off */
#include "php.h"
#include "php_ini.h"
#include "ext/session/php_session.h"
#include "ext/standard/info.h"
/* clang-format on */

#include <malloc.h>
#include <stdlib.h>

#include "sessionkit/c_api.h"

#ifndef PHP_SESSIONKIT_VERSION
#define PHP_SESSIONKIT_VERSION "unknown"
#endif

/* Longest session id (session_id.h) and lock token ("host|pid|random", the
 * host at most 255 bytes) kept for the lock a request holds. */
#define SK_MAX_ID_LEN 256
#define SK_MAX_TOKEN_LEN 320

ZEND_BEGIN_MODULE_GLOBALS(sessionkit)
  /* ini settings */
  bool locking;
  zend_long lock_wait_ms;
  zend_long lock_lease_ms;
  zend_long lock_max_waiters;
  zend_long lock_timeout_action; /* sk_lock_timeout_action */
  /* The lock this request holds (or its read-only state): kept in fixed
   * buffers, not request memory, because PHP's session module writes and
   * closes in its RSHUTDOWN, after this module's. */
  sk_engine *lock_engine;
  sk_lock_state lock_state;
  char lock_id[SK_MAX_ID_LEN + 1];
  size_t lock_id_len;
  char lock_token[SK_MAX_TOKEN_LEN + 1];
  size_t lock_token_len;
ZEND_END_MODULE_GLOBALS(sessionkit)

ZEND_DECLARE_MODULE_GLOBALS(sessionkit)
#define SKG(v) ZEND_MODULE_GLOBALS_ACCESSOR(sessionkit, v)

static ZEND_INI_MH(OnUpdateLockTimeoutAction) {
  zend_long *p = (zend_long *)ZEND_INI_GET_ADDR();
  if (zend_string_equals_literal(new_value, "readonly")) {
    *p = SK_LOCK_TIMEOUT_READONLY;
  } else if (zend_string_equals_literal(new_value, "fail")) {
    *p = SK_LOCK_TIMEOUT_FAIL;
  } else {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit.lock_timeout_action must be \"readonly\" or "
                     "\"fail\"");
    return FAILURE;
  }
  return SUCCESS;
}

/* A whole number >= 0 (milliseconds or a count). */
static ZEND_INI_MH(OnUpdateNonNegative) {
  zend_long *p = (zend_long *)ZEND_INI_GET_ADDR();
  zend_long v = zend_ini_parse_quantity_warn(new_value, entry->name);
  if (v < 0 || v > (zend_long)INT32_MAX) {
    php_error_docref(NULL, E_WARNING,
                     "%s must be between 0 and 2147483647, not \"%s\"",
                     ZSTR_VAL(entry->name), ZSTR_VAL(new_value));
    return FAILURE;
  }
  *p = v;
  return SUCCESS;
}

/* clang-format off */
PHP_INI_BEGIN()
  STD_PHP_INI_BOOLEAN("sessionkit.locking", "1", PHP_INI_ALL, OnUpdateBool,
                      locking, zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.lock_wait_ms", "5000", PHP_INI_ALL,
                    OnUpdateNonNegative, lock_wait_ms, zend_sessionkit_globals,
                    sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.lock_lease_ms", "0", PHP_INI_ALL,
                    OnUpdateNonNegative, lock_lease_ms,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.lock_max_waiters", "16", PHP_INI_ALL,
                    OnUpdateNonNegative, lock_max_waiters,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.lock_timeout_action", "readonly", PHP_INI_ALL,
                    OnUpdateLockTimeoutAction, lock_timeout_action,
                    zend_sessionkit_globals, sessionkit_globals)
PHP_INI_END()
/* clang-format on */

/* The lease when sessionkit.lock_lease_ms is 0: the request's
 * max_execution_time with a floor of 10 s, or 300 s when unlimited. */
static int64_t sk_lease_ms(void) {
  zend_long max_execution_time;
  if (SKG(lock_lease_ms) > 0) return (int64_t)SKG(lock_lease_ms);
  max_execution_time = INI_INT("max_execution_time");
  if (max_execution_time <= 0) return 300000;
  if (max_execution_time < 10) return 10000;
  if (max_execution_time > 86400) return 86400000;
  return (int64_t)max_execution_time * 1000;
}

/* True inside session_start(['read_and_close' => true]): PHP passes the
 * option to no handler callback, so it is read from the call's argument.
 * Such a request never writes, so it takes no lock. */
static bool sk_in_read_and_close(void) {
  zend_execute_data *ex = EG(current_execute_data);
  zval *options, *flag;
  if (ex == NULL || ex->func == NULL ||
      ex->func->type != ZEND_INTERNAL_FUNCTION ||
      ex->func->common.scope != NULL ||
      ex->func->common.function_name == NULL ||
      !zend_string_equals_literal(ex->func->common.function_name,
                                  "session_start") ||
      ZEND_CALL_NUM_ARGS(ex) < 1) {
    return false;
  }
  options = ZEND_CALL_ARG(ex, 1);
  ZVAL_DEREF(options);
  if (Z_TYPE_P(options) != IS_ARRAY) return false;
  flag = zend_hash_str_find_deref(Z_ARRVAL_P(options), "read_and_close",
                                  sizeof("read_and_close") - 1);
  return flag != NULL && zend_is_true(flag);
}

static void sk_forget_lock(void) {
  SKG(lock_state) = SK_LOCK_NONE;
  SKG(lock_engine) = NULL;
  SKG(lock_id_len) = 0;
  SKG(lock_token_len) = 0;
}

/* The lock this request holds on session `key`, or NULL. */
static const sk_lock *sk_lock_for(const zend_string *key, sk_lock *out) {
  if (SKG(lock_state) == SK_LOCK_NONE || ZSTR_LEN(key) != SKG(lock_id_len) ||
      memcmp(ZSTR_VAL(key), SKG(lock_id), SKG(lock_id_len)) != 0) {
    return NULL;
  }
  out->state = SKG(lock_state);
  out->token = SKG(lock_token);
  out->token_len = SKG(lock_token_len);
  return out;
}

PS_FUNCS_UPDATE_TIMESTAMP(sessionkit);

static const ps_module ps_mod_sessionkit = {
    PS_MOD_UPDATE_TIMESTAMP(sessionkit)};

/* The longest lifetime in seconds whose millisecond value fits an int64. */
#define SK_MAX_LIFETIME_S ((zend_long)(INT64_MAX / 1000))

static int64_t sk_ttl_ms(zend_long maxlifetime) {
  if (maxlifetime > SK_MAX_LIFETIME_S) maxlifetime = SK_MAX_LIFETIME_S;
  return (int64_t)maxlifetime * 1000;
}

typedef struct sk_pending {
  int type;
  zend_string *text;
} sk_pending;

/* Raises the engine's log lines of `r` (warnings as E_WARNING, notices as
 * E_NOTICE, debug lines dropped) and, when `r` failed and `context` is not
 * NULL, one E_WARNING "sessionkit: <context>: <message>". Frees `r`. */
static void sk_flush(sk_result *r, const char *context) {
  sk_pending *pending;
  size_t n = 0, i;

  if (r->log_count == 0 && (r->code == SK_OK || context == NULL)) {
    sk_result_free(r);
    return;
  }
  pending = safe_emalloc(r->log_count + 1, sizeof(*pending), 0);
  for (i = 0; i < r->log_count; i++) {
    if (r->log[i].level == SK_LOG_DEBUG) continue;
    pending[n].type = r->log[i].level == SK_LOG_WARNING ? E_WARNING : E_NOTICE;
    pending[n].text = strpprintf(0, "sessionkit: %s", r->log[i].message);
    n++;
  }
  if (r->code != SK_OK && context != NULL) {
    pending[n].type = E_WARNING;
    pending[n].text =
        strpprintf(0, "sessionkit: %s: %s", context,
                   r->message ? r->message : sk_code_name(r->code));
    n++;
  }
  sk_result_free(r);
  for (i = 0; i < n; i++) {
    php_error_docref(NULL, pending[i].type, "%s", ZSTR_VAL(pending[i].text));
    zend_string_release(pending[i].text);
  }
  efree(pending);
}

/* Reports a failed operation on session `key` (NULL when there is none):
 * "cannot <what>: <message>", and when the id is not what was refused, that
 * the failing store is the one of session.save_path. Frees `r`. */
static void sk_fail(sk_result *r, const char *what, const zend_string *key) {
  sk_result check = SK_RESULT_INIT;
  char *context;
  bool bad_id = key != NULL &&
                sk_validate_id(ZSTR_VAL(key), ZSTR_LEN(key), &check) != SK_OK;
  sk_result_free(&check);
  if (bad_id) {
    spprintf(&context, 0, "cannot %s", what);
  } else {
    spprintf(&context, 0, "cannot %s in the store of session.save_path", what);
  }
  sk_flush(r, context);
  efree(context);
}

/* The save path with passwords replaced by "***", in request memory. */
static zend_string *sk_redacted_save_path(const char *save_path) {
  sk_result r = SK_RESULT_INIT;
  zend_string *out;
  if (sk_redact_spec(save_path, strlen(save_path), &r) == SK_OK) {
    out = zend_string_init(r.data, r.data_len, 0);
  } else {
    out = zend_string_init("(unprintable)", sizeof("(unprintable)") - 1, 0);
  }
  sk_result_free(&r);
  return out;
}

static sk_engine *sk_open_engine(void **mod_data) {
  sk_engine *engine = PS_GET_MOD_DATA();
  if (engine == NULL) {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit: the session store is not open");
  }
  return engine;
}

PS_OPEN_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine;
  zend_string *context;
  (void)session_name;

  PS_SET_MOD_DATA(NULL);
  if (save_path == NULL || save_path[0] == '\0') {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit: session.save_path is empty: set it to a "
                     "store URL, e.g. \"lmdb:///var/lib/sessionkit\"");
    return FAILURE;
  }
  engine = sk_engine_get(save_path, strlen(save_path), &r);
  if (engine == NULL) {
    zend_string *redacted = sk_redacted_save_path(save_path);
    context = strpprintf(0, "session.save_path \"%s\" is not usable",
                         ZSTR_VAL(redacted));
    zend_string_release(redacted);
    sk_flush(&r, ZSTR_VAL(context));
    zend_string_release(context);
    return FAILURE;
  }
  sk_flush(&r, NULL);
  PS_SET_MOD_DATA(engine);
  return SUCCESS;
}

/* Releases the lock the request still holds (it ended without a write, or
 * a write failed), reporting a failure as a warning. */
static void sk_release_lock(void) {
  sk_result r = SK_RESULT_INIT;
  sk_lock lock = {SKG(lock_state), SKG(lock_token), SKG(lock_token_len)};
  sk_engine *engine = SKG(lock_engine);
  char id[SK_MAX_ID_LEN + 1];
  size_t id_len = SKG(lock_id_len);

  if (SKG(lock_state) != SK_LOCK_HELD || engine == NULL) {
    sk_forget_lock();
    return;
  }
  memcpy(id, SKG(lock_id), id_len);
  sk_forget_lock();
  if (sk_unlock(engine, id, id_len, &lock, &r) != SK_OK) {
    sk_flush(&r, "cannot release the session lock (it ends with its lease)");
    return;
  }
  sk_flush(&r, NULL);
}

PS_CLOSE_FUNC(sessionkit) {
  /* The engine is cached for the process; only the lock is released. */
  sk_release_lock();
  PS_SET_MOD_DATA(NULL);
  return SUCCESS;
}

PS_READ_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_open_engine(mod_data);
  sk_lock_options lock = {0, 0, 0, 0, SK_LOCK_TIMEOUT_READONLY};
  volatile bool bailed = false;
  sk_code code;
  (void)maxlifetime;

  if (engine == NULL) return FAILURE;
  /* A lock left by an earlier read of this request (another id). */
  sk_release_lock();
  if (SKG(locking) && !sk_in_read_and_close()) {
    lock.enabled = 1;
    lock.wait_ms = (int64_t)SKG(lock_wait_ms);
    lock.lease_ms = sk_lease_ms();
    lock.max_waiters = (uint32_t)SKG(lock_max_waiters);
    lock.timeout_action = (sk_lock_timeout_action)SKG(lock_timeout_action);
  }
  code = sk_read(engine, ZSTR_VAL(key), ZSTR_LEN(key), &lock, &r);
  if (code != SK_OK) {
    if (code == SK_DEADLINE_EXCEEDED || code == SK_RESOURCE_EXHAUSTED) {
      sk_flush(&r, "cannot lock the session");
    } else {
      sk_fail(&r, "read the session", key);
    }
    return FAILURE;
  }
  if (r.lock_state != SK_LOCK_NONE) {
    if (ZSTR_LEN(key) > SK_MAX_ID_LEN || r.lock_token_len > SK_MAX_TOKEN_LEN) {
      /* Cannot happen with ids the library accepted and its tokens; keep
       * the request from holding a lock it could not release. */
      sk_lock held = {r.lock_state, r.lock_token, r.lock_token_len};
      sk_result u = SK_RESULT_INIT;
      (void)sk_unlock(engine, ZSTR_VAL(key), ZSTR_LEN(key), &held, &u);
      sk_result_free(&u);
    } else {
      SKG(lock_engine) = engine;
      SKG(lock_state) = r.lock_state;
      memcpy(SKG(lock_id), ZSTR_VAL(key), ZSTR_LEN(key));
      SKG(lock_id_len) = ZSTR_LEN(key);
      if (r.lock_token_len > 0) {
        memcpy(SKG(lock_token), r.lock_token, r.lock_token_len);
      }
      SKG(lock_token_len) = r.lock_token_len;
    }
  }
  /* zend_string_init bails out when memory_limit is hit: free the library's
   * buffer before passing the bailout on. */
  zend_try {
    *val = r.data_len ? zend_string_init(r.data, r.data_len, 0)
                      : ZSTR_EMPTY_ALLOC();
  }
  zend_catch { bailed = true; }
  zend_end_try();
  if (bailed) {
    sk_result_free(&r);
    zend_bailout();
  }
  sk_flush(&r, NULL);
  return SUCCESS;
}

/* After a write or touch that released the lock (or lost it), the request
 * holds nothing; after other failures close releases it. */
static void sk_after_release(sk_code code, const sk_lock *lock) {
  if (lock != NULL && (code == SK_OK || code == SK_LOCK_LOST ||
                       code == SK_NOT_FOUND)) {
    sk_forget_lock();
  }
}

PS_WRITE_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_open_engine(mod_data);
  sk_lock held;
  const sk_lock *lock = sk_lock_for(key, &held);
  sk_code code;

  if (engine == NULL) return FAILURE;
  code = sk_write(engine, ZSTR_VAL(key), ZSTR_LEN(key), ZSTR_VAL(val),
                  ZSTR_LEN(val), sk_ttl_ms(maxlifetime), lock, &r);
  sk_after_release(code, lock);
  if (code != SK_OK) {
    if (code == SK_LOCK_LOST) {
      sk_flush(&r, NULL); /* the library's warning says it all */
    } else {
      sk_fail(&r, "save the session", key);
    }
    return FAILURE;
  }
  sk_flush(&r, NULL);
  return SUCCESS;
}

PS_UPDATE_TIMESTAMP_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_open_engine(mod_data);
  const int64_t ttl = sk_ttl_ms(maxlifetime);
  sk_lock held;
  const sk_lock *lock = sk_lock_for(key, &held);
  sk_code code;

  if (engine == NULL) return FAILURE;
  code = sk_touch(engine, ZSTR_VAL(key), ZSTR_LEN(key), ttl, lock, &r);
  sk_after_release(code, lock);
  if (code == SK_NOT_FOUND) {
    /* Expired or destroyed since it was read: store it again (the lock, if
     * any, was released by the touch). */
    sk_flush(&r, NULL);
    code = sk_write(engine, ZSTR_VAL(key), ZSTR_LEN(key), ZSTR_VAL(val),
                    ZSTR_LEN(val), ttl, NULL, &r);
  }
  if (code != SK_OK) {
    if (code == SK_LOCK_LOST) {
      sk_flush(&r, NULL);
    } else {
      sk_fail(&r, "extend the session's lifetime", key);
    }
    return FAILURE;
  }
  sk_flush(&r, NULL);
  return SUCCESS;
}

PS_DESTROY_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_open_engine(mod_data);

  if (engine == NULL) return FAILURE;
  if (sk_destroy(engine, ZSTR_VAL(key), ZSTR_LEN(key), &r) != SK_OK) {
    sk_fail(&r, "destroy the session", key);
    return FAILURE;
  }
  sk_flush(&r, NULL);
  return SUCCESS;
}

PS_GC_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_open_engine(mod_data);
  zend_long removed;
  (void)maxlifetime; /* every session carries its own expiry */

  if (engine == NULL) return -1;
  if (sk_gc(engine, &r) != SK_OK) {
    sk_fail(&r, "remove expired sessions", NULL);
    return -1;
  }
  removed =
      r.count > (uint64_t)ZEND_LONG_MAX ? ZEND_LONG_MAX : (zend_long)r.count;
  sk_flush(&r, NULL);
  if (nrdels) *nrdels = removed;
  return removed;
}

PS_CREATE_SID_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = PS_GET_MOD_DATA();
  zend_string *id;

  if (engine != NULL &&
      sk_create_id(engine, (size_t)PS(sid_length),
                   (int)PS(sid_bits_per_character), &r) == SK_OK) {
    id = zend_string_init(r.data, r.data_len, 0);
    sk_flush(&r, NULL);
    return id;
  }
  /* The store could not be asked whether the id is taken. An unchecked id
   * still carries at least 128 random bits; the read that follows reports
   * what is wrong with the store. */
  sk_flush(&r, NULL);
  if (sk_generate_id((size_t)PS(sid_length), (int)PS(sid_bits_per_character),
                     &r) != SK_OK) {
    sk_fail(&r, "create a session id", NULL);
    return NULL;
  }
  id = zend_string_init(r.data, r.data_len, 0);
  sk_flush(&r, NULL);
  return id;
}

PS_VALIDATE_SID_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = PS_GET_MOD_DATA();
  bool exists;

  if (engine == NULL) return FAILURE;
  /* A malformed id or a store error is "unknown": with strict mode PHP then
   * creates a new id, and the read that follows reports a store problem. */
  exists =
      sk_exists(engine, ZSTR_VAL(key), ZSTR_LEN(key), &r) == SK_OK && r.found;
  sk_flush(&r, NULL);
  return exists ? SUCCESS : FAILURE;
}

static PHP_GINIT_FUNCTION(sessionkit) {
#if defined(COMPILE_DL_SESSIONKIT) && defined(ZTS)
  ZEND_TSRMLS_CACHE_UPDATE();
#endif
  memset(sessionkit_globals, 0, sizeof(*sessionkit_globals));
  sessionkit_globals->lock_state = SK_LOCK_NONE;
}

/* A session of 100 KB passes through a few buffers of its size on the way
 * in and out (the store's reply, the frame, the copy handed to PHP). glibc
 * gives freed memory back to the OS as soon as 128 KiB are free at the top
 * of the heap, so every request faulted those pages in again: a third of
 * the time of a 100 KB request on Redis. Keeping 4 MiB instead costs each
 * worker at most that much. An operator's own malloc settings win. */
static void sk_tune_malloc(void) {
#if defined(__GLIBC__) && defined(M_TOP_PAD) && defined(M_MMAP_THRESHOLD)
  if (getenv("GLIBC_TUNABLES") != NULL || getenv("MALLOC_TOP_PAD_") != NULL ||
      getenv("MALLOC_TRIM_THRESHOLD_") != NULL ||
      getenv("MALLOC_MMAP_THRESHOLD_") != NULL) {
    return;
  }
  /* Setting one of them turns off glibc's own adjustment of the mmap
   * threshold, so it is set too: buffers up to 4 MiB come from the heap. */
  mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
  mallopt(M_TOP_PAD, 4 * 1024 * 1024);
#endif
}

static PHP_MINIT_FUNCTION(sessionkit) {
  (void)type;
  sk_tune_malloc();
  REGISTER_INI_ENTRIES();
  return php_session_register_module(&ps_mod_sessionkit);
}

static PHP_RINIT_FUNCTION(sessionkit) {
  (void)type;
  (void)module_number;
  /* A lock an aborted earlier request of this process never released. */
  sk_release_lock();
  return SUCCESS;
}

static PHP_MSHUTDOWN_FUNCTION(sessionkit) {
  (void)type;
  UNREGISTER_INI_ENTRIES();
  /* Close the stores of this process (a php-fpm worker exiting, the CLI
   * ending) before the module is unloaded. */
  sk_shutdown();
  return SUCCESS;
}

static PHP_MINFO_FUNCTION(sessionkit) {
  (void)zend_module;
  php_info_print_table_start();
  php_info_print_table_row(2, "sessionkit support", "enabled");
  php_info_print_table_row(2, "Version", PHP_SESSIONKIT_VERSION);
  php_info_print_table_row(2, "Library version", sk_version());
  php_info_print_table_row(2, "Save handler", "sessionkit");
  php_info_print_table_end();
  DISPLAY_INI_ENTRIES();
}

static const zend_module_dep sessionkit_deps[] = {ZEND_MOD_REQUIRED("session")
                                                      ZEND_MOD_END};

zend_module_entry sessionkit_module_entry = {
    STANDARD_MODULE_HEADER_EX,
    NULL,
    sessionkit_deps,
    "sessionkit",
    NULL, /* functions */
    PHP_MINIT(sessionkit),
    PHP_MSHUTDOWN(sessionkit),
    PHP_RINIT(sessionkit),
    NULL, /* RSHUTDOWN: PHP's session module writes and closes after it */
    PHP_MINFO(sessionkit),
    PHP_SESSIONKIT_VERSION,
    PHP_MODULE_GLOBALS(sessionkit),
    PHP_GINIT(sessionkit),
    NULL, /* GSHUTDOWN */
    NULL, /* post deactivate */
    STANDARD_MODULE_PROPERTIES_EX};

ZEND_GET_MODULE(sessionkit)
