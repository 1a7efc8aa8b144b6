/* Stores written in PHP (docs/php-stores.md): the interface SessionKit\Store,
 * sessionkit_register_store(), the PSR-16 adapter SessionKit\Psr16Store,
 * and the table of callbacks (store_callbacks.h) through which the library
 * calls a registered object's methods for session.save_path php://NAME.
 *
 * A registration belongs to its request: the object is kept (a reference)
 * until the request ends, when the session is written and closed first
 * (sk_store_rshutdown), then every registration is withdrawn and the
 * objects released. An engine of a php:// save path outlives the request,
 * but looks its store up by name at every call and never sees a withdrawn
 * object.
 *
 * No longjmp crosses the library: each method call runs inside zend_try;
 * a fatal error in it is answered as SK_STORE_ERROR, later calls of the
 * same library call are refused without running PHP, and the bailout is
 * raised again (sk_store_rethrow_bailout) from the glue's own frames once
 * the library call has returned. An exception thrown by a method is taken
 * (cleared) and its class and message become the error's reason. */
/* clang-format off */
#include "php_sessionkit.h"
#include "ext/hash/php_hash_sha.h"
#include "ext/standard/md5.h"
#include "zend_exceptions.h"
#include "zend_interfaces.h"
/* clang-format on */

static zend_class_entry *sk_store_iface;
static zend_class_entry *sk_psr16_ce;

/* The reason of an error answer, "Class::method() ...", into `reply`. */
static void sk_ps_reason(sk_store_reply *reply, zend_object *obj,
                         const char *method, const char *what) {
  char *text;
  size_t len =
      spprintf(&text, 0, "%s::%s() %s", ZSTR_VAL(obj->ce->name), method, what);
  sk_store_reply_error(reply, text, len);
  efree(text);
}

/* Calls `method` of `obj` with `args` into *ret (IS_UNDEF unless it
 * returned). SK_STORE_DONE when it returned; SK_STORE_ERROR, with the
 * reason in `reply`, when it threw or bailed out (or an earlier call of
 * this library call did). */
static sk_store_answer sk_ps_call(zend_object *obj, const char *method,
                                  zval *args, uint32_t argc, zval *ret,
                                  sk_store_reply *reply) {
  zval fname, self;
  zend_execute_data *volatile frame = EG(current_execute_data);
  volatile bool bailed = false;
  ZVAL_UNDEF(ret);
  if (SKG(store_bailout)) {
    sk_ps_reason(reply, obj, method,
                 "was not called: a fatal error ended an earlier call");
    return SK_STORE_ERROR;
  }
  if (EG(exception) != NULL) {
    sk_ps_reason(reply, obj, method, "was not called: an exception is pending");
    return SK_STORE_ERROR;
  }
  ZVAL_STRING(&fname, method);
  ZVAL_OBJ(&self, obj);
  zend_try { call_user_function(NULL, &self, &fname, ret, argc, args); }
  zend_catch {
    bailed = true;
    EG(current_execute_data) = frame;
  }
  zend_end_try();
  zval_ptr_dtor(&fname);
  if (bailed) {
    SKG(store_bailout) = true;
    if (!Z_ISUNDEF_P(ret)) zval_ptr_dtor(ret);
    ZVAL_UNDEF(ret);
    sk_ps_reason(reply, obj, method, "ended with a fatal error");
    return SK_STORE_ERROR;
  }
  if (EG(exception) != NULL && (zend_is_unwind_exit(EG(exception)) ||
                                zend_is_graceful_exit(EG(exception)))) {
    /* exit() in the method: the script ends, as it asked. The exception
     * stays pending, so later calls are refused and PHP unwinds once the
     * library call has returned. */
    if (!Z_ISUNDEF_P(ret)) zval_ptr_dtor(ret);
    ZVAL_UNDEF(ret);
    sk_ps_reason(reply, obj, method, "called exit()");
    return SK_STORE_ERROR;
  }
  if (EG(exception) != NULL) {
    zend_object *ex = EG(exception);
    zval rv, *message;
    char *what;
    GC_ADDREF(ex);
    zend_clear_exception();
    message = zend_read_property_ex(zend_get_exception_base(ex), ex,
                                    ZSTR_KNOWN(ZEND_STR_MESSAGE), 1, &rv);
    spprintf(&what, 0, "threw %s: %s", ZSTR_VAL(ex->ce->name),
             message != NULL && Z_TYPE_P(message) == IS_STRING
                 ? Z_STRVAL_P(message)
                 : "");
    sk_ps_reason(reply, obj, method, what);
    efree(what);
    OBJ_RELEASE(ex);
    if (!Z_ISUNDEF_P(ret)) zval_ptr_dtor(ret);
    ZVAL_UNDEF(ret);
    return SK_STORE_ERROR;
  }
  if (Z_ISUNDEF_P(ret)) {
    sk_ps_reason(reply, obj, method, "could not be called");
    return SK_STORE_ERROR;
  }
  return SK_STORE_DONE;
}

