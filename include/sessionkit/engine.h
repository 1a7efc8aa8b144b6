// SessionEngine: what a web server's session layer calls (the PHP extension
// through the C API, or a C++ server directly). It validates ids, encodes
// payloads into frames and drives one Store. It holds no PHP types and opens
// no socket itself.
#ifndef SESSIONKIT_ENGINE_H_
#define SESSIONKIT_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/dictionaries.h"
#include "sessionkit/env.h"
#include "sessionkit/frame.h"
#include "sessionkit/keyring.h"
#include "sessionkit/legacy.h"
#include "sessionkit/lifetime.h"
#include "sessionkit/metrics.h"
#include "sessionkit/session_id.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "sessionkit/users.h"

namespace sessionkit {

enum class LogLevel { kDebug, kNotice, kWarning };

// Receives what an operator should see: corrupt data read as empty, a full
// store, a refused write. Must not throw.
using LogFunction = std::function<void(LogLevel, std::string_view)>;

// How messages name a setting the user can change. Given a setting's name in
// sessionkit's terms (LockOptions': "locking", "lock_wait_ms",
// "lock_lease_ms", "lock_max_waiters", "lock_timeout_action"; and "ttl", the
// lifetime passed to Write and Touch), returns what the user knows it as:
// the C ABI names PHP's ini entries ("sessionkit.lock_wait_ms",
// "session.gc_maxlifetime"), the CLI its flags. Must not throw.
using SettingNameFunction = std::function<std::string(std::string_view)>;

// Payloads smaller than this many bytes are stored raw by default
// (CompressionOptions::threshold): below it, compressing saves little.
inline constexpr size_t kDefaultCompressionThreshold = 2048;

// Compression of the payloads Write stores. In PHP each one is the ini
// entry sessionkit.<name>; docs/configuration.md explains them. Reading
// decodes whatever codec a frame names, whatever these say, so changing
// them loses no session.
struct CompressionOptions {
  // compression: the codec of new writes; kNone stores every payload raw.
  FrameCodec codec = FrameCodec::kNone;
  // compression_level: 0 for the codec's default; a level above the
  // codec's highest is its highest (EffectiveCompressionLevel in
  // src/codec/compress.h). Snappy has no levels.
  int level = 0;
  // compression_threshold: a payload smaller than this is stored raw, and
  // so is one that compression does not shrink.
  size_t threshold = kDefaultCompressionThreshold;
};

// Parses a codec as the compression setting spells it: "none", "zstd",
// "lz4", "snappy" or "zlib"; also a boolean, where on ("1", "on", "yes",
// "true") is zstd and off ("0", "off", "no", "false", "") is none. Case
// does not matter. InvalidArgument naming the setting otherwise.
Result<FrameCodec> ParseCompressionCodec(std::string_view text);

struct EngineOptions {
  // Where warnings go; empty to drop them.
  LogFunction log;
  // How messages name settings; empty: by sessionkit's names.
  SettingNameFunction setting_name;
  // The clock of Gc and of session versions (Write), and the host and pid
  // of the lock tokens the engine
  // makes (env.h); nullptr: Env::Default(). Give its store the same Env
  // (LmdbOptions::env, RedisOptions::env), so that the store recognises the
  // tokens of this host. Session ids never come from it (GenerateSessionId
  // uses the OS CSPRNG).
  Env* env = nullptr;
  // How Write compresses payloads (unless a write passes its own).
  CompressionOptions compression;
  // The key ring (keys: in PHP sessionkit.keys, KeyRing::Load): when set,
  // Write encrypts every payload (after compressing it) with its first key,
  // and Read decrypts frames of any of its keys. Plaintext frames read
  // either way, so encryption can be turned on (or off) with no session
  // lost; an encrypted frame without its key reads as an empty session.
  std::shared_ptr<const KeyRing> keys;
  // The sessions of the handler the site is leaving (legacy: in PHP
  // sessionkit.legacy, OpenLegacySource; docs/migration.md). A read that
  // finds no session (and no tombstone) reads the legacy copy, under the
  // session's lock; the first write that follows stores it in sessionkit's
  // format and deletes the legacy copy, and Destroy deletes it too, so it
  // never comes back (when that delete fails, a tombstone stored in its
  // place keeps the session destroyed for 30 days). Exists accepts an id
  // only the legacy copy has. A
  // legacy store that fails is a warning and a miss (an undecodable copy:
  // a read-only empty session, the copy left alone). nullptr: none.
  std::shared_ptr<LegacySource> legacy;
  // Trained zstd dictionaries (dictionaries: in PHP sessionkit.dictionaries,
  // Dictionaries::Load): when set, zstd writes use the active one, and
  // frames that name any of them decompress. A frame whose dictionary is
  // missing reads as an empty session that is not overwritten.
  std::shared_ptr<const Dictionaries> dictionaries;
  // hash_ids (in PHP sessionkit.hash_ids): the store keeps each session
  // under keys->HashSessionId(id), not under its id, and encryption binds
  // that key (docs/hashed-ids.md). Needs `keys` with a hash line: without
  // one OpenEngine refuses to open, and every call of an engine built
  // directly fails, with InvalidArgument naming both settings. Turning it
  // on or off changes every session's key: live sessions are lost.
  bool hash_ids = false;
  // The lifetime policy (lifetime.h; in PHP sessionkit.bot_pattern,
  // bot_lifetime, first_lifetime, min_lifetime, max_lifetime): Write and
  // Touch give a session the lifetime it decides from the ttl passed, the
  // client and the session's write count. nullptr: every session lives the
  // ttl passed.
  std::shared_ptr<const LifetimePolicy> lifetime;
  // Size limits of the payloads Write stores (lifetime.h; in PHP
  // sessionkit.max_size and sessionkit.warn_size). Default: none.
  SizeLimits size_limits;
  // Where the engine counts its calls, their latencies, lock waits, bytes
  // and sessions (metrics.h; in PHP sessionkit.metrics, OpenMetricsFile;
  // docs/metrics.md). nullptr: nothing is counted, at no cost.
  std::shared_ptr<MetricsSink> metrics;
};

// What a request does when the lock wait runs out.
enum class LockTimeoutAction {
  // Read the session without the lock; the request's write is skipped (and
  // logged), so it cannot erase the holder's changes.
  kReadOnly,
  // Fail the read with DeadlineExceeded (PHP: session_start() returns false).
  kFail,
};

// Session locking settings. In PHP each one is the ini entry
// sessionkit.<name>; in the CLI the flag --<name with '-' for '_'>. The
// limits and their defaults are LockLimits' (lock.h): wait is lock_wait_ms,
// lease lock_lease_ms, max_waiters lock_max_waiters (over it, Read fails at
// once with ResourceExhausted).
struct LockOptions : LockLimits {
  // locking: take the session's lock when reading it for update.
  bool enabled = true;
  // lock_timeout_action: see LockTimeoutAction.
  LockTimeoutAction timeout_action = LockTimeoutAction::kReadOnly;
};

// Parses "readonly" or "fail" (the ini and CLI spelling).
Result<LockTimeoutAction> ParseLockTimeoutAction(std::string_view text);
// The ini and CLI spelling of `action`.
std::string_view LockTimeoutActionName(LockTimeoutAction action);

enum class LockState {
  kNone,      // no lock: locking off, or a store without locks
  kHeld,      // this request holds the lock (SessionLock::owner)
  kReadOnly,  // the wait ran out: read without the lock, writes skipped
};

// The lock a request holds on the session it read, and the version it read;
// pass it back to Write, Touch and Unlock. A default SessionLock is "no
// lock, nothing read".
struct SessionLock {
  LockState state = LockState::kNone;
  LockOwner owner;
  // The session version the request read (ReadResult::version), set by
  // Read and ReadForUpdate whatever the lock state; Write stores the next
  // one (NextSessionVersion in frame.h).
  uint64_t read_version = 0;
  // The write count of the session read (FrameHeader::write_count, with 0
  // read as kMaxWriteCount), set by Read and ReadForUpdate; 0 when none
  // was found. Write and Touch count on from it (NextWriteCount).
  uint32_t read_writes = 0;
  // Set by a read of an id retired by a regenerate within its grace
  // (ReadReplacing): the store key of the session the read followed the
  // id's pointer to, whose lock this is and where Write, Touch and Unlock
  // of the id go. Empty: the id's own session.
  std::string followed_key;
};

// The outcome of SessionEngine::Read and ReadForUpdate.
struct ReadResult {
  // The session payload (PHP's serialized session data); empty when the
  // session is new, expired, or its stored data was unreadable.
  std::string payload;
  // True when a live session was found and decoded.
  bool found = false;
  // The session version of the frame read (FrameHeader::session_version; 0
  // for a format 1 frame); 0 when nothing was found or it was undecodable,
  // except for a destroyed session whose tombstone the store keeps (its
  // version: LockedRead::tombstone_version). Also in lock.read_version.
  uint64_t version = 0;
  // The lock taken by a locking read.
  SessionLock lock;
};

// How long a session id retired by PHP's session_regenerate_id(true) stays
// valid by default (sessionkit.regenerate_grace, ReadReplacing): enough for
// the requests a browser sent before it got the new cookie (parallel AJAX
// calls, other tabs) to arrive, short enough that a stolen old id is of
// little use. docs/php.md explains the choice.
inline constexpr Duration kDefaultRegenerateGrace{5000};
// The most pointers a read of a retired id follows: one per regenerate
// within a grace of the one before. A longer chain (or a loop, which only
// a damaged store could hold) reads as no session, with a warning.
inline constexpr int kMaxPointerHops = 4;

// The longest lifetime a session is stored with (100 years). A longer one
// (PHP's session.gc_maxlifetime = PHP_INT_MAX, meant as "never") is cut to
// it: the stores add a lifetime to the current time.
inline constexpr Duration kMaxSessionLifetime =
    std::chrono::duration_cast<Duration>(std::chrono::hours(24 * 365 * 100));

// Counts of lock events since the engine opened, for metrics and tests.
struct LockCounters {
  uint64_t acquired = 0;         // locks taken
  uint64_t taken_over = 0;       // of which from a dead or expired holder
  uint64_t timed_out = 0;        // waits that ran out
  uint64_t waiters_refused = 0;  // refused by lock_max_waiters
  uint64_t lost = 0;             // writes/touches refused: lock no longer held
  uint64_t writes_skipped = 0;   // writes skipped by read-only requests
};

// Thread safety: safe for concurrent use when the store is (every shipped
// store is). Engines are meant to be long-lived: one per process and store
// spec, reused across requests.
class SessionEngine {
 public:
  // Uses an opened store (OpenStore / OpenEngine in open.h open one from
  // a URL).
  SessionEngine(std::unique_ptr<Store> store, EngineOptions options);

