// The layout of the metrics file (docs/metrics.md#the-file): a header page,
// then kMetricsSlots slots of kSlotBytes. Each process adds into its own
// slot; a reader sums every slot. Every field is a little-endian uint64 (the
// hosts that map one file share its byte order) updated with relaxed atomic
// adds, so a reader sees each counter whole.
#ifndef SESSIONKIT_METRICS_METRICS_LAYOUT_H_
#define SESSIONKIT_METRICS_METRICS_LAYOUT_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "sessionkit/metrics.h"

namespace sessionkit::metrics_internal {

inline constexpr char kMagic[8] = {'S', 'K', 'M', 'E', 'T', 'R', 'I', 'C'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kPage = 4096;

// The store labels, in slot order; the last one takes every other store.
inline constexpr std::array<const char*, 7> kStoreLabels = {
    "lmdb", "redis", "memcached", "mysql", "postgres", "tiered", "other"};
inline constexpr int kStores = static_cast<int>(kStoreLabels.size());

// Upper bounds of the latency histograms' buckets, in seconds (Prometheus'
// `le`), for operations and lock waits alike; one more bucket, +Inf,
// follows. In nanoseconds for the writer.
inline constexpr std::array<int64_t, 19> kBucketBoundsNs = {
    10'000,        25'000,        50'000,        100'000,       250'000,
    500'000,       1'000'000,     2'500'000,     5'000'000,     10'000'000,
    25'000'000,    50'000'000,    100'000'000,   250'000'000,   500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
inline constexpr int kBuckets = static_cast<int>(kBucketBoundsNs.size()) + 1;

// One histogram: a count per bucket (not cumulative; the last is +Inf) and
// the sum of the observations in nanoseconds.
struct HistogramCells {
  uint64_t buckets[kBuckets];
  uint64_t sum_ns;
};

// What one process counted for one store label.
struct StoreCells {
  uint64_t operations[kMetricOps][kMetricOutcomes];
  HistogramCells latency[kMetricOps];
  HistogramCells lock_wait;
  uint64_t counters[kMetricCounters];
};

// One process's slot. `pid` is the last process that claimed it and
// `claims` how many have; the counts are never reset.
struct SlotCells {
  uint64_t pid;
  uint64_t claims;
  StoreCells stores[kStores];
};

inline constexpr size_t kSlotBytes =
    (sizeof(SlotCells) + kPage - 1) / kPage * kPage;
inline constexpr uint32_t kMetricsSlots = 512;

// The first page. The geometry fields must equal this build's: a file of
// another layout is refused, never read with the wrong offsets.
struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint32_t slot_bytes;
  uint32_t slots;
  uint32_t stores;
  uint32_t ops;
  uint32_t outcomes;
  uint32_t buckets;
  uint32_t counters;
  uint32_t reserved;
};

inline constexpr size_t kFileBytes = kPage + kSlotBytes * kMetricsSlots;

// The header this build writes.
FileHeader ExpectedHeader();

// Byte of the file whose OFD write lock guards creating and checking the
// header; byte 1 + i is slot i's claim (locks, not data: the bytes are the
// header page's, never written).
inline constexpr off_t kHeaderLockByte = 0;
inline constexpr off_t SlotLockByte(uint32_t slot) { return 1 + slot; }

static_assert(sizeof(FileHeader) <= kPage);
static_assert(1 + kMetricsSlots <= kPage);

}  // namespace sessionkit::metrics_internal

#endif  // SESSIONKIT_METRICS_METRICS_LAYOUT_H_
