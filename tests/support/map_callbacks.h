// A store of callbacks (store_callbacks.h) over a std::map, for tests of
// the callback store: keys expire by their TTL on an Env's wall clock, as a
// cache would drop them, and a test can make one method fail or answer
// nonsense.
#ifndef SESSIONKIT_TESTS_SUPPORT_MAP_CALLBACKS_H_
#define SESSIONKIT_TESTS_SUPPORT_MAP_CALLBACKS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"
#include "sessionkit/store_callbacks.h"

namespace sessionkit::test {

// Thread safety: every callback may be called from any thread.
class MapCallbacks {
 public:
  explicit MapCallbacks(Env* env) : env_(Env::OrDefault(env)) {}

  // The table to register, with `this` as the user pointer.
  static const sk_store_callbacks* Table() {
    static const sk_store_callbacks table = {&Get, &Set, &Add, &Del};
    return &table;
  }

  // From now on, method `method` ("get", "set", "add", "delete") answers
  // `answer` with `error` as its reason; "" for none.
  void FailWith(std::string method, int answer, std::string error) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_method_ = std::move(method);
    fail_answer_ = answer;
    fail_error_ = std::move(error);
  }

  // The value under `key` whatever its TTL, and whether there is one.
  bool Peek(const std::string& key, std::string* value) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return false;
    *value = it->second.value;
    return true;
  }
  void Put(const std::string& key, const std::string& value) {
    std::lock_guard<std::mutex> lock(mu_);
    items_[key] = {value, INT64_MAX};
  }
  void Erase(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.erase(key);
  }
  // The TTL in seconds the last set or add of `key` was given (0: none).
  int64_t LastTtl(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ttls_.find(key);
    return it == ttls_.end() ? 0 : it->second;
  }
  uint64_t calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  struct Item {
    std::string value;
    int64_t expires_ms;
  };

  static MapCallbacks* Self(void* user) {
    return static_cast<MapCallbacks*>(user);
  }

  // True (and the reply filled) when `method` is made to fail. mu_ held.
  bool Failing(const char* method, sk_store_reply* reply, int* answer) {
    ++calls_;
    if (fail_method_ != method) return false;
    sk_store_reply_error(reply, fail_error_.data(), fail_error_.size());
    *answer = fail_answer_;
    return true;
  }
  // Drops `key` when its TTL has passed. mu_ held.
  void Expire(const std::string& key) {
    auto it = items_.find(key);
    if (it != items_.end() &&
        it->second.expires_ms <= ToUnixMillis(env_->WallNow())) {
      items_.erase(it);
    }
  }
  void Store(const std::string& key, const char* value, size_t len,
             int64_t ttl_s) {
    items_[key] = {std::string(value, len),
                   ToUnixMillis(env_->WallNow()) + ttl_s * 1000};
    ttls_[key] = ttl_s;
  }

  static int Get(void* user, const char* key, size_t key_len,
                 sk_store_reply* reply) {
    MapCallbacks* self = Self(user);
    std::lock_guard<std::mutex> lock(self->mu_);
    int answer;
    if (self->Failing("get", reply, &answer)) return answer;
    const std::string k(key, key_len);
    self->Expire(k);
    auto it = self->items_.find(k);
    if (it == self->items_.end()) return SK_STORE_NO;
    sk_store_reply_value(reply, it->second.value.data(),
                         it->second.value.size());
    return SK_STORE_DONE;
  }
  static int Set(void* user, const char* key, size_t key_len, const char* value,
                 size_t value_len, int64_t ttl_s, sk_store_reply* reply) {
    MapCallbacks* self = Self(user);
    std::lock_guard<std::mutex> lock(self->mu_);
    int answer;
    if (self->Failing("set", reply, &answer)) return answer;
    self->Store(std::string(key, key_len), value, value_len, ttl_s);
    return SK_STORE_DONE;
  }
  static int Add(void* user, const char* key, size_t key_len, const char* value,
                 size_t value_len, int64_t ttl_s, sk_store_reply* reply) {
    MapCallbacks* self = Self(user);
    std::lock_guard<std::mutex> lock(self->mu_);
    int answer;
    if (self->Failing("add", reply, &answer)) return answer;
    const std::string k(key, key_len);
    self->Expire(k);
    if (self->items_.count(k) != 0) return SK_STORE_NO;
    self->Store(k, value, value_len, ttl_s);
    return SK_STORE_DONE;
  }
  static int Del(void* user, const char* key, size_t key_len,
                 sk_store_reply* reply) {
    MapCallbacks* self = Self(user);
    std::lock_guard<std::mutex> lock(self->mu_);
    int answer;
    if (self->Failing("delete", reply, &answer)) return answer;
    self->items_.erase(std::string(key, key_len));
    return SK_STORE_DONE;
  }

  Env* const env_;
  std::mutex mu_;
  std::map<std::string, Item> items_;    // guarded by mu_
  std::map<std::string, int64_t> ttls_;  // guarded by mu_
  uint64_t calls_ = 0;                   // guarded by mu_
  std::string fail_method_;              // guarded by mu_
  int fail_answer_ = SK_STORE_ERROR;     // guarded by mu_
  std::string fail_error_;               // guarded by mu_
};

}  // namespace sessionkit::test

#endif  // SESSIONKIT_TESTS_SUPPORT_MAP_CALLBACKS_H_
