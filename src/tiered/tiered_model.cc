// The harness of the model-based test of the store of tiers
// (tiered_model.h): its setup, the ops drawn and run, the trace, and the
// runs with their shrinking. The requests and faults are in
// tiered_model_ops.cc, the checks against the model in tiered_model_check.cc.
#include "tiered/tiered_model.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sessionkit/env.h"
#include "sessionkit/frame.h"
#include "sessionkit/stores/tiered.h"
#include "tiered/journal.h"
#include "tiered/tiered_store.h"
#include "tiered/tiered_test_support.h"
#include "tiered/versions.h"

namespace sessionkit::tiered::model {

using namespace sessionkit::tiered::fixtures;

namespace {

// The kinds of violation that SK_MODEL_IGNORE names (separated by commas)
// are noted in the trace and the run goes on: to look past a known defect.
const std::set<std::string>& IgnoredKinds() {
  static const std::set<std::string> kinds = [] {
    std::set<std::string> out;
    const char* v = std::getenv("SK_MODEL_IGNORE");
    std::string all = v != nullptr ? v : "";
    for (size_t at = 0; at < all.size();) {
      size_t comma = all.find(',', at);
      if (comma == std::string::npos) comma = all.size();
      if (comma > at) out.insert(all.substr(at, comma - at));
      at = comma + 1;
    }
    return out;
  }();
  return kinds;
}

}  // namespace

std::string Code(const Op& op) {
  const std::string a = std::to_string(op.a), b = std::to_string(op.b);
  const std::string on = op.b ? "true" : "false";
  switch (op.kind) {
    case Op::kBegin:
      return "Begin(" + a + ", " + b + ")";
    case Op::kWrite:
      return "WriteOp(" + a + ")";
    case Op::kTouch:
      return "TouchOp(" + a + ")";
    case Op::kUnlock:
      return "UnlockOp(" + a + ")";
    case Op::kDestroyLocked:
      return "DestroyLocked(" + a + ")";
    case Op::kDestroy:
      return "DestroyOp(" + a + ", " + b + ")";
    case Op::kRead:
      return "ReadOp(" + a + ", " + b + ")";
    case Op::kReadWrite:
      return "ReadWrite(" + a + ", " + b + ")";
    case Op::kTouchFree:
      return "TouchFree(" + a + ", " + b + ")";
    case Op::kDown:
      return "Down(" + a + ", " + on + ")";
    case Op::kBlackhole:
      return "Blackhole(" + a + ", " + on + ")";
    case Op::kRestart:
      return "Restart(" + a + ")";
    case Op::kSnapshot:
      return "SnapshotOp(" + a + ")";
    case Op::kRestore:
      return "Restore(" + a + ")";
    case Op::kAdvance:
      return "Advance(" + a + ")";
    case Op::kDrain:
      return "Drain(" + a + ")";
  }
  return "?";
}

const char* ConfigName(Config c) {
  switch (c) {
    case Config::kSync:
      return "A|B";
    case Config::kAsync:
      return "A|B?write=async";
    case Config::kSync3:
      return "A|B|C";
    case Config::kAsync3:
      return "A|B|C?write=async";
  }
  return "?";
}

std::string Show(const State& s) {
  if (!s.live) {
    return s.version == 0 ? "none" : "gone@" + std::to_string(s.version);
  }
  return "v" + std::to_string(s.version) + "(" + s.payload + ")";
}

std::string IdOf(int i) {
  return "modelsession" + std::to_string(i) + "abcdefghijklmnopqrs";
}

Status Harness::Setup() {
  std::filesystem::create_directories(dir_);
  snapshot_.resize(tiers());
  for (int t = 0; t < tiers(); ++t) {
    auto swap =
        std::make_unique<SwapStore>("model-tier" + std::to_string(t),
                                    dir_ + "/tier" + std::to_string(t), &env_);
    swap_.push_back(swap.get());
    SK_RETURN_IF_ERROR(swap->Replace({}));
    auto faulty = std::make_unique<FaultyStore>(std::move(swap));
    faulty->stall = [this] { env_.Advance(Duration(60)); };
    faulty_.push_back(std::move(faulty));
  }
  for (int w = 0; w < kWorkers; ++w) {
    TieredOptions o;
    o.breaker_interval = kBreakerInterval;
    o.breaker_path = dir_ + "/breaker";
    o.env = &env_;
    o.on_caller_thread = true;  // one call at a time, in order
    o.write_delay = options_.write_delay;
    // The drain thread runs its first step at once, then sleeps for
    // longer than a run: the test drains (Drain ops).
    o.drain_every = TieredOptions::kMaxDrainEvery;
    if (async()) o.journal_path = dir_ + "/journal";
    for (int t = 0; t < tiers(); ++t) {
      o.tiers.emplace_back(std::make_unique<SharedTier>(faulty_[t].get()),
                           /*async=*/Behind(t));
    }
    Result<std::unique_ptr<Store>> store = OpenTieredStore(std::move(o));
    if (!store.ok()) return store.status();
    workers_.push_back(std::move(*store));
  }
  if (async()) {
    JournalOptions j;
    j.path = dir_ + "/journal";
    j.env = &env_;
    Result<std::unique_ptr<Journal>> journal = Journal::Open(j);
    if (!journal.ok()) return journal.status();
    journal_ = std::move(*journal);
    // Each worker's drain thread takes a first step at its first use:
    // waited for (it reads the wall clock once per tier), then the clock
    // moves on, so that nothing queued after is due at that step.
    for (auto& w : workers_) (void)w->Read(IdOf(99));
    for (int i = 0; i < 5000 && env_.other_thread_wall() < kWorkers * tiers();
         ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (env_.other_thread_wall() < kWorkers * tiers()) {
      return Status::Internal("the drain threads' first step never came");
    }
  }
  env_.Advance(Duration(1));
  for (int i = 0; i < options_.ids; ++i) ids_.push_back(IdOf(i));
  model_.resize(options_.ids);
  for (IdModel& m : model_) {
    for (int t = 0; t < tiers(); ++t) m.absent.insert(t);
  }
  return Status::OK();
}

std::optional<Violation> Harness::Exec(const Op& op) {
  ++step_;
  violation_.reset();
  env_.Advance(Duration(1));  // versions of successive calls differ
  Line(Code(op));
  switch (op.kind) {
    case Op::kBegin:
      DoBegin(op.a, op.b);
      break;
    case Op::kWrite:
    case Op::kTouch:
    case Op::kUnlock:
    case Op::kDestroyLocked:
      DoEnd(op.a, op.kind);
      break;
    case Op::kDestroy:
      DoDestroy(op.a, op.b);
      break;
    case Op::kRead:
      DoRead(op.a, op.b);
      break;
    case Op::kReadWrite:
      DoReadWrite(op.a, op.b);
      break;
    case Op::kTouchFree:
      DoTouchFree(op.a, op.b);
      break;
    case Op::kDown:
      faulty_[op.a]->down = op.b != 0;
      if (op.b) Fault();
      break;
    case Op::kBlackhole:
      faulty_[op.a]->blackholed = op.b != 0;
      if (op.b) Fault();
      break;
    case Op::kRestart:
    case Op::kRestore:
      DoReplace(op.a, op.kind == Op::kRestore);
      break;
    case Op::kSnapshot:
      snapshot_[op.a] = swap_[op.a]->Take(ids_);
      Note("snapshot of " + std::to_string(snapshot_[op.a]->size()));
      break;
    case Op::kAdvance:
      env_.Advance(Duration(op.a));
      break;
    case Op::kDrain:
      if (!async()) {
        Note("skipped (no journal)");
        break;
      }
      Note(Tiered(op.a).DrainStep() ? "more due" : "done");
      break;
  }
  if (!violation_) RefreshHolders();
  Note("   tiers: " + TiersNow());
  return violation_;
}

Op Harness::Next(std::mt19937_64& rng) {
  auto pick = [&](int n) {
    return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng));
  };
  struct Choice {
    int weight;
    std::function<Op()> make;
  };
  const int w = pick(kWorkers);
  const int id = pick(options_.ids);
  const int t = pick(tiers());
  std::vector<Choice> choices = {
      {18, [&] { return Begin(w, id); }},
      {14,
       [&] {
         // The end of an active request, if any.
         int who = w;
         if (!req_[who].active && req_[1 - who].active) who = 1 - who;
         const int k = pick(100);
         if (k < 50) return WriteOp(who);
         if (k < 62) return TouchOp(who);
         if (k < 75) return UnlockOp(who);
         return DestroyLocked(who);
       }},
      {10, [&] { return DestroyOp(w, id); }},
      {12, [&] { return ReadOp(w, id); }},
      {4, [&] { return ReadWrite(w, id); }},
      {3, [&] { return TouchFree(w, id); }},
      {7, [&] { return Down(t, !faulty_[t]->down); }},
      {3, [&] { return Blackhole(t, !faulty_[t]->blackholed); }},
      {2, [&] { return Restart(t); }},
      {3, [&] { return SnapshotOp(t); }},
      {2, [&] { return Restore(t); }},
      {10,
       [&] {
         const int delays[] = {
             5,
             50,
             static_cast<int>(kBreakerInterval.count()) + 1,
             static_cast<int>(options_.write_delay.count()) + 1,
             1500,
             3000};
         return Advance(delays[pick(6)]);
       }},
      {async() ? 10 : 0, [&] { return Drain(w); }},
  };
  int total = 0;
  for (const Choice& c : choices) total += c.weight;
  int k = pick(total);
  for (const Choice& c : choices) {
    if (k < c.weight) return c.make();
    k -= c.weight;
  }
  return Advance(1);
}

