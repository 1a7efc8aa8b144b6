// The value of an LMDB session lock record, and the clock its lease runs on.
//
// Leases run on CLOCK_BOOTTIME, which no wall-clock step (NTP, an operator's
// `date -s`) moves and which every process of the host shares, containers
// included. That clock restarts at every boot, so a record also carries the
// id of the boot it was written in (/proc/sys/kernel/random/boot_id): a
// record of another boot belongs to a holder that no longer exists and
// counts as gone. Session expiries stay on the wall clock (they are
// absolute times); only leases use this clock. The store reads both from
// its Env (Env::BootClockMs, Env::BootId).
//
// A record's value, all integers 8-byte big-endian:
//
//   wall lease end (Unix ms) | token | 0x00 | boot lease end (ms) | boot id
//                                            (CLOCK_BOOTTIME)     (16 bytes)
//
// The first two fields are the whole record of versions before the lease
// clock ("legacy" records). Those versions read a record of this one as
// a wall-clock lease end and a token they never hold (the token with the
// tail after it), so while both versions share a directory, each keeps the
// other out until the lease ends by its own clock. A legacy record is still
// judged by its wall-clock lease end here. A token never contains a zero
// byte (CheckToken), which keeps the two forms apart.
#ifndef SESSIONKIT_STORES_LMDB_LMDB_LOCK_RECORD_H_
#define SESSIONKIT_STORES_LMDB_LMDB_LOCK_RECORD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"

namespace sessionkit::lmdb_internal {

// The id of one boot of the host (the 16 bytes of the boot_id UUID).
using BootId = std::array<unsigned char, 16>;

// This boot's id as Env::Default() knows it, parsed once per process; all
// zeros when unknown. The once-per-boot check (lmdb_check.h) is about the
// machine's real boot; a store's lock records use its own Env's
// (LmdbStore::LockNowAt).
const BootId& CurrentBootId();
// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (a trailing newline is
// allowed). False when `text` is not such a UUID.
bool ParseBootId(std::string_view text, BootId* out);

// The moment a lock decision is made, on both clocks.
struct LockNow {
  int64_t wall_ms = 0;  // Unix ms: the store's clock
  int64_t boot_ms = 0;  // the lease clock
  BootId boot{};        // the boot `boot_ms` counts from
};

// A lock record as stored. `token` points into the value parsed.
struct LockRecord {
  bool legacy = true;             // no lease-clock fields: judged by wall_ms
  int64_t wall_lease_end_ms = 0;  // a value shorter than 8 bytes: 0
  int64_t boot_lease_end_ms = 0;
  BootId boot{};
  std::string_view token;
};

LockRecord ParseLockRecord(std::string_view value);

// Bytes of the value of a record owned by `token`.
size_t LockRecordBytes(std::string_view token);
// Writes the record of `token` whose lease ends `lease` after `now` into
// `out` (LockRecordBytes(token) bytes).
void EncodeLockRecord(char* out, const LockNow& now, Duration lease,
                      std::string_view token);

enum class LockState {
  kHeld,   // the lease runs: only its owner may take, write or release
  kEnded,  // the lease ran out: another owner may take the lock over; its
           // owner may still write or release (kLockRecordRetention)
  kGone,   // counts as absent: kLockRecordRetention passed after the lease,
           // or the record was written in another boot
};

LockState StateOf(const LockRecord& lock, const LockNow& now);

// Milliseconds left of the lease (0 when it ended), on the record's clock.
int64_t LeaseLeftMs(const LockRecord& lock, const LockNow& now);

// "x + lease", clamped into [0, 9e12] (a lease end always fits).
int64_t AddClamped(int64_t x, Duration d);

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_LOCK_RECORD_H_
