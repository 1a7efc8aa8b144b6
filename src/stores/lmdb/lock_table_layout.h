// The layout of <dir>/lock-table (lock_table.h), shared by lock_table.cc
// (the operations) and lock_table_file.cc (mapping, the header). Every
// process of a boot must agree on it: a change bumps kTableVersion.
#ifndef SESSIONKIT_STORES_LMDB_LOCK_TABLE_LAYOUT_H_
#define SESSIONKIT_STORES_LMDB_LOCK_TABLE_LAYOUT_H_

#include <pthread.h>

#include <cstddef>
#include <cstdint>

#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_lock_record.h"
#include "stores/lmdb/lock_table.h"

namespace sessionkit::lmdb_internal {

inline constexpr char kTableMagic[8] = {'S', 'K', 'L', 'O',
                                        'C', 'K', 'T', '\0'};
inline constexpr uint32_t kTableVersion = 1;
// Defaults: 2048 entries (more than the workers of a host lock at once) and
// 64 waiter records per bucket (a php-fpm pool of 64 workers all on one
// session queues in arrival order), about 3.7 MiB.
inline constexpr LmdbLockTableGeometry kDefaultGeometry{
    .buckets = 256, .entries = 8, .waiters = 64};
inline constexpr size_t kTableHeaderBytes = 64;

struct TableHeader {
  char magic[8];
  uint32_t version;
  uint32_t buckets, entries, waiters;
  uint32_t reserved;
  unsigned char boot[16];
  // The key of the table's digests (SipHash), drawn when it is written:
  // only who may read the file can pick ids that share an entry.
  unsigned char key[16];
};
static_assert(sizeof(TableHeader) <= kTableHeaderBytes);

struct TableEntry {
  Digest id;
  Digest holder;  // the holder's token digest, while `held`
  BootId boot;    // the boot the lease runs in
  int64_t lease_end;
  int32_t pid;        // the holder's process of this host, or 0
  uint32_t arrivals;  // the next waiter's arrival number
  uint16_t token_len, broken_len;
  uint8_t used, held, committing, pad;
  char token[kTableTokenBytes];
  char broken[kTableTokenBytes];  // whom a take-over for a waiter broke
};

struct TableWaiter {
  uint32_t used;
  uint32_t entry;
  Digest owner;        // the waiter's token digest
  int32_t pid;         // the waiting process: its record goes when it dies
  int32_t holder_pid;  // the pid of its token, for the entry once granted
  uint32_t arrival;
  int64_t lease_ms;
  int64_t deadline;  // boot clock
  uint32_t word;     // futex word: bumped when granted
  uint32_t granted;
  uint32_t broken;  // granted by a take-over: the entry's `broken` names whom
  uint16_t text_len;
  char text[kTableTokenBytes];  // the waiter's token
};

inline size_t RoundUp64(size_t n) { return (n + 63) & ~size_t{63}; }

// Thread safety: the fields of a bucket, its entries and its waiters are
// read and written under `mu` only (the futex words also without it).
struct LockTable::Bucket {
  pthread_mutex_t mu;
  uint32_t dirty;     // 1 + the entry whose holder is being rewritten, or 0
  uint32_t overflow;  // waiters of this bucket sleeping on lock-wake
  // Waiter records in use: most operations find none and skip the scan.
  uint32_t queued;
  // Entries made for a session so far (AllocEntry; wraps): a Destroy that
  // found the bucket full tells by it whether the session can have been
  // locked since. In the padding before the entries (no format change:
  // older builds just never count).
  uint32_t allocs;
};
static_assert(sizeof(LockTable::Bucket) <= 64, "the entries would move");

// Bytes of one bucket with its entries and waiters.
inline size_t BucketBytes(uint32_t entries, uint32_t waiters) {
  return RoundUp64(RoundUp64(sizeof(LockTable::Bucket)) +
                   entries * sizeof(TableEntry) +
                   waiters * sizeof(TableWaiter));
}

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LOCK_TABLE_LAYOUT_H_
