/* Metrics in the PHP glue: the sessionkit.metrics ini setting, the file
 * every worker of the host counts into (see docs/metrics.md). Not settable
 * from a script (PHP_INI_PERDIR): the file is the operator's choice, and
 * each one opens its own engine. */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
/* clang-format on */

/* Named, not PHP_INI_BEGIN's ini_entries: the module's C files are built
 * as one translation unit (CMake unity builds). */
/* clang-format off */
static const zend_ini_entry_def sk_metrics_ini_entries[] = {
  STD_PHP_INI_ENTRY("sessionkit.metrics", "",
                    PHP_INI_SYSTEM | PHP_INI_PERDIR, OnUpdateString,
                    metrics, zend_sessionkit_globals, sessionkit_globals)
PHP_INI_END()

void sk_metrics_register_ini(int type, int module_number) {
  zend_register_ini_entries_ex(sk_metrics_ini_entries, module_number, type);
}
/* clang-format on */

const char *sk_metrics_path(size_t *len) {
  const char *path = SKG(metrics);
  *len = path == NULL ? 0 : strlen(path);
  return path;
}
