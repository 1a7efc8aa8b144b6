// The Memcached store's locked steps.
//
// The lock of a session is an item of its own (KeysFor: "<data key>.lock")
// on the session's first server, holding "<lease_until ms> <owner token>".
// memcached cannot wake a waiter: a waiter whose holder is a process of
// this host sleeps on the host's wake file (stores/lock_wake.h; slot:
// LockHash of the lock key) until the release wakes it, looking again
// every kLocalHolderPoll whether the holder is alive; a waiter whose holder
// is elsewhere, or that has no wake file, polls every kPoll.
//
//   LockAndRead, lock free: one round trip. The first server gets
//     ms <lock> add-only (NS when held), mg <lock> (holder and CAS), mg
//     <data> (value and CAS), in this order: the data is read after the
//     lock is taken, so a holder's last write is always seen. Each replica
//     gets mg <data> alongside.
//   Held by this owner: ms <lock> C<cas> renews the lease.
//   Held, lease over or holder gone: ms <lock> C<cas> takes it over, then
//     every server of the session appends nothing to the data item (ms MA
//     with no bytes), which gives it a new CAS: the fence. The old holder's
//     write, checked against the CAS it read, is refused everywhere.
//   WriteAndUnlock: one round trip. Each server gets ms <data> C<the CAS
//     this owner read there> (add-only where there was no item) and the
//     first also md <lock> C<lock CAS>. Refused (LockLost) when the first
//     server refuses the data: a takeover fenced it, Destroy left a
//     tombstone, or a write without the lock came in between.
// The CASes learnt by LockAndRead are kept in the store (Held) until the
// owner releases.
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/session_id.h"
#include "stores/lock_wait.h"
#include "stores/memcached/memcached_store.h"