  ~SessionEngine();

  SessionEngine(const SessionEngine&) = delete;
  SessionEngine& operator=(const SessionEngine&) = delete;

  // Reads a session without locking it. A missing or expired session is
  // found=false with an empty payload. Stored data that cannot be decoded
  // (corrupt, or another codec, frame version or key) is logged as a
  // warning and read as an empty session (found=false) with a kReadOnly
  // lock, so that it is never overwritten; never an error. Errors:
  // InvalidArgument for a bad id, Unavailable when the store cannot answer.
  Result<ReadResult> Read(std::string_view id);

  // Reads a session for update: with lock.enabled, takes its lock first (in
  // the same round trip where the store allows it) and returns it in
  // ReadResult::lock; the caller must end with Write, Touch or Unlock
  // passing that lock. A store that cannot lock (Redis older than 6) is
  // NotSupported, never read unlocked: turn locking off to use it.
  // When the wait runs out: kReadOnly (logged as a notice), or
  // DeadlineExceeded with kFail. ResourceExhausted when lock.max_waiters
  // requests already wait. An undecodable value is kReadOnly as in Read,
  // and its lock is released at once. Other errors as Read.
  Result<ReadResult> ReadForUpdate(std::string_view id,
                                   const LockOptions& lock);

  // Stores `payload` for `id`, expiring `ttl` from now, and releases `lock`
  // when held (atomically with the write). The frame written carries
  // session version NextSessionVersion(lock.read_version, the Env's wall
  // clock): above the version read, and above every version written
  // earlier by a host whose clock agrees. ResourceExhausted when the store
  // is full (also logged as a warning). LockLost (logged as a warning,
  // nothing written) when the lock was taken over or the session destroyed
  // meanwhile. With a kReadOnly lock, nothing is written: OK, and a notice
  // is logged.
  // The payload is compressed as EngineOptions::compression says (raw
  // when smaller than its threshold, or when it does not shrink); the
  // frame names the codec used. With EngineOptions::keys it is then
  // encrypted under the ring's first key (Internal, nothing written, if
  // encryption fails: never stored in the clear instead).
  Status Write(std::string_view id, std::string_view payload, Duration ttl,
               const SessionLock& lock = {});

