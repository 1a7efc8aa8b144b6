// The model-based test of the store of tiers (tiered_model_test.cc): the
// operations of a run, the model's states and violations, and the Harness
// that runs them on two workers over two tiers and checks each result. Its
// definitions: tiered_model.cc (setup, ops drawn and run, the runs and
// their shrinking), tiered_model_ops.cc (the requests and faults) and
// tiered_model_check.cc (the model's checks and the end of a run).
#ifndef SESSIONKIT_TIERED_TIERED_MODEL_H_
#define SESSIONKIT_TIERED_TIERED_MODEL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
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
#include "sessionkit/stores/lmdb.h"
#include "support/fake_env.h"
#include "tiered/journal.h"
#include "tiered/tiered_store.h"
#include "tiered/tiered_test_support.h"

namespace sessionkit::tiered::model {

inline constexpr Duration kSessionTtl{24 * 3600 * 1000LL};  // never reached
inline constexpr Duration kLease{20000};
inline constexpr Duration kBreakerInterval{200};
inline constexpr int kWorkers = 2;

// ---------------------------------------------------------------------------
// The clocks: a FakeEnv that moves only when the test moves it, noting the
// wall-clock reads of other threads (the drain threads' first step, which
// runs at once when a store is first used: the test waits for it).
class ModelEnv final : public Env {
 public:
  ModelEnv() : main_(std::this_thread::get_id()) {}
  TimePoint WallNow() override {
    if (std::this_thread::get_id() != main_) ++other_thread_wall_;
    return fake_.WallNow();
  }
  SteadyTime SteadyNow() override { return fake_.SteadyNow(); }
  int64_t BootClockMs() override { return fake_.BootClockMs(); }
  std::string_view BootId() override { return fake_.BootId(); }
  void SleepFor(std::chrono::nanoseconds d) override { fake_.SleepFor(d); }
  void WaitFor(
      std::chrono::nanoseconds timeout,
      const std::function<void(std::chrono::nanoseconds)>& wait) override {
    fake_.WaitFor(timeout, wait);
  }
  Status RandomBytes(void* buf, size_t len) override {
    return fake_.RandomBytes(buf, len);
  }
  std::string_view HostName() override { return fake_.HostName(); }
  pid_t Pid() override { return fake_.Pid(); }
  bool ProcessExists(pid_t pid) override { return fake_.ProcessExists(pid); }

  void Advance(Duration d) { fake_.Advance(d); }
  int other_thread_wall() const { return other_thread_wall_.load(); }

 private:
  test::FakeEnv fake_{test::FakeEnv::Scope::kAll};
  const std::thread::id main_;
  std::atomic<int> other_thread_wall_{0};
};

// ---------------------------------------------------------------------------
// A tier's server: an LMDB store that can be restarted empty or restored
// from a snapshot (a new LMDB environment in a new directory each time; the
// locks go with the data, as a restarted server's do). Known by a fixed
// name, so that the journal and the breakers know it across restarts.
class SwapStore final : public fixtures::ForwardingStore {
 public:
  SwapStore(std::string name, std::string dir, Env* env)
      : name_(std::move(name)), dir_(std::move(dir)), env_(env) {}
  ~SwapStore() override { Close(); }

  using Snapshot = std::map<std::string, SessionRecord>;

  // Opens a new, empty generation, then writes `records` into it (their
  // remaining lifetime).
  Status Replace(const Snapshot& records) {
    Close();
    path_ = dir_ + "-" + std::to_string(generation_++);
    LmdbOptions lmdb;
    lmdb.path = path_;
    lmdb.map_size = 1ull << 20;
    lmdb.map_max = 16ull << 20;
    lmdb.env = env_;
    // A small lock table: a few sessions, opened hundreds of times a run.
    lmdb.lock_table_for_testing = {.buckets = 16, .entries = 8, .waiters = 4};
    Result<std::unique_ptr<Store>> store = OpenLmdbStore(lmdb);
    if (!store.ok()) return store.status();
    s_ = std::move(*store);
    for (const auto& [id, record] : records) {
      const Duration ttl =
          std::chrono::ceil<Duration>(record.expires_at - env_->WallNow());
      if (ttl.count() <= 0) continue;
      SK_RETURN_IF_ERROR(s_->Write(id, record.data, ttl));
    }
    return Status::OK();
  }
  Snapshot Take(const std::vector<std::string>& ids) {
    Snapshot out;
    for (const std::string& id : ids) {
      Result<SessionRecord> r = s_->Read(id);
      if (r.ok()) out[id] = *r;
    }
    return out;
  }

