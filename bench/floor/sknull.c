/* sknull: the benchmark's floor, a save handler that does no storage work
 * (session.save_handler = sknull). bench/run times PHP's session module
 * with it, so every other handler's cost reads as floor + overhead.
 *
 * Built with the benchmarks only; never installed.
 *
 * read does not return "" as a true null handler would: then every cycle of
 * bench/session_cycle.php would build a new session instead of decoding the
 * 2 KB one (other PHP work than the other handlers do) and the run's final
 * check that no write was lost would fail. So write keeps a reference to the
 * string PHP serialized, per id, in a table of the request, and read hands
 * the same string back: no copy, no I/O, no lock. */
/* clang-format off */
#include "php.h"
#include "ext/session/php_session.h"
/* clang-format on */

PS_FUNCS_UPDATE_TIMESTAMP(sknull);

static const ps_module ps_mod_sknull = {PS_MOD_UPDATE_TIMESTAMP(sknull)};

/* id -> the last written data, for this request. In the CLI one request
 * runs every cycle of a run. */
static HashTable *sknull_table;

static void sknull_table_free(void) {
  if (sknull_table == NULL) return;
  zend_hash_destroy(sknull_table);
  FREE_HASHTABLE(sknull_table);
  sknull_table = NULL;
}

PS_OPEN_FUNC(sknull) {
  (void)save_path;
  (void)session_name;
  if (sknull_table == NULL) {
    ALLOC_HASHTABLE(sknull_table);
    zend_hash_init(sknull_table, 1024, NULL, ZVAL_PTR_DTOR, 0);
  }
  PS_SET_MOD_DATA(sknull_table);
  return SUCCESS;
}

PS_CLOSE_FUNC(sknull) {
  PS_SET_MOD_DATA(NULL);
  return SUCCESS;
}

PS_READ_FUNC(sknull) {
  zval *stored = zend_hash_find(sknull_table, key);
  (void)mod_data;
  (void)maxlifetime;
  *val =
      stored != NULL ? zend_string_copy(Z_STR_P(stored)) : ZSTR_EMPTY_ALLOC();
  return SUCCESS;
}

PS_WRITE_FUNC(sknull) {
  zval copy;
  (void)mod_data;
  (void)maxlifetime;
  ZVAL_STR_COPY(&copy, val); /* a reference, not a copy of the bytes */
  zend_hash_update(sknull_table, key, &copy);
  return SUCCESS;
}

PS_UPDATE_TIMESTAMP_FUNC(sknull) {
  (void)mod_data;
  (void)key;
  (void)val;
  (void)maxlifetime;
  return SUCCESS;
}

PS_DESTROY_FUNC(sknull) {
  (void)mod_data;
  zend_hash_del(sknull_table, key);
  return SUCCESS;
}

PS_GC_FUNC(sknull) {
  (void)mod_data;
  (void)maxlifetime;
  if (nrdels) *nrdels = 0;
  return 0;
}

PS_CREATE_SID_FUNC(sknull) {
  (void)mod_data;
  return php_session_create_id(NULL);
}

PS_VALIDATE_SID_FUNC(sknull) {
  (void)mod_data;
  return zend_hash_exists(sknull_table, key) ? SUCCESS : FAILURE;
}

static PHP_MINIT_FUNCTION(sknull) {
  (void)type;
  (void)module_number;
  return php_session_register_module(&ps_mod_sknull);
}

/* After PHP's session module has written and closed in its RSHUTDOWN
 * (which runs after this module's: it was loaded first). */
static ZEND_MODULE_POST_ZEND_DEACTIVATE_D(sknull) {
  sknull_table_free();
  return SUCCESS;
}

static const zend_module_dep sknull_deps[] = {ZEND_MOD_REQUIRED("session")
                                                  ZEND_MOD_END};

zend_module_entry sknull_module_entry = {
    STANDARD_MODULE_HEADER_EX,
    NULL,
    sknull_deps,
    "sknull",
    NULL, /* functions */
    PHP_MINIT(sknull),
    NULL, /* MSHUTDOWN */
    NULL, /* RINIT */
    NULL, /* RSHUTDOWN: the session module still writes after it */
    NULL, /* MINFO */
    "0",
    NO_MODULE_GLOBALS,
    ZEND_MODULE_POST_ZEND_DEACTIVATE_N(sknull),
    STANDARD_MODULE_PROPERTIES_EX};

ZEND_GET_MODULE(sknull)