namespace sessionkit::memcached {
namespace {

// Waiters poll at most this far apart unless a holder of this host wakes
// them (memcached wakes nobody).
constexpr Duration kPoll{2};
// The waiter count of a lock lives this long after its last waiter came.
constexpr Duration kWaitersLife{60 * 1000};

std::string LockLostText(const std::string& store, const std::string& what) {
  return store + ": " + what +
         ": the lock is no longer this request's (taken over, released or "
         "destroyed)";
}

}  // namespace

void MemcachedStore::Hold(std::string_view id, std::string_view token,
                          Held held) {
  const int64_t gone_before = NowMs() - kLockRecordRetention.count();
  std::lock_guard<std::mutex> lock(held_mu_);
  std::pair<std::string, std::string> key{std::string(id), std::string(token)};
  if (held_.size() >= kMaxHeld && held_.find(key) == held_.end()) {
    std::erase_if(held_, [&](const auto& entry) {
      return entry.second.lease_until < gone_before;
    });
    if (held_.size() >= kMaxHeld) {
      held_.erase(std::min_element(
          held_.begin(), held_.end(), [](const auto& a, const auto& b) {
            return a.second.lease_until < b.second.lease_until;
          }));
    }
  }
  held_[std::move(key)] = std::move(held);
}

std::optional<MemcachedStore::Held> MemcachedStore::TakeHeld(
    std::string_view id, std::string_view token) {
  std::lock_guard<std::mutex> lock(held_mu_);
  auto it = held_.find({std::string(id), std::string(token)});
  if (it == held_.end()) return std::nullopt;
  Held held = std::move(it->second);
  held_.erase(it);
  return held;
}

// What the reads of a lock step found, into `held`: the data CAS on each
// server (reply `reply0` of the first call, reply 0 of the others) and the
// session the first server (else a replica) holds.
Status MemcachedStore::LearnData(const SessionKeys& keys,
                                 std::span<ServerSet::Call> calls,
                                 size_t reply0, const std::string& what,
                                 Held* held) {
  held->servers.clear();
  held->data_cas.clear();
  for (size_t c = 0; c < calls.size(); ++c) {
    held->servers.push_back(calls[c].server);
    std::optional<uint64_t> cas;
    const size_t r = c == 0 ? reply0 : 0;
    if (calls[c].status.ok() && calls[c].replies.size() > r &&
        calls[c].replies[r].code == ResponseCode::kValue) {
      cas = calls[c].replies[r].cas;
    }
    held->data_cas.push_back(cas);
  }
  Result<Found> found = Believe(keys, calls, reply0, what);
  if (!found.ok()) return found.status();
  // The replica's copy that Believe gave the first server: the release
  // compares against it (an add-only write would find it and be refused).
  if (found->repaired >= 0 && found->repaired_cas) {
    held->data_cas[found->repaired] = found->repaired_cas;
  }
  held->found = found->present && !found->tombstone;
  held->at_ms = found->at_ms;
  held->frame = std::move(found->frame);
  return Status::OK();
}

Result<LockedRead> MemcachedStore::LockAndRead(std::string_view id,
                                               const LockRequest& request) {
  SK_RETURN_IF_ERROR(CheckId(id, "lock"));
  // A lock this process failed to release may hold up other requests until
  // its lease ends (max_execution_time under php-fpm): free it first. When
  // that waited out a timeout (its server still does not answer), this call
  // goes no further: a request costs one timeout, not one per server.
  const SteadyTime retry_started = env_->SteadyNow();
  if (RetryFailedReleases() &&
      env_->SteadyNow() - retry_started >=
          std::min(options_.connect_timeout, options_.read_timeout)) {
    return Status::Unavailable(
        name() + ": " + What("lock", id) +
        " not tried: a server did not answer the release of an earlier "
        "lock just before");
  }
  std::vector<size_t> unanswered;
  Result<LockedRead> got = TakeLockAndRead(id, request, &unanswered);
  if (!unanswered.empty()) {
    // The server may run the step yet (a paused server runs what it was
    // sent once it resumes) and hold the lock for this owner, whom nobody
    // will release it for: freed like a failed release.
    for (size_t server : unanswered) {
      NoteStuck(id, request.owner.token, Stuck{server, std::nullopt});
    }
    pending_.Note(id, request.owner,
                  Status::Unavailable(name() + ": lock step unanswered"),
                  env_->SteadyNow());
  }
  return got;
}

Result<LockedRead> MemcachedStore::TakeLockAndRead(
    std::string_view id, const LockRequest& request,
    std::vector<size_t>* unanswered) {
  const std::string what = What("lock", id);
  const SessionKeys keys = KeysFor(options_.prefix, id);
  const std::string& token = request.owner.token;
  LockWaitPacing pacing;
  // A holder of this host, also of this process, is waited for on the wake
  // file, and looked at every kLocalHolderPoll: it may be of another user,
  // or name another wake file, and wake nobody here. A holder elsewhere
  // wakes nobody here: polled.
  pacing.poll_own_process = true;
  pacing.max_sleep_elsewhere = kPoll;
  if (!wake_.mapped()) pacing.max_sleep = kPoll;
  LockWait wait(env_, request, pacing);
  WaiterCount waiters(this, keys.lock + ".w");
  const uint64_t slot = LockHash(keys.lock);
  size_t failovers = 0;
  for (;;) {
    // Read before the try: a release after the try has changed the word by
    // the time this caller sleeps on it, so the sleep ends at once.
    const uint32_t seq = wake_.mapped() ? wake_.Seq(slot) : 0;
    const std::vector<size_t> servers = ServersOf(id);
    if (servers.empty()) return NoServer(what);
    const int64_t now = NowMs();
    const int64_t lease_until = now + request.lease.count();
    const std::string mine = EncodeLock(lease_until, token);
    SetRequest add;
    add.mode = SetMode::kAdd;
    add.ttl = ItemTtl(lease_until + kLockRecordRetention.count(), now);
    std::vector<ServerSet::Call> calls(servers.size());
    for (size_t c = 0; c < servers.size(); ++c) {
      calls[c].server = servers[c];
      if (c == 0) {
        SK_RETURN_IF_ERROR(calls[c].pipeline.Set(keys.lock, mine, add));
        SK_RETURN_IF_ERROR(calls[c].pipeline.Get(keys.lock, ValueAndCas()));
      }
      SK_RETURN_IF_ERROR(calls[c].pipeline.Get(keys.data, ValueAndCas()));
    }
    // A server marked down is not sent the step (RunAll fails it at once).
    const bool sent = !servers_.IsDown(servers[0]);
    servers_.RunAll(calls, what);
    if (!calls[0].status.ok()) {
      if (sent && calls[0].status.IsUnavailable()) {
        unanswered->push_back(servers[0]);
      }
      // The lock's server failed (it is marked down now): its sessions go
      // to the next server; once per server of the pool.
      if (options_.failover && calls[0].status.IsUnavailable() &&
          ++failovers < servers_.size()) {
        continue;
      }
      return calls[0].status;
    }
    const Response& added = calls[0].replies[0];
    const Response& lock = calls[0].replies[1];
    if (added.is_error()) return ErrorStatus(added, name() + ": " + what);
    if (lock.is_error()) return ErrorStatus(lock, name() + ": " + what);
    std::string broken;
    std::optional<uint64_t> lock_cas;
    if (lock.code != ResponseCode::kValue || !lock.cas) continue;  // gone
    Result<LockValue> holder = DecodeLock(lock.value, name() + ": " + what);
    if (!holder.ok()) return holder.status();
    if (added.code == ResponseCode::kHeader) {
      if (holder->token != token) continue;  // passed on in between
      lock_cas = lock.cas;
    } else {
      const std::string holder_token(holder->token);
      const bool takeover =
          holder_token != token && (holder->lease_until_ms <= now ||
                                    LockHolderIsGone(holder_token, env_));
      if (holder_token == token || takeover) {
        Result<std::optional<uint64_t>> taken =
            Replace(keys, servers[0], *lock.cas, mine, add.ttl, what);
        if (!taken.ok()) {
          if (taken.status().IsUnavailable()) {
            unanswered->push_back(servers[0]);
          }
          return taken.status();
        }
        if (!taken->has_value()) continue;  // changed meanwhile: again
        lock_cas = **taken;
        if (takeover) {
          broken = holder_token;
          Status fenced = Fence(keys, &calls, what);
          if (!fenced.ok()) {
            // Taken, but the caller is told it is not: released later.
            if (fenced.IsUnavailable()) unanswered->push_back(servers[0]);
            return fenced;
          }
        }
      } else {
        Result<bool> room = waiters.Join(request, servers[0], now);
        if (!room.ok()) return room.status();
        if (!*room) {
          LockedRead out;
          out.outcome = LockOutcome::kTooManyWaiters;
          return out;
        }
        if (wait.Expired()) return LockedRead{};  // kTimedOut
        // The holder may be waiting on a lock this process failed to
        // release (both left behind by a server that stopped answering):
        // free it now that the server may be back, or both wait out the
        // lease. Nothing to do, and free, when none is pending.
        (void)RetryFailedReleases();
        const std::chrono::nanoseconds sleep =
            wait.NextSleep(holder_token, holder->lease_until_ms - now);
        if (!wake_.mapped()) {
          env_->SleepFor(sleep);
          continue;
        }
        wait.Sleep(sleep, [&](std::chrono::nanoseconds d) {
          wake_.Wait(slot, seq, d);
        });
        continue;
      }
    }
    Held held;
    held.lock_cas = *lock_cas;
    held.lease_until = lease_until;
    // The data reads: reply 2 of the first server, 0 of the others (after
    // a fence too).
    SK_RETURN_IF_ERROR(LearnData(keys, calls, 2, what, &held));
    LockedRead out;
    out.outcome = LockOutcome::kAcquired;
    out.found = held.found && held.at_ms > now;
    if (out.found) {
      out.record.data = held.frame;
      out.record.expires_at = FromUnixMillis(held.at_ms);
    }
    out.broken_owner = std::move(broken);
    Hold(id, token, std::move(held));
    return out;
  }
}

Result<std::optional<uint64_t>> MemcachedStore::Replace(
    const SessionKeys& keys, size_t server, uint64_t cas,
    const std::string& value, uint32_t ttl, const std::string& what) {
  ServerSet::Call call;
  call.server = server;
  SetRequest set;
  set.compare_cas = cas;
  set.ttl = ttl;
  set.return_cas = true;
  SK_RETURN_IF_ERROR(call.pipeline.Set(keys.lock, value, set));
  servers_.RunAll(std::span<ServerSet::Call>(&call, 1), what);
  if (!call.status.ok()) return call.status;
  const Response& r = call.replies[0];
  if (r.is_error()) return ErrorStatus(r, name() + ": " + what);
  if (r.code != ResponseCode::kHeader || !r.cas) {
    return std::optional<uint64_t>();
  }
  return std::optional<uint64_t>(*r.cas);
}

Status MemcachedStore::Fence(const SessionKeys& keys,
                             std::vector<ServerSet::Call>* calls,
                             const std::string& what) {
  // An item that exists gets a new CAS (appending nothing changes nothing
  // else); where there is none, a tombstone is added, so that the old
  // holder's add-only write of a new session fails too.
  SetRequest append;
  append.mode = SetMode::kAppend;
  SetRequest add;
  add.mode = SetMode::kAdd;
  const int64_t now = NowMs();
  add.ttl = ItemTtl(now + kTombstoneLifeMs, now);
  const std::string tombstone = EncodeTombstone(now);
  for (ServerSet::Call& call : *calls) {
    call.pipeline = Pipeline();
    SK_RETURN_IF_ERROR(call.pipeline.Set(keys.data, "", append));
    SK_RETURN_IF_ERROR(call.pipeline.Set(keys.data, tombstone, add));
    SK_RETURN_IF_ERROR(call.pipeline.Get(keys.data, ValueAndCas()));
  }
  servers_.RunAll(*calls, what);
  if (!(*calls)[0].status.ok()) return (*calls)[0].status;
  for (const Response& r : (*calls)[0].replies) {
    if (r.is_error()) return ErrorStatus(r, name() + ": " + what);
  }
  // The reads are reply 2 of every call, as in LockAndRead's pipeline for
  // the first server; LearnData reads reply 0 of the others.
  for (size_t c = 1; c < calls->size(); ++c) {
    std::vector<Response>& replies = (*calls)[c].replies;
    if (replies.size() == 3)
      replies.erase(replies.begin(), replies.begin() + 2);
  }
  return Status::OK();
}

Result<bool> MemcachedStore::WaiterCount::Join(const LockRequest& request,
                                               size_t server, int64_t now) {
  if (joined_ || request.wait.count() <= 0 || request.max_waiters == 0) {
    return true;
  }
  ArithmeticRequest incr;
  incr.create_ttl =
      ItemTtl(now + request.wait.count() + kWaitersLife.count(), now);
  incr.initial = 1;
  incr.ttl = incr.create_ttl;
  ServerSet::Call call;
  call.server = server;
  SK_RETURN_IF_ERROR(call.pipeline.Arithmetic(key_, incr));
  store_->servers_.RunAll(std::span<ServerSet::Call>(&call, 1));
  if (!call.status.ok()) return call.status;
  const Response& r = call.replies[0];
  if (r.is_error()) return ErrorStatus(r, store_->name() + ": waiters");
  server_ = server;
  joined_ = true;
  uint64_t count = 0;
  for (char c : r.value) count = count * 10 + static_cast<uint64_t>(c - '0');
  if (count > request.max_waiters) {
    Leave();
    return false;
  }
  return true;
}

void MemcachedStore::WaiterCount::Leave() {
  if (!joined_) return;
  joined_ = false;
  ArithmeticRequest decr;
  decr.decrement = true;
  decr.return_value = false;
  ServerSet::Call call;
  call.server = server_;
  if (!call.pipeline.Arithmetic(key_, decr).ok()) return;
  store_->servers_.RunAll(std::span<ServerSet::Call>(&call, 1));
}

Status MemcachedStore::Release(std::string_view id, const LockOwner& owner,
                               const std::string* data, Duration ttl,
                               const char* op) {
  SK_RETURN_IF_ERROR(CheckId(id, op));
  const std::string what = What(op, id);
  const SessionKeys keys = KeysFor(options_.prefix, id);
  std::optional<Held> held = TakeHeld(id, owner.token);
  if (!held) {
    // Not taken through this store object: nothing proves the lock, so
    // nothing is written (an Unlock of a lock not held does nothing).
    if (data == nullptr && std::string_view(op) == "unlock") {
      return Status::OK();
    }
    return Status::LockLost(LockLostText(name(), what));
  }
  const int64_t now = NowMs();
  const bool touch = data == nullptr && std::string_view(op) == "touch";
  const bool write =
      data != nullptr || (touch && held->found && held->at_ms > now);
  std::vector<ServerSet::Call> calls(write ? held->servers.size() : 1);
  const int64_t expires = now + ttl.count();
  const std::string value =
      write ? EncodeData(id, data != nullptr ? *data : held->frame, expires)
            : "";
  if (write) {
    Status fits = CheckFits(held->servers, keys.data, value, what);
    if (!fits.ok()) {
      // Not written; the lock is released all the same, so that the next
      // request does not wait out the lease.
      ServerSet::Call unlock;
      unlock.server = held->servers[0];
      DeleteRequest del;
      del.compare_cas = held->lock_cas;
      SK_RETURN_IF_ERROR(unlock.pipeline.Delete(keys.lock, del));
      servers_.RunAll(std::span<ServerSet::Call>(&unlock, 1));
      WakeWaiters(keys);
      if (PendingReleases::MayStillHold(unlock.status)) {
        NoteStuck(id, owner.token, Stuck{unlock.server, held->lock_cas});
        pending_.Note(id, owner, unlock.status, env_->SteadyNow());
      }
      return fits;
    }
  }
  for (size_t c = 0; c < calls.size(); ++c) {
    calls[c].server = held->servers[c];
    if (write) {
      SetRequest set;
      set.ttl = ItemTtl(expires, now);
      if (held->data_cas[c]) {
        set.compare_cas = *held->data_cas[c];
      } else {
        set.mode = SetMode::kAdd;
      }
      SK_RETURN_IF_ERROR(calls[c].pipeline.Set(keys.data, value, set));
    }
    if (c == 0) {
      DeleteRequest del;
      del.compare_cas = held->lock_cas;
      SK_RETURN_IF_ERROR(calls[c].pipeline.Delete(keys.lock, del));
    }
  }
  servers_.RunAll(calls, what);
  WakeWaiters(keys);
  if (!calls[0].status.ok()) {
    // The md may not have run: Remembered notes the release for the retry.
    if (PendingReleases::MayStillHold(calls[0].status)) {
      NoteStuck(id, owner.token, Stuck{held->servers[0], held->lock_cas});
    }
    return calls[0].status;
  }
  const Response& first = calls[0].replies[0];
  const Response& unlocked = calls[0].replies[write ? 1 : 0];
  if (first.is_error()) return ErrorStatus(first, name() + ": " + what);
  if (write) {
    if (first.code != ResponseCode::kHeader) {
      return Status::LockLost(LockLostText(name(), what));
    }
    return Status::OK();
  }
  if (std::string_view(op) == "unlock") return Status::OK();
  // A touch of a session that is gone: released all the same, unless the
  // lock was no longer this owner's.
  if (unlocked.code != ResponseCode::kHeader) {
    return Status::LockLost(LockLostText(name(), what));
  }
  return Status::NotFound(name() + ": " + what +
                          ": no such session (or it expired)");
}

Status MemcachedStore::WriteAndUnlock(std::string_view id,
                                      std::string_view data, Duration ttl,
                                      const LockOwner& owner) {
  const std::string copy(data);
  return Remembered(id, owner, Release(id, owner, &copy, ttl, "write"));
}

Status MemcachedStore::TouchAndUnlock(std::string_view id, Duration ttl,
                                      const LockOwner& owner) {
  return Remembered(id, owner, Release(id, owner, nullptr, ttl, "touch"));
}

Status MemcachedStore::Unlock(std::string_view id, const LockOwner& owner) {
  return Remembered(id, owner,
                    Release(id, owner, nullptr, Duration(0), "unlock"));
}

Status MemcachedStore::Remembered(std::string_view id, const LockOwner& owner,
                                  Status released) {
  pending_.Note(id, owner, released, env_->SteadyNow());
  return released;
}

bool MemcachedStore::RetryFailedReleases() {
  return pending_
      .Retry(
          [this](std::string_view id, const LockOwner& owner) {
            return ReleaseRemembered(id, owner);
          },
          env_->SteadyNow())
      .has_value();
}

void MemcachedStore::NoteStuck(std::string_view id, std::string_view token,
                               Stuck stuck) {
  std::lock_guard<std::mutex> lock(held_mu_);
  std::pair<std::string, std::string> key{std::string(id), std::string(token)};
  if (stuck_.size() >= kMaxStuck && stuck_.find(key) == stuck_.end()) {
    stuck_.erase(stuck_.begin());  // its lease ends on its own
  }
  stuck_[std::move(key)].push_back(stuck);
}

Status MemcachedStore::ReleaseRemembered(std::string_view id,
                                         const LockOwner& owner) {
  std::vector<Stuck> todo;
  {
    std::lock_guard<std::mutex> lock(held_mu_);
    auto it = stuck_.find({std::string(id), owner.token});
    if (it == stuck_.end()) return Status::OK();
    todo = std::move(it->second);
    stuck_.erase(it);
  }
  const std::string what = What("release again", id);
  const SessionKeys keys = KeysFor(options_.prefix, id);
  for (size_t i = 0; i < todo.size(); ++i) {
    Status st;
    if (todo[i].lock_cas) {
      // The CAS this owner's LockAndRead learnt: its own lock item, or none.
      ServerSet::Call call;
      call.server = todo[i].server;
      DeleteRequest del;
      del.compare_cas = *todo[i].lock_cas;
      SK_RETURN_IF_ERROR(call.pipeline.Delete(keys.lock, del));
      servers_.RunAll(std::span<ServerSet::Call>(&call, 1), what);
      st = call.status;
    } else {
      st = UnlockIfOwner(keys, todo[i].server, owner.token, what);
    }
    if (PendingReleases::MayStillHold(st)) {
      for (size_t j = i; j < todo.size(); ++j) {
        NoteStuck(id, owner.token, todo[j]);
      }
      return st;
    }
    WakeWaiters(keys);
  }
  return Status::OK();
}

Status MemcachedStore::UnlockIfOwner(const SessionKeys& keys, size_t server,
                                     std::string_view token,
                                     const std::string& what) {
  ServerSet::Call read;
  read.server = server;
  SK_RETURN_IF_ERROR(read.pipeline.Get(keys.lock, ValueAndCas()));
  servers_.RunAll(std::span<ServerSet::Call>(&read, 1), what);
  if (!read.status.ok()) return read.status;
  const Response& lock = read.replies[0];
  if (lock.is_error()) return ErrorStatus(lock, name() + ": " + what);
  if (lock.code != ResponseCode::kValue || !lock.cas) return Status::OK();
  Result<LockValue> holder = DecodeLock(lock.value, name() + ": " + what);
  if (!holder.ok() || holder->token != token) return Status::OK();
  ServerSet::Call del_call;
  del_call.server = server;
  DeleteRequest del;
  del.compare_cas = *lock.cas;  // still the item that names `token`
  SK_RETURN_IF_ERROR(del_call.pipeline.Delete(keys.lock, del));
  servers_.RunAll(std::span<ServerSet::Call>(&del_call, 1), what);
  return del_call.status;
}

}  // namespace sessionkit::memcached
