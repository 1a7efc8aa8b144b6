/* The regenerate grace in the PHP glue: sessionkit.regenerate_grace, and
 * the destroy of the old id that session_regenerate_id(true) asks for, held
 * back until the read of the new id (docs/php.md, "Regenerate grace").
 *
 * PHP 8.2's session_regenerate_id(true) calls destroy(old), close, open,
 * create_sid (validate_sid in strict mode), then read(new). The destroy is
 * recognised by the function executing it, so that session_destroy() (a
 * logout) always destroys; the old session stays under the request's lock
 * until the read of the new id, where the library copies it, locks the new
 * session and leaves a pointer in the old one's place (sk_read_replacing).
 * Whatever keeps that read from happening (a failure in between, a read
 * outside the regenerate) makes it the plain destroy PHP asked for. */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
/* clang-format on */

/* sessionkit.regenerate_grace: whole seconds, 0 to the most the library
 * takes. */
static ZEND_INI_MH(OnUpdateRegenerateGrace) {
  zend_long v = zend_ini_parse_quantity_warn(new_value, entry->name);
  if (v < 0 || v > SK_REGENERATE_GRACE_MAX_S) {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit.regenerate_grace must be a whole number of "
                     "seconds from 0 (off) to %d, not \"%s\"",
                     SK_REGENERATE_GRACE_MAX_S, ZSTR_VAL(new_value));
    return FAILURE;
  }
  *(zend_long *)ZEND_INI_GET_ADDR() = v;
  return SUCCESS;
}

/* Named, not PHP_INI_BEGIN's ini_entries: the module's C files are built
 * as one translation unit (CMake unity builds). */
/* clang-format off */
static const zend_ini_entry_def sk_grace_ini_entries[] = {
  STD_PHP_INI_ENTRY("sessionkit.regenerate_grace",
                    ZEND_TOSTR(SK_REGENERATE_GRACE_DEFAULT_S), PHP_INI_ALL,
                    OnUpdateRegenerateGrace, regenerate_grace,
                    zend_sessionkit_globals, sessionkit_globals)
PHP_INI_END()

void sk_grace_register_ini(int type, int module_number) {
  zend_register_ini_entries_ex(sk_grace_ini_entries, module_number, type);
}
/* clang-format on */

/* The call frame of the internal function `name` (no class) when it is the
 * one executing, NULL otherwise. */
zend_execute_data *sk_executing_function(const char *name, size_t len) {
  zend_execute_data *ex = EG(current_execute_data);
  if (ex == NULL || ex->func == NULL ||
      ex->func->type != ZEND_INTERNAL_FUNCTION ||
      ex->func->common.scope != NULL ||
      ex->func->common.function_name == NULL ||
      !zend_string_equals_cstr(ex->func->common.function_name, name, len)) {
    return NULL;
  }
  return ex;
}

bool sk_in_regenerate(void) {
  return sk_executing_function(ZEND_STRL("session_regenerate_id")) != NULL;
}

bool sk_grace_hold_destroy(sk_engine *engine, const zend_string *key) {
  sk_lock read;
  const sk_lock *lock;
  if (SKG(regenerate_grace) <= 0 || !sk_in_regenerate()) return false;
  lock = sk_lock_for(key, &read);
  /* A read-only request does not hold the old session: it is destroyed. */
  if (lock == NULL || lock->state == SK_LOCK_READONLY ||
      SKG(lock_engine) != engine) {
    return false;
  }
  sk_grace_abandon(true); /* an earlier one never reached its read */
  SKG(retiring_engine) = engine;
  SKG(retiring_state) = lock->state;
  memcpy(SKG(retiring_id), ZSTR_VAL(key), ZSTR_LEN(key));
  SKG(retiring_id_len) = ZSTR_LEN(key);
  memcpy(SKG(retiring_token), lock->token, lock->token_len);
  SKG(retiring_token_len) = lock->token_len;
  SKG(retiring_version) = lock->read_version;
  memcpy(SKG(retiring_key), lock->followed_key, lock->followed_key_len);
  SKG(retiring_key_len) = lock->followed_key_len;
  /* The lock is the retiring session's now: close must not release it. */
  sk_forget_lock();
  return true;
}

static void sk_forget_retiring(void) {
  SKG(retiring_engine) = NULL;
  SKG(retiring_id_len) = 0;
  SKG(retiring_token_len) = 0;
  SKG(retiring_key_len) = 0;
}

void sk_grace_abandon(bool in_request) {
  sk_result r = SK_RESULT_INIT;
  sk_engine *engine = SKG(retiring_engine);
  char id[SK_MAX_ID_LEN + 1];
  size_t id_len = SKG(retiring_id_len);
  const char *context =
      "cannot destroy the session replaced by "
      "session_regenerate_id()";
  if (engine == NULL) return;
  memcpy(id, SKG(retiring_id), id_len);
  sk_forget_retiring();
  /* Destroy ends the lock the request held on it, whoever holds it. */
  if (sk_destroy(engine, id, id_len, &r) == SK_OK) context = NULL;
  if (in_request) {
    sk_flush(&r, context);
  } else {
    sk_log_only(&r, context);
  }
}

bool sk_grace_pending(void) { return SKG(retiring_engine) != NULL; }

sk_code sk_grace_read(sk_engine *engine, const zend_string *key,
                      const sk_lock_options *lock, sk_result *r) {
  sk_lock old;
  sk_code code;
  if (SKG(retiring_engine) != engine || !sk_in_regenerate()) {
    sk_grace_abandon(true);
    return sk_read(engine, ZSTR_VAL(key), ZSTR_LEN(key), lock, r);
  }
  old.state = (sk_lock_state)SKG(retiring_state);
  old.token = SKG(retiring_token);
  old.token_len = SKG(retiring_token_len);
  old.read_version = SKG(retiring_version);
  old.followed_key = SKG(retiring_key);
  old.followed_key_len = SKG(retiring_key_len);
  code = sk_read_replacing(engine, ZSTR_VAL(key), ZSTR_LEN(key), lock,
                           SKG(retiring_id), SKG(retiring_id_len), &old,
                           (int64_t)SKG(regenerate_grace) * 1000, r);
  if (code == SK_OK) {
    sk_forget_retiring();
  } else {
    /* The old session is as it was, under its lock: PHP asked for its
     * destroy, and its regenerate fails. */
    sk_grace_abandon(true);
  }
  return code;
}
