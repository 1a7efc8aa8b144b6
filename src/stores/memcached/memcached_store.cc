// The Memcached store's unlocked steps, its placement and OpenMemcachedStore.
// The locked steps are in memcached_lock.cc.
//
// Replicas. A session lives on the servers ServersOf lists: its first server
// and `replicas` more. Every write goes to all of them in one round trip,
// CAS-checked where the step holds the lock. A read asks all of them in one
// round trip and believes the first server: what it holds (a session or
// the tombstone of a destroyed one) is the answer; only when it holds
// nothing (it restarted, or was down when the session was written) does a
// replica's copy count, and is written back to it. Destroy leaves a
// tombstone on every server rather than deleting, so that a copy on a
// replica that missed the Destroy is never taken for the session.
#include "stores/memcached/memcached_store.h"

#include <string.h>
#include <syslog.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/session_id.h"
#include "stores/lock_value.h"
#include "stores/round_trips.h"

namespace sessionkit::memcached {
namespace {

// What memcached adds to a value in an item besides the key: its header,
// CAS and line ends (about 50 bytes in 1.6), rounded up.
constexpr size_t kItemOverhead = 64;
// memcached's smallest item size max (-I 1k): an item this small fits any.
constexpr size_t kSmallestItemMax = 1024;

}  // namespace

MemcachedStore::MemcachedStore(MemcachedOptions options, KetamaRing ring,
                               std::shared_ptr<TlsContext> tls)
    : options_(std::move(options)),
      env_(options_.env != nullptr ? options_.env : Env::Default()),
      ring_(std::move(ring)),
      servers_(options_, std::move(tls), env_) {
  const std::string wake = WakeFileOf(options_);
  if (wake.empty()) return;
  const int rc = wake_.Map(wake, 0600, SharedFileOwner::kCallerOnly);
  if (rc == 0) return;
  // Not an error: the waiters poll instead. No logger reaches a store: the
  // system log.
  syslog(LOG_WARNING,
         "sessionkit: %s: cannot map the lock wake file %s: %s; lock waiters "
         "poll memcached instead",
         name().c_str(), wake.c_str(), strerror(rc));
}

MemcachedStore::~MemcachedStore() {
  // Last chance for a lock this object failed to release (bounded by the
  // timeouts; nothing when there is none).
  (void)RetryFailedReleases();
  wake_.Unmap();
}

void MemcachedStore::WakeWaiters(const SessionKeys& keys) const {
  if (wake_.mapped()) wake_.Wake(LockHash(keys.lock));
}

int64_t MemcachedStore::NowMs() const { return ToUnixMillis(env_->WallNow()); }

Status MemcachedStore::CheckId(std::string_view id, std::string_view op) const {
  Status valid = ValidateSessionId(id);
  if (valid.ok()) return valid;
  return Status::InvalidArgument(name() + ": " + std::string(op) + ": " +
                                 valid.message());
}

std::string MemcachedStore::What(std::string_view op,
                                 std::string_view id) const {
  return std::string(op) + " of session " + SessionIdPrefix(id);
}

std::vector<size_t> MemcachedStore::ServersOf(std::string_view id) const {
  const uint32_t hash = ring_.Hash(id);
  const auto down = [this](size_t i) { return servers_.IsDown(i); };
  std::vector<size_t> out(static_cast<size_t>(options_.replicas) + 1);
  if (!options_.failover) {
    // Its own servers, down or not: a server left out fails the call
    // (ServerSet::RunAll) rather than moving the session.
    out.resize(ring_.ListReplicas(hash, out.size(), out));
    return out;
  }
  if (options_.replicas == 0) {
    out.resize(ring_.NextServers(hash, out, down));
    return out;
  }
  // As php-memcached places replicas: the key's server, then the servers
  // after it in the list; those marked down are left out.
  out.resize(ring_.ListReplicas(hash, out.size(), out));
  std::erase_if(out, down);
  if (out.empty()) {
    // All of them down: the ring's next live server keeps the session.
    out.resize(1);
    out.resize(ring_.NextServers(hash, out, down));
  }
  return out;
}

Status MemcachedStore::NoServer(std::string_view what) const {
  return Status::Unavailable(name() + ": " + std::string(what) +
                             ": every memcached server of the pool is left "
                             "out after a failure (down_time)");
}

Result<MemcachedStore::Found> MemcachedStore::ReadAll(
    const SessionKeys& keys, const std::vector<size_t>& servers,
    const std::string& what, std::vector<ServerSet::Call>* calls,
    bool with_lock) {
  calls->clear();
  for (size_t server : servers) {
    ServerSet::Call& call = calls->emplace_back();
    call.server = server;
    SK_RETURN_IF_ERROR(call.pipeline.Get(keys.data, ValueAndCas()));
  }
  if (with_lock && !calls->empty()) {
    SK_RETURN_IF_ERROR((*calls)[0].pipeline.Get(keys.lock, ValueAndCas()));
  }
  servers_.RunAll(*calls, what);
  return Believe(keys, *calls, /*reply=*/0, what);
}

Result<MemcachedStore::Found> MemcachedStore::Believe(
    const SessionKeys& keys, std::span<ServerSet::Call> calls, size_t reply0,
    const std::string& what) {
  Found found;
  // The first server that answered decides; a replica's copy counts only
  // when it has nothing.
  size_t first = calls.size();
  for (size_t c = 0; c < calls.size(); ++c) {
    if (calls[c].status.ok()) {
      first = c;
      break;
    }
  }
  if (first == calls.size()) return calls[0].status;
  // Without failover only the first server decides: a replica may have
  // missed a write while it was left out.
  if (!options_.failover && first != 0) return calls[0].status;
  for (size_t c = first; c < calls.size(); ++c) {
    const ServerSet::Call& call = calls[c];
    if (!call.status.ok()) continue;
    const Response& r = call.replies[c == 0 ? reply0 : 0];
    if (r.is_error()) {
      if (c == first) return ErrorStatus(r, name() + ": " + what);
      continue;
    }
    if (r.code != ResponseCode::kValue) continue;  // a miss
    Result<StoredValue> value = DecodeValue(r.value, name() + ": " + what);
    if (!value.ok()) return value.status();
    if (c != first && value->tombstone) continue;
    found.present = true;
    found.tombstone = value->tombstone;
    found.at_ms = value->at_ms;
    found.frame = std::string(value->frame);
    if (c != first) {
      found.repaired = static_cast<int>(first);
      found.repaired_cas = Repair(keys, calls[first].server, r.value);
    }
    break;
  }
  return found;
}

std::optional<uint64_t> MemcachedStore::Repair(const SessionKeys& keys,
                                               size_t server,
                                               std::string_view value) {
  // Add-only: a write that came meanwhile wins. A failure is the next
  // read's to repair.
  Result<StoredValue> v = DecodeValue(value, "");
  if (!v.ok()) return std::nullopt;
  ServerSet::Call call;
  call.server = server;
  SetRequest set;
  set.mode = SetMode::kAdd;
  set.ttl = ItemTtl(v->at_ms, NowMs());
  set.return_cas = true;
  if (!call.pipeline.Set(keys.data, value, set).ok()) return std::nullopt;
  servers_.RunAll(std::span<ServerSet::Call>(&call, 1));
  if (!call.status.ok() || call.replies.empty() ||
      call.replies[0].code != ResponseCode::kHeader) {
    return std::nullopt;
  }
  return call.replies[0].cas;
}

Result<SessionRecord> MemcachedStore::Read(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "read"));
  const std::string what = What("read", id);
  const std::vector<size_t> servers = ServersOf(id);
  if (servers.empty()) return NoServer(what);
  std::vector<ServerSet::Call> calls;
  Result<Found> found =
      ReadAll(KeysFor(options_.prefix, id), servers, what, &calls);
  if (!found.ok()) return found.status();
  if (!found->present || found->tombstone || found->at_ms <= NowMs()) {
    return Status::NotFound(name() + ": " + what +
                            ": no such session (or it expired)");
  }
  SessionRecord record;
  record.data = std::move(found->frame);
  record.expires_at = FromUnixMillis(found->at_ms);
  return record;
}