  const std::string& name() const override { return name_; }

 private:
  Store& target() override { return *s_; }
  void Close() {
    s_.reset();
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string name_;
  const std::string dir_;
  Env* const env_;
  std::string path_;
  int generation_ = 0;
  std::unique_ptr<Store> s_;
};

// ---------------------------------------------------------------------------
// The operations. Each is meaningful in any state (one that does not apply,
// as the end of a request on an idle worker, is skipped), so that a run's
// operations can be shrunk by removing some.
struct Op {
  enum Kind {
    kBegin,          // w, id: LockAndRead (wait 0): a request starts
    kWrite,          // w: WriteAndUnlock above what the lock read
    kTouch,          // w: TouchAndUnlock
    kUnlock,         // w: Unlock
    kDestroyLocked,  // w: Destroy under the request's lock
    kDestroy,        // w, id: Destroy without a lock (the CLI)
    kRead,           // w, id: Read without a lock
    kReadWrite,      // w, id: Read, then Write above it (locking off)
    kTouchFree,      // w, id: Touch without a lock (locking off)
    kDown,           // t, on: the tier stops (or starts) answering
    kBlackhole,      // t, on: the tier times out (or answers again)
    kRestart,        // t: the tier restarts empty
    kSnapshot,       // t: a snapshot of the tier is taken (no fault)
    kRestore,        // t: the tier is restored from its last snapshot
    kAdvance,        // ms: time passes
    kDrain,          // w: a drain step of worker w (with a journal)
  };
  Kind kind;
  int a = 0;  // w or t or ms
  int b = 0;  // id, or on
};

inline Op Begin(int w, int id) { return {Op::kBegin, w, id}; }
inline Op WriteOp(int w) { return {Op::kWrite, w, 0}; }
inline Op TouchOp(int w) { return {Op::kTouch, w, 0}; }
inline Op UnlockOp(int w) { return {Op::kUnlock, w, 0}; }
inline Op DestroyLocked(int w) { return {Op::kDestroyLocked, w, 0}; }
inline Op DestroyOp(int w, int id) { return {Op::kDestroy, w, id}; }
inline Op ReadOp(int w, int id) { return {Op::kRead, w, id}; }
inline Op ReadWrite(int w, int id) { return {Op::kReadWrite, w, id}; }
inline Op TouchFree(int w, int id) { return {Op::kTouchFree, w, id}; }
inline Op Down(int t, bool on) { return {Op::kDown, t, on ? 1 : 0}; }
inline Op Blackhole(int t, bool on) { return {Op::kBlackhole, t, on ? 1 : 0}; }
inline Op Restart(int t) { return {Op::kRestart, t, 0}; }
inline Op SnapshotOp(int t) { return {Op::kSnapshot, t, 0}; }
inline Op Restore(int t) { return {Op::kRestore, t, 0}; }
inline Op Advance(int ms) { return {Op::kAdvance, ms, 0}; }
inline Op Drain(int w) { return {Op::kDrain, w, 0}; }

// The op as the DSL above writes it (to paste a shrunk run into a test).
std::string Code(const Op& op);

// A|B, A|B?write=async, A|B|C, A|B|C?write=async (the last tier behind).
enum class Config { kSync, kAsync, kSync3, kAsync3 };

const char* ConfigName(Config c);

// A session's state: live at a version with a payload, or gone (destroyed
// at a version; 0: never written).
struct State {
  bool live = false;
  uint64_t version = 0;
  std::string payload;
  bool operator==(const State& o) const {
    return live == o.live && version == o.version &&
           (!live || payload == o.payload);
  }
};

std::string Show(const State& s);

struct Violation {
  std::string kind;  // stable across runs of one defect (for shrinking)
  std::string detail;
  int step = 0;
};

// The sessions' ids.
std::string IdOf(int i);

struct RunOptions {
  Config config = Config::kSync;
  int ids = 3;
  Duration write_delay{0};
  // The documented cases (kAllowedRestoredCache, kAllowedNoMark) are
  // violations too (SK_MODEL_STRICT=1).
  bool strict = false;
  // Writes without the lock (locking off) while a request holds the
  // session's lock (locking on), as a deployment that mixes both would
  // (SK_MODEL_MIXED=1).
  bool mixed = false;
};

// One run: the tiers, the two workers, the model, the trace.
class Harness {
 public:
  Harness(const RunOptions& options, const std::string& dir)
      : options_(options), dir_(dir), strict_(options.strict) {}
  ~Harness() {
    workers_.clear();  // before the tiers they call
    faulty_.clear();
  }

