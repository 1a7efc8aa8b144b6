// rekey's work on one session: re-encrypt it under the active key, under
// its lock, keeping its remaining lifetime.
#include <utility>

#include "cli_bulk.h"
#include "sessionkit/frame.h"
#include "sessionkit/users.h"

namespace sessionkit::cli {
namespace {

// Thread safety: one thread.
class RekeyTask : public BulkTask {
 public:
  RekeyTask(SessionEngine& engine, uint16_t active)
      : engine_(engine), store_(engine.store()), active_(active) {}

  Result<BulkPage> Scan(const std::string& cursor, size_t limit) override {
    ScanOptions options;
    options.cursor = cursor;
    options.limit = limit;
    options.include_expired = true;
    auto page = store_.Scan(options);
    if (!page.ok()) return page.status();
    BulkPage out;
    for (SessionInfo& info : page->sessions) {
      // User indexes are not rewritten (docs/users.md).
      if (IsInternalStoreKey(info.id)) continue;
      out.ids.push_back(std::move(info.id));
    }
    out.next_cursor = std::move(page->next_cursor);
    return out;
  }

  Result<BulkVisit> Visit(const std::string& id, bool dry_run) override {
    // A first look without the lock: most sessions need no write.
    auto first = Look(id);
    if (!first.ok() || first->has_value()) {
      return first.ok() ? Result<BulkVisit>(**first)
                        : Result<BulkVisit>(first.status());
    }
    if (dry_run) return BulkVisit{BulkOutcome::kCopied, ""};
    auto read = engine_.ReadForUpdate(id, BulkLockOptions());
    if (!read.ok()) {
      if (auto locked = LockedVisit(read.status())) return *locked;
      return read.status();
    }
    const auto give_back = [&](BulkVisit visit) -> Result<BulkVisit> {
      Status s = engine_.Unlock(id, read->lock);
      if (!s.ok()) return s;
      return visit;
    };
    if (!read->found) {
      // Read-only: the engine could not decode it (its lock is released).
      if (read->lock.state == LockState::kReadOnly) {
        return BulkVisit{BulkOutcome::kUnreadable,
                         "it does not decode with the key file (--keys) and "
                         "dictionaries (--dictionaries) given"};
      }
      return give_back({BulkOutcome::kExpired, ""});
    }
    // Again under the lock: a request may have written it meanwhile.
    auto again = Look(id);
    if (!again.ok()) {
      Status unlocked = engine_.Unlock(id, read->lock);
      (void)unlocked;  // the first error is the one to report
      return again.status();
    }
    if (again->has_value()) return give_back(**again);
    const auto ttl =
        std::chrono::duration_cast<Duration>(expires_at_ - Clock::now());
    if (ttl <= Duration(0)) return give_back({BulkOutcome::kExpired, ""});
    // Compressed as it was (a dictionary's frame with the newest of
    // --dictionaries), raw as it was.
    CompressionOptions compression;
    compression.codec = codec_;
    compression.threshold = 0;  // it was compressed: whatever its size
    Status s = engine_.Write(id, read->payload, ttl, read->lock, compression);
    if (s.IsLockLost()) {
      return BulkVisit{BulkOutcome::kLocked,
                       "its lock was taken over during the rewrite"};
    }
    if (!s.ok()) return s;
    return BulkVisit{BulkOutcome::kCopied, ""};
  }

 private:
  // The stored frame of `id`: the outcome when it needs no rewrite, nullopt
  // when it does (its expiry then in expires_at_).
  Result<std::optional<BulkVisit>> Look(const std::string& id) {
    auto record = store_.Read(id);
    if (!record.ok()) {
      if (record.status().IsNotFound()) {
        return std::optional<BulkVisit>(BulkVisit{BulkOutcome::kExpired, ""});
      }
      return record.status();
    }
    auto frame = DecodeFrame(record->data);
    if (!frame.ok()) {
      return std::optional<BulkVisit>(
          BulkVisit{BulkOutcome::kUnreadable, frame.status().message()});
    }
    // A tombstone, or the pointer of a regenerated id, which expires
    // within seconds (its grace): nothing to re-encrypt.
    if ((frame->header.flags & (kFrameFlagTombstone | kFrameFlagPointer)) !=
        0) {
      return std::optional<BulkVisit>(BulkVisit{BulkOutcome::kExpired, ""});
    }
    if (frame->header.key_id == active_) {
      return std::optional<BulkVisit>(BulkVisit{BulkOutcome::kActiveKey, ""});
    }
    expires_at_ = record->expires_at;
    codec_ = frame->header.codec;
    return std::optional<BulkVisit>();
  }

  SessionEngine& engine_;
  Store& store_;
  const uint16_t active_;
  // Of the session Look last found to rewrite.
  TimePoint expires_at_;
  FrameCodec codec_ = FrameCodec::kNone;
};

}  // namespace

std::unique_ptr<BulkTask> MakeRekeyTask(SessionEngine& engine,
                                        uint16_t active_key) {
  return std::make_unique<RekeyTask>(engine, active_key);
}

}  // namespace sessionkit::cli
