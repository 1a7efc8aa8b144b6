/* The lifetime policy and size limits in the PHP glue: the ini settings
 * sessionkit.bot_pattern, bot_lifetime, first_lifetime, min_lifetime,
 * max_lifetime, max_size and warn_size (passed to the engine's settings),
 * and the request each write and touch serves (its User-Agent). The policy
 * itself is the library's (docs/lifetimes.md). */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
#include "SAPI.h"
/* clang-format on */

/* sessionkit.bot_pattern: an RE2 pattern, checked by the library; a
 * pattern it cannot compile is refused with a warning, and the value
 * before it (by default: the built-in list) stays. */
static ZEND_INI_MH(OnUpdateBotPattern) {
  sk_result r = SK_RESULT_INIT;
  char message[512];
  if (sk_check_bot_pattern(ZSTR_VAL(new_value), ZSTR_LEN(new_value), &r) ==
      SK_OK) {
    sk_result_free(&r);
    return OnUpdateString(entry, new_value, mh_arg1, mh_arg2, mh_arg3, stage);
  }
  /* Copied and freed before warning: php_error_docref may longjmp. */
  snprintf(message, sizeof(message), "%s",
           r.message ? r.message : "sessionkit.bot_pattern: bad pattern");
  sk_result_free(&r);
  php_error_docref(NULL, E_WARNING,
                   "%s; the setting keeps its previous value (at startup: "
                   "the built-in list)",
                   message);
  return FAILURE;
}

/* Lifetimes in seconds and sizes in bytes ("64K" too): 0 (off) to
 * INT32_MAX. */
static ZEND_INI_MH(OnUpdateLifetimeOrSize) {
  return sk_set_non_negative(entry, new_value, (zend_long *)ZEND_INI_GET_ADDR(),
                             "");
}

/* Named, not PHP_INI_BEGIN's ini_entries: the module's C files are built
 * as one translation unit (CMake unity builds). */
/* clang-format off */
static const zend_ini_entry_def sk_lifetime_ini_entries[] = {
  STD_PHP_INI_ENTRY("sessionkit.bot_pattern", "", PHP_INI_ALL,
                    OnUpdateBotPattern, bot_pattern, zend_sessionkit_globals,
                    sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.bot_lifetime",
                    ZEND_TOSTR(SK_DEFAULT_BOT_LIFETIME_S), PHP_INI_ALL,
                    OnUpdateLifetimeOrSize, bot_lifetime,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.first_lifetime", "0", PHP_INI_ALL,
                    OnUpdateLifetimeOrSize, first_lifetime,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.min_lifetime", "0", PHP_INI_ALL,
                    OnUpdateLifetimeOrSize, min_lifetime,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.max_lifetime", "0", PHP_INI_ALL,
                    OnUpdateLifetimeOrSize, max_lifetime,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.max_size", "0", PHP_INI_ALL,
                    OnUpdateLifetimeOrSize, max_size, zend_sessionkit_globals,
                    sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.warn_size", "0", PHP_INI_ALL,
                    OnUpdateLifetimeOrSize, warn_size, zend_sessionkit_globals,
                    sessionkit_globals)
PHP_INI_END()

void sk_lifetime_register_ini(int type, int module_number) {
  zend_register_ini_entries_ex(sk_lifetime_ini_entries, module_number, type);
}
/* clang-format on */

void sk_lifetime_settings(sk_engine_settings *s) {
  const char *pattern = SKG(bot_pattern);
  s->bot_pattern = pattern;
  s->bot_pattern_len = pattern != NULL ? strlen(pattern) : 0;
  s->bot_lifetime_s = (int64_t)SKG(bot_lifetime);
  s->first_lifetime_s = (int64_t)SKG(first_lifetime);
  s->min_lifetime_s = (int64_t)SKG(min_lifetime);
  s->max_lifetime_s = (int64_t)SKG(max_lifetime);
  s->max_size = (uint64_t)SKG(max_size);
  s->warn_size = (uint64_t)SKG(warn_size);
}

/* $_SERVER['HTTP_USER_AGENT'] as the script sees it (a script or framework
 * may have set it), or NULL when there is none or it is not a string. */
static const zend_string *sk_user_agent(void) {
  zval *server, *ua;
  (void)zend_is_auto_global_str(ZEND_STRL("_SERVER")); /* JIT: create it */
  server = zend_hash_str_find(&EG(symbol_table), ZEND_STRL("_SERVER"));
  if (server == NULL) return NULL;
  ZVAL_DEREF(server);
  if (Z_TYPE_P(server) != IS_ARRAY) return NULL;
  ua = zend_hash_str_find(Z_ARRVAL_P(server), ZEND_STRL("HTTP_USER_AGENT"));
  if (ua == NULL) return NULL;
  ZVAL_DEREF(ua);
  return Z_TYPE_P(ua) == IS_STRING ? Z_STR_P(ua) : NULL;
}

void sk_request_for(const sk_lock *lock, sk_request *out) {
  const zend_string *ua = sk_user_agent();
  out->http = SG(request_info).request_method != NULL ? 1 : 0;
  out->user_agent = ua != NULL ? ZSTR_VAL(ua) : NULL;
  out->user_agent_len = ua != NULL ? ZSTR_LEN(ua) : 0;
  /* The count of the session read, or of any this request read (a
   * regenerated id): the highest. */
  out->read_writes = lock != NULL && SKG(read_writes) > SKG(request_writes)
                         ? SKG(read_writes)
                         : SKG(request_writes);
}
