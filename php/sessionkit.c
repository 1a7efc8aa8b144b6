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
/* php_sessionkit.h includes php.h first: the other PHP headers rely on
 * what it defines. */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
#include "ext/standard/info.h"
/* clang-format on */

#include <malloc.h>
#include <stdlib.h>

#ifndef PHP_SESSIONKIT_VERSION
#define PHP_SESSIONKIT_VERSION "unknown"
#endif

ZEND_DECLARE_MODULE_GLOBALS(sessionkit)

PS_FUNCS_UPDATE_TIMESTAMP(sessionkit);

static const ps_module ps_mod_sessionkit = {
    PS_MOD_UPDATE_TIMESTAMP(sessionkit)};

/* The longest lifetime in seconds whose millisecond value fits an int64. */
#define SK_MAX_LIFETIME_S ((zend_long)(INT64_MAX / 1000))

static int64_t sk_ttl_ms(zend_long maxlifetime) {
  if (maxlifetime > SK_MAX_LIFETIME_S) maxlifetime = SK_MAX_LIFETIME_S;
  return (int64_t)maxlifetime * 1000;
}

/* The engine PS_OPEN stored for this session, or NULL (with a warning)
 * when the store was not opened. */
static sk_engine *sk_opened_engine(void **mod_data) {
  sk_engine *engine = PS_GET_MOD_DATA();
  if (engine == NULL) {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit: the session store is not open");
  }
  return engine;
}

/* Names the settings an engine was asked for in `out` (" with
 * sessionkit.keys, sessionkit.legacy"), "" for none: the context of the
 * message when it cannot open. */