Result<bool> MemcachedStore::Exists(std::string_view id) {
  Result<SessionRecord> read = Read(id);
  if (read.ok()) return true;
  if (read.status().IsNotFound()) return false;
  return read.status();
}

Result<bool> MemcachedStore::ExistsOrLocked(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "exists"));
  const std::string what = What("exists check", id);
  const std::vector<size_t> servers = ServersOf(id);
  if (servers.empty()) return NoServer(what);
  // One round trip: Read's, with the lock item (first server) behind it.
  std::vector<ServerSet::Call> calls;
  Result<Found> found = ReadAll(KeysFor(options_.prefix, id), servers, what,
                                &calls, /*with_lock=*/true);
  if (!found.ok()) return found.status();
  const int64_t now = NowMs();
  if (found->present && !found->tombstone && found->at_ms > now) return true;
  if (!calls[0].status.ok()) return false;  // no lock is held there
  const Response& lock = calls[0].replies[1];
  if (lock.is_error()) return ErrorStatus(lock, name() + ": " + what);
  if (lock.code != ResponseCode::kValue) return false;
  Result<LockValue> holder = DecodeLock(lock.value, name() + ": " + what);
  if (!holder.ok()) return holder.status();
  return holder->lease_until_ms > now;
}

Status MemcachedStore::CheckFits(const std::vector<size_t>& servers,
                                 std::string_view key, std::string_view value,
                                 std::string_view what) {
  const size_t item = value.size() + key.size() + kItemOverhead;
  if (item <= kSmallestItemMax) return Status::OK();
  for (size_t server : servers) {
    Result<size_t> max = servers_.ItemSizeMax(server);
    if (!max.ok()) return max.status();
    if (item > *max) {
      return Status::ResourceExhausted(
          name() + ": " + std::string(what) + ": the session is " +
          std::to_string(value.size()) + " bytes stored; memcached at " +
          servers_.endpoint(server).ToString() + " keeps items of at most " +
          std::to_string(*max) +
          " bytes with their key and header (its -I): not written, the "
          "session keeps its last value");
    }
  }
  return Status::OK();
}

