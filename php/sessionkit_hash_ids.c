/* Hashed session ids in the PHP glue: the sessionkit.hash_ids ini setting
 * (see docs/hashed-ids.md). Not settable from a script (PHP_INI_PERDIR):
 * it changes every session's key, and each value opens its own engine. */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
/* clang-format on */

/* Named, not PHP_INI_BEGIN's ini_entries: the module's C files are built
 * as one translation unit (CMake unity builds). */
/* clang-format off */
static const zend_ini_entry_def sk_hash_ids_ini_entries[] = {
  STD_PHP_INI_BOOLEAN("sessionkit.hash_ids", "0",
                      PHP_INI_SYSTEM | PHP_INI_PERDIR, OnUpdateBool, hash_ids,
                      zend_sessionkit_globals, sessionkit_globals)
PHP_INI_END()

void sk_hash_ids_register_ini(int type, int module_number) {
  zend_register_ini_entries_ex(sk_hash_ids_ini_entries, module_number, type);
}
/* clang-format on */

int sk_hash_ids(void) { return SKG(hash_ids) ? 1 : 0; }
