/* Migration in the PHP glue: the sessionkit.legacy ini setting, the
 * sessions of the handler the site is leaving, read when sessionkit holds
 * none (see docs/migration.md). Not settable from a script
 * (PHP_INI_PERDIR): it names another store, the operator's choice, and
 * each one opens its own engine. */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
/* clang-format on */

/* Named, not PHP_INI_BEGIN's ini_entries: the module's C files are built
 * as one translation unit (CMake unity builds). */
/* clang-format off */
static const zend_ini_entry_def sk_legacy_ini_entries[] = {
  STD_PHP_INI_ENTRY("sessionkit.legacy", "", PHP_INI_SYSTEM | PHP_INI_PERDIR,
                    OnUpdateString, legacy, zend_sessionkit_globals,
                    sessionkit_globals)
PHP_INI_END()

void sk_legacy_register_ini(int type, int module_number) {
  zend_register_ini_entries_ex(sk_legacy_ini_entries, module_number, type);
}
/* clang-format on */

const char *sk_legacy_spec(size_t *len) {
  const char *spec = SKG(legacy);
  *len = spec == NULL ? 0 : strlen(spec);
  return spec;
}
