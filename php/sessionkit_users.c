/* Sessions by user (docs/users.md): sessionkit_set_user(),
 * sessionkit_user_sessions(), sessionkit_destroy_user() and the ini entry
 * sessionkit.user_key. Thin: the index is the library's (sk_set_user,
 * sk_user_sessions, sk_destroy_user); this file finds the user, the engine
 * and the current session, and reports results as the rest of the
 * extension does (warnings, false). */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
/* clang-format on */

/* Named, not PHP_INI_BEGIN's ini_entries: the module's C files are built
 * as one translation unit (CMake unity builds), where sessionkit_lock.c
 * has that name. */
/* clang-format off */
static const zend_ini_entry_def sk_users_ini_entries[] = {
  STD_PHP_INI_ENTRY("sessionkit.user_key", "", PHP_INI_ALL, OnUpdateString,
                    user_key, zend_sessionkit_globals, sessionkit_globals)
PHP_INI_END()

/* Still unformatted: the braces PHP_INI_END() closes are unseen. */
void sk_users_register_ini(int type, int module_number) {
  zend_register_ini_entries_ex(sk_users_ini_entries, module_number, type);
}
/* clang-format on */

/* False, with a warning, unless `user` can name a
 * user (the library's rule, repeated here so that nothing is opened for a
 * name it would refuse). */
static bool sk_user_ok(const zend_string *user) {
  if (ZSTR_LEN(user) == 0) {
    php_error_docref(NULL, E_WARNING, "sessionkit: user name is empty");
    return false;
  }
  if (ZSTR_LEN(user) > SK_MAX_USER_LEN) {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit: user name is too long (%zu bytes; at most %d "
                     "are allowed)",
                     ZSTR_LEN(user), SK_MAX_USER_LEN);
    return false;
  }
  return true;
}

/* The user of this request's session: the one sessionkit_set_user() gave,
 * else the value of $_SESSION[sessionkit.user_key] (a string or an int),
 * else none (*len 0). `buf` holds a converted int. */
static const char *sk_request_user(const zend_string *id, size_t *len,
                                   char *buf, size_t size) {
  const char *key = SKG(user_key);
  zval *vars = &PS(http_session_vars), *value;
  *len = 0;
  if (SKG(user_len) > 0 && ZSTR_LEN(id) == SKG(user_id_len) &&
      memcmp(ZSTR_VAL(id), SKG(user_id), SKG(user_id_len)) == 0) {
    *len = SKG(user_len);
    return SKG(user);
  }
  if (key == NULL || key[0] == '\0') return NULL;
  ZVAL_DEREF(vars);
  if (Z_TYPE_P(vars) != IS_ARRAY) return NULL;
  value = zend_symtable_str_find(Z_ARRVAL_P(vars), key, strlen(key));
  if (value == NULL) return NULL;
  ZVAL_DEREF(value);
  if (Z_TYPE_P(value) == IS_LONG) {
    *len = (size_t)snprintf(buf, size, ZEND_LONG_FMT, Z_LVAL_P(value));
    return buf;
  }
  if (Z_TYPE_P(value) != IS_STRING || Z_STRLEN_P(value) == 0) return NULL;
  *len = Z_STRLEN_P(value);
  return Z_STRVAL_P(value);
}

void sk_users_after_save(sk_engine *engine, const zend_string *key,
                         int64_t ttl_ms) {
  sk_result r = SK_RESULT_INIT;
  char number[MAX_LENGTH_OF_LONG + 1];
  size_t len;
  const char *user = sk_request_user(key, &len, number, sizeof(number));
  if (user == NULL) return;
  sk_set_user(engine, ZSTR_VAL(key), ZSTR_LEN(key), user, len, ttl_ms, &r);
  sk_fail(&r, "record the session's user", key);
}

void sk_users_forget(void) {
  SKG(user_len) = 0;
  SKG(user_id_len) = 0;
}

void sk_users_follow(const zend_string *key) {
  if (SKG(user_len) == 0) return;
  if (ZSTR_LEN(key) == SKG(user_id_len) &&
      memcmp(ZSTR_VAL(key), SKG(user_id), SKG(user_id_len)) == 0) {
    return;
  }
  if (sk_in_regenerate() && ZSTR_LEN(key) <= sizeof(SKG(user_id))) {
    memcpy(SKG(user_id), ZSTR_VAL(key), ZSTR_LEN(key));
    SKG(user_id_len) = ZSTR_LEN(key);
    return;
  }
  sk_users_forget(); /* another session (session_id() changed): not its user */
}

/* The engine of session.save_path for a function call: the one the open
 * session holds, else one opened for the call (*opened true: release it).
 * NULL after a warning. */
static sk_engine *sk_users_engine(bool *opened) {
  sk_engine *engine;
  *opened = false;
  if (SKG(open_engine) != NULL) return SKG(open_engine);
  engine = sk_engine_for_save_path(PS(save_path));
  if (engine != NULL) *opened = true;
  return engine;
}

static bool sk_session_active(void) {
  return PS(session_status) == php_session_active;
}

PHP_FUNCTION(sessionkit_set_user) {
  zend_string *user;
  ZEND_PARSE_PARAMETERS_START(1, 1)
  Z_PARAM_STR(user)
  ZEND_PARSE_PARAMETERS_END();
  if (!sk_user_ok(user)) RETURN_FALSE;
  if (!sk_session_active()) {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit: no session is active (call "
                     "session_start() first)");
    RETURN_FALSE;
  }
  if (PS(id) == NULL || ZSTR_LEN(PS(id)) > sizeof(SKG(user_id))) {
    php_error_docref(NULL, E_WARNING,
                     "sessionkit: the session has no id sessionkit can "
                     "index");
    RETURN_FALSE;
  }
  /* Recorded with every save of this session in this request (and of the
   * id a session_regenerate_id() hands it), no other. */
  memcpy(SKG(user), ZSTR_VAL(user), ZSTR_LEN(user));
  SKG(user_len) = ZSTR_LEN(user);
  memcpy(SKG(user_id), ZSTR_VAL(PS(id)), ZSTR_LEN(PS(id)));
  SKG(user_id_len) = ZSTR_LEN(PS(id));
  RETURN_TRUE;
}

PHP_FUNCTION(sessionkit_user_sessions) {
  zend_string *user;
  sk_result r = SK_RESULT_INIT;
  bool opened;
  sk_engine *engine;
  sk_code code;
  const char *line, *end;
  ZEND_PARSE_PARAMETERS_START(1, 1)
  Z_PARAM_STR(user)
  ZEND_PARSE_PARAMETERS_END();
  if (!sk_user_ok(user)) RETURN_FALSE;
  engine = sk_users_engine(&opened);
  if (engine == NULL) RETURN_FALSE;
  code = sk_user_sessions(engine, ZSTR_VAL(user), ZSTR_LEN(user), &r);
  if (opened) sk_engine_release(engine);
  if (code != SK_OK) {
    sk_fail(&r, "list the user's sessions", NULL);
    RETURN_FALSE;
  }
  array_init(return_value);
  /* One id per line, each ended by '\n' (c_api.h). */
  line = r.data;
  end = r.data == NULL ? NULL : r.data + r.data_len;
  while (line != NULL && line < end) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    if (nl == NULL) nl = end;
    add_next_index_stringl(return_value, line, (size_t)(nl - line));
    line = nl + 1;
  }
  sk_flush(&r, NULL);
}