static void sk_open_settings_named(const sk_engine_settings *s, char *out,
                                   size_t size) {
  const char *names[5];
  size_t n = 0, i, used = 0;
  if (s->keys_path_len > 0) names[n++] = "sessionkit.keys";
  if (s->dictionaries_path_len > 0) names[n++] = "sessionkit.dictionaries";
  if (s->legacy_len > 0) names[n++] = "sessionkit.legacy";
  if (s->hash_ids) names[n++] = "sessionkit.hash_ids";
  out[0] = '\0';
  for (i = 0; i < n && used < size; i++) {
    int w = snprintf(out + used, size - used, "%s%s", i == 0 ? " with " : ", ",
                     names[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

sk_engine *sk_engine_for_save_path(const char *save_path) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine;
  zend_string *context;
  sk_engine_settings settings = SK_ENGINE_SETTINGS_INIT;

  if (save_path == NULL || save_path[0] == '\0') {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit: session.save_path is empty: set it to a "
                     "store URL, e.g. \"lmdb:///var/lib/sessionkit\"");
    return NULL;
  }
  settings.keys_path = sk_keys_path(&settings.keys_path_len);
  settings.legacy = sk_legacy_spec(&settings.legacy_len);
  settings.dictionaries_path =
      sk_dictionaries_path(&settings.dictionaries_path_len);
  settings.hash_ids = sk_hash_ids();
  sk_lifetime_settings(&settings);
  settings.metrics_path = sk_metrics_path(&settings.metrics_path_len);
  engine = sk_engine_get_with(save_path, strlen(save_path), &settings, &r);
  if (engine == NULL) {
    zend_string *redacted = sk_redacted_save_path(save_path);
    char named[160];
    sk_open_settings_named(&settings, named, sizeof(named));
    context = strpprintf(0, "session.save_path \"%s\"%s is not usable",
                         ZSTR_VAL(redacted), named);
    zend_string_release(redacted);
    sk_flush(&r, ZSTR_VAL(context));
    zend_string_release(context);
    return NULL;
  }
  sk_flush(&r, NULL);
  return engine;
}

PS_OPEN_FUNC(sessionkit) {
  sk_engine *engine;
  (void)session_name;

  PS_SET_MOD_DATA(NULL);
  engine = sk_engine_for_save_path(save_path);
  if (engine == NULL) return FAILURE;
  /* A regenerate's old session on another engine: destroyed before that
   * engine may go. */
  if (sk_grace_pending() && SKG(retiring_engine) != engine) {
    sk_grace_abandon(true);
  }
  /* An earlier open of this request that was never closed (session_reset()
   * after an ini change gives another engine): a lock held on the engine
   * it gives back is released first, while that engine is still held. */
  if (SKG(open_engine) != NULL && SKG(open_engine) != engine &&
      SKG(lock_engine) == SKG(open_engine)) {
    sk_release_lock(true);
  }
  sk_engine_release(SKG(open_engine));
  SKG(open_engine) = engine;
  PS_SET_MOD_DATA(engine);
  return SUCCESS;
}

/* Forgets what validate_sid remembered (a store error for an id). */
static void sk_forget_failed_id(void) { SKG(failed_id_len) = 0; }

/* Gives back the engine PS_OPEN took, once the request holds no lock on it
 * any more. */
static void sk_release_engine(void) {
  if (SKG(lock_state) != SK_LOCK_NONE || sk_grace_pending()) return;
  sk_engine_release(SKG(open_engine));
  SKG(open_engine) = NULL;
}

PS_CLOSE_FUNC(sessionkit) {
  /* The engine stays cached for the process; the lock is released and the
   * request's hold of the engine given back. Inside
   * session_regenerate_id(), the old session's lock stays for the read of
   * the new id (sessionkit_grace.c). */
  if (!sk_in_regenerate()) {
    sk_grace_abandon(true);
  }
  sk_release_lock(true);
  sk_forget_failed_id();
  sk_release_engine();
  PS_SET_MOD_DATA(NULL);
  return SUCCESS;
}

PS_READ_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_opened_engine(mod_data);
  sk_lock_options lock;
  volatile bool bailed = false;
  sk_code code;
  (void)maxlifetime;

  if (engine == NULL) return FAILURE;
  if (SKG(failed_id_len) > 0) {
    /* validate_sid could not check this id: fail rather than use it (or
     * let PHP replace it, orphaning the user's session). */
    bool same = ZSTR_LEN(key) == SKG(failed_id_len) &&
                memcmp(ZSTR_VAL(key), SKG(failed_id), ZSTR_LEN(key)) == 0;
    sk_forget_failed_id();
    if (same) {
      php_error_docref(NULL, E_WARNING,
                       "sessionkit: cannot read the session in the store of "
                       "session.save_path: %s",
                       SKG(failed_message));
      return FAILURE;
    }
  }
  /* A lock left by an earlier read of this request (another id). */
  sk_release_lock(true);
  (void)sk_lock_options_for_request(&lock);
  /* sk_read, or the read of session_regenerate_id(true)'s new id. */
  code = sk_grace_read(engine, key, &lock, &r);
  if (code != SK_OK) {
    if (code == SK_DEADLINE_EXCEEDED || code == SK_RESOURCE_EXHAUSTED) {
      sk_flush(&r, "cannot lock the session");
    } else {
      sk_fail(&r, "read the session", key);
    }
    return FAILURE;
  }
  sk_keep_lock(engine, key, &r);
  sk_users_follow(key);
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
 * holds nothing and the version read is spent; after other failures close
 * releases it. */
static void sk_after_release(sk_code code, const sk_lock *lock) {
  if (lock != NULL &&
      (code == SK_OK || code == SK_LOCK_LOST || code == SK_NOT_FOUND)) {
    sk_forget_lock();
  }
}

/* A request that went read-only cannot move its session to a new id: it
 * would destroy the old one under the lock's holder (whose save then
 * fails) and store its own stale copy under the new id. PHP then fails
 * session_regenerate_id() and closes the session. */
static bool sk_refuse_readonly_regenerate(const sk_lock *lock) {
  if (lock == NULL || lock->state != SK_LOCK_READONLY || !sk_in_regenerate()) {
    return false;
  }
  php_error_docref(NULL, E_WARNING,
                   "sessionkit: cannot regenerate the session id: this "
                   "request reads the session read-only (another request "
                   "held its lock for longer than the lock wait), and would "
                   "save an old copy under the new id");
  return true;
}

PS_WRITE_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_opened_engine(mod_data);
  sk_lock held;
  const sk_lock *lock = sk_lock_for(key, &held);
  sk_code code;

  sk_compression compression;
  sk_request request;

  if (engine == NULL) return FAILURE;
  if (sk_refuse_readonly_regenerate(lock)) return FAILURE;
  sk_compression_for_request(&compression);
  sk_request_for(lock, &request);
  code = sk_write_for(engine, ZSTR_VAL(key), ZSTR_LEN(key), ZSTR_VAL(val),
                      ZSTR_LEN(val), sk_ttl_ms(maxlifetime), lock, &compression,
                      &request, &r);
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
  /* A read-only request saved nothing: nor its user. */
  if (lock == NULL || lock->state != SK_LOCK_READONLY) {
    sk_users_after_save(engine, key, sk_ttl_ms(maxlifetime));
  }
  return SUCCESS;
}

PS_UPDATE_TIMESTAMP_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_opened_engine(mod_data);
  const int64_t ttl = sk_ttl_ms(maxlifetime);
  sk_lock held;
  const sk_lock *lock = sk_lock_for(key, &held);
  sk_lock unlocked = {SK_LOCK_NONE, NULL, 0, 0, NULL, 0};
  sk_compression compression;
  sk_request request;
  sk_code code;

  if (engine == NULL) return FAILURE;
  /* Read without its lock (locking off): a session this request found. */
  const bool found_unlocked =
      lock != NULL && lock->state == SK_LOCK_NONE && SKG(read_writes) != 0;
  /* The unchanged data goes along: while a first visit's lifetime grows,
   * the touch rewrites it with the new write count. */
  sk_compression_for_request(&compression);
  sk_request_for(lock, &request);
  code = sk_touch_for(engine, ZSTR_VAL(key), ZSTR_LEN(key), ZSTR_VAL(val),
                      ZSTR_LEN(val), ttl, lock, &compression, &request, &r);
  sk_after_release(code, lock);
  if (code == SK_NOT_FOUND) {
    /* Gone since it was read. A request that read it without holding its
     * lock (read-only, or locking off) writes nothing, ever: another
     * request may have logged the user out. Under the lock (which the
     * touch released) it expired meanwhile, since a destroy would have
     * ended the lock: stored again, as is a new session never written. */
    sk_flush(&r, NULL);
    if (lock != NULL && lock->state == SK_LOCK_READONLY) return SUCCESS;
    if (found_unlocked) return SUCCESS;
    if (lock != NULL) {
      unlocked.read_version = lock->read_version;
      unlocked.followed_key = lock->followed_key;
      unlocked.followed_key_len = lock->followed_key_len;
    }
    code =
        sk_write_for(engine, ZSTR_VAL(key), ZSTR_LEN(key), ZSTR_VAL(val),
                     ZSTR_LEN(val), ttl, &unlocked, &compression, &request, &r);
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
  if (lock == NULL || lock->state != SK_LOCK_READONLY) {
    sk_users_after_save(engine, key, ttl);
  }
  return SUCCESS;
}

PS_DESTROY_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_opened_engine(mod_data);
  sk_lock held;
  const sk_lock *lock;

  if (engine == NULL) return FAILURE;
  lock = sk_lock_for(key, &held);
  if (sk_refuse_readonly_regenerate(lock)) return FAILURE;
  /* session_regenerate_id(true): the old id may stay for its grace. */
  if (sk_grace_hold_destroy(engine, key)) return SUCCESS;
  /* With the lock this request holds (unchanged when the destroy is not
   * held back): an old id read within a regenerate's grace ends the
   * session it led to. */
  if (sk_destroy_held(engine, ZSTR_VAL(key), ZSTR_LEN(key), lock, &r) !=
      SK_OK) {
    sk_fail(&r, "destroy the session", key);
    return FAILURE;
  }
  /* Destroying a session ends its lock too (store.h): nothing to release
   * at close. A logout ends the session's user too: a session started
   * after it in this request is nobody's until it is told. */
  if (lock != NULL) sk_forget_lock();
  if (!sk_in_regenerate()) {
    sk_users_forget();
  }
  sk_flush(&r, NULL);
  return SUCCESS;
}

