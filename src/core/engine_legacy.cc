// SessionEngine's reading of the sessions of the handler a site is leaving
// (EngineOptions::legacy). Kept apart from engine.cc: the engine calls it
// only where sessionkit holds no session.
#include <algorithm>
#include <optional>
#include <string>

#include "sessionkit/engine.h"
#include "sessionkit/frame.h"

namespace sessionkit {
namespace {

// A failing legacy store is asked again after this long, not at every
// request: each ask may cost its whole timeout. Deletes are always tried.
constexpr Duration kLegacyRetryAfter{2000};
// How long the tombstone of a destroyed session whose legacy copy could not
// be deleted is kept: longer than the old handlers keep a session
// (gc_maxlifetime, a "remember me" cookie's lifetime).
constexpr Duration kLegacyTombstoneTtl{30LL * 24 * 3600 * 1000};

bool IsOutage(const Status& s) {
  return s.IsUnavailable() || s.IsDeadlineExceeded();
}

}  // namespace

ReadResult SessionEngine::ReadLegacy(std::string_view id) {
  ReadResult result;
  if (options_.legacy == nullptr) return result;
  const int64_t now = ToUnixMillis(env_->WallNow());
  if (now < legacy_retry_at_ms_.load(std::memory_order_relaxed)) return result;
  auto copy = options_.legacy->Read(id);
  if (copy.ok()) {
    result.payload = std::move(copy->payload);
    result.found = true;
    // An existing session: it lives its normal lifetime.
    result.lock.read_writes = kMaxWriteCount;
    return result;
  }
  const Status& s = copy.status();
  if (s.IsNotFound()) return result;
  const std::string what = "legacy sessions " + options_.legacy->Describe() +
                           ": session " + SessionIdPrefix(id) + ": ";
  if (IsOutage(s)) {
    legacy_retry_at_ms_.store(now + kLegacyRetryAfter.count(),
                              std::memory_order_relaxed);
    Log(LogLevel::kWarning, what + s.message() +
                                "; read as a new session (the legacy store "
                                "is asked again in " +
                                std::to_string(kLegacyRetryAfter.count()) +
                                " ms)");
    return result;
  }
  // Undecodable: left where it is for a build or an operator that can
  // read it; this request cannot save over it.
  Log(LogLevel::kWarning,
      what + s.message() +
          "; the legacy copy is left as it is, and this request reads an "
          "empty session whose changes will not be saved");
  result.lock.state = LockState::kReadOnly;
  return result;
}

bool SessionEngine::LegacyExists(std::string_view id) {
  if (options_.legacy == nullptr) return false;
  ReadResult copy = ReadLegacy(id);
  return copy.found || copy.lock.state == LockState::kReadOnly;
}

std::optional<Status> SessionEngine::MoveLegacyOnTouch(
    std::string_view id, std::string_view key, Duration ttl,
    const SessionLock& lock) {
  // Version 0: nothing of sessionkit's was read (or a format 1 frame, which
  // the store check below tells apart). Under the request's lock, so no
  // other request writes the session between the check and the write.
  if (options_.legacy == nullptr || lock.read_version != 0) return {};
  auto held = store_->Exists(key);
  if (!held.ok() || *held) return {};
  ReadResult copy = ReadLegacy(id);
  if (!copy.found) return {};
  return Write(id, copy.payload, ttl, lock);
}

Result<bool> SessionEngine::ExistsBesideLegacy(std::string_view id,
                                               std::string_view key) {
  auto record = store_->ReadOrMark(key);
  if (record.ok()) return !IsTombstoneFrame(record->data);
  if (!record.status().IsNotFound()) return record.status();
  if (LegacyExists(id)) return true;
  return store_->ExistsOrLocked(key);  // a session being created
}

bool SessionEngine::DeleteLegacy(std::string_view id, std::string_view why) {
  if (options_.legacy == nullptr) return true;
  Status s = options_.legacy->Delete(id);
  if (s.ok()) return true;
  Log(LogLevel::kWarning,
      "legacy sessions " + options_.legacy->Describe() + ": session " +
          SessionIdPrefix(id) + " was " + std::string(why) +
          " but its legacy copy could not be deleted: " + s.message() +
          "; delete it there" +
          (why == "destroyed"
               ? " (sessionkit keeps the session destroyed for " +
                     std::to_string(kLegacyTombstoneTtl.count() / 86400000) +
                     " days meanwhile)"
               : ", or it may be read again once sessionkit holds no copy "
                 "of the session"));
  return false;
}

void SessionEngine::BuryLegacyCopy(std::string_view id, std::string_view key) {
  // A versioned mark, as tiers' destroys leave: not version 0, which a
  // locked read (and `sessionkit migrate`) takes for "never here", reading
  // the legacy copy; at least the mark the destroy left, if any, so that a
  // tier that missed the destroy does not win over it; and, as that mark,
  // never above a session written after it.
  uint64_t version = NextSessionVersion(0, env_->WallNow());
  if (auto held = store_->ReadOrMark(key); held.ok()) {
    // A session written since the destroy is read, not the legacy copy.
    if (!IsTombstoneFrame(held->data)) return;
    if (auto mark = DecodeFrame(held->data); mark.ok()) {
      version = std::max(version, mark->header.session_version);
    }
  }
  Status s =
      store_->Write(key, EncodeTombstoneFrame(version), kLegacyTombstoneTtl);
  if (s.ok()) return;
  Log(LogLevel::kWarning,
      store_->name() + ": session " + SessionIdPrefix(id) +
          ": destroyed, but neither its legacy copy could be deleted nor a "
          "tombstone stored in its place: " +
          s.message() +
          "; the legacy copy may be read again until it is deleted there");
}

}  // namespace sessionkit
