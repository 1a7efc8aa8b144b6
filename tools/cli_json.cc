// The --json output of the listing verbs (ls, stats, keys list; metrics
// has its own in src/metrics): one JSON document each, for scripts.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "cli.h"

namespace sessionkit::cli {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", byte);
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string FormatSessionJson(const SessionInfo& info, bool expired) {
  return "{\"id\":" + JsonString(info.id) +
         ",\"bytes\":" + std::to_string(info.bytes) + ",\"expires_at\":\"" +
         FormatIso8601Utc(info.expires_at) +
         "\",\"expired\":" + (expired ? "true" : "false") + "}";
}

std::string SizeHistogram::FormatJson() const {
  std::string out = "[";
  for (int b = 0; b < kBuckets; ++b) {
    if (live(b) + expired(b) == 0) continue;
    if (out.size() > 1) out += ",";
    // Bucket b holds [2^(b-1), 2^b); 2^64 does not fit a uint64.
    out += "{\"from\":" + std::to_string(b == 0 ? 0 : uint64_t{1} << (b - 1)) +
           ",\"below\":" +
           (b == 64 ? std::string("18446744073709551616")
                    : std::to_string(b == 0 ? 1 : uint64_t{1} << b)) +
           ",\"live\":" + std::to_string(live(b)) +
           ",\"expired\":" + std::to_string(expired(b)) + "}";
  }
  return out + "]";
}

std::string FormatStatsJson(const StoreTotals& t,
                            const Result<StoreUsage>& usage) {
  const auto pair = [](uint64_t n, uint64_t b) {
    return "{\"sessions\":" + std::to_string(n) +
           ",\"bytes\":" + std::to_string(b) + "}";
  };
  std::string out =
      "{\"store\":" + JsonString(t.store) +
      ",\"live\":" + pair(t.count[0], t.bytes[0]) +
      ",\"expired\":" + pair(t.count[1], t.bytes[1]) +
      ",\"total\":" + pair(t.count[0] + t.count[1], t.bytes[0] + t.bytes[1]) +
      ",\"usage\":";
  if (usage.ok()) {
    out += "{\"used_bytes\":" + std::to_string(usage->used_bytes) +
           ",\"limit_bytes\":" + std::to_string(usage->limit_bytes) +
           ",\"file_bytes\":" + std::to_string(usage->file_bytes) +
           ",\"limit_from\":" + JsonString(usage->limit_from) + "}";
  } else {
    out += "null";
  }
  return out + ",\"histogram\":" + t.histogram.FormatJson() + "}\n";
}

}  // namespace sessionkit::cli
