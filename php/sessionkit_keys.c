/* Encryption in the PHP glue: the sessionkit.keys ini setting, the key
 * file whose ring the engine encrypts and decrypts with (see
 * docs/encryption.md). Not settable from a script (PHP_INI_PERDIR): the
 * key file is the operator's choice, and each one opens its own engine. */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
/* clang-format on */

/* Named, not PHP_INI_BEGIN's ini_entries: the module's C files are built
 * as one translation unit (CMake unity builds). */
/* clang-format off */
static const zend_ini_entry_def sk_keys_ini_entries[] = {
  STD_PHP_INI_ENTRY("sessionkit.keys", "", PHP_INI_SYSTEM | PHP_INI_PERDIR,
                    OnUpdateString, keys, zend_sessionkit_globals,
                    sessionkit_globals)
PHP_INI_END()

void sk_keys_register_ini(int type, int module_number) {
  zend_register_ini_entries_ex(sk_keys_ini_entries, module_number, type);
}
/* clang-format on */

const char *sk_keys_path(size_t *len) {
  const char *path = SKG(keys);
  *len = path == NULL ? 0 : strlen(path);
  return path;
}
