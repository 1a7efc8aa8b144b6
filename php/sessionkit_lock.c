/* Session locking in the PHP glue: the sessionkit.lock* ini settings and
 * the lock a request holds between its read and its write (see
 * docs/locking.md). The locking itself is the library's. */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
/* clang-format on */

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

/* Stores a whole number from 0 to INT32_MAX (milliseconds or a count) in
 * *p; otherwise warns, naming the setting and what it accepts (`accepts`:
 * "" or "\"auto\" or "), and fails. */
zend_result sk_set_non_negative(zend_ini_entry *entry, zend_string *new_value,
                                zend_long *p, const char *accepts) {
  zend_long v = zend_ini_parse_quantity_warn(new_value, entry->name);
  if (v < 0 || v > (zend_long)INT32_MAX) {
    php_error_docref(NULL, E_WARNING,
                     "%s must be %sbetween 0 and 2147483647, not \"%s\"",
                     ZSTR_VAL(entry->name), accepts, ZSTR_VAL(new_value));
    return FAILURE;
  }
  *p = v;
  return SUCCESS;
}

/* A whole number >= 0 (milliseconds or a count). */
static ZEND_INI_MH(OnUpdateNonNegative) {
  return sk_set_non_negative(entry, new_value, (zend_long *)ZEND_INI_GET_ADDR(),
                             "");
}

/* sessionkit.lock_wait_ms: "auto" (or -1) or milliseconds >= 0. */
static ZEND_INI_MH(OnUpdateLockWait) {
  zend_long *p = (zend_long *)ZEND_INI_GET_ADDR();
  if (zend_string_equals_literal_ci(new_value, "auto") ||
      zend_string_equals_literal(new_value, "-1")) {
    *p = -1;
    return SUCCESS;
  }
  return sk_set_non_negative(entry, new_value, p, "\"auto\" or ");
}

/* clang-format off */
PHP_INI_BEGIN()
  STD_PHP_INI_BOOLEAN("sessionkit.locking", "1", PHP_INI_ALL, OnUpdateBool,
                      locking, zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.lock_wait_ms", "auto", PHP_INI_ALL,
                    OnUpdateLockWait, lock_wait_ms, zend_sessionkit_globals,
                    sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.lock_lease_ms", "0", PHP_INI_ALL,
                    OnUpdateNonNegative, lock_lease_ms,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.lock_max_waiters",
                    ZEND_TOSTR(SK_LOCK_DEFAULT_MAX_WAITERS), PHP_INI_ALL,
                    OnUpdateNonNegative, lock_max_waiters,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.lock_timeout_action", "readonly", PHP_INI_ALL,
                    OnUpdateLockTimeoutAction, lock_timeout_action,
                    zend_sessionkit_globals, sessionkit_globals)
PHP_INI_END()
/* clang-format on */

void sk_lock_register_ini(int type, int module_number) {
  REGISTER_INI_ENTRIES();
}

void sk_lock_unregister_ini(int type, int module_number) {
  UNREGISTER_INI_ENTRIES();
}

/* The request's time limit in ms: max_execution_time, or 300 s when it is
 * 0 (unlimited, as in the CLI), at most a day. */
static int64_t sk_time_limit_ms(void) {
  zend_long max_execution_time = INI_INT("max_execution_time");
  if (max_execution_time <= 0) return 300000;
  if (max_execution_time > 86400) return 86400000;
  return (int64_t)max_execution_time * 1000;
}

/* The lease when sessionkit.lock_lease_ms is 0: the time limit with a
 * floor of 10 s. */
static int64_t sk_lease_ms(void) {
  int64_t limit;
  if (SKG(lock_lease_ms) > 0) return (int64_t)SKG(lock_lease_ms);
  limit = sk_time_limit_ms();
  return limit < 10000 ? 10000 : limit;
}

/* The wait when sessionkit.lock_wait_ms is auto: as long as the files
 * handler would wait (flock has no limit), bounded by the time limit. */
static int64_t sk_wait_ms(void) {
  if (SKG(lock_wait_ms) >= 0) return (int64_t)SKG(lock_wait_ms);
  return sk_time_limit_ms();
}

/* True inside session_start(['read_and_close' => true]): PHP passes the
 * option to no handler callback, so it is read from the call's argument.
 * Such a request never writes, so it takes no lock. */
static bool sk_in_read_and_close(void) {
  zend_execute_data *ex = sk_executing_function(ZEND_STRL("session_start"));
  zval *options, *flag;
  if (ex == NULL || ZEND_CALL_NUM_ARGS(ex) < 1) return false;
  options = ZEND_CALL_ARG(ex, 1);
  ZVAL_DEREF(options);
  if (Z_TYPE_P(options) != IS_ARRAY) return false;
  flag = zend_hash_str_find_deref(Z_ARRVAL_P(options), "read_and_close",
                                  sizeof("read_and_close") - 1);
  /* As session_start() reads it: as an integer ("no" is 0, not true). */
  return flag != NULL && zval_get_long(flag) != 0;
}

