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
#include "ext/session/php_session.h"
#include "ext/standard/info.h"
/* clang-format on */

#include "sessionkit/c_api.h"

#ifndef PHP_SESSIONKIT_VERSION
#define PHP_SESSIONKIT_VERSION "unknown"
#endif

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

PS_CLOSE_FUNC(sessionkit) {
  /* The engine is cached for the process; nothing to release. */
  PS_SET_MOD_DATA(NULL);
  return SUCCESS;
}

PS_READ_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_open_engine(mod_data);
  volatile bool bailed = false;
  (void)maxlifetime;

  if (engine == NULL) return FAILURE;
  if (sk_read(engine, ZSTR_VAL(key), ZSTR_LEN(key), &r) != SK_OK) {
    sk_fail(&r, "read the session", key);
    return FAILURE;
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

PS_WRITE_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_open_engine(mod_data);

  if (engine == NULL) return FAILURE;
  if (sk_write(engine, ZSTR_VAL(key), ZSTR_LEN(key), ZSTR_VAL(val),
               ZSTR_LEN(val), sk_ttl_ms(maxlifetime), &r) != SK_OK) {
    sk_fail(&r, "save the session", key);
    return FAILURE;
  }
  sk_flush(&r, NULL);
  return SUCCESS;
}

PS_UPDATE_TIMESTAMP_FUNC(sessionkit) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = sk_open_engine(mod_data);
  const int64_t ttl = sk_ttl_ms(maxlifetime);
  sk_code code;

  if (engine == NULL) return FAILURE;
  code = sk_touch(engine, ZSTR_VAL(key), ZSTR_LEN(key), ttl, &r);
  if (code == SK_NOT_FOUND) {
    /* Expired or destroyed since it was read: store it again. */
    sk_flush(&r, NULL);
    code = sk_write(engine, ZSTR_VAL(key), ZSTR_LEN(key), ZSTR_VAL(val),
                    ZSTR_LEN(val), ttl, &r);
  }
  if (code != SK_OK) {
    sk_fail(&r, "extend the session's lifetime", key);
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

static PHP_MINIT_FUNCTION(sessionkit) {
  (void)type;
  (void)module_number;
  return php_session_register_module(&ps_mod_sessionkit);
}

static PHP_MSHUTDOWN_FUNCTION(sessionkit) {
  (void)type;
  (void)module_number;
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
}

static const zend_module_dep sessionkit_deps[] = {ZEND_MOD_REQUIRED("session")
                                                      ZEND_MOD_END};

zend_module_entry sessionkit_module_entry = {STANDARD_MODULE_HEADER_EX,
                                             NULL,
                                             sessionkit_deps,
                                             "sessionkit",
                                             NULL, /* functions */
                                             PHP_MINIT(sessionkit),
                                             PHP_MSHUTDOWN(sessionkit),
                                             NULL, /* RINIT */
                                             NULL, /* RSHUTDOWN */
                                             PHP_MINFO(sessionkit),
                                             PHP_SESSIONKIT_VERSION,
                                             STANDARD_MODULE_PROPERTIES};

ZEND_GET_MODULE(sessionkit)
