#include "sessionkit/engine.h"

#include <atomic>
#include <cctype>
#include <optional>
#include <string>
#include <utility>

#include "codec/compress.h"
#include "core/store_key.h"
#include "crypt/aead.h"
#include "sessionkit/frame.h"

namespace sessionkit {
namespace {

// Ids a new session may collide with before CreateId gives up; with 128
// random bits a single collision already means a broken random source.
constexpr int kCreateIdAttempts = 3;

std::string Ms(Duration d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Result<LockTimeoutAction> ParseLockTimeoutAction(std::string_view text) {
  if (text == "readonly") return LockTimeoutAction::kReadOnly;
  if (text == "fail") return LockTimeoutAction::kFail;
  return Status::InvalidArgument(
      "lock_timeout_action must be \"readonly\" "
      "or \"fail\", not \"" +
      std::string(text.substr(0, 32)) + "\"");
}

std::string_view LockTimeoutActionName(LockTimeoutAction action) {
  return action == LockTimeoutAction::kFail ? "fail" : "readonly";
}

Result<FrameCodec> ParseCompressionCodec(std::string_view text) {
  std::string lower(text.substr(0, 32));
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (lower == "1" || lower == "on" || lower == "yes" || lower == "true") {
    return FrameCodec::kZstd;
  }
  if (lower.empty() || lower == "0" || lower == "off" || lower == "no" ||
      lower == "false") {
    return FrameCodec::kNone;
  }
  for (uint8_t id = 0; id <= kMaxFrameCodec; ++id) {
    const auto codec = static_cast<FrameCodec>(id);
    if (lower == FrameCodecName(codec)) return codec;
  }
  return Status::InvalidArgument(
      "compression must be \"zstd\", \"lz4\", \"snappy\", \"zlib\" or "
      "\"none\", not \"" +
      std::string(text.substr(0, 32)) + "\"");
}

struct SessionEngine::AtomicLockCounters {
  std::atomic<uint64_t> acquired{0};
  std::atomic<uint64_t> taken_over{0};
  std::atomic<uint64_t> timed_out{0};
  std::atomic<uint64_t> waiters_refused{0};
  std::atomic<uint64_t> lost{0};
  std::atomic<uint64_t> writes_skipped{0};
};

SessionEngine::SessionEngine(std::unique_ptr<Store> store,
                             EngineOptions options)
    : store_(std::move(store)),
      options_(std::move(options)),
      env_(Env::OrDefault(options_.env)),
      counters_(std::make_unique<AtomicLockCounters>()) {}

SessionEngine::~SessionEngine() = default;

void SessionEngine::Log(LogLevel level, std::string_view message) const {
  if (options_.log) options_.log(level, message);
}

std::string SessionEngine::Setting(std::string_view name) const {
  return options_.setting_name ? options_.setting_name(name)
                               : std::string(name);
}

Status SessionEngine::CheckTtl(Duration* ttl) const {
  if (ttl->count() <= 0) {
    return Status::InvalidArgument("session lifetime must be positive (got " +
                                   std::to_string(ttl->count()) +
                                   " ms); check " + Setting("ttl"));
  }
  *ttl = std::min(*ttl, kMaxSessionLifetime);
  return Status::OK();
}

LockCounters SessionEngine::lock_counters() const {
  LockCounters c;
  c.acquired = counters_->acquired.load();
  c.taken_over = counters_->taken_over.load();
  c.timed_out = counters_->timed_out.load();
  c.waiters_refused = counters_->waiters_refused.load();
  c.lost = counters_->lost.load();
  c.writes_skipped = counters_->writes_skipped.load();
  return c;
}

ReadResult SessionEngine::Decode(std::string_view id, std::string_view key,
                                 const SessionRecord& record) const {
  auto frame = DecodeFrame(record.data);
  // Decrypt, then decompress: the reverse of Encode.
  std::string decrypted;
  if (frame.ok() && frame->header.key_id != 0) {
    const uint16_t key_id = frame->header.key_id;
    if (options_.keys == nullptr) {
      frame = Status::Corrupt("value is encrypted with key id " +
                              std::to_string(key_id) +
                              ", but no key file is "
                              "set (" +
                              Setting("keys") + ")");
    } else {
      const std::string_view header =
          std::string_view(record.data)
              .substr(0, record.data.size() - frame->payload.size());
      auto plain =
          DecryptPayload(*options_.keys, key_id, header, key, frame->payload);
      if (plain.ok()) {
        decrypted = std::move(plain).value();
        frame->payload = decrypted;
      } else {
        frame = plain.status();
      }
    }
  }
  std::string decompressed;
  if (frame.ok() && frame->header.codec == FrameCodec::kZstd &&
      options_.dictionaries == nullptr) {
    if (const uint32_t dict = ZstdDictionaryIdOf(frame->payload); dict != 0) {
      frame = Status::Corrupt("zstd payload needs dictionary " +
                              std::to_string(dict) +
                              ", but no dictionary directory is set (" +
                              Setting("dictionaries") + ")");
    }
  }
  if (frame.ok() && frame->header.codec != FrameCodec::kNone) {
    auto payload =
        DecompressPayload(frame->header.codec, frame->payload,
                          kMaxDecompressedSize, options_.dictionaries.get());
    if (payload.ok()) {
      decompressed = std::move(payload).value();
    } else {
      frame = payload.status();
    }
  }
  if (!frame.ok()) {
    // Left untouched: an engine of another version or configuration (a
    // rolling upgrade or downgrade, a key not yet deployed here) may read
    // it. This request sees an empty session it cannot save.
    Log(LogLevel::kWarning,
        store_->name() + ": session " + SessionIdPrefix(id) + ": " +
            frame.status().message() +
            "; the stored value is left as it is, and this request reads "
            "an empty session whose changes will not be saved");
    ReadResult unreadable;
    unreadable.lock.state = LockState::kReadOnly;
    return unreadable;
  }
  ReadResult result;
  result.version = frame->header.session_version;
  result.lock.read_version = result.version;
  // A destroyed session (a tombstone a tier kept): none, but the next
  // write goes above its version. So is a pointer no read followed.
  if ((frame->header.flags & (kFrameFlagTombstone | kFrameFlagPointer)) != 0) {
    return result;
  }
  if (frame->header.codec != FrameCodec::kNone) {
    result.payload = std::move(decompressed);
  } else {
    result.payload.assign(frame->payload);
  }
  result.found = true;
  result.lock.read_writes = frame->header.write_count != 0
                                ? frame->header.write_count
                                : kMaxWriteCount;
  return result;
}

Result<ReadResult> SessionEngine::DoRead(std::string_view id) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  auto key = StoreKey(options_, id);
  if (!key.ok()) return key.status();
  std::string at = *key;
  auto record = ReadFollowing(id, &at);
  const bool followed = at != *key;
  ReadResult result;
  if (record.ok()) {
    result = Decode(id, at, *record);
  } else if (!record.status().IsNotFound()) {
    return record.status();
  } else if (!followed) {
    return ReadLegacy(id);
  }
  if (followed) result.lock.followed_key = std::move(at);
  return result;
}

Result<ReadResult> SessionEngine::DoReadForUpdate(std::string_view id,
                                                  const LockOptions& lock) {
  if (!lock.enabled) return DoRead(id);
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  auto key = StoreKey(options_, id);
  if (!key.ok()) return key.status();
  // Decode reads only the data: the store need not read the expiry.
  LockRequest request{lock, LockOwner::Generate(env_), /*want_expiry=*/false};
  // The key locked: the id's own, or where its pointer led.
  std::string at = *key;
  const SteadyTime asked = options_.metrics ? env_->SteadyNow() : SteadyTime();
  auto locked = LockAndReadFollowing(id, &at, request);
  if (options_.metrics) options_.metrics->LockWait(env_->SteadyNow() - asked);
  const bool followed = at != *key;
  if (!locked.ok()) {
    // A store that cannot lock (Redis older than 6, a store without
    // locks) is refused, not read unlocked: an unlocked read under a
    // locking configuration loses concurrent updates without a word.
    if (locked.status().IsNotSupported()) {
      return Status::NotSupported(
          locked.status().message() + "; session locking is on (" +
          Setting("locking") + "), so the session is not read unlocked: " +
          "turn it off to use this store without locks");
    }
    return locked.status();
  }
  const std::string session = "session " + SessionIdPrefix(id);
  switch (locked->outcome) {
    case LockOutcome::kAcquired: {
      counters_->acquired++;
      Count(MetricCounter::kLocksAcquired);
      if (!locked->broken_owner.empty()) {
        counters_->taken_over++;
        Count(MetricCounter::kLockTakeovers);
        Log(LogLevel::kNotice,
            store_->name() + ": " + session + ": took over the lock of " +
                locked->broken_owner + " (its process is gone, its lease of " +
                Setting("lock_lease_ms") +
                " ran out, or it was taken on a master "
                "that has since failed over)");
      }
      // Under the lock: the legacy copy is read once, by its holder.
      ReadResult result = locked->found ? Decode(id, at, locked->record)
                          : locked->tombstone_version == 0 && !followed
                              ? ReadLegacy(id)
                              : ReadResult{};
      if (!locked->found) {
        // Destroyed: the next write goes above the destroy's version.
        result.version = locked->tombstone_version;
        result.lock.read_version = locked->tombstone_version;
      }
      if (result.lock.state == LockState::kReadOnly) {
        // Unreadable: nothing will be written, so the lock goes at once.
        (void)store_->Unlock(at, request.owner);
        return result;
      }
      result.lock.state = LockState::kHeld;
      result.lock.owner = std::move(request.owner);
      if (followed) result.lock.followed_key = std::move(at);
      return result;
    }
    case LockOutcome::kTooManyWaiters:
      counters_->waiters_refused++;
      Count(MetricCounter::kLockWaitersRefused);
      return Status::ResourceExhausted(
          store_->name() + ": " + session + ": " +
          std::to_string(lock.max_waiters) +
          (lock.max_waiters == 1 ? " request already waits"
                                 : " requests already wait") +
          " for its lock (" + Setting("lock_max_waiters") +
          "); request refused");
    case LockOutcome::kTimedOut:
      break;
  }
  counters_->timed_out++;
  Count(MetricCounter::kLockTimeouts);
  const std::string held = store_->name() + ": " + session +
                           ": another request held its lock for the whole "
                           "wait (" +
                           Setting("lock_wait_ms") + " = " + Ms(lock.wait) +
                           ")";
  if (lock.timeout_action == LockTimeoutAction::kFail) {
    return Status::DeadlineExceeded(held);
  }
  // A notice, not a warning: a read-only request is what the operator
  // chose, and applications turn warnings into errors.
  Log(LogLevel::kNotice,
      held +
          "; read without the lock, this request's changes will not be "
          "saved (" +
          Setting("lock_timeout_action") + " = readonly)");
  auto read = DoRead(id);
  if (read.ok()) read->lock.state = LockState::kReadOnly;
  return read;
}

bool SessionEngine::LockOfParent(std::string_view id, const SessionLock& lock,
                                 std::string_view what) {
  if (lock.state != LockState::kHeld ||
      !LockHolderIsOtherProcessOfThisHost(lock.owner.token, env_)) {
    return false;
  }
  const std::optional<LockOwner::Parts> parts =
      LockOwner::Parse(lock.owner.token);
  // A child forked while its parent held the session (pcntl_fork() after
  // session_start()) ends with the parent's copy of the request: its
  // write or release would end the parent's lock under it, and the
  // parent's own write would then be refused.
  Log(LogLevel::kNotice,
      store_->name() + ": session " + SessionIdPrefix(id) + ": " +
          std::string(what) +
          " skipped: this process was forked from the one that holds the "
          "session lock (process " +
          std::to_string(parts->pid) +
          "), which keeps it; close the session before forking to save "
          "from the child");
  return true;
}

void SessionEngine::ReportLockLost(std::string_view id, const Status& status,
                                   std::string_view what) {
  counters_->lost++;
  Count(MetricCounter::kLocksLost);
  Log(LogLevel::kWarning,
      store_->name() + ": session " + SessionIdPrefix(id) +
          ": this request no longer holds the session lock (another request "
          "took it over after its lease ran out, or destroyed the session); "
          "its " +
          std::string(what) + " was refused: " + status.message());
}

Result<std::string> SessionEngine::Encode(
    std::string_view id, std::string_view key, std::string_view payload,
    uint64_t version, uint8_t write_count,
    const CompressionOptions& compression) const {
  FrameHeader header;
  header.session_version = version;
  header.write_count = write_count;
  std::string packed_payload;
  if (compression.codec != FrameCodec::kNone &&
      payload.size() >= compression.threshold &&
      payload.size() <= kMaxDecompressedSize) {
    auto packed = CompressPayload(compression.codec, compression.level, payload,
                                  options_.dictionaries.get());
    if (!packed.ok()) {
      // Stored raw all the same: a session is never lost to compression.
      Log(LogLevel::kWarning,
          "session " + SessionIdPrefix(id) +
              " stored uncompressed: " + packed.status().message());
    } else if (packed->size() < payload.size()) {
      header.codec = compression.codec;
      packed_payload = std::move(packed).value();
      payload = packed_payload;
    }
  }
  // A key file with only a hash line encrypts nothing (active id 0).
  if (options_.keys == nullptr || options_.keys->active_id() == 0) {
    return EncodeFrame(header, payload);
  }
  header.key_id = options_.keys->active_id();
  // The header is bound as associated data, so it is encoded first.
  std::string frame = EncodeFrame(header, {});
  // Bound to the store key, which tools that see only stored keys (rekey)
  // know; it is the id unless ids are hashed.
  auto sealed =
      EncryptPayload(*options_.keys, header.key_id, frame, key, payload);
  if (!sealed.ok()) return sealed.status();
  frame.append(*sealed);
  return frame;
}

Status SessionEngine::Write(std::string_view id, std::string_view payload,
                            Duration ttl, const SessionLock& lock) {
  return Write(id, payload, ttl, lock, options_.compression);
}

Status SessionEngine::Write(std::string_view id, std::string_view payload,
                            Duration ttl, const SessionLock& lock,
                            const CompressionOptions& compression) {
  return Write(id, payload, ttl, lock, compression, ClientInfo{});
}

Status SessionEngine::DoWrite(std::string_view id, std::string_view payload,
                              Duration ttl, const SessionLock& lock,
                              const CompressionOptions& compression,
                              const ClientInfo& client) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  SK_RETURN_IF_ERROR(CheckTtl(&ttl));
  auto key = KeyOf(id, lock);
  if (!key.ok()) return key.status();
  if (LockOfParent(id, lock, "write")) return Status::OK();
  if (lock.state == LockState::kReadOnly) {
    counters_->writes_skipped++;
    Count(MetricCounter::kWritesSkipped);
    Log(LogLevel::kNotice,
        store_->name() + ": session " + SessionIdPrefix(id) +
            ": not saved: this request read it read-only (the lock wait "
            "ran out, or the stored value could not be read)");
    return Status::OK();
  }
  if (Status size = CheckSize(id, payload.size()); !size.ok()) {
    if (lock.state == LockState::kHeld) (void)store_->Unlock(*key, lock.owner);
    return size;
  }
  const uint32_t writes = NextWriteCount(lock.read_writes);
  const uint8_t stored_writes =
      options_.lifetime ? options_.lifetime->StoredWriteCount(ttl, writes) : 0;
  ttl = Lifetime(ttl, client, writes);
  const uint64_t version =
      NextSessionVersion(lock.read_version, env_->WallNow());
  auto frame = Encode(id, *key, payload, version, stored_writes, compression);
  if (!frame.ok()) {
    Log(LogLevel::kWarning, "session " + SessionIdPrefix(id) +
                                " was not saved: " + frame.status().message());
    // The lock goes with the failed write, as a write would release it.
    if (lock.state == LockState::kHeld) (void)store_->Unlock(*key, lock.owner);
    return frame.status();
  }
  Status s = lock.state == LockState::kHeld
                 ? store_->WriteAndUnlock(*key, *frame, ttl, lock.owner)
                 : store_->Write(*key, *frame, ttl);
  if (s.IsResourceExhausted()) {
    Log(LogLevel::kWarning,
        "session " + SessionIdPrefix(id) + " was not saved: " + s.message());
  } else if (s.IsLockLost()) {
    ReportLockLost(id, s, "write");
  }
  // Nothing of sessionkit's was read: the session is new or came from the
  // legacy store, whose copy now must not outlive this one.
  if (s.ok() && lock.read_version == 0 && lock.followed_key.empty()) {
    DeleteLegacy(id, "written");
  }
  return s;
}

Status SessionEngine::Touch(std::string_view id, Duration ttl,
                            const SessionLock& lock) {
  return Touch(id, ttl, lock, ClientInfo{}, std::nullopt, options_.compression);
}

Status SessionEngine::DoTouch(std::string_view id, Duration ttl,
                              const SessionLock& lock, const ClientInfo& client,
                              std::optional<std::string_view> payload,
                              const CompressionOptions& compression) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  SK_RETURN_IF_ERROR(CheckTtl(&ttl));
  // A read-only request writes nothing, not even an expiry: the holder may
  // have destroyed the session meanwhile.
  if (lock.state == LockState::kReadOnly) return Status::OK();
  if (LockOfParent(id, lock, "lifetime update")) return Status::OK();
  auto key = KeyOf(id, lock);
  if (!key.ok()) return key.status();
  // A touch is a visit: while the first-visit lifetime grows, the new
  // write count must reach the frame, so the touch is a write.
  const uint32_t writes = NextWriteCount(lock.read_writes);
  if (payload.has_value() && options_.lifetime != nullptr &&
      lock.read_writes != 0 &&
      options_.lifetime->StoredWriteCount(ttl, writes) != 0) {
    // Without the lock, only a session still there is rewritten: one
    // destroyed since it was read (a logout) stays destroyed.
    if (lock.state != LockState::kHeld) {
      SK_RETURN_IF_ERROR(store_->Touch(*key, Lifetime(ttl, client, writes)));
    }
    return DoWrite(id, *payload, ttl, lock, compression, client);
  }
  ttl = Lifetime(ttl, client, writes);
  if (lock.followed_key.empty()) {
    if (std::optional<Status> moved = MoveLegacyOnTouch(id, *key, ttl, lock)) {
      return *moved;
    }
  }
  if (lock.state != LockState::kHeld) return store_->Touch(*key, ttl);
  Status s = store_->TouchAndUnlock(*key, ttl, lock.owner);
  if (s.IsLockLost()) ReportLockLost(id, s, "lifetime update");
  return s;
}