PHP_FUNCTION(sessionkit_destroy_user) {
  zend_string *user;
  bool except_current = true;
  sk_result r = SK_RESULT_INIT;
  bool opened;
  sk_engine *engine;
  sk_code code;
  const zend_string *current = NULL;
  uint64_t removed;
  ZEND_PARSE_PARAMETERS_START(1, 2)
  Z_PARAM_STR(user)
  Z_PARAM_OPTIONAL
  Z_PARAM_BOOL(except_current)
  ZEND_PARSE_PARAMETERS_END();
  if (!sk_user_ok(user)) RETURN_FALSE;
  if (except_current && sk_session_active() && PS(id) != NULL) {
    current = PS(id);
  }
  engine = sk_users_engine(&opened);
  if (engine == NULL) RETURN_FALSE;
  code = sk_destroy_user(engine, ZSTR_VAL(user), ZSTR_LEN(user),
                         current ? ZSTR_VAL(current) : NULL,
                         current ? ZSTR_LEN(current) : 0, &r);
  if (opened) sk_engine_release(engine);
  removed = r.removed;
  if (code != SK_OK) {
    sk_fail(&r, "destroy the user's sessions", NULL);
    RETURN_FALSE;
  }
  sk_flush(&r, NULL);
  RETURN_LONG(removed > (uint64_t)ZEND_LONG_MAX ? ZEND_LONG_MAX
                                                : (zend_long)removed);
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_sessionkit_set_user, 0, 1,
                                        _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, user, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_sessionkit_user_sessions, 0, 1,
                                        MAY_BE_ARRAY | MAY_BE_FALSE)
ZEND_ARG_TYPE_INFO(0, user, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_MASK_EX(arginfo_sessionkit_destroy_user, 0, 1,
                                        MAY_BE_LONG | MAY_BE_FALSE)
ZEND_ARG_TYPE_INFO(0, user, IS_STRING, 0)
ZEND_ARG_TYPE_INFO_WITH_DEFAULT_VALUE(0, except_current, _IS_BOOL, 0, "true")
ZEND_END_ARG_INFO()

/* clang-format off */
const zend_function_entry sk_users_functions[] = {
  PHP_FE(sessionkit_set_user, arginfo_sessionkit_set_user)
  PHP_FE(sessionkit_user_sessions, arginfo_sessionkit_user_sessions)
  PHP_FE(sessionkit_destroy_user, arginfo_sessionkit_destroy_user)
  PHP_FE_END
};
/* clang-format on */
