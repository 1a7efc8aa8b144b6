// migrate's copy of one session, and a sessionkit store read as its source.
#include <algorithm>
#include <utility>
#include <variant>

#include "cli.h"
#include "cli_bulk.h"
#include "sessionkit/frame.h"
#include "sessionkit/session_id.h"
#include "sessionkit/users.h"

namespace sessionkit::cli {
namespace {

// Thread safety: as its store (every shipped store is safe).
class StoreSource : public LegacySource {
 public:
  StoreSource(std::unique_ptr<Store> store, std::shared_ptr<const KeyRing> keys)
      : store_(std::move(store)), keys_(std::move(keys)) {}

  Result<LegacySession> Read(std::string_view id) override {
    auto record = store_->Read(id);
    if (!record.ok()) return record.status();
    auto frame = DecodeFrame(record->data);
    if (!frame.ok()) return frame.status();
    if ((frame->header.flags & kFrameFlagTombstone) != 0) {
      // A destroyed session: copying it would bring it back.
      return Status::NotFound("destroyed");
    }
    if ((frame->header.flags & kFrameFlagPointer) != 0) {
      // A regenerated id within its grace: its session is copied under
      // its new id.
      return Status::NotFound("replaced by a regenerate");
    }
    auto payload = OpenStoredPayload(record->data, *frame, id, keys_.get());
    if (!payload.ok()) return Status::Corrupt(payload.status().message());
    LegacySession session;
    session.payload = std::move(payload).value();
    session.ttl =
        std::chrono::duration_cast<Duration>(record->expires_at - Clock::now());
    return session;
  }

  Status Delete(std::string_view) override {
    return Status::NotSupported("migrate never deletes from its source");
  }

  Result<LegacyPage> Scan(std::string_view cursor, size_t limit) override {
    ScanOptions options;
    options.cursor = std::string(cursor);
    options.limit = limit;
    // Expired ones too, so that the summary counts them.
    options.include_expired = true;
    auto page = store_->Scan(options);
    if (!page.ok()) return page.status();
    LegacyPage out;
    for (SessionInfo& info : page->sessions) {
      // User indexes are not copied (docs/users.md).
      if (IsInternalStoreKey(info.id)) continue;
      out.ids.push_back(std::move(info.id));
    }
    out.next_cursor = std::move(page->next_cursor);
    return out;
  }

  std::string Describe() const override { return store_->name(); }

 private:
  std::unique_ptr<Store> store_;
  std::shared_ptr<const KeyRing> keys_;
};

// Thread safety: one thread.
class MigrateTask : public BulkTask {
 public:
  MigrateTask(LegacySource& from, SessionEngine& to) : from_(from), to_(to) {}

  Result<BulkPage> Scan(const std::string& cursor, size_t limit) override {
    auto page = from_.Scan(cursor, limit);
    if (!page.ok()) return page.status();
    return BulkPage{std::move(page->ids), std::move(page->next_cursor)};
  }

  Result<BulkVisit> Visit(const std::string& id, bool dry_run) override {
    if (Status s = ValidateSessionId(id); !s.ok()) {
      return BulkVisit{BulkOutcome::kUnreadable,
                       "not a valid session id: " + s.message()};
    }
    if (dry_run) {
      auto there = to_.Exists(id);
      if (!there.ok()) return there.status();
      if (*there) return BulkVisit{BulkOutcome::kPresent, ""};
      auto session = ReadSource(id);
      if (!session.ok()) return session.status();
      if (session->index() == 0) return std::get<BulkVisit>(*session);
      return BulkVisit{BulkOutcome::kCopied, ""};
    }
    // Under the destination's lock, so that a session the application
    // writes or destroys there meanwhile is never replaced by the copy.
    auto read = to_.ReadForUpdate(id, BulkLockOptions());
    if (!read.ok()) {
      if (auto locked = LockedVisit(read.status())) return *locked;
      return read.status();
    }
    const auto give_back = [&](BulkVisit visit) -> Result<BulkVisit> {
      Status s = to_.Unlock(id, read->lock);
      if (!s.ok()) return s;
      return visit;
    };
    // Found, destroyed (its tombstone's version), or there but unreadable
    // (read-only): the destination's session wins.
    if (read->found || read->version != 0 ||
        read->lock.state == LockState::kReadOnly) {
      return give_back({BulkOutcome::kPresent, ""});
    }
    // Read under that lock: a logout that deletes both copies meanwhile
    // is seen here, or ends the lock and refuses the write below.
    auto session = ReadSource(id);
    if (!session.ok()) {
      Status unlocked = to_.Unlock(id, read->lock);
      (void)unlocked;  // the source's error is the one to report
      return session.status();
    }
    if (session->index() == 0) {
      return give_back(std::get<BulkVisit>(std::move(*session)));
    }
    const LegacySession& copy = std::get<LegacySession>(*session);
    Status s = to_.Write(id, copy.payload, copy.ttl, read->lock);
    if (s.IsLockLost()) {
      return BulkVisit{BulkOutcome::kLocked,
                       "its lock was ended during the copy"};
    }
    if (!s.ok()) return s;
    return BulkVisit{BulkOutcome::kCopied, ""};
  }

 private:
  // The source's copy of `id` with a positive lifetime left, or the outcome
  // when there is none to copy; an error when the source does not answer.
  Result<std::variant<BulkVisit, LegacySession>> ReadSource(
      const std::string& id) {
    using Out = std::variant<BulkVisit, LegacySession>;
    auto session = from_.Read(id);
    if (!session.ok()) {
      const Status& s = session.status();
      if (s.IsNotFound()) return Out(BulkVisit{BulkOutcome::kExpired, ""});
      if (s.IsCorrupt() || s.IsInvalidArgument() || s.IsNotSupported()) {
        return Out(BulkVisit{BulkOutcome::kUnreadable,
                             "in " + from_.Describe() + ": " + s.message()});
      }
      return s;  // the source does not answer: stop, a re-run retries
    }
    if (session->ttl <= Duration(0)) {
      return Out(BulkVisit{BulkOutcome::kExpired, ""});
    }
    return Out(std::move(session).value());
  }

  LegacySource& from_;
  SessionEngine& to_;
};

}  // namespace

std::unique_ptr<BulkTask> MakeMigrateTask(LegacySource& from,
                                          SessionEngine& to) {
  return std::make_unique<MigrateTask>(from, to);
}

std::unique_ptr<LegacySource> StoreAsLegacySource(
    std::unique_ptr<Store> store, std::shared_ptr<const KeyRing> keys) {
  return std::make_unique<StoreSource>(std::move(store), std::move(keys));
}

}  // namespace sessionkit::cli
