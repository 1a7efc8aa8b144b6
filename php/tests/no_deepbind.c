/* Preloaded into Debian's php when the .phpt suite runs the module built
 * with AddressSanitizer (scripts/run-tests): php loads extensions with
 * RTLD_DEEPBIND, which the ASan runtime refuses, so this dlopen drops that
 * flag and hands the call on. Built without sanitizers; test use only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef void *(*dlopen_fn)(const char *, int);

void *dlopen(const char *file, int mode) {
  static dlopen_fn next;
  if (next == NULL) next = (dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
  return next(file, mode & ~RTLD_DEEPBIND);
}