/* SK_STORE_ERROR: `method` returned `ret`, not of type `expected`. */
static sk_store_answer sk_ps_wrong_type(sk_store_reply *reply, zend_object *obj,
                                        const char *method, zval *ret,
                                        const char *expected) {
  char *what;
  spprintf(&what, 0, "returned %s, expected %s", zend_zval_type_name(ret),
           expected);
  sk_ps_reason(reply, obj, method, what);
  efree(what);
  return SK_STORE_ERROR;
}

/* The answer of a method that returns bool: true DONE, false `on_false`
 * (an error for set and delete, "exists" for add), else an error. */
static sk_store_answer sk_ps_bool(zend_object *obj, const char *method,
                                  zval *ret, sk_store_answer on_false,
                                  sk_store_reply *reply) {
  sk_store_answer answer;
  if (Z_TYPE_P(ret) == IS_TRUE) {
    answer = SK_STORE_DONE;
  } else if (Z_TYPE_P(ret) == IS_FALSE) {
    answer = on_false;
    if (on_false == SK_STORE_ERROR)
      sk_ps_reason(reply, obj, method, "returned false");
  } else {
    answer = sk_ps_wrong_type(reply, obj, method, ret, "bool");
  }
  zval_ptr_dtor(ret);
  return answer;
}

/* sk_ps_call with the key as the one argument. */
static sk_store_answer sk_ps_call_key(zend_object *obj, const char *method,
                                      const char *key, size_t key_len,
                                      zval *ret, sk_store_reply *reply) {
  zval arg;
  sk_store_answer answer;
  ZVAL_STRINGL(&arg, key, key_len);
  answer = sk_ps_call(obj, method, &arg, 1, ret, reply);
  zval_ptr_dtor(&arg);
  return answer;
}

/* One callback's arguments and answer, for sk_ps_guarded. */
typedef struct {
  zend_object *obj;
  const char *method;
  sk_store_answer on_false;
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
  int64_t ttl_s;
  sk_store_reply *reply;
  sk_store_answer answer;
} sk_ps_args;

/* Runs `body` inside zend_try: a bailout outside the method call itself
 * (an argument's allocation over memory_limit, a returned value's
 * destructor that dies) is answered as the call's fatal error too, never
 * a longjmp through the library's frames. */
static int sk_ps_guarded(void (*body)(sk_ps_args *), sk_ps_args *a) {
  zend_execute_data *volatile frame = EG(current_execute_data);
  volatile bool bailed = false;
  zend_try { body(a); }
  zend_catch {
    bailed = true;
    EG(current_execute_data) = frame;
  }
  zend_end_try();
  if (bailed) {
    SKG(store_bailout) = true;
    sk_ps_reason(a->reply, a->obj, a->method, "ended with a fatal error");
    return SK_STORE_ERROR;
  }
  return a->answer;
}

static void sk_ps_get_body(sk_ps_args *a) {
  zval ret;
  a->answer = sk_ps_call_key(a->obj, "get", a->key, a->key_len, &ret, a->reply);
  if (a->answer != SK_STORE_DONE) return;
  if (Z_TYPE(ret) == IS_NULL) {
    a->answer = SK_STORE_NO;
  } else if (Z_TYPE(ret) == IS_STRING) {
    sk_store_reply_value(a->reply, Z_STRVAL(ret), Z_STRLEN(ret));
  } else {
    a->answer = sk_ps_wrong_type(a->reply, a->obj, "get", &ret, "?string");
  }
  zval_ptr_dtor(&ret);
}

