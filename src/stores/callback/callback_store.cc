// The callback store's registry, its calls of the callbacks and its unlocked
// primitives (callback_store.h).
#include "stores/callback/callback_store.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sessionkit/session_id.h"
#include "sessionkit/stores/callback.h"

// What a callback fills (store_callbacks.h).
struct sk_store_reply {
  bool has_value = false;
  std::string value;
  std::string error;
};

extern "C" void sk_store_reply_value(sk_store_reply* reply, const char* data,
                                     size_t len) noexcept {
  if (reply == nullptr || (data == nullptr && len > 0)) return;
  try {
    reply->value.assign(data, len);
    reply->has_value = true;
  } catch (...) {
    reply->error = "out of memory for the value";
  }
}

extern "C" void sk_store_reply_error(sk_store_reply* reply, const char* message,
                                     size_t len) noexcept {
  if (reply == nullptr || message == nullptr) return;
  try {
    reply->error.assign(message, std::min<size_t>(len, 1024));
  } catch (...) {
  }
}

namespace sessionkit {
namespace {

struct Registration {
  const sk_store_callbacks* callbacks = nullptr;
  void* user = nullptr;
};
using Registry = std::map<std::string, Registration, std::less<>>;

Registry& ThreadRegistry() {
  thread_local Registry registry;
  return registry;
}

std::mutex& SharedMutex() {
  static std::mutex* const mu = new std::mutex;
  return *mu;
}
Registry& SharedRegistry() {  // guarded by SharedMutex()
  static Registry* const registry = new Registry;
  return *registry;
}

std::optional<Registration> Lookup(std::string_view name) {
  const Registry& mine = ThreadRegistry();
  if (auto it = mine.find(name); it != mine.end()) return it->second;
  std::lock_guard<std::mutex> lock(SharedMutex());
  const Registry& shared = SharedRegistry();
  if (auto it = shared.find(name); it != shared.end()) return it->second;
  return std::nullopt;
}

constexpr char kMagic[] = {'S', 'K', 'p'};
constexpr size_t kHeader = sizeof(kMagic) + 8;

}  // namespace

Result<CallbackOptions> CallbackOptions::FromUrl(const StoreUrl& url) {
  if (url.scheme != "php") {
    return Status::InvalidArgument(url.Redacted() + ": not a php:// URL");
  }
  if (url.write_async()) {
    return Status::InvalidArgument(
        url.Redacted() +
        ": a store written in PHP cannot be written behind (write=async): "
        "the journal is drained by a thread of its own, which cannot call "
        "PHP; leave write=async out");
  }
  CallbackOptions options;
  options.name = url.path;
  return options;
}

Result<std::unique_ptr<Store>> OpenCallbackStore(
    const CallbackOptions& options) {
  Result<StoreUrl> url = ParseStoreUrl("php://" + options.name);
  if (!url.ok()) return url.status();
  return std::unique_ptr<Store>(
      new callback::CallbackStore(options.name, options.env));
}

Status RegisterCallbackStore(std::string_view name,
                             const sk_store_callbacks* callbacks, void* user,
                             CallbackScope scope) {
  Result<StoreUrl> url = ParseStoreUrl("php://" + std::string(name));
  if (!url.ok()) return url.status();
  if (callbacks == nullptr || callbacks->get == nullptr ||
      callbacks->set == nullptr || callbacks->add == nullptr ||
      callbacks->del == nullptr) {
    return Status::InvalidArgument("php://" + std::string(name) +
                                   ": a callback of the store is missing");
  }
  const Registration entry{callbacks, user};
  if (scope == CallbackScope::kThisThread) {
    ThreadRegistry()[std::string(name)] = entry;
  } else {
    std::lock_guard<std::mutex> lock(SharedMutex());
    SharedRegistry()[std::string(name)] = entry;
  }
  return Status::OK();
}

void UnregisterCallbackStores(CallbackScope scope) {
  if (scope == CallbackScope::kThisThread) {
    ThreadRegistry().clear();
    return;
  }
  std::lock_guard<std::mutex> lock(SharedMutex());
  SharedRegistry().clear();
}

namespace callback {

int64_t ItemTtl(int64_t until_ms, int64_t now_ms) {
  const int64_t left_ms = until_ms - now_ms;
  return (left_ms <= 0 ? 0 : (left_ms + 999) / 1000) + 1;
}

std::string EncodeSession(std::string_view frame, int64_t expires_ms) {
  std::string out(kMagic, sizeof(kMagic));
  out.reserve(kHeader + frame.size());
  const uint64_t u = static_cast<uint64_t>(expires_ms);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((u >> shift) & 0xff));
  }
  out.append(frame);
  return out;
}

