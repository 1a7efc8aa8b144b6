/* Reporting the library's results from C frames (see sessionkit.c): the
 * library's malloc'd result is copied into request memory and freed before
 * anything is raised, so a longjmp out of php_error_docref (a fatal error
 * in a user error handler) leaks nothing and unwinds no C++ frame.
 *
 * Warnings (real failures: a store down, corrupt data, a save that failed)
 * are E_WARNING. Notices (a read-only request after a lock wait, its
 * skipped write, a lock taken over from a dead holder) are no error for
 * the application: they go to PHP's error log (error_log, or the SAPI's
 * log) directly, never through the user's error handler, which frameworks
 * turn into exceptions. */
#include <syslog.h>

#include "php_sessionkit.h"
#include "zend_exceptions.h"

typedef struct sk_pending {
  int type; /* E_WARNING, or 0: a notice for the error log */
  zend_string *text;
} sk_pending;

static void sk_log_notice(const char *text) {
  char *line;
  spprintf(&line, 0, "PHP Notice:  %s", text);
  php_log_err_with_severity(line, LOG_NOTICE);
  efree(line);
}

/* Copies the lines of `r` worth reporting (and, when `r` failed and
 * `context` is not NULL, "sessionkit: <context>: <message>") into request
 * memory and frees `r`. Returns how many; *out is NULL when none. */
static size_t sk_collect(sk_result *r, const char *context, bool all_notices,
                         sk_pending **out) {
  sk_pending *pending;
  size_t n = 0, i;

  *out = NULL;
  if (r->log_count == 0 && (r->code == SK_OK || context == NULL)) {
    sk_result_free(r);
    return 0;
  }
  pending = safe_emalloc(r->log_count + 1, sizeof(*pending), 0);
  for (i = 0; i < r->log_count; i++) {
    if (r->log[i].level == SK_LOG_DEBUG) continue;
    pending[n].type =
        r->log[i].level == SK_LOG_WARNING && !all_notices ? E_WARNING : 0;
    pending[n].text = strpprintf(0, "sessionkit: %s", r->log[i].message);
    n++;
  }
  if (r->code != SK_OK && context != NULL) {
    pending[n].type = all_notices ? 0 : E_WARNING;
    pending[n].text =
        strpprintf(0, "sessionkit: %s: %s", context,
                   r->message ? r->message : sk_code_name(r->code));
    n++;
  }
  sk_result_free(r);
  *out = pending;
  return n;
}

/* Raises the engine's log lines of `r` (warnings as E_WARNING, notices to
 * the error log, debug lines dropped) and, when `r` failed and `context`
 * is not NULL, one E_WARNING "sessionkit: <context>: <message>". Frees
 * `r`. */
void sk_flush(sk_result *r, const char *context) {
  sk_pending *pending;
  size_t n, i;
  if (SKG(store_bailout)) {
    /* A store's method ended with a fatal error: end the script as PHP
     * would have, once the result's memory is given back. */
    sk_result_free(r);
    sk_store_rethrow_bailout();
  }
  if (EG(exception) != NULL && zend_is_unwind_exit(EG(exception))) {
    /* A store's method called exit(): the script ends, quietly. */
    sk_result_free(r);
    return;
  }
  n = sk_collect(r, context, false, &pending);
  for (i = 0; i < n; i++) {
    if (pending[i].type == 0) {
      sk_log_notice(ZSTR_VAL(pending[i].text));
    } else {
      php_error_docref(NULL, pending[i].type, "%s", ZSTR_VAL(pending[i].text));
    }
    zend_string_release(pending[i].text);
  }
  if (pending != NULL) efree(pending);
}

/* As sk_flush, every line to the error log: for when no script runs any
 * more (after the request), where raising an error is not possible. */
void sk_log_only(sk_result *r, const char *context) {
  sk_pending *pending;
  size_t n = sk_collect(r, context, true, &pending), i;
  for (i = 0; i < n; i++) {
    sk_log_notice(ZSTR_VAL(pending[i].text));
    zend_string_release(pending[i].text);
  }
  if (pending != NULL) efree(pending);
}

/* Reports a failed operation on session `key` (NULL when there is none):
 * "cannot <what>: <message>", and when the id is not what was refused, that
 * the failing store is the one of session.save_path. Frees `r`. */
void sk_fail(sk_result *r, const char *what, const zend_string *key) {
  sk_result check = SK_RESULT_INIT;
  char *context;
  bool bad_id = key != NULL &&
                sk_validate_id(ZSTR_VAL(key), ZSTR_LEN(key), &check) != SK_OK;
  sk_result_free(&check);
  if (bad_id) {
    spprintf(&context, 0, "cannot %s", what);
  } else {
    spprintf(&context, 0, "cannot %s in the store of session.save_path", what);
  }
  sk_flush(r, context);
  efree(context);
}

/* The save path with passwords replaced by "***", in request memory. */
zend_string *sk_redacted_save_path(const char *save_path) {
  sk_result r = SK_RESULT_INIT;
  zend_string *out;
  if (sk_redact_spec(save_path, strlen(save_path), &r) == SK_OK) {
    out = zend_string_init(r.data, r.data_len, 0);
  } else {
    out = zend_string_init("(unprintable)", sizeof("(unprintable)") - 1, 0);
  }
  sk_result_free(&r);
  return out;
}
