#include "sessionkit/store.h"

#include <string>

namespace sessionkit {
namespace {

Status LockingNotSupported(const Store& store) {
  return Status::NotSupported(store.name() +
                              ": this store does not support locking");
}

}  // namespace

uint64_t Store::TakeRoundTrips() { return 0; }

Result<bool> Store::ExistsOrLocked(std::string_view id) { return Exists(id); }

Result<SessionRecord> Store::ReadOrMark(std::string_view id) {
  return Read(id);
}

Status Store::WriteUnlessNewer(const std::vector<VersionedWrite>&) {
  return Status::NotSupported(name() +
                              ": cannot check a version and write in one step");
}

Result<GcResult> Store::GcWithProgress(TimePoint now,
                                       const GcProgress& progress) {
  auto result = Gc(now);
  if (result.ok() && progress) progress(*result);
  return result;
}

Result<StoreUsage> Store::Usage() {
  return Status::NotSupported(name() +
                              ": this store does not report how full it is");
}

Result<LockedRead> Store::LockAndRead(std::string_view, const LockRequest&) {
  return LockingNotSupported(*this);
}

Status Store::WriteAndUnlock(std::string_view, std::string_view, Duration,
                             const LockOwner&) {
  return LockingNotSupported(*this);
}

Status Store::TouchAndUnlock(std::string_view, Duration, const LockOwner&) {
  return LockingNotSupported(*this);
}

Status Store::Unlock(std::string_view, const LockOwner&) {
  return LockingNotSupported(*this);
}

}  // namespace sessionkit