  // As Write, compressed as `compression` says instead: for a host whose
  // settings change from one request to the next over one engine (the C
  // ABI, where PHP's ini settings may differ per directory).
  Status Write(std::string_view id, std::string_view payload, Duration ttl,
               const SessionLock& lock, const CompressionOptions& compression);

  // As Write, for `client`: with EngineOptions::lifetime, the session
  // lives the lifetime the policy decides from `ttl` (its normal lifetime),
  // `client` and its write count (the other overloads pass ClientInfo{}:
  // no client to judge); the frame records the count while it matters
  // (LifetimePolicy::StoredWriteCount). A payload above
  // EngineOptions::size_limits.max_size is refused with InvalidArgument
  // naming both sizes (nothing written, a held lock released); one above
  // warn_size is written, with a notice.
  Status Write(std::string_view id, std::string_view payload, Duration ttl,
               const SessionLock& lock, const CompressionOptions& compression,
               const ClientInfo& client);

  // Extends the life of an unchanged session without rewriting it (its
  // session version stays; lock.read_version is not used), and releases
  // `lock` when held. When the session vanished meanwhile
  // (NotFound; a held lock is released all the same), the caller should
  // Write instead, without the lock. LockLost as Write. With a kReadOnly
  // lock nothing is touched (OK): such a request never writes.
  Status Touch(std::string_view id, Duration ttl, const SessionLock& lock = {});