  bool async() const {
    return options_.config == Config::kAsync ||
           options_.config == Config::kAsync3;
  }
  int tiers() const {
    return options_.config == Config::kSync3 ||
                   options_.config == Config::kAsync3
               ? 3
               : 2;
  }
  // Whether tier `t` is written behind (the last one, with a journal).
  bool Behind(int t) const { return async() && t == tiers() - 1; }

  Status Setup();

  // Runs `op`; the first violation it shows, if any.
  std::optional<Violation> Exec(const Op& op);

  // All tiers back, every request ended, the journal drained, each session
  // read under its lock, then each tier checked.
  std::optional<Violation> Final();

  // A next op for this state, from `rng`.
  Op Next(std::mt19937_64& rng);

  const std::string& trace() const { return trace_; }
  const std::map<std::string, int>& legit() const { return legit_; }

 private:
  struct Request {
    bool active = false;
    int id = 0;
    LockOwner owner;
    uint64_t read_version = 0;
    TimePoint began;
    bool fault_since = false;      // a tier faulted while it held the lock
    bool destroyed_under = false;  // another logout was acknowledged
    bool lock_ended = false;       // another logout was tried: it ends it
  };
  struct IdModel {
    State ack;
    std::vector<State> maybe;  // failed calls since `ack`, oldest first
    // Tiers that held a copy at least as new as `ack` since it was
    // acknowledged and have not been restarted or restored since.
    std::set<int> holders;
    // For a logout: the tiers that held no copy when it was acknowledged
    // (and were not restored since): they cannot bring an old one back.
    std::set<int> absent;
    // For a logout: whether a tier or the journal held its mark when it
    // was acknowledged.
    bool marked = false;
    // Older versions that reads returned since `ack` and that were allowed
    // (the newest out of reach): a locked read repairs them into tiers,
    // which are then entitled to them.
    std::set<uint64_t> accepted;
  };
  // Who a read asks: the tiers that answer, and the journal.
  struct Consult {
    std::set<int> tiers;
    bool journal = false;
    // Tiers behind that answer and were not asked because a synchronous
    // tier had a copy; and the synchronous tiers that had one.
    std::set<int> behind_skipped;
    std::set<int> sync_copies;
  };

  TieredStore& Tiered(int w) {
    return *static_cast<TieredStore*>(workers_[w].get());
  }

  void Line(const std::string& s) {
    trace_ += "  " + std::to_string(step_) + ": " + s + "\n";
  }
  void Note(const std::string& s) { trace_ += "       " + s + "\n"; }

  std::optional<Violation> Fail(const std::string& kind,
                                const std::string& detail);

  // What tier `t` holds of session `i` (its server, directly).
  std::optional<State> Inner(int t, int i);
  // The version this host's journal still owes some tier for session `i`.
  uint64_t JournalVersion(int i);

