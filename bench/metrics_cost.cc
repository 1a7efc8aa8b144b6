// What counting into the metrics file costs one session cycle
// (docs/metrics.md#cost): an engine over a store that does no I/O (a map
// in memory) runs read + write cycles with EngineOptions::metrics unset and
// set to OpenMetricsFile, in alternating rounds; the difference of the
// fastest rounds is what the engine's counting adds to a cycle, with nothing of
// a real store's time around it to hide in. Run by `GROUP=metrics bench/run`
// and by hand: `build/bench/metrics_cost [CYCLES]`.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sessionkit/engine.h"
#include "sessionkit/metrics.h"

namespace {

using sessionkit::Duration;
using sessionkit::Result;
using sessionkit::Status;

// A store of one process's memory: the engine's path without I/O.
//
// Thread safety: one thread.
class MemoryStore : public sessionkit::Store {
 public:
  const std::string& name() const override { return name_; }
  Result<sessionkit::SessionRecord> Read(std::string_view id) override {
    auto it = data_.find(std::string(id));
    if (it == data_.end()) return Status::NotFound("none");
    return sessionkit::SessionRecord{it->second, sessionkit::TimePoint::max()};
  }
  Status Write(std::string_view id, std::string_view data, Duration) override {
    data_[std::string(id)].assign(data);
    return Status::OK();
  }
  Status Touch(std::string_view, Duration) override { return Status::OK(); }
  Status Destroy(std::string_view id) override {
    data_.erase(std::string(id));
    return Status::OK();
  }
  Result<bool> Exists(std::string_view id) override {
    return data_.count(std::string(id)) != 0;
  }
  Result<sessionkit::ScanPage> Scan(const sessionkit::ScanOptions&) override {
    return sessionkit::ScanPage{};
  }
  Result<sessionkit::GcResult> Gc(sessionkit::TimePoint) override {
    return sessionkit::GcResult{};
  }
  Status Health() override { return Status::OK(); }
  // Locks that are always free: the engine's locking path (PHP's default)
  // without a wait.
  Result<sessionkit::LockedRead> LockAndRead(
      std::string_view id, const sessionkit::LockRequest&) override {
    sessionkit::LockedRead out;
    out.outcome = sessionkit::LockOutcome::kAcquired;
    auto record = Read(id);
    out.found = record.ok();
    if (record.ok()) out.record = *std::move(record);
    return out;
  }
  Status WriteAndUnlock(std::string_view id, std::string_view data,
                        Duration ttl, const sessionkit::LockOwner&) override {
    return Write(id, data, ttl);
  }

 private:
  std::string name_ = "memory";
  std::map<std::string, std::string> data_;
};

// A sink that drops every count: what the engine's hooks and clock reads
// cost by themselves.
//
// Thread safety: stateless.
class DroppingSink : public sessionkit::MetricsSink {
 public:
  void Operation(sessionkit::MetricOp, sessionkit::MetricOutcome,
                 std::chrono::nanoseconds) noexcept override {}
  void LockWait(std::chrono::nanoseconds) noexcept override {}
  void Add(sessionkit::MetricCounter, uint64_t) noexcept override {}
};

// ns per cycle of `cycles` locked read + write cycles on `engine`.
constexpr int kRounds = 15;

double NsPerCycle(sessionkit::SessionEngine& engine, int cycles) {
  const std::string payload(1500, 'x');
  char id[] = "metricscostaaaaaaaaaaaaaaaaaaaa0";
  const sessionkit::LockOptions lock;  // locking on, as PHP's default
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < cycles; ++i) {
    id[sizeof id - 2] = static_cast<char>('a' + i % 16);
    auto read = engine.ReadForUpdate(id, lock);
    if (!read.ok()) abort();
    if (!engine.Write(id, payload, Duration(60000), read->lock).ok()) abort();
  }
  return std::chrono::duration<double, std::nano>(
             std::chrono::steady_clock::now() - start)
             .count() /
         cycles;
}

// The fastest round: on a shared machine other work only ever adds time,
// so the minimum is the closest to what the code itself costs.
double Fastest(const std::vector<double>& v) {
  return *std::min_element(v.begin(), v.end());
}

}  // namespace

int main(int argc, char** argv) {
  const int cycles = argc > 1 ? atoi(argv[1]) : 100000;
  const std::string file = std::string(SK_BENCH_TMPDIR) + "/metrics-cost." +
                           std::to_string(getpid());
  std::string dir = SK_BENCH_TMPDIR;
  (void)!system(("mkdir -p '" + dir + "'").c_str());
  auto sink = sessionkit::OpenMetricsFile(file, "lmdb");
  if (!sink.ok()) {
    fprintf(stderr, "%s\n", sink.status().message().c_str());
    return 1;
  }
  sessionkit::EngineOptions off;
  sessionkit::EngineOptions on;
  on.metrics = *sink;
  sessionkit::EngineOptions dropping;
  dropping.metrics = std::make_shared<DroppingSink>();
  sessionkit::SessionEngine plain(std::make_unique<MemoryStore>(), off);
  sessionkit::SessionEngine counted(std::make_unique<MemoryStore>(), on);
  sessionkit::SessionEngine hooks(std::make_unique<MemoryStore>(), dropping);
  NsPerCycle(plain, cycles / 10);  // warm-up
  NsPerCycle(counted, cycles / 10);
  NsPerCycle(hooks, cycles / 10);
  std::vector<double> a, b, c;
  for (int round = 0; round < kRounds; ++round) {
    a.push_back(NsPerCycle(plain, cycles));
    b.push_back(NsPerCycle(counted, cycles));
    c.push_back(NsPerCycle(hooks, cycles));
  }
  const double off_ns = Fastest(a), on_ns = Fastest(b), hooks_ns = Fastest(c);
  printf(
      "engine cycle (locked read + write, in-memory store), fastest of %d "
      "rounds of %d:\n  metrics off %.0f ns, on %.0f ns, a sink that drops "
      "counts %.0f ns; counting adds %.0f ns per cycle (%.0f of them the "
      "file's adds)\n",
      kRounds, cycles, off_ns, on_ns, hooks_ns, on_ns - off_ns,
      on_ns - hooks_ns);
  unlink(file.c_str());
  return 0;
}