  // As Touch, for `client`, with the lifetime Write would give (a touch
  // counts as a write: the client came back). `payload` is the session's
  // unchanged data (PHP's update_timestamp has it): while the session's
  // first-visit lifetime still grows, the touch is a Write of it, so that
  // the frame records the new count; nullopt: never (the lifetime then
  // follows the count read).
  Status Touch(std::string_view id, Duration ttl, const SessionLock& lock,
               const ClientInfo& client,
               std::optional<std::string_view> payload,
               const CompressionOptions& compression);

  // Releases `lock` if held (a request that ends without writing); OK
  // otherwise.
  Status Unlock(std::string_view id, const SessionLock& lock);

  // Deletes a session and ends its lock, whoever holds it (Store::Destroy):
  // a request that holds the lock and writes later is refused with
  // LockLost, so a logout is never undone. OK if it did not exist.
  Status Destroy(std::string_view id);

  // Destroy by the request that read `id` with `lock`: also destroys the
  // session the lock holds through a retired id (lock.followed_key, a read
  // within a regenerate's grace), which the old id's pointer may no longer
  // lead to once the grace ran out during the request.
  Status Destroy(std::string_view id, const SessionLock& lock);

  // The read of PHP's session_regenerate_id(true) that keeps the old id
  // valid for `grace` (sessionkit.regenerate_grace; docs/php.md): the
  // caller read `old_id` for update (`old_lock`, kHeld or kNone) and
  // skipped its Destroy; `new_id` is the fresh id. In this order:
  //  1. the old session's data is copied to `new_id`, expiring after
  //     `grace` like the pointer, so that a request that reads the new
  //     session without waiting for its lock (read_and_close, locking off)
  //     finds the user's data; the caller's Write of `new_id` makes it the
  //     session (a caller that never writes leaves nothing after the
  //     grace, as PHP's own handlers leave an empty session);
  //  2. `new_id` is read for update as ReadForUpdate does (the copy);
  //  3. the old id's value becomes a pointer frame (kFrameFlagPointer) to
  //     the new session's store key, expiring after `grace`, written
  //     atomically with the release of `old_lock`.
  // Until then the old session stays as it was under its lock, so a
  // parallel request never reads the old id as empty: it waits for the
  // lock, then reads the pointer, follows it and waits for the new
  // session's lock, which the caller holds until it writes. Reads of the
  // old id within the grace follow the pointer (Read, ReadForUpdate: at
  // most kMaxPointerHops pointers, never a loop) and return a SessionLock
  // whose followed_key sends Write, Touch and Unlock to the new session;
  // Exists(old_id) is true; Destroy(old_id) ends the new session too (a
  // logout in a tab that still has the old cookie ends the login). After
  // the grace the old id is gone. An old_lock of kReadOnly (the caller
  // does not hold the old session) or a grace that is not positive: the
  // old id is destroyed as Destroy does, no pointer is left. When step 2
  // fails, its error is returned and the old session is left as it was,
  // still under `old_lock` (the copy is removed). When step 3 fails
  // (the old lock was lost meanwhile, the store failed), the old id is
  // destroyed and the failure logged as a warning.
  Result<ReadResult> ReadReplacing(std::string_view new_id,
                                   const LockOptions& lock,
                                   std::string_view old_id,
                                   const SessionLock& old_lock, Duration grace);