Result<StoredSession> DecodeSession(std::string_view value,
                                    std::string_view what) {
  if (value.size() < kHeader || value.substr(0, sizeof(kMagic)) !=
                                    std::string_view(kMagic, sizeof(kMagic))) {
    return Status::Corrupt(std::string(what) +
                           ": the stored value is not a session of "
                           "sessionkit's (" +
                           std::to_string(value.size()) + " bytes)");
  }
  uint64_t u = 0;
  for (size_t i = sizeof(kMagic); i < kHeader; ++i) {
    u = (u << 8) | static_cast<unsigned char>(value[i]);
  }
  StoredSession out;
  out.expires_ms = static_cast<int64_t>(u);
  out.frame = value.substr(kHeader);
  return out;
}

CallbackStore::CallbackStore(std::string store_name, Env* env)
    : store_name_(std::move(store_name)),
      name_("php://" + store_name_),
      env_(Env::OrDefault(env)) {}

int64_t CallbackStore::NowMs() const { return ToUnixMillis(env_->WallNow()); }

Status CallbackStore::CheckId(std::string_view id, std::string_view op) const {
  Status valid = ValidateSessionId(id);
  if (valid.ok()) return valid;
  return Status::InvalidArgument(name_ + ": " + std::string(op) + ": " +
                                 valid.message());
}

std::string CallbackStore::What(std::string_view op,
                                std::string_view id) const {
  return std::string(op) + " of session " + SessionIdPrefix(id);
}

Result<std::pair<const sk_store_callbacks*, void*>> CallbackStore::Find()
    const {
  std::optional<Registration> found = Lookup(store_name_);
  if (!found) {
    return Status::InvalidArgument(
        name_ +
        ": no store registered under this name; call "
        "sessionkit_register_store() before session_start()");
  }
  return std::make_pair(found->callbacks, found->user);
}

Status CallbackStore::Failed(const char* method, std::string_view what,
                             int answer, const std::string& error) const {
  std::string where = name_ + ": " + std::string(what) + ": " + method;
  if (answer != SK_STORE_ERROR) {
    return Status::Internal(where + " answered " + std::to_string(answer) +
                            ", which is not an answer of store_callbacks.h");
  }
  return Status::Unavailable(
      where + " failed: " + (error.empty() ? "no reason given" : error));
}

Result<std::optional<std::string>> CallbackStore::Get(std::string_view key,
                                                      std::string_view what) {
  auto cb = Find();
  if (!cb.ok()) return cb.status();
  sk_store_reply reply;
  ++calls_;
  const int answer = cb->first->get(cb->second, key.data(), key.size(), &reply);
  if (answer == SK_STORE_NO) return std::optional<std::string>();
  if (answer == SK_STORE_DONE && reply.has_value) {
    return std::optional<std::string>(std::move(reply.value));
  }
  if (answer == SK_STORE_DONE) {
    return Status::Internal(name_ + ": " + std::string(what) +
                            ": get answered found without a value");
  }
  return Failed("get", what, answer, reply.error);
}

Result<bool> CallbackStore::Put(bool only_new, std::string_view key,
                                std::string_view value, int64_t ttl_s,
                                std::string_view what) {
  auto cb = Find();
  if (!cb.ok()) return cb.status();
  sk_store_reply reply;
  ++calls_;
  const auto call = only_new ? cb->first->add : cb->first->set;
  const int answer = call(cb->second, key.data(), key.size(), value.data(),
                          value.size(), ttl_s, &reply);
  if (answer == SK_STORE_DONE) return true;
  if (only_new && answer == SK_STORE_NO) return false;
  return Failed(only_new ? "add" : "set", what, answer, reply.error);
}

