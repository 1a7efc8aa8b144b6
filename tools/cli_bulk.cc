// The bulk walk of migrate and rekey: state file, progress, summary, stop.
#include "cli_bulk.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "cli.h"
#include "php_payload.h"
#include "sessionkit/session_id.h"

namespace sessionkit::cli {
namespace {

constexpr char kStateMagic[] = "sessionkit bulk state 1";

// The names of the outcomes in the state file, in BulkOutcome order.
constexpr const char* kOutcomeKeys[kBulkOutcomes] = {
    "copied", "present", "expired", "active_key", "locked", "unreadable"};

std::atomic<bool> g_stop{false};

extern "C" void OnStopSignal(int) { g_stop.store(true); }

// Installs the stop handlers for its lifetime and restores the old ones.
//
// Thread safety: one at a time per process.
class StopSignals {
 public:
  StopSignals() {
    g_stop.store(false);
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // store calls finish; the walk checks after
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::string HexOf(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

bool UnhexInto(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (size_t j = i; j < i + 2; ++j) {
      const char c = hex[j];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    out->push_back(static_cast<char>(v));
  }
  return true;
}

// A keyed-free BLAKE2b digest of `text`, `bytes` long, as hex. The state
// file names the sessions of the current page by such a digest: a whole id
// is a credential and never goes to disk here.
std::string IdDigest(std::string_view text, size_t bytes) {
  unsigned char out[32];
  crypto_generichash(out, bytes,
                     reinterpret_cast<const unsigned char*>(text.data()),
                     text.size(), nullptr, 0);
  return HexOf(out, bytes);
}

// What the state file holds.
struct BulkState {
  std::string job;                  // Digest of BulkOptions::job
  std::string description;          // BulkOptions::job_description
  std::string cursor;               // where the current page starts
  std::set<std::string> page_done;  // digests of its sessions handled
  BulkCounts counts;
  std::vector<std::string> samples;  // "<id prefix>: <reason>"
};

std::string OneLineText(std::string_view text) {
  std::string line = EscapeBytes(text);
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

std::string FormatState(const BulkState& s) {
  std::ostringstream o;
  o << kStateMagic << "\n";
  o << "job " << s.job << "\n";
  o << "what " << OneLineText(s.description) << "\n";
  o << "cursor "
    << HexOf(reinterpret_cast<const unsigned char*>(s.cursor.data()),
             s.cursor.size())
    << "\n";
  for (size_t i = 0; i < kBulkOutcomes; ++i) {
    o << "count " << kOutcomeKeys[i] << " " << s.counts.by[i] << "\n";
  }
  for (const std::string& d : s.page_done) o << "done " << d << "\n";
  for (const std::string& x : s.samples)
    o << "sample " << OneLineText(x) << "\n";
  return o.str();
}

// Parses a state file's text; InvalidArgument naming the line otherwise.
Result<BulkState> ParseState(const std::string& text, const std::string& path) {
  BulkState s;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  bool magic = false;
  while (std::getline(in, line)) {
    ++n;
    const auto bad = [&](const std::string& why) {
      return Status::InvalidArgument("state file " + path + " line " +
                                     std::to_string(n) + ": " + why +
                                     "; it is not a state file of this "
                                     "version (delete it to start over)");
    };
    if (n == 1) {
      if (line != kStateMagic) return bad("no sessionkit state header");
      magic = true;
      continue;
    }
    const size_t sp = line.find(' ');
    const std::string key = line.substr(0, sp);
    const std::string value =
        sp == std::string::npos ? "" : line.substr(sp + 1);
    if (key == "job") {
      s.job = value;
    } else if (key == "what") {
      s.description = value;
    } else if (key == "cursor") {
      if (!UnhexInto(value, &s.cursor)) return bad("a malformed cursor");
    } else if (key == "count") {
      const size_t sp2 = value.find(' ');
      const std::string name = value.substr(0, sp2);
      const auto* it =
          std::find_if(std::begin(kOutcomeKeys), std::end(kOutcomeKeys),
                       [&](const char* k) { return name == k; });
      if (it == std::end(kOutcomeKeys) || sp2 == std::string::npos) {
        return bad("an unknown count");
      }
      char* end = nullptr;
      errno = 0;
      const unsigned long long v =
          std::strtoull(value.c_str() + sp2 + 1, &end, 10);
      if (errno != 0 || end == value.c_str() + sp2 + 1 || *end != '\0') {
        return bad("a malformed count");
      }
      s.counts.by[static_cast<size_t>(it - std::begin(kOutcomeKeys))] = v;
    } else if (key == "done") {
      s.page_done.insert(value);
    } else if (key == "sample") {
      s.samples.push_back(value);
    } else if (!key.empty()) {
      return bad("an unknown entry");
    }
  }
  if (!magic) {
    return Status::InvalidArgument("state file " + path +
                                   " is empty; delete it to start over");
  }
  return s;
}

// Writes the state to a temporary file and renames it over `path`, so a
// crash leaves the old state or the new one, never half of one.
Status SaveState(const BulkState& s, const std::string& path) {
  const std::string tmp = path + ".tmp";
  const std::string text = FormatState(s);
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  const int saved = errno;
  if (fd >= 0) close(fd);
  if (ok && rename(tmp.c_str(), path.c_str()) == 0) return Status::OK();
  const std::string why = std::strerror(ok ? errno : saved);
  unlink(tmp.c_str());
  return Status::Unavailable("cannot write state file " + path + ": " + why);
}

// The state of `path` when it exists (nullopt when it does not).
Result<std::optional<BulkState>> LoadState(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<BulkState>();
    return Status::InvalidArgument("cannot read state file " + path + ": " +
                                   std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto state = ParseState(text.str(), path);
  if (!state.ok()) return state.status();
  return std::optional<BulkState>(std::move(state).value());
}

std::string HoursMinutesSeconds(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60,
                s % 60);
  return buf;
}

void PrintSummary(const BulkOptions& o, const BulkState& s, bool finished,
                  std::ostream& out) {
  const BulkCounts& c = s.counts;
  out << o.command << " " << o.job_description << ": "
      << (finished    ? "done"
          : o.dry_run ? "stopped"
                      : "stopped, the state is in " + o.state_path)
      << (o.dry_run ? " (dry run: nothing written)" : "") << "\n";
  out << (o.dry_run ? "would be " : "") << o.done_word << ": "
      << c[BulkOutcome::kCopied] << "\n";
  out << "skipped: "
      << c[BulkOutcome::kPresent] + c[BulkOutcome::kExpired] +
             c[BulkOutcome::kActiveKey]
      << " (already there " << c[BulkOutcome::kPresent] << ", expired "
      << c[BulkOutcome::kExpired] << ", already under the active key "
      << c[BulkOutcome::kActiveKey] << ")\n";
  out << "locked (a re-run retries them): " << c[BulkOutcome::kLocked] << "\n";
  out << "unreadable: " << c[BulkOutcome::kUnreadable] << "\n";
  for (const std::string& x : s.samples) out << "  " << x << "\n";
}

}  // namespace

BulkProgress::BulkProgress(const BulkOptions& o, std::optional<uint64_t> total,
                           uint64_t already, std::ostream& err)
    : o_(o), total_(total), already_(already), err_(err) {}

void BulkProgress::Tick(uint64_t done) {
  const auto now = std::chrono::steady_clock::now();
  const auto every = o_.progress_bar
                         ? std::chrono::milliseconds(200)
                         : std::chrono::milliseconds(o_.progress_every.count());
  if (now - last_ < every) return;
  last_ = now;
  Draw(done, now);
}

void BulkProgress::Finish(uint64_t done) {
  if (!o_.progress_bar) return;
  Draw(done, std::chrono::steady_clock::now());
  err_ << "\n" << std::flush;
}

void BulkProgress::Draw(uint64_t done,
                        std::chrono::steady_clock::time_point now) {
  const double secs =
      std::chrono::duration<double>(now - start_).count() + 1e-9;
  const double rate = static_cast<double>(done - already_) / secs;
  std::ostringstream line;
  if (total_ && *total_ > 0) {
    const uint64_t shown = std::min(done, *total_);
    const double frac =
        static_cast<double>(shown) / static_cast<double>(*total_);
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    if (o_.progress_bar) {
      line << "[" << std::string(filled, '#')
           << std::string(width - filled, '.') << "] ";
    }
    char pct[16];
    std::snprintf(pct, sizeof(pct), "%.0f%%", frac * 100);
    line << shown << " / " << *total_ << " " << pct << ", "
         << static_cast<uint64_t>(rate) << "/s, ETA "
         << HoursMinutesSeconds(
                rate > 0 ? static_cast<double>(*total_ - shown) / rate : -1);
  } else {
    line << done << " sessions, " << static_cast<uint64_t>(rate) << "/s";
  }
  if (o_.progress_bar) {
    err_ << "\r" << line.str() << "\x1b[K" << std::flush;
  } else {
    err_ << "sessionkit " << o_.command << ": " << line.str() << "\n";
  }
}

std::optional<uint64_t> BulkTask::Total() {
  uint64_t n = 0;
  std::string cursor;
  do {
    auto page = Scan(cursor, kBulkPageSize);
    if (!page.ok() ||
        (!page->next_cursor.empty() && page->next_cursor == cursor)) {
      return std::nullopt;
    }
    n += page->ids.size();
    cursor = std::move(page->next_cursor);
  } while (!cursor.empty());
  return n;
}

uint64_t BulkCounts::total() const {
  uint64_t t = 0;
  for (uint64_t v : by) t += v;
  return t;
}

std::string DefaultBulkStatePath(std::string_view command) {
  return "sessionkit-" + std::string(command) + ".state";
}

LockOptions BulkLockOptions() {
  LockOptions lock;
  lock.wait = kBulkLockWait;
  lock.timeout_action = LockTimeoutAction::kFail;
  return lock;
}

std::optional<BulkVisit> LockedVisit(const Status& status) {
  if (status.IsDeadlineExceeded() || status.IsResourceExhausted()) {
    return BulkVisit{BulkOutcome::kLocked, status.message()};
  }
  return std::nullopt;
}

BulkReport RunBulk(BulkTask& task, const BulkOptions& options_in,
                   std::ostream& out, std::ostream& err) {
  BulkOptions o = options_in;
  if (o.state_path.empty()) o.state_path = DefaultBulkStatePath(o.command);
  const std::string where = "sessionkit " + o.command + ": ";
  BulkReport report;
  BulkState state;
  state.job = IdDigest(o.job, 16);
  state.description = o.job_description;
  if (!o.dry_run) {
    auto loaded = LoadState(o.state_path);
    if (!loaded.ok()) {
      err << where << loaded.status().message() << "\n";
      report.exit_code = kExitUsage;
      return report;
    }
    if (loaded->has_value()) {
      if ((*loaded)->job != state.job) {
        err << where << "state file " << o.state_path << " belongs to another "
            << "run (" << (*loaded)->description << "), not to " << o.command
            << " " << o.job_description
            << "; finish that run, give another --state FILE, or delete it "
               "to start over\n";
        report.exit_code = kExitUsage;
        return report;
      }
      state = std::move(**loaded);
      err << where << "continuing from " << o.state_path << " ("
          << state.counts.total() << " sessions done)\n";
    }
  }

  if (!o.dry_run) {
    // Before any work: a state file that cannot be written is found now.
    Status saved = SaveState(state, o.state_path);
    if (!saved.ok()) {
      err << where << saved.message() << " (give another with --state FILE)\n";
      report.exit_code = kExitFailure;
      return report;
    }
  }
  StopSignals signals;
  const auto total = o.progress_bar ? task.Total() : std::nullopt;
  BulkProgress progress(o, total, state.counts.total(), err);
  uint64_t this_run = 0;
  // Stops with the state saved: interrupted, or failed with `status`.
  const auto stop = [&](const Status& status) {
    progress.Finish(state.counts.total());
    if (!o.dry_run) {
      Status saved = SaveState(state, o.state_path);
      if (!saved.ok()) err << where << saved.message() << "\n";
    }
    report.counts = state.counts;
    if (status.ok()) {
      report.interrupted = true;
      report.exit_code = kExitInterrupted;
      err << where << "interrupted; run the same command again to continue\n";
    } else {
      report.exit_code = kExitFailure;
      err << where << status.message()
          << (o.dry_run ? "" : "; run the same command again to continue")
          << "\n";
    }
    PrintSummary(o, state, false, out);
    return report;
  };

  for (;;) {
    auto page = task.Scan(state.cursor, o.page_size);
    if (!page.ok()) return stop(page.status());
    for (const std::string& id : page->ids) {
      const std::string digest = IdDigest(id, 12);
      if (state.page_done.count(digest) != 0) continue;
      if (g_stop.load() || (o.stop_after != 0 && this_run >= o.stop_after)) {
        return stop(Status::OK());
      }
      auto visit = task.Visit(id, o.dry_run);
      if (!visit.ok()) return stop(visit.status());
      ++state.counts[visit->outcome];
      ++this_run;
      state.page_done.insert(digest);
      if ((visit->outcome == BulkOutcome::kUnreadable ||
           visit->outcome == BulkOutcome::kLocked) &&
          state.samples.size() < kBulkSamples) {
        state.samples.push_back(
            SessionIdPrefix(id) + ": " +
            (visit->outcome == BulkOutcome::kLocked ? "locked: " : "") +
            OneLineText(visit->reason));
      }
      progress.Tick(state.counts.total());
    }
    if (page->next_cursor.empty()) break;
    if (page->next_cursor == state.cursor) {
      return stop(Status::Internal("the scan did not advance (store bug)"));
    }
    state.cursor = std::move(page->next_cursor);
    state.page_done.clear();
    if (!o.dry_run) {
      Status saved = SaveState(state, o.state_path);
      if (!saved.ok()) return stop(saved);
    }
  }
  progress.Finish(state.counts.total());
  if (!o.dry_run && unlink(o.state_path.c_str()) != 0 && errno != ENOENT) {
    err << where << "cannot remove state file " << o.state_path << ": "
        << std::strerror(errno) << "\n";
  }
  report.finished = true;
  report.counts = state.counts;
  const bool all = state.counts[BulkOutcome::kLocked] == 0 &&
                   state.counts[BulkOutcome::kUnreadable] == 0;
  report.exit_code = all ? kExitOk : kExitFailure;
  PrintSummary(o, state, true, out);
  return report;
}

}  // namespace sessionkit::cli
