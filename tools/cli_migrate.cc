// migrate's copy of one session, and a sessionkit store read as its source.
#include <algorithm>
#include <utility>

#include "cli.h"
#include "cli_bulk.h"
#include "sessionkit/frame.h"
#include "sessionkit/session_id.h"

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
    auto session = from_.Read(id);
    if (!session.ok()) {
      const Status& s = session.status();
      if (s.IsNotFound()) return BulkVisit{BulkOutcome::kExpired, ""};
      if (s.IsCorrupt() || s.IsInvalidArgument() || s.IsNotSupported()) {
        return BulkVisit{BulkOutcome::kUnreadable,
                         "in " + from_.Describe() + ": " + s.message()};
      }
      return s;  // the source does not answer: stop, a re-run retries
    }
    if (session->ttl <= Duration(0))
      return BulkVisit{BulkOutcome::kExpired, ""};
    const TimePoint expires_at = Clock::now() + session->ttl;
    if (dry_run) {
      auto there = to_.Exists(id);
      if (!there.ok()) return there.status();
      return BulkVisit{*there ? BulkOutcome::kPresent : BulkOutcome::kCopied,
                       ""};
    }
    // Under the destination's lock, so that a session the application
    // writes there meanwhile is never replaced by the older copy.
    auto read = to_.ReadForUpdate(id, BulkLockOptions());
    if (!read.ok()) {
      if (auto locked = LockedVisit(read.status())) return *locked;
      return read.status();
    }
    // Found, destroyed (its tombstone's version), or there but unreadable
    // (read-only): the destination's session wins.
    if (read->found || read->version != 0 ||
        read->lock.state == LockState::kReadOnly) {
      Status s = to_.Unlock(id, read->lock);
      if (!s.ok()) return s;
      return BulkVisit{BulkOutcome::kPresent, ""};
    }
    const auto ttl =
        std::chrono::duration_cast<Duration>(expires_at - Clock::now());
    if (ttl <= Duration(0)) {
      Status s = to_.Unlock(id, read->lock);
      if (!s.ok()) return s;
      return BulkVisit{BulkOutcome::kExpired, ""};
    }
    Status s = to_.Write(id, session->payload, ttl, read->lock);
    if (s.IsLockLost()) {
      return BulkVisit{BulkOutcome::kLocked,
                       "its lock was taken over during the copy"};
    }
    if (!s.ok()) return s;
    return BulkVisit{BulkOutcome::kCopied, ""};
  }

 private:
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