static int sk_ps_get(void *user, const char *key, size_t key_len,
                     sk_store_reply *reply) {
  sk_ps_args a = {user, "get", SK_STORE_ERROR, key,           key_len, NULL,
                  0,    0,     reply,          SK_STORE_ERROR};
  return sk_ps_guarded(sk_ps_get_body, &a);
}

static void sk_ps_put_body(sk_ps_args *a) {
  zval args[3], ret;
  ZVAL_STRINGL(&args[0], a->key, a->key_len);
  ZVAL_STRINGL(&args[1], a->value, a->value_len);
  ZVAL_LONG(&args[2], (zend_long)a->ttl_s);
  a->answer = sk_ps_call(a->obj, a->method, args, 3, &ret, a->reply);
  zval_ptr_dtor(&args[0]);
  zval_ptr_dtor(&args[1]);
  if (a->answer != SK_STORE_DONE) return;
  a->answer = sk_ps_bool(a->obj, a->method, &ret, a->on_false, a->reply);
}

static int sk_ps_set(void *user, const char *key, size_t key_len,
                     const char *value, size_t value_len, int64_t ttl_s,
                     sk_store_reply *reply) {
  sk_ps_args a = {user,  "set",     SK_STORE_ERROR, key,   key_len,
                  value, value_len, ttl_s,          reply, SK_STORE_ERROR};
  return sk_ps_guarded(sk_ps_put_body, &a);
}

static int sk_ps_add(void *user, const char *key, size_t key_len,
                     const char *value, size_t value_len, int64_t ttl_s,
                     sk_store_reply *reply) {
  sk_ps_args a = {user,  "add",     SK_STORE_NO, key,   key_len,
                  value, value_len, ttl_s,       reply, SK_STORE_ERROR};
  return sk_ps_guarded(sk_ps_put_body, &a);
}

static void sk_ps_del_body(sk_ps_args *a) {
  zval ret;
  a->answer =
      sk_ps_call_key(a->obj, "delete", a->key, a->key_len, &ret, a->reply);
  if (a->answer != SK_STORE_DONE) return;
  a->answer = sk_ps_bool(a->obj, "delete", &ret, SK_STORE_ERROR, a->reply);
}

static int sk_ps_del(void *user, const char *key, size_t key_len,
                     sk_store_reply *reply) {
  sk_ps_args a = {user, "delete", SK_STORE_ERROR, key,           key_len, NULL,
                  0,    0,        reply,          SK_STORE_ERROR};
  return sk_ps_guarded(sk_ps_del_body, &a);
}

static const sk_store_callbacks sk_ps_callbacks = {sk_ps_get, sk_ps_set,
                                                   sk_ps_add, sk_ps_del};

void sk_store_rethrow_bailout(void) {
  if (!SKG(store_bailout)) return;
  SKG(store_bailout) = false;
  zend_bailout();
}

void sk_store_rshutdown(void) {
  zend_execute_data *frame = EG(current_execute_data);
  volatile bool bailed = false;
  if (SKG(stores) == NULL) return;
  /* The session is written and closed while its store is registered: the
   * session module would do it after this module's RSHUTDOWN. */
  if (PS(session_status) == php_session_active) {
    zend_try { php_session_flush(1); }
    zend_catch { bailed = true; }
    zend_end_try();
  }
  if (bailed) {
    /* A fatal error while the session was saved (its data could not be
     * encoded, a store's method died): the save is over, as after a fatal
     * error in the session module's own save, which must not encode it (and
     * run the script's __sleep) again. */
    EG(current_execute_data) = frame;
    PS(session_status) = php_session_none;
  }
  /* What the request still holds (the lock of a save that died, the old
   * session of a regenerate) is released now: once its store is withdrawn,
   * it would stay until its lease ran out. */
  sk_grace_abandon(false);
  sk_release_lock(false);
  /* Whatever happened above: no registration may outlive its object. */
  sk_store_unregister_all();
  zend_hash_destroy(SKG(stores));
  FREE_HASHTABLE(SKG(stores));
  SKG(stores) = NULL;
  SKG(store_bailout) = false;
}

