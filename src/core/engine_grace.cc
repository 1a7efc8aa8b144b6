// SessionEngine's regenerate grace: a session id retired by PHP's
// session_regenerate_id(true) stays valid for a few seconds as a pointer to
// the session that replaced it (ReadReplacing in engine.h; docs/php.md).
// Kept apart from engine.cc, which calls it through small hooks: the key a
// lock works on, and reads and destroys that follow pointers.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/store_key.h"
#include "crypt/aead.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/lifetime.h"

namespace sessionkit {
namespace {

std::string Unusable(std::string_view id, const std::string& store,
                     std::string_view why) {
  return store + ": session " + SessionIdPrefix(id) +
         " was replaced by a regenerate, but " + std::string(why) +
         "; it reads as no session";
}

// The write count byte of a frame whose count was read as `read_writes`
// (0 is read as kMaxWriteCount), so that a copy keeps the original's.
uint8_t StoredWriteCountOf(uint32_t read_writes) {
  return read_writes >= kMaxWriteCount ? 0
                                       : static_cast<uint8_t>(read_writes);
}

}  // namespace

Result<std::string> SessionEngine::KeyOf(std::string_view id,
                                         const SessionLock& lock) const {
  if (lock.followed_key.empty()) return StoreKey(options_, id);
  // Handed back by a C caller as it came: still checked, so that no store
  // key carries bytes a store may not use.
  if (!ValidateSessionId(lock.followed_key).ok()) {
    return Status::InvalidArgument(
        "the store key of the session a retired id led to (followed_key) is "
        "not a valid key");
  }
  return lock.followed_key;
}

Result<std::optional<std::string>> SessionEngine::PointerTarget(
    std::string_view key, const SessionRecord& record) const {
  auto frame = DecodeFrame(record.data);
  if (!frame.ok() || (frame->header.flags & kFrameFlagPointer) == 0) {
    return std::optional<std::string>();
  }
  std::string target(frame->payload);
  if (frame->header.key_id != 0) {
    if (options_.keys == nullptr) {
      return Status::Corrupt("its pointer is encrypted and no key file is set");
    }
    const std::string_view header =
        std::string_view(record.data)
            .substr(0, record.data.size() - frame->payload.size());
    auto plain = DecryptPayload(*options_.keys, frame->header.key_id, header,
                                key, frame->payload);
    if (!plain.ok()) return plain.status();
    target = std::move(plain).value();
  }
  if (!ValidateSessionId(target).ok() || target == key) {
    return Status::Corrupt("its pointer does not hold a valid store key");
  }
  return std::optional<std::string>(std::move(target));
}

Result<SessionRecord> SessionEngine::ReadFollowing(std::string_view id,
                                                   std::string* key) {
  for (int hop = 0;; ++hop) {
    // A destroy's mark, where the store keeps one, is read as one: the
    // session is destroyed, not new (no legacy copy is read in its place).
    auto record = store_->ReadOrMark(*key);
    if (!record.ok()) return record;
    auto target = PointerTarget(*key, *record);
    if (target.ok() && !target->has_value()) return record;
    const std::string why =
        !target.ok() ? target.status().message()
                     : "its pointers lead on further than " +
                           std::to_string(kMaxPointerHops) + " regenerates";
    if (!target.ok() || hop == kMaxPointerHops) {
      Log(LogLevel::kWarning, Unusable(id, store_->name(), why));
      return Status::NotFound("unusable pointer");
    }
    *key = std::move(**target);
  }
}

Result<LockedRead> SessionEngine::LockAndReadFollowing(
    std::string_view id, std::string* key, const LockRequest& request) {
  for (int hop = 0;; ++hop) {
    auto locked = store_->LockAndRead(*key, request);
    if (!locked.ok() || !locked->acquired() || !locked->found) return locked;
    auto target = PointerTarget(*key, locked->record);
    if (target.ok() && !target->has_value()) return locked;
    if (!target.ok() || hop == kMaxPointerHops) {
      Log(LogLevel::kWarning,
          Unusable(id, store_->name(),
                   !target.ok()
                       ? target.status().message()
                       : "its pointers lead on further than " +
                             std::to_string(kMaxPointerHops) + " regenerates"));
      // Under this key's lock, as an id without a session.
      locked->found = false;
      locked->record = SessionRecord{};
      return locked;
    }
    // The pointer's lock is released before the next one is taken: a
    // request holds one lock at a time, so none waits on another in a loop.
    (void)store_->Unlock(*key, request.owner);
    *key = std::move(**target);
  }
}

std::vector<std::string> SessionEngine::PointedTo(std::string_view id,
                                                  std::string_view key) {
  std::vector<std::string> chain;
  std::string at(key);
  for (int hop = 0; hop < kMaxPointerHops; ++hop) {
    auto record = store_->Read(at);
    if (!record.ok()) {
      // A value that cannot be read never keeps a logout from happening:
      // the id itself is destroyed all the same (a store that is down
      // fails that too).
      if (!record.status().IsNotFound()) {
        Log(LogLevel::kWarning,
            store_->name() + ": session " + SessionIdPrefix(id) +
                ": could not look for a session it leads to after a "
                "regenerate: " +
                record.status().message());
      }
      break;
    }
    auto target = PointerTarget(at, *record);
    if (!target.ok() || !target->has_value()) break;
    at = std::move(**target);
    chain.push_back(at);
  }
  return chain;
}

Status SessionEngine::DestroyPointedTo(std::string_view id,
                                       std::string_view key) {
  // The whole chain is read first: a session destroyed before it is read
  // would end the walk there, and the sessions of later regenerates (the
  // one in use) would stay.
  const std::vector<std::string> chain = PointedTo(id, key);
  for (const std::string& replaced_by : chain) {
    Status s = store_->Destroy(replaced_by);
    if (!s.ok()) return s;
  }
  if (!chain.empty()) {
    Log(LogLevel::kDebug, store_->name() + ": session " + SessionIdPrefix(id) +
                              " was replaced by a regenerate: the sessions "
                              "that replaced it are destroyed with it");
  }
  return Status::OK();
}

Status SessionEngine::Destroy(std::string_view id, const SessionLock& lock) {
  SK_RETURN_IF_ERROR(Destroy(id));
  return DestroyHeld(id, lock);
}

Status SessionEngine::DestroyHeld(std::string_view id,
                                  const SessionLock& lock) {
  if (lock.state != LockState::kHeld || lock.followed_key.empty()) {
    return Status::OK();
  }
  // The session this request holds through the retired id: the id's
  // pointer (which Destroy followed) may have expired while it ran.
  auto key = KeyOf(id, lock);
  if (!key.ok()) return key.status();
  return store_->Destroy(*key);
}

Result<ReadResult> SessionEngine::ReadReplacing(std::string_view new_id,
                                                const LockOptions& lock,
                                                std::string_view old_id,
                                                const SessionLock& old_lock,
                                                Duration grace) {
  SK_RETURN_IF_ERROR(ValidateSessionId(old_id));
  SK_RETURN_IF_ERROR(ValidateSessionId(new_id));
  if (grace.count() <= 0 || old_lock.state == LockState::kReadOnly) {
    // No pointer: the old id goes as PHP's handlers destroy it.
    SK_RETURN_IF_ERROR(Destroy(old_id));
    return ReadForUpdate(new_id, lock);
  }
  auto old_key = KeyOf(old_id, old_lock);
  if (!old_key.ok()) return old_key.status();
  auto new_key = StoreKey(options_, new_id);
  if (!new_key.ok()) return new_key.status();
  const std::string session = store_->name() + ": session " +
                              SessionIdPrefix(old_id) + " (regenerated)";

  // 1. The old session's data under the new id, for the grace.
  bool copied = false;
  if (auto record = store_->Read(*old_key); record.ok()) {
    ReadResult old = Decode(old_id, *old_key, *record);
    if (old.found) {
      auto frame = Encode(new_id, *new_key, old.payload,
                          NextSessionVersion(old.version, env_->WallNow()),
                          StoredWriteCountOf(old.lock.read_writes),
                          options_.compression);
      Status s =
          frame.ok() ? store_->Write(*new_key, *frame, grace) : frame.status();
      copied = s.ok();
      if (!s.ok()) {
        Log(LogLevel::kWarning,
            session + ": its data was not copied to the new id (" +
                s.message() +
                "); requests that read the new session without its lock "
                "see it empty until the regenerating request saves it");
      }
    }
  } else if (!record.status().IsNotFound()) {
    return record.status();
  }

  // 2. The new session, under its lock.
  auto read = ReadForUpdate(new_id, lock);
  if (!read.ok()) {
    if (copied) (void)store_->Destroy(*new_key);
    return read.status();
  }

  // 3. The pointer, replacing the old session as its lock is released.
  FrameHeader header;
  header.flags = kFrameFlagPointer;
  header.session_version =
      NextSessionVersion(old_lock.read_version, env_->WallNow());
  Result<std::string> pointer = EncodeFrame(header, *new_key);
  if (options_.keys != nullptr && options_.keys->active_id() != 0) {
    header.key_id = options_.keys->active_id();
    std::string frame = EncodeFrame(header, {});
    auto sealed = EncryptPayload(*options_.keys, header.key_id, frame, *old_key,
                                 *new_key);
    if (sealed.ok()) frame.append(*sealed);
    pointer = sealed.ok() ? Result<std::string>(std::move(frame))
                          : Result<std::string>(sealed.status());
  }
  Status s =
      !pointer.ok() ? pointer.status()
      : old_lock.state == LockState::kHeld
          ? store_->WriteAndUnlock(*old_key, *pointer, grace, old_lock.owner)
          : store_->Write(*old_key, *pointer, grace);
  if (!s.ok()) {
    Log(LogLevel::kWarning, session +
                                ": the old id could not be kept for its "
                                "grace (" +
                                s.message() + "); it is destroyed instead");
    Status destroyed = store_->Destroy(*old_key);
    if (!destroyed.ok()) {
      Log(LogLevel::kWarning, session + ": destroying the old id failed too: " +
                                  destroyed.message());
    }
  }
  // The old id is retired either way: a legacy copy of it would be read
  // again once its pointer expired (a destroy deletes it the same way).
  (void)DeleteLegacy(old_id, "regenerated");
  return read;
}

}  // namespace sessionkit
