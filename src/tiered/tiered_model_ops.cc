// The requests and faults of the model-based test of the store of tiers
// (tiered_model.h): how the Harness runs each op on a worker or a tier and
// what it notes in the model, which tiered_model_check.cc checks.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sessionkit/frame.h"
#include "tiered/tiered_model.h"
#include "tiered/tiered_test_support.h"
#include "tiered/versions.h"

namespace sessionkit::tiered::model {

using namespace sessionkit::tiered::fixtures;

void Harness::Fault() {
  for (Request& r : req_) {
    if (r.active) r.fault_since = true;
  }
}

void Harness::DoReplace(int t, bool restore) {
  if (restore && !snapshot_[t]) {
    Note("skipped (no snapshot)");
    return;
  }
  Status st =
      swap_[t]->Replace(restore ? *snapshot_[t] : SwapStore::Snapshot());
  if (!st.ok()) {
    Fail("harness", "could not replace tier: " + st.ToString());
    return;
  }
  Fault();
  for (int i = 0; i < options_.ids; ++i) {
    model_[i].holders.erase(t);
    faulted_since_ack_[i].insert(t);
    if (restore) model_[i].absent.erase(t);
  }
}

State Harness::StateOf(const LockedRead& r) {
  State s;
  if (r.found) {
    s.live = true;
    s.version = VersionOf(r.record.data);
    s.payload = PayloadOf(r.record.data);
  } else {
    s.version = r.tombstone_version;
  }
  return s;
}

State Harness::Normalise(int i, State got) {
  if (got.live) return got;
  const IdModel& m = model_[i];
  if (!m.ack.live) return m.ack;
  for (const State& s : m.maybe) {
    if (!s.live) return s;
  }
  return got;
}

void Harness::DoBegin(int w, int i) {
  Request& r = req_[w];
  if (r.active) {
    Note("skipped (worker busy)");
    return;
  }
  LockRequest request;
  request.wait = Duration(0);
  request.lease = kLease;
  request.owner = LockOwner::Generate(&env_);
  const Consult c = ConsultSet(w, i);
  Result<LockedRead> got = workers_[w]->LockAndRead(ids_[i], request);
  if (!got.ok()) {
    Note("-> " + got.status().ToString());
    return;
  }
  if (!got->acquired()) {
    Note("-> not acquired");
    return;
  }
  const Request& other = req_[1 - w];
  State s = StateOf(*got);
  Note("-> acquired, read " + Show(s) +
       (got->broken_owner.empty() ? "" : " (took over a lock)"));
  if (other.active && other.id == i && !other.fault_since &&
      !other.lock_ended && env_.WallNow() - other.began < kLease) {
    Fail("lock not exclusive", "worker " + std::to_string(w) + " locked s" +
                                   std::to_string(i) + " while worker " +
                                   std::to_string(1 - w) +
                                   " holds its lock, with no fault since");
  }
  r.active = true;
  r.id = i;
  r.owner = request.owner;
  r.read_version = s.version;
  r.began = env_.WallNow();
  r.fault_since = false;
  r.destroyed_under = false;
  r.lock_ended = false;
  CheckRead(i, Normalise(i, s), c, "locked read");
}

void Harness::DoEnd(int w, Op::Kind kind) {
  Request& r = req_[w];
  if (!r.active) {
    Note("skipped (no request)");
    return;
  }
  r.active = false;
  const int i = r.id;
  const std::string& id = ids_[i];
  Store& store = *workers_[w];
  switch (kind) {
    case Op::kWrite: {
      const uint64_t version =
          NextSessionVersion(r.read_version, env_.WallNow());
      State s{true, version,
              "s" + std::to_string(i) + "#" + std::to_string(++writes_)};
      Status st = store.WriteAndUnlock(id, Frame(version, s.payload),
                                       kSessionTtl, r.owner);
      Note("write " + Show(s) + " -> " + st.ToString());
      if (st.ok()) {
        if (r.destroyed_under) {
          Fail("logout undone by a late write",
               "worker " + std::to_string(w) + "'s write of s" +
                   std::to_string(i) +
                   " was acknowledged after a logout of the session was "
                   "acknowledged while it held the lock (Destroy ends "
                   "the lock: the write must be refused)");
          if (violation_) return;
        }
        SetAck(i, s, /*check=*/true);
      } else {
        model_[i].maybe.push_back(s);
      }
      return;
    }
    case Op::kTouch: {
      Status st = store.TouchAndUnlock(id, kSessionTtl, r.owner);
      Note("touch -> " + st.ToString());
      return;
    }
    case Op::kUnlock: {
      Status st = store.Unlock(id, r.owner);
      Note("unlock -> " + st.ToString());
      return;
    }
    case Op::kDestroyLocked: {
      State s{false, NextSessionVersion(r.read_version, env_.WallNow()), ""};
      Status st = store.Destroy(id);
      Note("destroy (locked) " + Show(s) + " -> " + st.ToString());
      Destroyed(w, i, s, st);
      return;
    }
    default:
      return;
  }
}

void Harness::Destroyed(int w, int i, const State& s, const Status& st) {
  for (int o = 0; o < kWorkers; ++o) {
    if (o != w && req_[o].active && req_[o].id == i) {
      req_[o].lock_ended = true;
    }
  }
  if (!st.ok()) {
    model_[i].maybe.push_back(s);
    return;
  }
  SetAck(i, s, /*check=*/true);
  for (int o = 0; o < kWorkers; ++o) {
    if (o != w && req_[o].active && req_[o].id == i) {
      req_[o].destroyed_under = true;
    }
  }
}

void Harness::DoDestroy(int w, int i) {
  if (req_[w].active && req_[w].id == i) {
    Note("skipped (the worker holds its lock)");
    return;
  }
  State s{false, NextSessionVersion(0, env_.WallNow()), ""};
  Status st = workers_[w]->Destroy(ids_[i]);
  Note("destroy (unlocked) " + Show(s) + " -> " + st.ToString());
  Destroyed(w, i, s, st);
}

std::optional<State> Harness::DoRead(int w, int i) {
  const Consult c = ConsultSet(w, i);
  Result<SessionRecord> r = workers_[w]->Read(ids_[i]);
  if (!r.ok() && !r.status().IsNotFound()) {
    Note("-> " + r.status().ToString());
    return std::nullopt;
  }
  State s;
  if (r.ok()) {
    s.live = true;
    s.version = VersionOf(r->data);
    s.payload = PayloadOf(r->data);
  }
  Note("-> " + (r.ok() ? Show(s) : std::string("not found")));
  CheckRead(i, Normalise(i, s), c, "read");
  return s;
}

bool Harness::SkipUnlocked(int w, int i) {
  if (req_[w].active && req_[w].id == i) {
    Note("skipped (the worker holds its lock)");
    return true;
  }
  // One deployment locks or does not: a call without the lock while a
  // request holds the session's lock only when mixing is asked for.
  if (!options_.mixed && req_[1 - w].active && req_[1 - w].id == i) {
    Note("skipped (another request holds its lock)");
    return true;
  }
  return false;
}

void Harness::DoReadWrite(int w, int i) {
  if (SkipUnlocked(w, i)) return;
  const std::optional<State> read = DoRead(w, i);
  if (!read || violation_) return;
  const uint64_t version = NextSessionVersion(read->version, env_.WallNow());
  State s{true, version,
          "s" + std::to_string(i) + "#" + std::to_string(++writes_)};
  Status st =
      workers_[w]->Write(ids_[i], Frame(version, s.payload), kSessionTtl);
  Note("write (unlocked) " + Show(s) + " -> " + st.ToString());
  if (st.ok()) {
    SetAck(i, s, /*check=*/true);
  } else {
    model_[i].maybe.push_back(s);
  }
}

void Harness::DoTouchFree(int w, int i) {
  if (SkipUnlocked(w, i)) return;
  // What it will find: the newest copy among the tiers it asks (as a read
  // does), unless this host's journal holds a newer one (whose data the
  // model does not know: the touch is then not checked).
  const Consult c = ConsultSet(w, i);
  std::optional<State> seen;
  for (int t : c.tiers) {
    std::optional<State> s = Inner(t, i);
    if (s && (!seen || s->version > seen->version)) seen = s;
  }
  const bool journal_newer =
      c.journal && JournalVersion(i) > (seen ? seen->version : 0);
  const Status st = workers_[w]->Touch(ids_[i], kSessionTtl);
  Note("-> " + st.ToString());
  if (journal_newer || !(st.ok() || st.IsNotFound())) return;
  const State found = seen && seen->live ? *seen : State{};
  if (st.ok() != found.live) {
    Fail("touch disagrees with the tiers",
         "the touch of s" + std::to_string(i) + " said " + st.ToString() +
             ", the tiers it asks hold " + (seen ? Show(*seen) : "nothing"));
    return;
  }
  CheckRead(i, Normalise(i, found), c, "touch");
}

void Harness::DrainAll() {
  env_.Advance(kBreakerInterval + Duration(1));
  for (int round = 0; round < 6; ++round) {
    env_.Advance(Duration(31000));  // past any backoff, lease, delay
    if (!async()) continue;
    for (int w = 0; w < kWorkers; ++w) {
      for (int k = 0; k < 20 && Tiered(w).DrainStep(); ++k) {
      }
    }
  }
}

}  // namespace sessionkit::tiered::model