PHP_FUNCTION(sessionkit_register_store) {
  zend_string *name;
  zval *store;
  sk_result r = SK_RESULT_INIT;
  ZEND_PARSE_PARAMETERS_START(2, 2)
  Z_PARAM_STR(name)
  Z_PARAM_OBJECT_OF_CLASS(store, sk_store_iface)
  ZEND_PARSE_PARAMETERS_END();
  if (sk_store_register(ZSTR_VAL(name), ZSTR_LEN(name), &sk_ps_callbacks,
                        Z_OBJ_P(store), &r) != SK_OK) {
    zend_argument_value_error(1, "%s",
                              r.message != NULL ? r.message : "is not valid");
    sk_result_free(&r);
    RETURN_THROWS();
  }
  sk_result_free(&r);
  if (SKG(stores) == NULL) {
    zval fn, ret;
    ALLOC_HASHTABLE(SKG(stores));
    zend_hash_init(SKG(stores), 4, NULL, ZVAL_PTR_DTOR, 0);
    /* The session is saved by a shutdown function, as with
     * session_set_save_handler(): those run before the script's objects
     * are destructed, so the store's object is whole when it is called
     * (this module's RSHUTDOWN comes after the destructors). */
    ZVAL_STRING(&fn, "session_register_shutdown");
    ZVAL_UNDEF(&ret);
    call_user_function(NULL, NULL, &fn, &ret, 0, NULL);
    zval_ptr_dtor(&fn);
    zval_ptr_dtor(&ret);
  }
  Z_ADDREF_P(store);
  zend_hash_update(SKG(stores), name, store); /* releases an earlier one */
}

/* --- SessionKit\Psr16Store ------------------------------------------------
 * Keys: "sk." and the key when it is at most 61 of PSR-16's own characters
 * (A-Z a-z 0-9 _ .); otherwise "sk#" and 61 hex digits of its SHA-256, so
 * that no key holds a character PSR-16 reserves ({}()/\@:) and none is
 * longer than the 64 every PSR-16 cache must take. */

static zend_string *sk_psr16_key(const char *key, size_t len) {
  size_t i;
  bool plain = len <= 61;
  for (i = 0; plain && i < len; i++) {
    char c = key[i];
    plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '_' || c == '.';
  }
  if (plain) {
    zend_string *out = zend_string_alloc(3 + len, 0);
    memcpy(ZSTR_VAL(out), "sk.", 3);
    memcpy(ZSTR_VAL(out) + 3, key, len);
    ZSTR_VAL(out)[3 + len] = '\0';
    return out;
  } else {
    PHP_SHA256_CTX ctx;
    unsigned char digest[32];
    char hex[65];
    PHP_SHA256Init(&ctx);
    PHP_SHA256Update(&ctx, (const unsigned char *)key, len);
    PHP_SHA256Final(digest, &ctx);
    make_digest_ex(hex, digest, 32);
    return zend_string_concat2("sk#", 3, hex, 61);
  }
}

/* $this->cache->$method(...$args) into *ret; false when it threw. */
static bool sk_psr16_call(zval *self, const char *method, zval *args,
                          uint32_t argc, zval *ret) {
  zval rv, fname;
  zval *cache = zend_read_property(sk_psr16_ce, Z_OBJ_P(self), "cache",
                                   sizeof("cache") - 1, 1, &rv);
  if (cache == NULL || Z_TYPE_P(cache) != IS_OBJECT) {
    zend_throw_error(NULL, "SessionKit\\Psr16Store was not constructed");
    return false;
  }
  ZVAL_STRING(&fname, method);
  call_user_function(NULL, cache, &fname, ret, argc, args);
  zval_ptr_dtor(&fname);
  return EG(exception) == NULL;
}