  // Removes expired sessions; returns how many.
  Result<GcResult> Gc();

  // True when a live session `id` exists, or a request holds its lock and
  // is creating it (Store::ExistsOrLocked): PHP's validate_sid, so strict
  // mode keeps the id of a new session a parallel request opened first, as
  // the files handler does. A malformed id is simply false.
  Result<bool> Exists(std::string_view id);

  // Creates a fresh id (CSPRNG, >= 128 bits) that no live session uses.
  Result<std::string> CreateId(const SessionIdOptions& options = {});

  // Sessions by user (engine_users.cc, users.h, docs/users.md).

  // Records that session `id` belongs to `user` (any bytes, 1 to
  // kMaxUserNameLength): it joins the user's index and leaves the index of
  // the user it belonged to before. `ttl` is the session lifetime (the
  // index is kept at least twice as long, users.h). Cheap when nothing
  // changed: one read when the session already belongs to `user` and its
  // owner record is fresh. Concurrent calls for one user lose no entry:
  // the index is changed under its lock. InvalidArgument for a bad id,
  // user or ttl; ResourceExhausted when the user already has
  // kMaxSessionsPerUser live sessions; DeadlineExceeded when the index
  // stayed locked for the whole lock wait; store errors as Write.
  Status SetUser(std::string_view id, std::string_view user, Duration ttl);

  // The live sessions of `user`, oldest first: sessions that expired,
  // were destroyed or now belong to another user are never listed, and
  // are dropped from the index. Errors as SetUser.
  Result<std::vector<UserSession>> UserSessions(std::string_view user);

  // Destroys every live session of `user` but `except_id` (none when
  // empty; within a regenerate's grace, an old id excepts the session it
  // leads to, the one its request uses), as Destroy does; returns how many.
  // Errors as SetUser; when a destroy fails, the error says how many were
  // destroyed before.
  Result<uint64_t> DestroyUser(std::string_view user,
                               std::string_view except_id = {});

  // Lock events so far (of this engine; EngineOptions::metrics counts them
  // across processes).
  LockCounters lock_counters() const;

  // Lifetime policy and size limit events so far.
  PolicyCounters policy_counters() const;

  // The underlying store (for the CLI and tests).
  Store& store() { return *store_; }

 private:
  struct AtomicLockCounters;

  // What the public calls of the same name do; those count each call in
  // EngineOptions::metrics when set (engine_metrics.cc).
  Result<ReadResult> DoRead(std::string_view id);
  Result<ReadResult> DoReadForUpdate(std::string_view id,
                                     const LockOptions& lock);
  Status DoWrite(std::string_view id, std::string_view payload, Duration ttl,
                 const SessionLock& lock, const CompressionOptions& compression,
                 const ClientInfo& client);
  Status DoTouch(std::string_view id, Duration ttl, const SessionLock& lock,
                 const ClientInfo& client,
                 std::optional<std::string_view> payload,
                 const CompressionOptions& compression);
  Status DoDestroy(std::string_view id);
  Result<GcResult> DoGc();
  Result<bool> DoExists(std::string_view id);
  // Adds `n` to `counter` of EngineOptions::metrics, when set.
  void Count(MetricCounter counter, uint64_t n = 1) const;

