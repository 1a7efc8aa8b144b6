// Sessions by user (users.h, docs/users.md): SessionEngine::SetUser,
// UserSessions and DestroyUser over the Store interface, so that one
// implementation serves every store, tiers included.
//
// A user's index record lists the store keys of the user's sessions; each
// session's owner record names the index of the user it belongs to. Both
// are frames (encrypted as sessions are). The index is only ever changed
// under the store's lock on its key, so concurrent logins of one user lose
// no entry. An entry counts only while its session is live and its owner
// record names this index: a session that expired, was destroyed, or went
// to another user is never listed, and is dropped when the index is next
// written.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/store_key.h"
#include "core/user_index.h"
#include "sessionkit/engine.h"
#include "sessionkit/users.h"

namespace sessionkit {

class SessionEngine::UserIndex {
 public:
  // A user's index, read under its lock.
  struct Locked {
    std::string key;  // the index's store key
    LockOwner owner;
    std::vector<UserIndexEntry> entries;
    uint64_t version = 0;  // the session version of the record read
    Duration keep{0};      // how long the record read still had to live
  };

  explicit UserIndex(SessionEngine& engine) : e_(engine) {}

  Result<Locked> Lock(std::string key) {
    Locked locked;
    locked.key = std::move(key);
    LockRequest request{LockLimits{}, LockOwner::Generate(e_.env_),
                        /*want_expiry=*/true};
    auto read = e_.store_->LockAndRead(locked.key, request);
    if (!read.ok()) return read.status();
    if (!read->acquired()) {
      return Status::DeadlineExceeded(
          e_.store_->name() +
          ": the index of this user stayed locked by other requests for the "
          "whole lock wait; try again");
    }
    locked.owner = std::move(request.owner);
    locked.version = read->tombstone_version;
    if (!read->found) return locked;
    const auto left = std::chrono::duration_cast<Duration>(
        read->record.expires_at - e_.env_->WallNow());
    locked.keep = std::max(left, Duration{0});
    ReadResult frame = e_.Decode(locked.key, locked.key, read->record);
    Result<std::vector<UserIndexEntry>> entries =
        frame.lock.state == LockState::kReadOnly
            ? Status::Corrupt("it cannot be decoded (see the warning above)")
        : frame.found ? DecodeUserIndex(frame.payload)
                      : std::vector<UserIndexEntry>{};
    if (!entries.ok()) {
      // Kept, it would refuse every login of the user: it starts again.
      e_.Log(LogLevel::kWarning,
             e_.store_->name() + ": user index " + SessionIdPrefix(locked.key) +
                 ": " + entries.status().message() +
                 "; it starts again empty, and sessions join it again when "
                 "their user is next set and their owner record is renewed "
                 "(within half of its retention)");
      entries = std::vector<UserIndexEntry>{};
    }
    locked.version = frame.version;
    locked.entries = std::move(entries).value();
    return locked;
  }

  // Stores `locked.entries` (deletes the record when there are none) and
  // releases the lock; kept at least `keep`.
  Status Save(const Locked& locked, Duration keep) {
    if (locked.entries.empty()) {
      Status s = e_.store_->Destroy(locked.key);
      (void)e_.store_->Unlock(locked.key, locked.owner);
      return s;
    }
    auto frame =
        Frame(locked.key, EncodeUserIndex(locked.entries), locked.version);
    if (!frame.ok()) {
      (void)e_.store_->Unlock(locked.key, locked.owner);
      return frame.status();
    }
    return e_.store_->WriteAndUnlock(locked.key, *frame,
                                     std::max(keep, locked.keep), locked.owner);
  }

  // What a session's owner record says.
  struct OwnerInfo {
    std::string index_key;  // empty: no (readable) owner record
    Duration left{0};       // how long the record still lives
  };

  Result<OwnerInfo> Owner(std::string_view owner_key) {
    OwnerInfo info;
    auto record = e_.store_->Read(owner_key);
    if (!record.ok()) {
      if (record.status().IsNotFound()) return info;
      return record.status();
    }
    ReadResult frame = e_.Decode(owner_key, owner_key, *record);
    if (!frame.found) return info;
    auto index = DecodeOwner(frame.payload);
    if (!index.ok()) return info;
    info.index_key = std::move(index).value();
    info.left = std::chrono::duration_cast<Duration>(record->expires_at -
                                                     e_.env_->WallNow());
    return info;
  }

