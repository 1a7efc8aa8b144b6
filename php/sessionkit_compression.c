/* Compression in the PHP glue: the sessionkit.compression* ini settings,
 * passed to every write (see docs/configuration.md). The codecs and their
 * names are the library's; a read decodes whatever a value was written
 * with, so these only choose how new writes are stored. */
/* clang-format off */
#include "php_sessionkit.h"
#include "php_ini.h"
/* clang-format on */

/* sessionkit.compression: a codec name as the library spells it. */
static ZEND_INI_MH(OnUpdateCompression) {
  zend_long *p = (zend_long *)ZEND_INI_GET_ADDR();
  sk_result r = SK_RESULT_INIT;
  sk_codec codec = SK_CODEC_NONE;
  char message[256];

  if (sk_parse_codec(ZSTR_VAL(new_value), ZSTR_LEN(new_value), &codec, &r) ==
      SK_OK) {
    sk_result_free(&r);
    *p = (zend_long)codec;
    return SUCCESS;
  }
  /* Copied and freed before warning: php_error_docref may longjmp. */
  snprintf(message, sizeof(message), "%s",
           r.message ? r.message : "sessionkit.compression: bad value");
  sk_result_free(&r);
  php_error_docref(NULL, E_WARNING, "%s", message);
  return FAILURE;
}

/* sessionkit.compression_level: 0 (the codec's default) to
 * SK_COMPRESSION_MAX_LEVEL. */
static ZEND_INI_MH(OnUpdateCompressionLevel) {
  zend_long v = zend_ini_parse_quantity_warn(new_value, entry->name);
  if (v < 0 || v > SK_COMPRESSION_MAX_LEVEL) {
    php_error_docref(NULL, E_WARNING,
                     "%s must be between 0 (the codec's default) and %d, not "
                     "\"%s\"",
                     ZSTR_VAL(entry->name), SK_COMPRESSION_MAX_LEVEL,
                     ZSTR_VAL(new_value));
    return FAILURE;
  }
  *(zend_long *)ZEND_INI_GET_ADDR() = v;
  return SUCCESS;
}

/* sessionkit.compression_threshold: bytes, 0 to 2147483647 ("2K" too). */
static ZEND_INI_MH(OnUpdateCompressionThreshold) {
  zend_long v = zend_ini_parse_quantity_warn(new_value, entry->name);
  if (v < 0 || v > (zend_long)INT32_MAX) {
    php_error_docref(NULL, E_WARNING,
                     "%s must be a size in bytes between 0 and 2147483647, "
                     "not \"%s\"",
                     ZSTR_VAL(entry->name), ZSTR_VAL(new_value));
    return FAILURE;
  }
  *(zend_long *)ZEND_INI_GET_ADDR() = v;
  return SUCCESS;
}

/* Named, not PHP_INI_BEGIN's ini_entries: the module's C files are built
 * as one translation unit (CMake unity builds), where sessionkit_lock.c
 * has that name. */
/* clang-format off */
static const zend_ini_entry_def sk_compression_ini_entries[] = {
  STD_PHP_INI_ENTRY("sessionkit.compression", "none", PHP_INI_ALL,
                    OnUpdateCompression, compression, zend_sessionkit_globals,
                    sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.compression_level", "0", PHP_INI_ALL,
                    OnUpdateCompressionLevel, compression_level,
                    zend_sessionkit_globals, sessionkit_globals)
  STD_PHP_INI_ENTRY("sessionkit.compression_threshold",
                    ZEND_TOSTR(SK_COMPRESSION_DEFAULT_THRESHOLD), PHP_INI_ALL,
                    OnUpdateCompressionThreshold, compression_threshold,
                    zend_sessionkit_globals, sessionkit_globals)
PHP_INI_END()

/* Still unformatted: the braces PHP_INI_END() closes are unseen. */
void sk_compression_register_ini(int type, int module_number) {
  zend_register_ini_entries_ex(sk_compression_ini_entries, module_number,
                               type);
}
/* clang-format on */

void sk_compression_for_request(sk_compression *out) {
  out->codec = (int32_t)SKG(compression);
  out->level = (int32_t)SKG(compression_level);
  out->threshold = (uint64_t)SKG(compression_threshold);
}