  std::string TiersNow();

  // Whom a read of session `i` by worker `w` asks now (TieredStore::
  // Usable, ReadAll, ReadBehind), among the tiers that answer.
  Consult ConsultSet(int w, int i);

  // Whether a read that returned `got` (older than the acknowledged state,
  // or gone for live, or live for gone) is what the design allows: no copy
  // of the acknowledged state (or newer) was within the read's reach, and
  // the older copy returned sits on a tier entitled to it. `*why` says why
  // not, or (allowed) which case of the design it is (Allowed*).
  bool Legit(int i, const State& got, const Consult& c, std::string* why);

  // Checks a read of session `i` that returned `got`.
  void CheckRead(int i, const State& got, const Consult& c,
                 const std::string& what);

  // Makes `s` the acknowledged state of session `i`.
  void SetAck(int i, const State& s, bool check);

  void RefreshHolders();

  // A tier faulted: the requests holding a lock may lose it.
  void Fault();

  void DoReplace(int t, bool restore);

  State StateOf(const LockedRead& r);

  // The gone states compare by kind only (a read does not tell the
  // version of a logout it hides).
  State Normalise(int i, State got);

  void DoBegin(int w, int i);

  void DoEnd(int w, Op::Kind kind);

  void Destroyed(int w, int i, const State& s, const Status& st);

  void DoDestroy(int w, int i);

  // The state read (nullopt: an error).
  std::optional<State> DoRead(int w, int i);

  // Whether a call of worker `w` on session `i` without the lock is
  // skipped (noted): the worker holds its lock, or another request does
  // and locking is not mixed.
  bool SkipUnlocked(int w, int i);

  // A request with locking off (as SessionEngine: Read, then Write of a
  // version above what it read).
  void DoReadWrite(int w, int i);

  // A touch with locking off (PHP's updateTimestamp): checked as a read of
  // what the tiers it asks hold (it reads as Read does, then moves the
  // expiry of the newest copy, writing it whole where it is older).
  void DoTouchFree(int w, int i);

  void DrainAll();

  const RunOptions options_;
  const std::string dir_;
  const bool strict_;
  ModelEnv env_;
  std::vector<SwapStore*> swap_;
  std::vector<std::unique_ptr<fixtures::FaultyStore>> faulty_;
  std::vector<std::unique_ptr<Store>> workers_;
  std::unique_ptr<Journal> journal_;
  std::vector<std::string> ids_;
  std::vector<IdModel> model_;
  std::map<int, std::set<int>> faulted_since_ack_;
  std::map<int, std::optional<State>> final_;
  std::vector<std::optional<SwapStore::Snapshot>> snapshot_;  // per tier
  Request req_[kWorkers];
  int step_ = 0;
  int writes_ = 0;
  std::optional<Violation> violation_;
  std::string trace_;
  std::map<std::string, int> legit_;
};

// ---------------------------------------------------------------------------

int EnvInt(const char* name, int fallback);

RunOptions OptionsFor(Config config, uint64_t seed);

struct Outcome {
  std::optional<Violation> violation;
  std::vector<Op> ops;  // as run
  std::string trace;
  std::map<std::string, int> legit;
};

// Runs `ops` (or, when `rng`, `steps` ops drawn from it), then the end.
Outcome RunOnce(const RunOptions& options, const std::string& dir,
                const std::vector<Op>& ops, std::mt19937_64* rng = nullptr,
                int steps = 0);

// The fewest ops (removing chunks, then single ops) that still show a
// violation of the same kind; at most `budget` runs.
std::vector<Op> Shrink(const RunOptions& options, const std::string& dir,
                       std::vector<Op> ops, const std::string& kind,
                       int budget);

std::string CodeOf(const std::vector<Op>& ops);

}  // namespace sessionkit::tiered::model

#endif  // SESSIONKIT_TIERED_TIERED_MODEL_H_