Status CallbackStore::Set(std::string_view key, std::string_view value,
                          int64_t ttl_s, std::string_view what) {
  return Put(false, key, value, ttl_s, what).status();
}

Result<bool> CallbackStore::Add(std::string_view key, std::string_view value,
                                int64_t ttl_s, std::string_view what) {
  return Put(true, key, value, ttl_s, what);
}

Status CallbackStore::Delete(std::string_view key, std::string_view what) {
  auto cb = Find();
  if (!cb.ok()) return cb.status();
  sk_store_reply reply;
  ++calls_;
  const int answer = cb->first->del(cb->second, key.data(), key.size(), &reply);
  if (answer == SK_STORE_DONE) return Status::OK();
  return Failed("delete", what, answer, reply.error);
}

Result<std::optional<SessionRecord>> CallbackStore::ReadLive(
    std::string_view id, std::string_view what, int64_t now_ms) {
  Result<std::optional<std::string>> value = Get(id, what);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<SessionRecord>();
  Result<StoredSession> stored =
      DecodeSession(**value, name_ + ": " + std::string(what));
  if (!stored.ok()) return stored.status();
  if (stored->expires_ms <= now_ms) return std::optional<SessionRecord>();
  SessionRecord record;
  record.data = std::string(stored->frame);
  record.expires_at = FromUnixMillis(stored->expires_ms);
  return std::optional<SessionRecord>(std::move(record));
}

Result<SessionRecord> CallbackStore::Read(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "read"));
  const std::string what = What("read", id);
  Result<std::optional<SessionRecord>> live = ReadLive(id, what, NowMs());
  if (!live.ok()) return live.status();
  if (!live->has_value()) {
    return Status::NotFound(name_ + ": " + what +
                            ": no such session (or it expired)");
  }
  return std::move(**live);
}

Status CallbackStore::Write(std::string_view id, std::string_view data,
                            Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(id, "write"));
  const int64_t now = NowMs();
  const int64_t expires = now + ttl.count();
  return Set(id, EncodeSession(data, expires), ItemTtl(expires, now),
             What("write", id));
}

Status CallbackStore::Touch(std::string_view id, Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(id, "touch"));
  const std::string what = What("touch", id);
  const int64_t now = NowMs();
  Result<std::optional<SessionRecord>> live = ReadLive(id, what, now);
  if (!live.ok()) return live.status();
  if (!live->has_value()) {
    return Status::NotFound(name_ + ": " + what +
                            ": no such session (or it expired)");
  }
  const int64_t expires = now + ttl.count();
  return Set(id, EncodeSession((*live)->data, expires), ItemTtl(expires, now),
             what);
}

Status CallbackStore::Destroy(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "destroy"));
  const std::string what = What("destroy", id);
  SK_RETURN_IF_ERROR(Delete(id, what));
  return Delete(LockKey(id), what);
}

Result<bool> CallbackStore::Exists(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "exists"));
  const std::string what = What("exists", id);
  Result<std::optional<SessionRecord>> live = ReadLive(id, what, NowMs());
  if (!live.ok()) return live.status();
  return live->has_value();
}

Result<ScanPage> CallbackStore::Scan(const ScanOptions&) {
  return Status::NotSupported(
      name_ +
      ": cannot list sessions: a store of get, set, add and delete has no "
      "listing (its sessions expire by their TTL)");
}

Result<GcResult> CallbackStore::Gc(TimePoint) {
  // Every item was handed a TTL: the store drops expired sessions itself,
  // and a read never returns one.
  return GcResult{};
}

Status CallbackStore::Health() {
  Result<std::optional<std::string>> probe = Get(".health", "health check");
  return probe.status();
}

uint64_t CallbackStore::TakeRoundTrips() { return calls_.exchange(0); }

}  // namespace callback
}  // namespace sessionkit