PS_GC_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_opened_engine(mod_data);
  zend_long removed;
  (void)maxlifetime; /* every session carries its own expiry */

  if (engine == NULL) return -1;
  if (sk_gc(engine, &r) != SK_OK) {
    sk_fail(&r, "remove expired sessions", NULL);
    return -1;
  }
  removed = r.removed > (uint64_t)ZEND_LONG_MAX ? ZEND_LONG_MAX
                                                : (zend_long)r.removed;
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
  sk_code code;
  bool exists;

  if (engine == NULL) return FAILURE;
  sk_forget_failed_id();
  /* A malformed id is "unknown" (SK_OK, not found): with strict mode PHP
   * then creates a new id. */
  code = sk_exists(engine, ZSTR_VAL(key), ZSTR_LEN(key), &r);
  if (code != SK_OK && ZSTR_LEN(key) <= SK_MAX_ID_LEN) {
    /* The store could not answer (down, stalled past its timeout). A new
     * id would orphan the user's session: accept the id here and fail the
     * read that follows with the store's error, so that session_start()
     * returns false and neither the id nor the cookie changes. */
    memcpy(SKG(failed_id), ZSTR_VAL(key), ZSTR_LEN(key));
    SKG(failed_id_len) = ZSTR_LEN(key);
    snprintf(SKG(failed_message), sizeof(SKG(failed_message)), "%s",
             r.message ? r.message : sk_code_name(code));
    sk_flush(&r, NULL);
    return SUCCESS;
  }
  exists = code == SK_OK && r.found;
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
  sk_tune_malloc();
  sk_lock_register_ini(type, module_number);
  sk_compression_register_ini(type, module_number);
  sk_keys_register_ini(type, module_number);
  sk_legacy_register_ini(type, module_number);
  sk_dictionaries_register_ini(type, module_number);
  sk_hash_ids_register_ini(type, module_number);
  sk_grace_register_ini(type, module_number);
  sk_users_register_ini(type, module_number);
  sk_lifetime_register_ini(type, module_number);
  sk_metrics_register_ini(type, module_number);
  sk_store_minit(type);
  return php_session_register_module(&ps_mod_sessionkit);
}