/* Fills the lock options of this request's read; false when it takes no
 * lock (locking off, read_and_close). */
bool sk_lock_options_for_request(sk_lock_options *out) {
  memset(out, 0, sizeof(*out));
  out->timeout_action = SK_LOCK_TIMEOUT_READONLY;
  if (!SKG(locking) || sk_in_read_and_close()) return false;
  out->enabled = 1;
  out->wait_ms = sk_wait_ms();
  out->lease_ms = sk_lease_ms();
  out->max_waiters = (uint32_t)SKG(lock_max_waiters);
  out->timeout_action = (sk_lock_timeout_action)SKG(lock_timeout_action);
  return true;
}

void sk_forget_lock(void) {
  SKG(lock_state) = SK_LOCK_NONE;
  SKG(lock_engine) = NULL;
  SKG(lock_id_len) = 0;
  SKG(lock_token_len) = 0;
  SKG(read_version) = 0;
  SKG(lock_key_len) = 0;
  SKG(read_writes) = 0;
}

/* What this request read of session `key` (its lock, possibly none, and
 * the version read), or NULL when it read no session `key`. */
const sk_lock *sk_lock_for(const zend_string *key, sk_lock *out) {
  if (SKG(lock_id_len) == 0 || ZSTR_LEN(key) != SKG(lock_id_len) ||
      memcmp(ZSTR_VAL(key), SKG(lock_id), SKG(lock_id_len)) != 0) {
    return NULL;
  }
  out->state = SKG(lock_state);
  out->token = SKG(lock_token);
  out->token_len = SKG(lock_token_len);
  out->read_version = SKG(read_version);
  out->followed_key = SKG(lock_key);
  out->followed_key_len = SKG(lock_key_len);
  return out;
}

/* Remembers what a read of session `key` on `engine` returned in `r`: the
 * lock and the version read. */
void sk_keep_lock(sk_engine *engine, const zend_string *key,
                  const sk_result *r) {
  if (ZSTR_LEN(key) > SK_MAX_ID_LEN || r->lock_token_len > SK_MAX_TOKEN_LEN ||
      r->followed_key_len > SK_MAX_ID_LEN) {
    /* Cannot happen with ids the library accepted and its tokens; keep
     * the request from holding a lock it could not release. */
    sk_lock held = {r->lock_state, r->lock_token,   r->lock_token_len,
                    r->version,    r->followed_key, r->followed_key_len};
    sk_result u = SK_RESULT_INIT;
    (void)sk_unlock(engine, ZSTR_VAL(key), ZSTR_LEN(key), &held, &u);
    sk_result_free(&u);
    return;
  }
  SKG(lock_engine) = engine;
  SKG(lock_state) = r->lock_state;
  memcpy(SKG(lock_id), ZSTR_VAL(key), ZSTR_LEN(key));
  SKG(lock_id_len) = ZSTR_LEN(key);
  if (r->lock_token_len > 0) {
    memcpy(SKG(lock_token), r->lock_token, r->lock_token_len);
  }
  SKG(lock_token_len) = r->lock_token_len;
  SKG(read_version) = r->version;
  if (r->followed_key_len > 0) {
    memcpy(SKG(lock_key), r->followed_key, r->followed_key_len);
  }
  SKG(lock_key_len) = r->followed_key_len;
  SKG(read_writes) = r->writes;
  if (r->writes > SKG(request_writes)) SKG(request_writes) = r->writes;
}

/* Releases the lock the request still holds (it ended without a write, or
 * a write failed), reporting a failure as a warning, or only to the error
 * log when no script runs any more (`in_request` false). */
void sk_release_lock(bool in_request) {
  sk_result r = SK_RESULT_INIT;
  char key[SK_MAX_ID_LEN + 1];
  sk_lock lock = {SKG(lock_state),
                  SKG(lock_token),
                  SKG(lock_token_len),
                  SKG(read_version),
                  key,
                  SKG(lock_key_len)};
  sk_engine *engine = SKG(lock_engine);
  char id[SK_MAX_ID_LEN + 1];
  size_t id_len = SKG(lock_id_len);
  const char *context =
      "cannot release the session lock (it ends with its lease)";

  if (SKG(lock_state) != SK_LOCK_HELD || engine == NULL) {
    sk_forget_lock();
    return;
  }
  memcpy(id, SKG(lock_id), id_len);
  memcpy(key, SKG(lock_key), lock.followed_key_len);
  sk_forget_lock();
  if (sk_unlock(engine, id, id_len, &lock, &r) == SK_OK) context = NULL;
  if (in_request) {
    sk_flush(&r, context);
  } else {
    sk_log_only(&r, context);
  }
}
