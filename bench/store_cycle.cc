// Micro-benchmark of one store's primitives: the cost of Read, Write, Touch
// and a Read+Write cycle (what one PHP request that changes its session
// does) on 1000 sessions of 2 KB. "write-move" is a write whose expiry
// lands two minutes away from the previous one, the case of a session
// rewritten after a long pause (an index that groups expiries in buckets
// must move the entry).
//
// Usage: store_cycle [STORE_URL_OR_DIR] [OPS]
//   With no argument, an lmdb:// store in a fresh directory under the build
//   tree, removed at the end. A directory is opened as lmdb://DIR and left in
//   place. OPS (default 50000) operations per measurement and run.
//
// Each measurement runs 3 times; every operation is timed on its own and a
// run reports the median, mean and 99th percentile. One line per
// measurement: the median of the three run medians, then each run.
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "sessionkit/open.h"
#include "sessionkit/store.h"

namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr int kIds = 1000;
constexpr size_t kValueBytes = 2048;
constexpr int kRuns = 3;
constexpr sessionkit::Duration kTtl(1440 * 1000);  // PHP's gc_maxlifetime

struct RunStats {
  double median_us = 0;
  double mean_us = 0;
  double p99_us = 0;
};

RunStats Summarise(std::vector<double>& us) {
  RunStats s;
  std::sort(us.begin(), us.end());
  s.median_us = us[us.size() / 2];
  s.p99_us = us[us.size() * 99 / 100];
  double sum = 0;
  for (double v : us) sum += v;
  s.mean_us = sum / us.size();
  return s;
}

// Times `op(i)` for i in [0, ops), once per operation.
RunStats TimeOps(int ops, const std::function<bool(int)>& op, bool* failed) {
  std::vector<double> us(ops);
  for (int i = 0; i < ops; ++i) {
    const auto start = SteadyClock::now();
    const bool ok = op(i);
    const auto end = SteadyClock::now();
    if (!ok) *failed = true;
    us[i] = std::chrono::duration<double, std::micro>(end - start).count();
  }
  return Summarise(us);
}

void Report(const char* name, std::vector<RunStats> runs) {
  std::vector<double> medians;
  for (const RunStats& r : runs) medians.push_back(r.median_us);
  std::sort(medians.begin(), medians.end());
  printf("%-10s median %7.2f us/op  runs:", name, medians[medians.size() / 2]);
  for (const RunStats& r : runs) {
    printf("  [median %.2f mean %.2f p99 %.2f]", r.median_us, r.mean_us,
           r.p99_us);
  }
  printf("\n");
  fflush(stdout);
}

// A session id of PHP's default shape (32 characters of [a-z0-9]).
std::string SessionId(int n) {
  char buf[40];
  snprintf(buf, sizeof buf, "bench%027d", n);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string spec;
  std::string temp_dir;
  if (argc > 1) {
    spec = argv[1];
    if (spec.find("://") == std::string::npos) {
      spec = "lmdb://" + fs::absolute(spec).lexically_normal().string();
    }
  } else {
    std::error_code ec;
    fs::path base = fs::path(SK_BENCH_TMPDIR);
    fs::create_directories(base, ec);
    std::string templ = (base / "store_cycle-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) {
      perror(("store_cycle: cannot create a directory under " + base.string())
                 .c_str());
      return 1;
    }
    temp_dir = templ;
    spec = "lmdb://" + temp_dir;
  }
  const int ops = argc > 2 ? atoi(argv[2]) : 50000;
  if (ops < 100) {
    fprintf(stderr, "store_cycle: OPS must be at least 100\n");
    return 2;
  }

  auto opened = sessionkit::OpenStore(spec);
  if (!opened.ok()) {
    fprintf(stderr, "store_cycle: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<sessionkit::Store> store = std::move(*opened);

  std::vector<std::string> ids;
  for (int i = 0; i < kIds; ++i) ids.push_back(SessionId(i));
  std::string value(kValueBytes, '\0');
  std::mt19937 rng(1);
  for (char& c : value) c = static_cast<char>('a' + rng() % 26);
  // A random visiting order, the same in every run.
  std::vector<int> order(1 << 16);
  for (int& o : order) o = static_cast<int>(rng() % kIds);
  auto id_at = [&](int i) -> const std::string& {
    return ids[order[i & (order.size() - 1)]];
  };
  // Every write changes a few bytes, as a real session does.
  auto next_value = [&](int i) -> const std::string& {
    snprintf(value.data(), 16, "%015d", i);
    value[15] = ';';
    return value;
  };

  for (int i = 0; i < kIds; ++i) {
    sessionkit::Status s = store->Write(ids[i], next_value(i), kTtl);
    if (!s.ok()) {
      fprintf(stderr, "store_cycle: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  printf("store_cycle: %s, %d sessions of %zu bytes, %d ops x %d runs\n",
         store->name().c_str(), kIds, kValueBytes, ops, kRuns);

  bool failed = false;
  std::vector<RunStats> read, write, write_move, touch, cycle;
  std::vector<bool> far(kIds, false);  // see write-move
  for (int run = 0; run < kRuns; ++run) {
    read.push_back(TimeOps(
        ops, [&](int i) { return store->Read(id_at(i)).ok(); }, &failed));
    write.push_back(TimeOps(
        ops,
        [&](int i) { return store->Write(id_at(i), next_value(i), kTtl).ok(); },
        &failed));
    write_move.push_back(TimeOps(
        ops,
        [&](int i) {
          // Each session's expiry alternates between two minutes apart.
          const int n = order[i & (order.size() - 1)];
          far[n] = !far[n];
          const sessionkit::Duration ttl =
              kTtl + sessionkit::Duration(far[n] ? 120000 : 0);
          return store->Write(ids[n], next_value(i), ttl).ok();
        },
        &failed));
    touch.push_back(TimeOps(
        ops, [&](int i) { return store->Touch(id_at(i), kTtl).ok(); },
        &failed));
    cycle.push_back(TimeOps(
        ops,
        [&](int i) {
          auto r = store->Read(id_at(i));
          return r.ok() && store->Write(id_at(i), next_value(i), kTtl).ok();
        },
        &failed));
  }
  Report("read", read);
  Report("write", write);
  Report("write-move", write_move);
  Report("touch", touch);
  Report("read+write", cycle);

  store.reset();
  if (!temp_dir.empty()) {
    std::error_code ec;
    fs::remove_all(temp_dir, ec);
  }
  if (failed) {
    fprintf(stderr, "store_cycle: some operations failed\n");
    return 1;
  }
  return 0;
}