  void Log(LogLevel level, std::string_view message) const;
  // What the user knows the setting `name` as (EngineOptions::setting_name).
  std::string Setting(std::string_view name) const;
  // InvalidArgument unless `*ttl` is positive; cuts it to
  // kMaxSessionLifetime.
  Status CheckTtl(Duration* ttl) const;
  // A stored record as a ReadResult (undecodable data logged, read empty).
  // `key` is the id's store key (store_key.h), which encryption binds.
  ReadResult Decode(std::string_view id, std::string_view key,
                    const SessionRecord& record) const;
  // `payload` as a frame of session version `version` and write count
  // `write_count`, compressed as
  // `compression` says when that pays, and encrypted (binding `key`) when
  // keys are set.
  Result<std::string> Encode(std::string_view id, std::string_view key,
                             std::string_view payload, uint64_t version,
                             uint8_t write_count,
                             const CompressionOptions& compression) const;
  // True (and logged) when `lock` is held by another process of this host
  // than the calling one: the caller was forked from the holder, and its
  // `what` ("write", "release") of session `id` must not end the holder's
  // lock.
  bool LockOfParent(std::string_view id, const SessionLock& lock,
                    std::string_view what);
  // Logs and counts a refused locked write or touch.
  void ReportLockLost(std::string_view id, const Status& status,
                      std::string_view what);
  // EngineOptions::legacy (engine_legacy.cc): the legacy copy of a session
  // sessionkit does not hold, as a ReadResult; whether one exists (`key`:
  // the id's StoreKey, whose store record may be a tombstone); and removing
  // it (failures logged, never returned: false when a copy may be left).
  ReadResult ReadLegacy(std::string_view id);
  bool LegacyExists(std::string_view id);
  Result<bool> ExistsBesideLegacy(std::string_view id, std::string_view key);
  bool DeleteLegacy(std::string_view id, std::string_view why);
  // After a Destroy whose legacy delete failed: a tombstone in the store
  // under `key`, so that no later read brings the legacy copy back.
  void BuryLegacyCopy(std::string_view id, std::string_view key);
  // A Touch of a session read from the legacy store and left unchanged
  // (PHP's lazy_write): written to the store instead, so that it lives as
  // long as its user is active; nullopt when there is nothing to move.
  // `key` is the id's StoreKey.
  std::optional<Status> MoveLegacyOnTouch(std::string_view id,
                                          std::string_view key, Duration ttl,
                                          const SessionLock& lock);

  // Regenerate grace (engine_grace.cc). The store key `lock` works on for
  // `id`: lock.followed_key (checked) or the id's own.
  Result<std::string> KeyOf(std::string_view id, const SessionLock& lock) const;
  // The target store key of a pointer frame; nullopt when `record` is not
  // one; Corrupt when it cannot be opened (logged by the caller).
  Result<std::optional<std::string>> PointerTarget(
      std::string_view key, const SessionRecord& record) const;
  // Store::Read of `*key`, following pointers; `*key` ends as the key read.
  // NotFound as Store::Read (also for an unusable pointer, logged).
  Result<SessionRecord> ReadFollowing(std::string_view id, std::string* key);
  // Store::LockAndRead of `*key`, following pointers (each pointer's lock is
  // released before the next key is locked); `*key` ends as the key locked.
  // An unusable pointer reads as no session, under its own lock.
  Result<LockedRead> LockAndReadFollowing(std::string_view id, std::string* key,
                                          const LockRequest& request);
  // The store keys the pointers from `key` (of `id`) lead to, in order
  // (at most kMaxPointerHops): none when `key` holds no pointer.
  std::vector<std::string> PointedTo(std::string_view id, std::string_view key);
  // Before Destroy of `key`: destroys the sessions its pointers lead to.
  Status DestroyPointedTo(std::string_view id, std::string_view key);
  // After Destroy(id): the session `lock` holds through a retired id.
  Status DestroyHeld(std::string_view id, const SessionLock& lock);
  // The user index behind SetUser, UserSessions, DestroyUser
  // (engine_users.cc).
  class UserIndex;
  // The lifetime policy and size limits (engine_lifetime.cc): the
  // lifetime of a save of the `writes`-th write for `client`, counted; and
  // the check of a payload's size (InvalidArgument when refused, counted
  // and logged when only above warn_size).
  Duration Lifetime(Duration ttl, const ClientInfo& client, uint32_t writes);
  Status CheckSize(std::string_view id, size_t size);

  std::unique_ptr<Store> store_;
  EngineOptions options_;
  Env* const env_;  // options_.env or Env::Default()
  std::unique_ptr<AtomicLockCounters> counters_;
  // Until when (Unix ms) a failing legacy store is not read again.
  std::atomic<int64_t> legacy_retry_at_ms_{0};
  // PolicyCounters' fields.
  std::atomic<uint64_t> size_refused_{0};
  std::atomic<uint64_t> size_warned_{0};
  std::atomic<uint64_t> bot_lifetimes_{0};
  std::atomic<uint64_t> first_lifetimes_{0};
};

}  // namespace sessionkit

#endif  // SESSIONKIT_ENGINE_H_