/* Before the session module's RSHUTDOWN: a session on a store written in
 * PHP is written and closed while the store's object is alive, then the
 * request's stores are withdrawn (sessionkit_store.c). */
static PHP_RSHUTDOWN_FUNCTION(sessionkit) {
  (void)type;
  (void)module_number;
  sk_store_rshutdown();
  return SUCCESS;
}

/* After every module's RSHUTDOWN, PHP's session module's included (it
 * writes and closes there): releases a lock and an engine the request
 * still holds (a request aborted before its session was closed). Not in
 * RINIT: with session.auto_start the session module's RINIT runs first and
 * has already taken this request's lock. No script runs any more, so a
 * failure goes to the error log only. */
static ZEND_MODULE_POST_ZEND_DEACTIVATE_D(sessionkit) {
  sk_grace_abandon(false);
  sk_release_lock(false);
  sk_forget_failed_id();
  sk_release_engine();
  sk_users_forget();
  SKG(request_writes) = 0;
  return SUCCESS;
}

static PHP_MSHUTDOWN_FUNCTION(sessionkit) {
  sk_lock_unregister_ini(type, module_number); /* every sessionkit.* entry */
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
    sk_users_functions,
    PHP_MINIT(sessionkit),
    PHP_MSHUTDOWN(sessionkit),
    NULL, /* RINIT: session.auto_start may have locked already */
    PHP_RSHUTDOWN(sessionkit), /* before the session module writes */
    PHP_MINFO(sessionkit),
    PHP_SESSIONKIT_VERSION,
    PHP_MODULE_GLOBALS(sessionkit),
    PHP_GINIT(sessionkit),
    NULL, /* GSHUTDOWN */
    ZEND_MODULE_POST_ZEND_DEACTIVATE_N(sessionkit),
    STANDARD_MODULE_PROPERTIES_EX};

ZEND_GET_MODULE(sessionkit)