PHP_METHOD(SessionKit_Psr16Store, __construct) {
  zval *cache;
  static const char *const kNeeded[] = {"get", "set", "delete", "has"};
  size_t i;
  ZEND_PARSE_PARAMETERS_START(1, 1)
  Z_PARAM_OBJECT(cache)
  ZEND_PARSE_PARAMETERS_END();
  for (i = 0; i < sizeof(kNeeded) / sizeof(kNeeded[0]); i++) {
    if (!zend_hash_str_exists(&Z_OBJCE_P(cache)->function_table, kNeeded[i],
                              strlen(kNeeded[i]))) {
      zend_argument_type_error(
          1,
          "must be a PSR-16 cache (Psr\\SimpleCache\\CacheInterface): %s has "
          "no method %s()",
          ZSTR_VAL(Z_OBJCE_P(cache)->name), kNeeded[i]);
      RETURN_THROWS();
    }
  }
  zend_update_property(sk_psr16_ce, Z_OBJ_P(ZEND_THIS), "cache",
                       sizeof("cache") - 1, cache);
}

PHP_METHOD(SessionKit_Psr16Store, get) {
  zend_string *key;
  zval args[2], ret;
  ZEND_PARSE_PARAMETERS_START(1, 1)
  Z_PARAM_STR(key)
  ZEND_PARSE_PARAMETERS_END();
  ZVAL_STR(&args[0], sk_psr16_key(ZSTR_VAL(key), ZSTR_LEN(key)));
  ZVAL_NULL(&args[1]);
  if (!sk_psr16_call(ZEND_THIS, "get", args, 2, &ret)) {
    zval_ptr_dtor(&args[0]);
    RETURN_THROWS();
  }
  zval_ptr_dtor(&args[0]);
  if (Z_TYPE(ret) == IS_STRING) RETURN_COPY_VALUE(&ret);
  zval_ptr_dtor(&ret);
  RETURN_NULL(); /* a miss, or something sessionkit did not store */
}

/* set and add: $cache->set($key, $value, $ttl), add only when !has($key). */
static void sk_psr16_put(INTERNAL_FUNCTION_PARAMETERS, bool only_new) {
  zend_string *key, *value;
  zend_long ttl;
  zval args[3], ret;
  bool ok;
  ZEND_PARSE_PARAMETERS_START(3, 3)
  Z_PARAM_STR(key)
  Z_PARAM_STR(value)
  Z_PARAM_LONG(ttl)
  ZEND_PARSE_PARAMETERS_END();
  ZVAL_STR(&args[0], sk_psr16_key(ZSTR_VAL(key), ZSTR_LEN(key)));
  if (only_new) {
    if (!sk_psr16_call(ZEND_THIS, "has", args, 1, &ret)) {
      zval_ptr_dtor(&args[0]);
      RETURN_THROWS();
    }
    ok = !zend_is_true(&ret);
    zval_ptr_dtor(&ret);
    if (!ok) {
      zval_ptr_dtor(&args[0]);
      RETURN_FALSE;
    }
  }
  ZVAL_STR_COPY(&args[1], value);
  ZVAL_LONG(&args[2], ttl);
  ok = sk_psr16_call(ZEND_THIS, "set", args, 3, &ret);
  zval_ptr_dtor(&args[0]);
  zval_ptr_dtor(&args[1]);
  if (!ok) RETURN_THROWS();
  ok = zend_is_true(&ret);
  zval_ptr_dtor(&ret);
  if (!ok && only_new) {
    zend_throw_error(NULL, "the PSR-16 cache's set() returned false");
    RETURN_THROWS();
  }
  RETURN_BOOL(ok);
}

PHP_METHOD(SessionKit_Psr16Store, set) {
  sk_psr16_put(INTERNAL_FUNCTION_PARAM_PASSTHRU, false);
}

PHP_METHOD(SessionKit_Psr16Store, add) {
  sk_psr16_put(INTERNAL_FUNCTION_PARAM_PASSTHRU, true);
}

