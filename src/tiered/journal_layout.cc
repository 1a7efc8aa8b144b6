// Keys and values of the journal (journal_layout.h).
#include "tiered/journal_layout.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sessionkit::tiered {
namespace {

void AppendBig(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

uint64_t ReadBig(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  }
  return v;
}

bool InRange(uint64_t ms) { return ms <= static_cast<uint64_t>(kMaxJournalMs); }

TimePoint FromMs(uint64_t ms) {
  return FromUnixMillis(static_cast<int64_t>(ms));
}

}  // namespace

int64_t JournalMs(TimePoint t) {
  // Clamped before the conversion: a far TimePoint must not overflow it.
  if (t <= TimePoint()) return 0;
  if (t >= FromUnixMillis(kMaxJournalMs)) return kMaxJournalMs;
  return ToUnixMillis(t);
}

std::string EntryKeyPrefix(uint32_t tier) {
  std::string key(1, kEntryPrefix);
  AppendBig(&key, tier, 4);
  return key;
}

std::string DueKeyPrefix(uint32_t tier) {
  std::string key(1, kDuePrefix);
  AppendBig(&key, tier, 4);
  return key;
}

std::string EntryKey(uint32_t tier, std::string_view id) {
  std::string key = EntryKeyPrefix(tier);
  key.append(id);
  return key;
}

std::string DataKey(uint32_t tier, std::string_view id) {
  std::string key(1, kDataPrefix);
  AppendBig(&key, tier, 4);
  key.append(id);
  return key;
}

std::string DueKey(uint32_t tier, int64_t due_ms, int64_t first_ms,
                   std::string_view id) {
  std::string key = DueKeyPrefix(tier);
  AppendBig(&key, static_cast<uint64_t>(due_ms), 8);
  AppendBig(&key, static_cast<uint64_t>(first_ms), 8);
  key.append(id);
  return key;
}

std::string DueKeyOf(const JournalEntry& entry) {
  return DueKey(entry.tier, DueMs(entry), JournalMs(entry.first_pending),
                entry.id);
}

bool ParseEntryKey(std::string_view key, uint32_t* tier, std::string_view* id) {
  if (key.size() <= kEntryKeyHeaderBytes || key[0] != kEntryPrefix) {
    return false;
  }
  *tier = static_cast<uint32_t>(ReadBig(key, 1, 4));
  *id = key.substr(kEntryKeyHeaderBytes);
  return true;
}

bool ParseDueKey(std::string_view key, uint32_t* tier, int64_t* due_ms,
                 int64_t* first_ms, std::string_view* id) {
  if (key.size() <= kDueKeyHeaderBytes || key[0] != kDuePrefix) return false;
  const uint64_t due = ReadBig(key, 5, 8);
  const uint64_t first = ReadBig(key, 13, 8);
  if (!InRange(due) || !InRange(first)) return false;
  *tier = static_cast<uint32_t>(ReadBig(key, 1, 4));
  *due_ms = static_cast<int64_t>(due);
  *first_ms = static_cast<int64_t>(first);
  *id = key.substr(kDueKeyHeaderBytes);
  return true;
}

std::string EncodeEntry(const JournalEntry& entry) {
  std::string out;
  out.reserve(kEntryStateBytes);
  out.push_back(static_cast<char>(entry.op));
  AppendBig(&out, entry.version, 8);
  AppendBig(&out, static_cast<uint64_t>(JournalMs(entry.expires_at)), 8);
  AppendBig(&out, static_cast<uint64_t>(JournalMs(entry.first_pending)), 8);
  AppendBig(&out, entry.attempts, 4);
  AppendBig(&out, static_cast<uint64_t>(JournalMs(entry.not_before)), 8);
  return out;
}

bool DecodeEntry(std::string_view value, JournalEntry* entry) {
  if (value.size() != kEntryStateBytes) return false;
  const auto op = static_cast<JournalOp>(value[0]);
  if (op != JournalOp::kWrite && op != JournalOp::kDestroy) return false;
  const uint64_t expires = ReadBig(value, 9, 8);
  const uint64_t first = ReadBig(value, 17, 8);
  const uint64_t not_before = ReadBig(value, 29, 8);
  if (!InRange(expires) || !InRange(first) || !InRange(not_before)) {
    return false;
  }
  entry->op = op;
  entry->version = ReadBig(value, 1, 8);
  entry->expires_at = FromMs(expires);
  entry->first_pending = FromMs(first);
  entry->attempts = static_cast<uint32_t>(ReadBig(value, 25, 4));
  entry->not_before = FromMs(not_before);
  return true;
}

int64_t DueMs(const JournalEntry& entry) {
  const int64_t not_before = JournalMs(entry.not_before);
  return not_before != 0 ? not_before : JournalMs(entry.first_pending);
}

std::string EncodeFormat(uint32_t version) {
  std::string out;
  AppendBig(&out, version, 4);
  return out;
}

bool ParseFormat(std::string_view value, uint32_t* version) {
  if (value.size() != 4) return false;
  *version = static_cast<uint32_t>(ReadBig(value, 0, 4));
  return *version != 0;
}

Duration RetryDelay(uint32_t attempts, uint64_t random) {
  int64_t d = kRetryBase.count();
  for (uint32_t i = 1; i < attempts && d < kRetryCap.count(); ++i) d *= 2;
  d = std::min(d, kRetryCap.count());
  // Up to half taken off: [d - d/2, d].
  const int64_t half = d / 2;
  return Duration(d - static_cast<int64_t>(random % (half + 1)));
}

}  // namespace sessionkit::tiered
