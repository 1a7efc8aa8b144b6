// What the parts of the store of tiers share: how a stored value's session
// version is read, which failures mean a tier did not answer, and how a
// tier is known in the journal.
#ifndef SESSIONKIT_TIERED_VERSIONS_H_
#define SESSIONKIT_TIERED_VERSIONS_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sessionkit/frame.h"
#include "sessionkit/status.h"

namespace sessionkit::tiered {

inline constexpr size_t kNoTier = SIZE_MAX;

// The session version of a stored value; 0 for a value that is not a
// frame of this build (an older frame, or bytes a caller wrote).
inline uint64_t VersionOf(std::string_view stored) {
  Result<FrameView> view = DecodeFrame(stored);
  return view.ok() ? view->header.session_version : 0;
}

// A tier that did not answer, as opposed to one that answered no.
inline bool IsOutage(const Status& st) {
  return st.IsUnavailable() || st.IsDeadlineExceeded();
}

// How a tier is known in the journal, which every store of tiers of the
// host may share: a hash (FNV-1a) of where its sessions are (its URL's
// StoreUrl::Location: a change of its timeouts or write_delay leaves it
// as it is, so a backlog queued before the change still drains), the same
// in every process that opens it.
inline uint32_t JournalId(std::string_view name) {
  uint32_t h = 2166136261u;
  for (unsigned char c : name) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_VERSIONS_H_
