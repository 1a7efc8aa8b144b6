#include "stores/pending_releases.h"

#include <algorithm>
#include <utility>

namespace sessionkit {

bool PendingReleases::MayStillHold(const Status& failure) {
  return failure.code() == StatusCode::kUnavailable;
}

void PendingReleases::Note(std::string_view id, const LockOwner& owner,
                           const Status& failure, SteadyTime now) {
  if (!MayStillHold(failure)) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Release& r : releases_) {
    if (r.id == id && r.owner.token == owner.token) return;
  }
  if (releases_.size() >= kMax) releases_.erase(releases_.begin());
  releases_.push_back(Release{std::string(id), owner, now});
  any_ = true;
}

std::optional<std::string> PendingReleases::Retry(
    const std::function<Status(std::string_view id, const LockOwner& owner)>&
        unlock,
    SteadyTime now) {
  if (!any_) return std::nullopt;
  std::unique_lock<std::mutex> retrying(retry_mu_, std::try_to_lock);
  if (!retrying.owns_lock()) return std::nullopt;
  std::vector<Release> todo;
  {
    std::lock_guard<std::mutex> lock(mu_);
    todo.swap(releases_);
    any_ = false;
  }
  std::vector<Release> keep;
  std::optional<std::string> failed;
  for (Release& r : todo) {
    if (now - r.since > kKeep) continue;
    if (!failed) {
      Status st = unlock(r.id, r.owner);
      if (!MayStillHold(st)) continue;
      failed = r.id;
    }
    keep.push_back(std::move(r));
  }
  std::lock_guard<std::mutex> lock(mu_);
  // Noted meanwhile by other threads: after the older ones.
  keep.insert(keep.end(), std::make_move_iterator(releases_.begin()),
              std::make_move_iterator(releases_.end()));
  if (keep.size() > kMax) keep.erase(keep.begin(), keep.end() - kMax);
  releases_ = std::move(keep);
  any_ = !releases_.empty();
  return failed;
}

size_t PendingReleases::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return releases_.size();
}

}  // namespace sessionkit
