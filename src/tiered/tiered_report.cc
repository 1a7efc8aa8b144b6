// The store of tiers as this host sees it: each tier's breaker and what
// the journal still owes the tiers behind (ReportTiers, `sessionkit
// stats`).
#include <algorithm>
#include <chrono>
#include <utility>

#include "sessionkit/stores/tiered.h"
#include "tiered/tiered_store.h"

namespace sessionkit::tiered {

TiersReport TieredStore::Report() {
  TiersReport out;
  out.breaker_path = breakers_->path();
  out.breaker_note = breakers_->note();
  const TimePoint now = env_->WallNow();
  std::vector<JournalTierStats> backlog;
  if (has_async()) {
    Result<std::vector<JournalTierStats>> stats = journal_->Stats(now);
    if (stats.ok()) {
      backlog = std::move(*stats);
    } else {
      out.journal = stats.status();
    }
  }
  for (size_t i = 0; i < tiers_.size(); ++i) {
    const BreakerReport b = breakers_->Report(i);
    TierReport t;
    t.name = tiers_[i]->name();
    t.async = async_[i];
    switch (b.state) {
      case BreakerState::kClosed:
        t.breaker = TierReport::Breaker::kUp;
        break;
      case BreakerState::kOpen:
        t.breaker = TierReport::Breaker::kDown;
        break;
      case BreakerState::kProbing:
        t.breaker = TierReport::Breaker::kProbing;
        break;
    }
    // Past the deadline: the next call probes (or probes again).
    if (b.state != BreakerState::kClosed && b.until_ms > b.now_ms) {
      t.for_ms = b.until_ms - b.now_ms;
    }
    t.shared = b.shared;
    t.consecutive_failures = b.consecutive;
    t.opened = b.opened;
    t.skipped = b.skipped;
    t.failures = b.failures;
    if (b.last_failure_ms > 0) {
      t.last_failure_ago_ms = b.now_ms - b.last_failure_ms;
      t.last_failure_code = b.last_code;
    }
    for (const JournalTierStats& s : backlog) {
      // A synchronous tier is owed what it missed while left out.
      if (s.tier != journal_ids_[i]) continue;
      t.pending = s.pending;
      t.in_backoff = s.in_backoff;
      if (s.pending > 0 && s.oldest_pending < now) {
        t.backlog_age = std::chrono::floor<Duration>(now - s.oldest_pending);
      }
    }
    out.tiers.push_back(std::move(t));
  }
  for (const JournalTierStats& s : backlog) {
    if (std::find(journal_ids_.begin(), journal_ids_.end(), s.tier) ==
        journal_ids_.end()) {
      out.orphaned += s.pending;
    }
  }
  return out;
}

}  // namespace sessionkit::tiered

namespace sessionkit {

Result<TiersReport> ReportTiers(Store& store) {
  auto* tiers = dynamic_cast<tiered::TieredStore*>(&store);
  if (tiers == nullptr) {
    return Status::NotSupported(store.name() + ": not a store of tiers");
  }
  return tiers->Report();
}

}  // namespace sessionkit
