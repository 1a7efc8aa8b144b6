// SessionEngine's lifetime policy and size limits (EngineOptions::lifetime,
// EngineOptions::size_limits; lifetime.h). Kept apart from engine.cc, which
// calls them from Write and Touch.
#include <string>

#include "sessionkit/engine.h"

namespace sessionkit {

Duration SessionEngine::Lifetime(Duration ttl, const ClientInfo& client,
                                 uint32_t writes) {
  if (options_.lifetime == nullptr) return ttl;
  const LifetimePolicy::Decision d =
      options_.lifetime->Decide(ttl, client, writes);
  if (d.kind == LifetimePolicy::Kind::kBot) {
    bot_lifetimes_.fetch_add(1, std::memory_order_relaxed);
  } else if (d.kind == LifetimePolicy::Kind::kFirstVisit) {
    first_lifetimes_.fetch_add(1, std::memory_order_relaxed);
  }
  return d.lifetime;
}

Status SessionEngine::CheckSize(std::string_view id, size_t size) {
  const SizeLimits& limits = options_.size_limits;
  const std::string what = "session " + SessionIdPrefix(id) + ": " +
                           std::to_string(size) + " bytes of session data";
  if (limits.max_size > 0 && size > limits.max_size) {
    size_refused_.fetch_add(1, std::memory_order_relaxed);
    Count(MetricCounter::kSizeRefused);
    return Status::InvalidArgument(
        what + ", above " + Setting("max_size") + " (" +
        std::to_string(limits.max_size) +
        " bytes): not saved, the stored session is kept as it was");
  }
  if (limits.warn_size > 0 && size > limits.warn_size) {
    size_warned_.fetch_add(1, std::memory_order_relaxed);
    Count(MetricCounter::kSizeWarned);
    // A notice: the write goes ahead, and applications turn warnings into
    // errors.
    Log(LogLevel::kNotice, what + ", above " + Setting("warn_size") + " (" +
                               std::to_string(limits.warn_size) +
                               " bytes); saved all the same");
  }
  return Status::OK();
}

PolicyCounters SessionEngine::policy_counters() const {
  PolicyCounters c;
  c.size_refused = size_refused_.load(std::memory_order_relaxed);
  c.size_warned = size_warned_.load(std::memory_order_relaxed);
  c.bot_lifetimes = bot_lifetimes_.load(std::memory_order_relaxed);
  c.first_lifetimes = first_lifetimes_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace sessionkit