Status SessionEngine::Unlock(std::string_view id, const SessionLock& lock) {
  if (lock.state != LockState::kHeld) return Status::OK();
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  if (LockOfParent(id, lock, "release")) return Status::OK();
  auto key = KeyOf(id, lock);
  if (!key.ok()) return key.status();
  return store_->Unlock(*key, lock.owner);
}

Status SessionEngine::DoDestroy(std::string_view id) {
  SK_RETURN_IF_ERROR(ValidateSessionId(id));
  auto key = StoreKey(options_, id);
  if (!key.ok()) return key.status();
  // A retired id within its grace: its logout ends the session it leads to.
  SK_RETURN_IF_ERROR(DestroyPointedTo(id, *key));
  Status s = store_->Destroy(*key);
  if (!DeleteLegacy(id, "destroyed") && s.ok()) BuryLegacyCopy(id, *key);
  return s;
}

Result<GcResult> SessionEngine::DoGc() { return store_->Gc(env_->WallNow()); }

Result<bool> SessionEngine::DoExists(std::string_view id) {
  if (!ValidateSessionId(id).ok() || IsInternalStoreKey(id)) return false;
  auto key = StoreKey(options_, id);
  if (!key.ok()) return key.status();
  if (options_.legacy != nullptr) return ExistsBesideLegacy(id, *key);
  return store_->ExistsOrLocked(*key);
}

Result<std::string> SessionEngine::CreateId(const SessionIdOptions& options) {
  for (int attempt = 0; attempt < kCreateIdAttempts; ++attempt) {
    auto id = GenerateSessionId(options);
    if (!id.ok()) return id.status();
    if (IsInternalStoreKey(*id)) continue;  // not a session id (users.h)
    auto taken = Exists(*id);
    if (!taken.ok()) return taken.status();
    if (!*taken) return id;
  }
  return Status::Internal("could not create a session id unused in " +
                          store_->name() + " after " +
                          std::to_string(kCreateIdAttempts) + " attempts");
}

}  // namespace sessionkit