  Status WriteOwner(std::string_view owner_key, std::string_view index_key,
                    Duration keep) {
    auto frame = Frame(owner_key, EncodeOwner(index_key), 0);
    if (!frame.ok()) return frame.status();
    return e_.store_->Write(owner_key, *frame, keep);
  }

  // True when the session of `entry` is live and belongs to `index_key`.
  Result<bool> Live(const UserIndexEntry& entry, std::string_view index_key) {
    auto exists = e_.store_->Exists(entry.key);
    if (!exists.ok() || !*exists) return exists;
    auto owner_key = OwnerKey(e_.options_, entry.key);
    if (!owner_key.ok()) return owner_key.status();
    auto owner = Owner(*owner_key);
    if (!owner.ok()) return owner.status();
    return owner->index_key == index_key;
  }

  // Drops the entries whose session is not Live; on an error the entries
  // stay as they were. The owner record of a dropped session that still
  // names this index goes too: SetUser trusts a fresh owner record to mean
  // the session is indexed, so a session that comes back under the same
  // id (an expired one, strict mode off) must find none, and join again.
  Status Prune(Locked& locked) {
    std::vector<UserIndexEntry> kept;
    std::vector<std::string> dropped;
    for (const UserIndexEntry& entry : locked.entries) {
      auto live = Live(entry, locked.key);
      if (!live.ok()) return live.status();
      if (*live) {
        kept.push_back(entry);
      } else {
        dropped.push_back(entry.key);
      }
    }
    locked.entries = std::move(kept);
    for (const std::string& key : dropped) {
      auto owner_key = OwnerKey(e_.options_, key);
      if (!owner_key.ok()) continue;
      auto owner = Owner(*owner_key);
      if (owner.ok() && owner->index_key == locked.key) {
        (void)e_.store_->Destroy(*owner_key);  // else rewritten in time
      }
    }
    return Status::OK();
  }

  // Takes `session_key` out of the index `index_key` (the session went to
  // another user). Failures are logged only: the owner record already
  // keeps the session out of that user's listings.
  void Leave(const std::string& index_key, std::string_view session_key) {
    auto locked = Lock(index_key);
    Status s = locked.status();
    if (locked.ok()) {
      std::erase_if(locked->entries, [&](const UserIndexEntry& entry) {
        return entry.key == session_key;
      });
      s = Save(*locked, Duration{0});
    }
    if (!s.ok()) {
      e_.Log(LogLevel::kNotice,
             e_.store_->name() +
                 ": a session that changed users is still in its former "
                 "user's index (" +
                 s.message() + "); it is not listed there");
    }
  }

 private:
  Result<std::string> Frame(std::string_view key, std::string_view payload,
                            uint64_t read_version) {
    return e_.Encode(key, key, payload,
                     NextSessionVersion(read_version, e_.env_->WallNow()),
                     /*write_count=*/0, CompressionOptions{});
  }

  SessionEngine& e_;
};

namespace {

// How long the index and owner records are kept for sessions of lifetime
// `ttl` (users.h).
Duration Retention(Duration ttl) {
  return std::max(kUserIndexRetention, 2 * ttl);
}

}  // namespace

Status SessionEngine::SetUser(std::string_view id, std::string_view user,
                              Duration ttl) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  SK_RETURN_IF_ERROR(CheckTtl(&ttl));
  auto index_key = UserIndexKey(options_, user);
  if (!index_key.ok()) return index_key.status();
  auto key = StoreKey(options_, id);
  if (!key.ok()) return key.status();
  auto owner_key = OwnerKey(options_, *key);
  if (!owner_key.ok()) return owner_key.status();
  const Duration keep = Retention(ttl);
  UserIndex index(*this);
  auto owner = index.Owner(*owner_key);
  if (!owner.ok()) return owner.status();
  if (owner->index_key == *index_key && owner->left > keep / 2) {
    return Status::OK();  // already this user's, and fresh
  }
  // The new user's index first: the session is never in no index.
  auto locked = index.Lock(*index_key);
  if (!locked.ok()) return locked.status();
  // The id is stored only where nobody can read it: encrypted, or as
  // the key itself.
  const bool keep_id = options_.hash_ids && options_.keys != nullptr &&
                       options_.keys->active_id() != 0;
  auto entry =
      std::find_if(locked->entries.begin(), locked->entries.end(),
                   [&](const UserIndexEntry& e) { return e.key == *key; });
  if (entry == locked->entries.end()) {
    if (locked->entries.size() >= kMaxSessionsPerUser) {
      Status pruned = index.Prune(*locked);
      if (!pruned.ok() || locked->entries.size() >= kMaxSessionsPerUser) {
        (void)store_->Unlock(locked->key, locked->owner);
        if (!pruned.ok()) return pruned;
        return Status::ResourceExhausted(
            store_->name() + ": session " + SessionIdPrefix(id) +
            " was not added to its user's index: the user already has " +
            std::to_string(kMaxSessionsPerUser) + " live sessions");
      }
    }
    locked->entries.push_back(UserIndexEntry{*key, ""});
    entry = locked->entries.end() - 1;
  }
  entry->id = keep_id ? std::string(id) : "";
  SK_RETURN_IF_ERROR(index.Save(*locked, keep));
  SK_RETURN_IF_ERROR(index.WriteOwner(*owner_key, *index_key, keep));
  if (!owner->index_key.empty() && owner->index_key != *index_key) {
    index.Leave(owner->index_key, *key);
  }
  return Status::OK();
}