std::optional<Violation> Harness::Fail(const std::string& kind,
                                       const std::string& detail) {
  if (IgnoredKinds().count(kind) != 0) {
    Note("(ignored) [" + kind + "] " + detail);
    return violation_;
  }
  if (!violation_) {
    violation_ = Violation{kind, detail, step_};
    Note("VIOLATION [" + kind + "] " + detail);
  }
  return violation_;
}

std::optional<State> Harness::Inner(int t, int i) {
  Result<SessionRecord> r = swap_[t]->Read(ids_[i]);
  if (!r.ok()) return std::nullopt;
  State s;
  s.version = VersionOf(r->data);
  s.live = !IsTombstoneFrame(r->data);
  if (s.live) s.payload = PayloadOf(r->data);
  return s;
}

uint64_t Harness::JournalVersion(int i) {
  if (!journal_) return 0;
  Result<std::optional<JournalEntry>> p = journal_->Pending(ids_[i]);
  return p.ok() && *p ? (*p)->version : 0;
}

std::string Harness::TiersNow() {
  std::string out;
  for (int i = 0; i < options_.ids; ++i) {
    out += "s" + std::to_string(i) + "[";
    for (int t = 0; t < tiers(); ++t) {
      std::optional<State> s = Inner(t, i);
      out += (t ? " " : "") + (s ? Show(*s) : std::string("-"));
    }
    if (journal_) {
      const uint64_t j = JournalVersion(i);
      if (j) out += " J" + std::to_string(j);
    }
    out += "] ";
  }
  for (int t = 0; t < tiers(); ++t) {
    if (faulty_[t]->down) out += "T" + std::to_string(t) + ":down ";
    if (faulty_[t]->blackholed) out += "T" + std::to_string(t) + ":bh ";
  }
  return out;
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

RunOptions OptionsFor(Config config, uint64_t seed) {
  RunOptions o;
  o.config = config;
  o.strict = EnvInt("SK_MODEL_STRICT", 0) != 0;
  o.mixed = EnvInt("SK_MODEL_MIXED", 0) != 0;
  o.ids = 2 + static_cast<int>(seed % 2);
  if (config == Config::kAsync || config == Config::kAsync3) {
    const int delays[] = {0, 300, 2000};
    o.write_delay = Duration(delays[(seed / 2) % 3]);
  }
  return o;
}

Outcome RunOnce(const RunOptions& options, const std::string& dir,
                const std::vector<Op>& ops, std::mt19937_64* rng, int steps) {
  Outcome out;
  {
    Harness h(options, dir);
    Status st = h.Setup();
    if (!st.ok()) {
      out.violation = Violation{"harness", st.ToString(), 0};
      return out;
    }
    const int n = rng ? steps : static_cast<int>(ops.size());
    for (int k = 0; k < n && !out.violation; ++k) {
      const Op op = rng ? h.Next(*rng) : ops[k];
      out.ops.push_back(op);
      out.violation = h.Exec(op);
    }
    if (!out.violation) out.violation = h.Final();
    out.trace = h.trace();
    out.legit = h.legit();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return out;
}

std::vector<Op> Shrink(const RunOptions& options, const std::string& dir,
                       std::vector<Op> ops, const std::string& kind,
                       int budget) {
  auto same = [&](const std::vector<Op>& candidate) {
    Outcome o = RunOnce(options, dir, candidate);
    return o.violation && o.violation->kind == kind;
  };
  for (size_t chunk = std::max<size_t>(1, ops.size() / 2); budget > 0;) {
    bool removed = false;
    for (size_t at = 0; at < ops.size() && budget > 0;) {
      std::vector<Op> candidate = ops;
      candidate.erase(candidate.begin() + at,
                      candidate.begin() + std::min(ops.size(), at + chunk));
      --budget;
      if (same(candidate)) {
        ops = std::move(candidate);
        removed = true;
      } else {
        at += chunk;
      }
    }
    if (chunk == 1 && !removed) break;
    if (!removed) chunk = std::max<size_t>(1, chunk / 2);
  }
  return ops;
}

std::string CodeOf(const std::vector<Op>& ops) {
  std::string out = "{";
  for (size_t k = 0; k < ops.size(); ++k) {
    out += (k ? ", " : "") + Code(ops[k]);
  }
  return out + "}";
}

}  // namespace sessionkit::tiered::model
