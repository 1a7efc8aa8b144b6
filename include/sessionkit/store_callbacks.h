/* A store whose five primitives are C callbacks: what a store written in
 * another language (PHP: php/sessionkit_store.c) implements to be used as
 * php://NAME (docs/php-stores.md). The C++ side is
 * include/sessionkit/stores/callback.h; the C ABI registers a table of
 * callbacks under a name (sk_store_register, c_api.h).
 *
 * The library calls a callback only on the thread that registered it, and
 * never from a callback. A callback must return: it must not throw, and must
 * not longjmp out (a PHP fatal error is caught by the caller of the method
 * and reported as SK_STORE_ERROR; c_api.h tells how to re-raise it).
 *
 * Keys are at most 300 bytes of printable ASCII without spaces; values are
 * bytes (NUL included). `ttl_s` is whole seconds, at least 1: the store may
 * forget the key after that (every value carries its own expiry; a store
 * that keeps a key longer loses nothing).
 *
 * Thread safety: a table is used by the registering thread only.
 */
#ifndef SESSIONKIT_STORE_CALLBACKS_H_
#define SESSIONKIT_STORE_CALLBACKS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define SK_STORE_NOEXCEPT noexcept
extern "C" {
#else
#define SK_STORE_NOEXCEPT
#endif

/* What a callback answers (returned as an int: a value outside these is
 * reported as the callback's error, not trusted). */
typedef enum sk_store_answer {
  SK_STORE_DONE = 0, /* get: found (value given); set, delete: done; add:
                        stored */
  SK_STORE_NO = 1,   /* get: no such key; add: the key exists, nothing
                        stored; set, delete: never */
  SK_STORE_ERROR = 2 /* failed: the reason given with sk_store_reply_error */
} sk_store_answer;

/* Where a callback puts its value or its error (owned by the library). */
typedef struct sk_store_reply sk_store_reply;

/* get's value, copied (call at most once per reply). */
void sk_store_reply_value(sk_store_reply* reply, const char* data,
                          size_t len) SK_STORE_NOEXCEPT;
/* Why the call failed, for the message (copied; at most 1024 bytes kept). */
void sk_store_reply_error(sk_store_reply* reply, const char* message,
                          size_t len) SK_STORE_NOEXCEPT;

/* The primitives, each with the `user` pointer given at registration; each
 * returns an sk_store_answer. */
typedef struct sk_store_callbacks {
  int (*get)(void* user, const char* key, size_t key_len,
             sk_store_reply* reply);
  int (*set)(void* user, const char* key, size_t key_len, const char* value,
             size_t value_len, int64_t ttl_s, sk_store_reply* reply);
  /* Stores only if the key is absent, atomically: the lock is built on it. */
  int (*add)(void* user, const char* key, size_t key_len, const char* value,
             size_t value_len, int64_t ttl_s, sk_store_reply* reply);
  /* SK_STORE_DONE also when the key did not exist. */
  int (*del)(void* user, const char* key, size_t key_len,
             sk_store_reply* reply);
} sk_store_callbacks;

#ifdef __cplusplus
}
#endif

#endif /* SESSIONKIT_STORE_CALLBACKS_H_ */
