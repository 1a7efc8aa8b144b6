// Cutting a batch of Store::WriteUnlessNewer into statements, for the SQL
// stores.
#ifndef SESSIONKIT_STORES_WRITE_BATCHES_H_
#define SESSIONKIT_STORES_WRITE_BATCHES_H_

#include <algorithm>
#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/store.h"

namespace sessionkit {

// Calls `send` with runs of `writes` in id order, each of at most
// `max_bytes` of data and `max_rows` writes (a larger write goes alone),
// and stops at the first error, which it returns. In id order: statements
// that race lock their rows in the same order, so they wait for each other
// rather than deadlock.
inline Status SendInIdOrder(
    const std::vector<VersionedWrite>& writes, size_t max_bytes,
    size_t max_rows,
    const std::function<Status(std::span<const VersionedWrite>)>& send) {
  std::vector<VersionedWrite> sorted(writes);
  std::sort(sorted.begin(), sorted.end(),
            [](const VersionedWrite& a, const VersionedWrite& b) {
              return a.id < b.id;
            });
  for (size_t begin = 0; begin < sorted.size();) {
    size_t end = begin + 1, bytes = sorted[begin].data.size();
    while (end < sorted.size() && end - begin < max_rows &&
           bytes + sorted[end].data.size() <= max_bytes) {
      bytes += sorted[end++].data.size();
    }
    SK_RETURN_IF_ERROR(
        send(std::span<const VersionedWrite>(&sorted[begin], end - begin)));
    begin = end;
  }
  return Status::OK();
}

}  // namespace sessionkit

#endif  // SESSIONKIT_STORES_WRITE_BATCHES_H_