Result<std::vector<UserSession>> SessionEngine::UserSessions(
    std::string_view user) {
  auto index_key = UserIndexKey(options_, user);
  if (!index_key.ok()) return index_key.status();
  UserIndex index(*this);
  auto locked = index.Lock(*index_key);
  if (!locked.ok()) return locked.status();
  const size_t before = locked->entries.size();
  Status pruned = index.Prune(*locked);
  if (!pruned.ok()) {
    (void)store_->Unlock(locked->key, locked->owner);
    return pruned;
  }
  Status saved = locked->entries.size() == before
                     ? store_->Unlock(locked->key, locked->owner)
                     : index.Save(*locked, Duration{0});
  if (!saved.ok()) return saved;
  std::vector<UserSession> sessions;
  for (const UserIndexEntry& entry : locked->entries) {
    const bool known = !options_.hash_ids || !entry.id.empty();
    sessions.push_back(
        UserSession{known && options_.hash_ids ? entry.id : entry.key, known});
  }
  return sessions;
}

Result<uint64_t> SessionEngine::DestroyUser(std::string_view user,
                                            std::string_view except_id) {
  auto index_key = UserIndexKey(options_, user);
  if (!index_key.ok()) return index_key.status();
  std::vector<std::string> except_keys;
  if (!except_id.empty()) {
    SK_RETURN_IF_ERROR(ValidateSessionId(except_id));
    auto key = StoreKey(options_, except_id);
    if (!key.ok()) return key.status();
    // Within a regenerate's grace the current id may be a retired one:
    // the session it leads to is the one in use.
    except_keys = PointedTo(except_id, *key);
    except_keys.push_back(std::move(key).value());
  }
  UserIndex index(*this);
  auto locked = index.Lock(*index_key);
  if (!locked.ok()) return locked.status();
  if (Status pruned = index.Prune(*locked); !pruned.ok()) {
    (void)store_->Unlock(locked->key, locked->owner);
    return pruned;
  }
  Status failed;
  uint64_t destroyed = 0;
  std::vector<UserIndexEntry> kept;
  for (UserIndexEntry& entry : locked->entries) {
    if (std::find(except_keys.begin(), except_keys.end(), entry.key) !=
        except_keys.end()) {
      kept.push_back(std::move(entry));
      continue;
    }
    // One that fails stays listed for the next try, and the others are
    // logged out all the same: "log out everywhere" stops at no device.
    Status s = store_->Destroy(entry.key);
    if (!s.ok()) {
      if (failed.ok()) failed = s;
      kept.push_back(std::move(entry));
      continue;
    }
    ++destroyed;
    // Its owner record goes too: a new session under the same id (strict
    // mode off) must not come back as this user's.
    auto owner_key = OwnerKey(options_, entry.key);
    if (owner_key.ok()) (void)store_->Destroy(*owner_key);
  }
  locked->entries = std::move(kept);
  Status saved = index.Save(*locked, Duration{0});
  if (failed.ok()) failed = saved;
  if (!failed.ok()) {
    return Status(failed.code(),
                  failed.message() + " (" + std::to_string(destroyed) +
                      " other sessions of the user were destroyed)");
  }
  return destroyed;
}

}  // namespace sessionkit
