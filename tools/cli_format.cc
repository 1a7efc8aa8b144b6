// What the CLI prints: times, sizes, the size histogram and fill level of
// `stats`, and the frame header of `get --frame`.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <ctime>
#include <string>

#include "cli.h"

namespace sessionkit::cli {
namespace {

// The longest bar of the histogram, in characters.
constexpr int kBarWidth = 40;

// Milliseconds as seconds with one decimal: "1.5 s".
std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ms) / 1000);
  return buf;
}

std::string BreakerText(const TierReport& t) {
  switch (t.breaker) {
    case TierReport::Breaker::kUp:
      return "up";
    case TierReport::Breaker::kDown:
      return t.for_ms > 0 ? "down, skipped for " + Seconds(t.for_ms) + " more"
                          : "down, probed at the next call";
    case TierReport::Breaker::kProbing:
      return "being probed";
  }
  return "?";
}

}  // namespace

std::string PadLeft(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string PadRight(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

std::string FormatIso8601Utc(TimePoint t) {
  const int64_t ms = ToUnixMillis(t);
  // Floor division, so times before 1970 print correctly too.
  time_t secs = static_cast<time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  struct tm tm {};
  if (gmtime_r(&secs, &tm) == nullptr) return "(invalid time)";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}

std::string FormatSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B",   "KiB", "MiB", "GiB",
                                           "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  int unit = 0;
  uint64_t scale = 1;
  while (unit < 6 && bytes / scale >= 1024) {
    scale *= 1024;
    ++unit;
  }
  char buf[32];
  if (bytes % scale == 0) {
    std::snprintf(buf, sizeof(buf), "%llu %s",
                  static_cast<unsigned long long>(bytes / scale), kUnits[unit]);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s",
                  static_cast<double>(bytes) / static_cast<double>(scale),
                  kUnits[unit]);
  }
  return buf;
}

std::string FormatUsage(const StoreUsage& usage) {
  char percent[32] = "";
  if (usage.limit_bytes > 0) {
    std::snprintf(percent, sizeof(percent), "%.1f%%",
                  100.0 * static_cast<double>(usage.used_bytes) /
                      static_cast<double>(usage.limit_bytes));
  }
  std::string out = "space: " + FormatSize(usage.used_bytes) + " in use";
  if (usage.limit_bytes > 0) {
    out += std::string(", ") + percent + " of its limit of " +
           FormatSize(usage.limit_bytes);
    if (!usage.limit_from.empty()) out += " (" + usage.limit_from + ")";
  }
  if (usage.file_bytes > 0)
    out += "; " + FormatSize(usage.file_bytes) + " on disk";
  return out + "\n";
}

std::string FormatTiers(const TiersReport& report) {
  std::string out = "tiers (breakers ";
  if (!report.breaker_path.empty()) {
    out += "shared by this host's processes in " + report.breaker_path + ")\n";
  } else if (!report.breaker_note.empty()) {
    out += "of each process: " + report.breaker_note + ")\n";
  } else {
    out += "of each process)\n";
  }
  for (size_t i = 0; i < report.tiers.size(); ++i) {
    const TierReport& t = report.tiers[i];
    out += PadLeft(std::to_string(i + 1), 3) + "  " + t.name +
           (t.async ? "  behind: " : "  sync: ") + BreakerText(t);
    out += "; failures in a row: " + std::to_string(t.consecutive_failures);
    if (t.last_failure_ago_ms >= 0) {
      out += ", the last " + Seconds(t.last_failure_ago_ms) + " ago (" +
             std::string(StatusCodeName(t.last_failure_code)) + ")";
    }
    if (t.async || t.pending > 0) {
      out += "; journal: " + std::to_string(t.pending) + " pending, " +
             std::to_string(t.in_backoff) + " in backoff";
      if (t.pending > 0) {
        out += ", the oldest " + Seconds(t.backlog_age.count()) + " old";
      }
    }
    out += "\n";
  }
  if (!report.journal.ok()) {
    out += "journal: " + report.journal.ToString() + "\n";
  }
  if (report.orphaned > 0) {
    out += "journal: " + std::to_string(report.orphaned) +
           " entries for tiers not in this save path: of another save path "
           "that shares the journal, or of a tier whose host, database, "
           "table or prefix changed or that was removed (run with the save "
           "path that queued them until they drain)\n";
  }
  return out;
}

std::string FormatFrameHeader(const FrameHeader& header, size_t payload_bytes) {
  return "format version: " + std::to_string(header.version) +
         "\ncodec: " + std::string(FrameCodecName(header.codec)) +
         "\nkey id: " + std::to_string(header.key_id) +
         (header.key_id == 0 ? " (not encrypted)" : "") +
         "\nsession version: " + std::to_string(header.session_version) +
         ((header.flags & kFrameFlagTombstone) != 0
              ? "\ntombstone: the session was destroyed"
              : "") +
         ((header.flags & kFrameFlagPointer) != 0
              ? "\npointer: the id was replaced by a regenerate and leads to "
                "the new session for its grace"
              : "") +
         "\npayload: " + std::to_string(payload_bytes) + " bytes\n";
}

int SizeHistogram::BucketOf(uint64_t bytes) { return std::bit_width(bytes); }

void SizeHistogram::Add(uint64_t bytes, bool expired) {
  counts_[BucketOf(bytes)][expired ? 1 : 0] += 1;
}

std::string SizeHistogram::Format() const {
  int first = -1, last = -1;
  uint64_t max_total = 0;
  for (int b = 0; b < kBuckets; ++b) {
    const uint64_t total = live(b) + expired(b);
    if (total == 0) continue;
    if (first < 0) first = b;
    last = b;
    max_total = std::max(max_total, total);
  }
  if (first < 0) return "";
  const auto lower = [](int b) -> std::string {
    return b == 0 ? "0 B" : FormatSize(uint64_t{1} << (b - 1));
  };
  const auto upper = [](int b) -> std::string {
    return b == 64 ? "16 EiB" : FormatSize(uint64_t{1} << b);
  };
  std::string out = PadLeft("from", 10) + PadLeft("below", 10) +
                    PadLeft("live", 10) + PadLeft("expired", 10) + "\n";
  for (int b = first; b <= last; ++b) {
    const uint64_t total = live(b) + expired(b);
    // Any non-empty bucket gets at least one mark.
    const uint64_t bar =
        total == 0 ? 0 : std::max<uint64_t>(1, total * kBarWidth / max_total);
    out += PadLeft(lower(b), 10) + PadLeft(upper(b), 10) +
           PadLeft(std::to_string(live(b)), 10) +
           PadLeft(std::to_string(expired(b)), 10) +
           (bar > 0 ? "  " + std::string(bar, '#') : "") + "\n";
  }
  return out;
}

}  // namespace sessionkit::cli
