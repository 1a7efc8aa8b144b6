// The on-disk layout of the write-behind journal (journal.h): one LMDB
// environment in the journal's directory, its main database holding these
// kinds of keys, told apart by their first byte.
//
//   kFormatKey                        -> format version, 4 bytes big-endian
//   kEntryPrefix tier:4 id            -> an entry's state (EncodeEntry)
//   kDataPrefix tier:4 id             -> a write's stored bytes
//   kDuePrefix tier:4 due:8 first:8 id -> empty: the due index
//   kReserveKey                        -> never committed (Put's reserve)
//
// Integers are big-endian, so keys sort by tier, then by due time, then by
// first-pending time. An entry's due time is its not_before, or its
// first-pending time while not_before is 0 (never tried). The state is
// apart from the data so that a claim or a retry rewrites a few bytes, not
// the session. A journal without kFormatKey is new; a later release that
// changes any of this raises kFormatVersion, and this one refuses to open a
// journal of a format above its own.
//
// An entry's state (format 1), exactly kEntryStateBytes:
//   op:1 (JournalOp) version:8 expires_ms:8 first_pending_ms:8
//   attempts:4 not_before_ms:8
// Times are Unix milliseconds in [0, kMaxJournalMs]. A destroy has no data
// record; a write always has one (maybe empty).
#ifndef SESSIONKIT_TIERED_JOURNAL_LAYOUT_H_
#define SESSIONKIT_TIERED_JOURNAL_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tiered/journal.h"

namespace sessionkit::tiered {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr std::string_view kFormatKey{"\0format", 7};
inline constexpr char kEntryPrefix = '\x01';
inline constexpr char kDuePrefix = '\x02';
inline constexpr char kDataPrefix = '\x03';
inline constexpr std::string_view kReserveKey{"\0reserve", 8};
inline constexpr size_t kEntryKeyHeaderBytes = 1 + 4;
inline constexpr size_t kDueKeyHeaderBytes = 1 + 4 + 8 + 8;
inline constexpr size_t kEntryStateBytes = 1 + 8 + 8 + 8 + 4 + 8;
// Times are kept below the year 2255, so that they fit a TimePoint.
inline constexpr int64_t kMaxJournalMs = 9'000'000'000'000;

// Unix milliseconds of `t`, clamped to [0, kMaxJournalMs].
int64_t JournalMs(TimePoint t);

// Keys. `id` is any bytes here (ids are validated before).
std::string EntryKey(uint32_t tier, std::string_view id);
std::string DataKey(uint32_t tier, std::string_view id);
std::string DueKey(uint32_t tier, int64_t due_ms, int64_t first_ms,
                   std::string_view id);
// The due-index key of `entry` (its tier, id and times).
std::string DueKeyOf(const JournalEntry& entry);
// The first key of `tier`'s entries or due index (the tier, no id).
std::string EntryKeyPrefix(uint32_t tier);
std::string DueKeyPrefix(uint32_t tier);

// The parts of a key; false when `key` is not one of that kind.
bool ParseEntryKey(std::string_view key, uint32_t* tier, std::string_view* id);
bool ParseDueKey(std::string_view key, uint32_t* tier, int64_t* due_ms,
                 int64_t* first_ms, std::string_view* id);

// The state of `entry` (its tier and id are in the key, its data apart).
std::string EncodeEntry(const JournalEntry& entry);
// Decodes a state into *entry (its op, version and times; tier, id and data
// untouched). False when the value is not one EncodeEntry could write: not
// kEntryStateBytes long, an unknown op, a time out of range.
bool DecodeEntry(std::string_view value, JournalEntry* entry);
// The due time of an entry (see above), in Unix milliseconds.
int64_t DueMs(const JournalEntry& entry);

// The format record's value; ParseFormat: false when malformed.
std::string EncodeFormat(uint32_t version);
bool ParseFormat(std::string_view value, uint32_t* version);

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_JOURNAL_LAYOUT_H_