PHP_METHOD(SessionKit_Psr16Store, delete) {
  zend_string *key;
  zval arg, ret;
  bool ok;
  ZEND_PARSE_PARAMETERS_START(1, 1)
  Z_PARAM_STR(key)
  ZEND_PARSE_PARAMETERS_END();
  ZVAL_STR(&arg, sk_psr16_key(ZSTR_VAL(key), ZSTR_LEN(key)));
  ok = sk_psr16_call(ZEND_THIS, "delete", &arg, 1, &ret);
  zval_ptr_dtor(&arg);
  if (!ok) RETURN_THROWS();
  ok = zend_is_true(&ret);
  zval_ptr_dtor(&ret);
  RETURN_BOOL(ok);
}

/* --- Registration ----------------------------------------------------------
 */

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_sk_store_get, 0, 1, IS_STRING,
                                        1)
ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_sk_store_put, 0, 3, _IS_BOOL, 0)
ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, value, IS_STRING, 0)
ZEND_ARG_TYPE_INFO(0, ttl, IS_LONG, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_sk_store_delete, 0, 1, _IS_BOOL,
                                        0)
ZEND_ARG_TYPE_INFO(0, key, IS_STRING, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_INFO_EX(arginfo_sk_psr16_construct, 0, 0, 1)
ZEND_ARG_TYPE_INFO(0, cache, IS_OBJECT, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_sessionkit_register_store, 0, 2,
                                        IS_VOID, 0)
ZEND_ARG_TYPE_INFO(0, name, IS_STRING, 0)
ZEND_ARG_OBJ_INFO(0, store, SessionKit\\Store, 0)
ZEND_END_ARG_INFO()

/* clang-format off */
static const zend_function_entry sk_store_iface_methods[] = {
  ZEND_ABSTRACT_ME_WITH_FLAGS(SessionKit_Store, get, arginfo_sk_store_get,
                              ZEND_ACC_PUBLIC | ZEND_ACC_ABSTRACT)
  ZEND_ABSTRACT_ME_WITH_FLAGS(SessionKit_Store, set, arginfo_sk_store_put,
                              ZEND_ACC_PUBLIC | ZEND_ACC_ABSTRACT)
  ZEND_ABSTRACT_ME_WITH_FLAGS(SessionKit_Store, add, arginfo_sk_store_put,
                              ZEND_ACC_PUBLIC | ZEND_ACC_ABSTRACT)
  ZEND_ABSTRACT_ME_WITH_FLAGS(SessionKit_Store, delete, arginfo_sk_store_delete,
                              ZEND_ACC_PUBLIC | ZEND_ACC_ABSTRACT)
  PHP_FE_END
};

static const zend_function_entry sk_psr16_methods[] = {
  PHP_ME(SessionKit_Psr16Store, __construct, arginfo_sk_psr16_construct,
         ZEND_ACC_PUBLIC)
  PHP_ME(SessionKit_Psr16Store, get, arginfo_sk_store_get, ZEND_ACC_PUBLIC)
  PHP_ME(SessionKit_Psr16Store, set, arginfo_sk_store_put, ZEND_ACC_PUBLIC)
  PHP_ME(SessionKit_Psr16Store, add, arginfo_sk_store_put, ZEND_ACC_PUBLIC)
  PHP_ME(SessionKit_Psr16Store, delete, arginfo_sk_store_delete,
         ZEND_ACC_PUBLIC)
  PHP_FE_END
};

static const zend_function_entry sk_store_functions[] = {
  PHP_FE(sessionkit_register_store, arginfo_sessionkit_register_store)
  PHP_FE_END
};
/* clang-format on */

void sk_store_minit(int type) {
  zend_class_entry ce;
  INIT_NS_CLASS_ENTRY(ce, "SessionKit", "Store", sk_store_iface_methods);
  sk_store_iface = zend_register_internal_interface(&ce);
  INIT_NS_CLASS_ENTRY(ce, "SessionKit", "Psr16Store", sk_psr16_methods);
  sk_psr16_ce = zend_register_internal_class(&ce);
  sk_psr16_ce->ce_flags |= ZEND_ACC_FINAL;
  zend_class_implements(sk_psr16_ce, 1, sk_store_iface);
  zend_declare_property_null(sk_psr16_ce, "cache", sizeof("cache") - 1,
                             ZEND_ACC_PRIVATE);
  zend_register_functions(NULL, sk_store_functions, NULL, type);
}
