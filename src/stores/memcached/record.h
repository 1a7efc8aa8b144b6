// What the Memcached store keeps in memcached: the keys of a session, the
// values of its items, and the items' memcached TTLs.
//
// Keys (each at most 250 bytes, memcached's limit):
//   data  <prefix><id>           the session
//   lock  <prefix><id>.lock      its lock ('.' is not in the id charset)
// An id too long for that (prefix + id + ".lock" over 250 bytes) is
// replaced by "#" and the base64url SHA-256 of the id (43 characters; '#'
// is not in the id charset either, so no id maps to another's key).
//
// Values:
//   data       "SK" 0x01, expires_at (int64 ms since the epoch, big-endian),
//              the id's length (uint16, big-endian), the id, the engine's
//              frame (the id lets Scan list a session whose key is hashed)
//   tombstone  "SK" 0x02, destroyed_at (int64 ms): a destroyed session, so
//              that a replica that missed the Destroy cannot bring it back
//              (memcached_store.cc, "Replicas")
//   lock       "<lease_until ms> <owner token>"
// Expiry is decided on the value's expires_at, to the millisecond, on the
// store's clock; the memcached TTL (whole seconds, on the server's clock)
// only lets memcached drop the item some time after.
//
// Thread safety: functions without state.
#ifndef SESSIONKIT_STORES_MEMCACHED_RECORD_H_
#define SESSIONKIT_STORES_MEMCACHED_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "sessionkit/status.h"
#include "stores/lock_value.h"

namespace sessionkit::memcached {

// How long a tombstone lives: longer than a replica that missed the Destroy
// is likely to stay out of the pool and come back with its data.
inline constexpr int64_t kTombstoneLifeMs = 3600 * 1000;

// The keys of one session.
struct SessionKeys {
  std::string data;
  std::string lock;
};

// The keys of session `id` (a valid session id) under `prefix` (at most
// 64 bytes of printable ASCII without spaces, checked by the options).
SessionKeys KeysFor(std::string_view prefix, std::string_view id);

// A data item's value as read back.
struct StoredValue {
  bool tombstone = false;
  // expires_at (data) or destroyed_at (tombstone), ms since the epoch.
  int64_t at_ms = 0;
  std::string_view id;     // data only; points into the value
  std::string_view frame;  // data only; points into the value
};

std::string EncodeData(std::string_view id, std::string_view frame,
                       int64_t expires_ms);
std::string EncodeTombstone(int64_t destroyed_ms);
// Corrupt naming `what` (e.g. "read of session abc...") for a value that
// is neither: written by something else under this store's prefix, or
// damaged.
Result<StoredValue> DecodeValue(std::string_view value, std::string_view what);

// The lock item's value: stores/lock_value.h, shared with the callback
// store.
using ::sessionkit::DecodeLock;
using ::sessionkit::EncodeLock;
using ::sessionkit::LockValue;

// The memcached TTL, in seconds, of an item that must live at least until
// `until_ms`, at `now_ms` on the same clock: the time left rounded up, plus
// one second for the server's clock, which ticks whole seconds. At least 1
// (0 would mean "never expires"). Past 30 days, which memcached would read
// as a Unix time on its own clock: 0, never expires (the value still
// expires on time; memcached evicts the item when it needs the room).
uint32_t ItemTtl(int64_t until_ms, int64_t now_ms);

}  // namespace sessionkit::memcached

#endif  // SESSIONKIT_STORES_MEMCACHED_RECORD_H_
