#include "sessionkit/engine.h"

#include <string>
#include <utility>

#include "sessionkit/frame.h"
#include "sessionkit/store_url.h"

namespace sessionkit {
namespace {

// Ids a new session may collide with before CreateId gives up; with 128
// random bits a single collision already means a broken random source.
constexpr int kCreateIdAttempts = 3;

Status CheckTtl(Duration ttl) {
  if (ttl.count() <= 0) {
    return Status::InvalidArgument(
        "session lifetime must be positive (got " +
        std::to_string(ttl.count()) + " ms); check session.gc_maxlifetime");
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<SessionEngine>> SessionEngine::Open(
    std::string_view store_spec, EngineOptions options) {
  auto store = OpenStore(store_spec);
  if (!store.ok()) return store.status();
  return std::make_unique<SessionEngine>(std::move(store).value(),
                                         std::move(options));
}

SessionEngine::SessionEngine(std::unique_ptr<Store> store,
                             EngineOptions options)
    : store_(std::move(store)), options_(std::move(options)) {}

void SessionEngine::Log(LogLevel level, std::string_view message) const {
  if (options_.log) options_.log(level, message);
}

Result<ReadResult> SessionEngine::Read(std::string_view id) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  auto record = store_->Read(id);
  if (!record.ok()) {
    if (record.status().IsNotFound()) return ReadResult{};
    return record.status();
  }
  auto frame = DecodeFrame(record->data);
  if (frame.ok() && frame->header.key_id != 0) {
    frame = Status::Corrupt("frame is encrypted with key id " +
                            std::to_string(frame->header.key_id) +
                            ", which this engine has no key for");
  }
  if (!frame.ok()) {
    Log(LogLevel::kWarning,
        store_->name() + ": session " + SessionIdPrefix(id) + ": " +
            frame.status().message() + "; read as an empty session");
    return ReadResult{};
  }
  ReadResult result;
  result.payload.assign(frame->payload);
  result.found = true;
  return result;
}

Status SessionEngine::Write(std::string_view id, std::string_view payload,
                            Duration ttl) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  SK_RETURN_IF_ERROR(CheckTtl(ttl));
  Status s = store_->Write(id, EncodeFrame(FrameHeader{}, payload), ttl);
  if (s.IsResourceExhausted()) {
    Log(LogLevel::kWarning, "session " + SessionIdPrefix(id) +
                                " was not saved: " + s.message());
  }
  return s;
}

Status SessionEngine::Touch(std::string_view id, Duration ttl) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  SK_RETURN_IF_ERROR(CheckTtl(ttl));
  return store_->Touch(id, ttl);
}

Status SessionEngine::Destroy(std::string_view id) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  return store_->Destroy(id);
}

Result<GcResult> SessionEngine::Gc() { return store_->Gc(Clock::now()); }

Result<bool> SessionEngine::Exists(std::string_view id) {
  if (!ValidateSessionId(id).ok()) return false;
  return store_->Exists(id);
}

Result<std::string> SessionEngine::CreateId(const SessionIdOptions& options) {
  for (int attempt = 0; attempt < kCreateIdAttempts; ++attempt) {
    auto id = GenerateSessionId(options);
    if (!id.ok()) return id.status();
    auto taken = store_->Exists(*id);
    if (!taken.ok()) return taken.status();
    if (!*taken) return id;
  }
  return Status::Internal("could not create a session id unused in " +
                          store_->name() + " after " +
                          std::to_string(kCreateIdAttempts) + " attempts");
}

}  // namespace sessionkit