Status MemcachedStore::SetEverywhere(std::string_view id, std::string_view op,
                                     std::string_view value, int64_t until_ms,
                                     bool delete_lock) {
  const std::string what = What(op, id);
  const std::vector<size_t> servers = ServersOf(id);
  if (servers.empty()) return NoServer(what);
  const SessionKeys keys = KeysFor(options_.prefix, id);
  SK_RETURN_IF_ERROR(CheckFits(servers, keys.data, value, what));
  SetRequest set;
  set.ttl = ItemTtl(until_ms, NowMs());
  std::vector<ServerSet::Call> calls(servers.size());
  for (size_t c = 0; c < servers.size(); ++c) {
    calls[c].server = servers[c];
    SK_RETURN_IF_ERROR(calls[c].pipeline.Set(keys.data, value, set));
    if (delete_lock) {
      SK_RETURN_IF_ERROR(calls[c].pipeline.Delete(keys.lock, DeleteRequest{}));
    }
  }
  servers_.RunAll(calls, what);
  if (delete_lock) WakeWaiters(keys);
  // Done when the first server took it; a replica that failed is marked
  // down and repaired by a later read or write.
  if (!calls[0].status.ok()) return calls[0].status;
  const Response& r = calls[0].replies[0];
  if (r.is_error()) return ErrorStatus(r, name() + ": " + what);
  if (r.code != ResponseCode::kHeader) {
    return Status::Internal(name() + ": " + what + ": memcached answered " +
                            std::string(ResponseCodeName(r.code)) +
                            " to a set");
  }
  return Status::OK();
}

Status MemcachedStore::Write(std::string_view id, std::string_view data,
                             Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(id, "write"));
  const int64_t expires = NowMs() + ttl.count();
  return SetEverywhere(id, "write", EncodeData(id, data, expires), expires,
                       /*delete_lock=*/false);
}

Status MemcachedStore::Touch(std::string_view id, Duration ttl) {
  SK_RETURN_IF_ERROR(CheckId(id, "touch"));
  // The expiry is in the value: read it, then write it back with the new
  // expiry if nobody wrote meanwhile (a write that came first wins).
  const std::string what = What("touch", id);
  const std::vector<size_t> servers = ServersOf(id);
  if (servers.empty()) return NoServer(what);
  const SessionKeys keys = KeysFor(options_.prefix, id);
  std::vector<ServerSet::Call> calls;
  Result<Found> found = ReadAll(keys, servers, what, &calls);
  if (!found.ok()) return found.status();
  const int64_t now = NowMs();
  if (!found->present || found->tombstone || found->at_ms <= now) {
    return Status::NotFound(name() + ": " + what +
                            ": no such session (or it expired)");
  }
  const int64_t expires = now + ttl.count();
  const std::string value = EncodeData(id, found->frame, expires);
  SetRequest set;
  set.ttl = ItemTtl(expires, now);
  std::vector<ServerSet::Call> writes;
  for (size_t c = 0; c < calls.size(); ++c) {
    const ServerSet::Call& read = calls[c];
    if (!read.status.ok()) continue;
    const Response& r = read.replies[0];
    SetRequest checked = set;
    if (r.code == ResponseCode::kValue && r.cas) {
      checked.compare_cas = *r.cas;
    } else if (static_cast<int>(c) == found->repaired && found->repaired_cas) {
      checked.compare_cas = *found->repaired_cas;  // the copy the read added
    } else {
      checked.mode = SetMode::kAdd;
    }
    ServerSet::Call& call = writes.emplace_back();
    call.server = read.server;
    SK_RETURN_IF_ERROR(call.pipeline.Set(keys.data, value, checked));
  }
  servers_.RunAll(writes, what);
  // A write that came in between wins (its CAS refused this one); a server
  // that failed does not.
  if (!writes.empty() && !writes[0].status.ok()) return writes[0].status;
  return Status::OK();
}

Status MemcachedStore::Destroy(std::string_view id) {
  SK_RETURN_IF_ERROR(CheckId(id, "destroy"));
  const int64_t now = NowMs();
  return SetEverywhere(id, "destroy", EncodeTombstone(now),
                       now + kTombstoneLifeMs, /*delete_lock=*/true);
}

uint64_t MemcachedStore::TakeRoundTrips() {
  const ConnectionStats& stats = servers_.stats();
  return TakeNewCount(stats.round_trips, stats.round_trips_taken);
}

Status MemcachedStore::Health() {
  std::vector<ServerSet::Call> calls(servers_.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i].server = i;
    calls[i].pipeline.Noop();
  }
  servers_.RunAll(calls);
  // Healthy while every session has a server: one answering is enough.
  for (const ServerSet::Call& call : calls) {
    if (call.status.ok()) return Status::OK();
  }
  return calls[0].status;
}

}  // namespace sessionkit::memcached
