// The public calls of SessionEngine that EngineOptions::metrics counts: each
// runs its Do* body (engine.cc) and, when a sink is set, reports its
// outcome, its duration and what it moved. Without a sink a call costs one
// branch more.
#include <utility>

#include "sessionkit/engine.h"
#include "sessionkit/metrics.h"

namespace sessionkit {
namespace {

MetricOutcome OutcomeOf(const Status& s) {
  if (s.ok()) return MetricOutcome::kOk;
  return s.IsNotFound() ? MetricOutcome::kMiss : MetricOutcome::kError;
}

MetricOutcome OutcomeOf(const Result<ReadResult>& r) {
  if (!r.ok()) return MetricOutcome::kError;
  return r->found ? MetricOutcome::kOk : MetricOutcome::kMiss;
}

// Runs `body` and reports `op` with the outcome `outcome_of` gives its
// result to `sink` (which is set), and the round trips `store` made.
template <typename Body, typename OutcomeOf>
auto Measured(MetricsSink& sink, Env* env, Store& store, MetricOp op,
              Body&& body, OutcomeOf&& outcome_of) {
  const SteadyTime start = env->SteadyNow();
  auto result = body();
  sink.Operation(op, outcome_of(result), env->SteadyNow() - start);
  if (const uint64_t trips = store.TakeRoundTrips(); trips != 0) {
    sink.Add(MetricCounter::kRoundTrips, trips);
  }
  return result;
}

}  // namespace

void SessionEngine::Count(MetricCounter counter, uint64_t n) const {
  if (options_.metrics) options_.metrics->Add(counter, n);
}

Result<ReadResult> SessionEngine::Read(std::string_view id) {
  if (!options_.metrics) return DoRead(id);
  auto r = Measured(
      *options_.metrics, env_, *store_, MetricOp::kRead,
      [&] { return DoRead(id); },
      [](const Result<ReadResult>& r) { return OutcomeOf(r); });
  if (r.ok()) Count(MetricCounter::kBytesRead, r->payload.size());
  return r;
}

Result<ReadResult> SessionEngine::ReadForUpdate(std::string_view id,
                                                const LockOptions& lock) {
  if (!options_.metrics) return DoReadForUpdate(id, lock);
  auto r = Measured(
      *options_.metrics, env_, *store_, MetricOp::kRead,
      [&] { return DoReadForUpdate(id, lock); },
      [](const Result<ReadResult>& r) { return OutcomeOf(r); });
  if (r.ok()) Count(MetricCounter::kBytesRead, r->payload.size());
  return r;
}

Status SessionEngine::Write(std::string_view id, std::string_view payload,
                            Duration ttl, const SessionLock& lock,
                            const CompressionOptions& compression,
                            const ClientInfo& client) {
  if (!options_.metrics) {
    return DoWrite(id, payload, ttl, lock, compression, client);
  }
  Status s = Measured(
      *options_.metrics, env_, *store_, MetricOp::kWrite,
      [&] { return DoWrite(id, payload, ttl, lock, compression, client); },
      [](const Status& s) {
        return s.ok() ? MetricOutcome::kOk : MetricOutcome::kError;
      });
  // A read-only request's write stores nothing (kWritesSkipped).
  if (s.ok() && lock.state != LockState::kReadOnly) {
    Count(MetricCounter::kBytesWritten, payload.size());
    if (lock.read_version == 0) Count(MetricCounter::kSessionsCreated);
  }
  return s;
}

Status SessionEngine::Touch(std::string_view id, Duration ttl,
                            const SessionLock& lock, const ClientInfo& client,
                            std::optional<std::string_view> payload,
                            const CompressionOptions& compression) {
  if (!options_.metrics) {
    return DoTouch(id, ttl, lock, client, payload, compression);
  }
  return Measured(
      *options_.metrics, env_, *store_, MetricOp::kTouch,
      [&] { return DoTouch(id, ttl, lock, client, payload, compression); },
      [](const Status& s) { return OutcomeOf(s); });
}

Status SessionEngine::Destroy(std::string_view id) {
  if (!options_.metrics) return DoDestroy(id);
  Status s = Measured(
      *options_.metrics, env_, *store_, MetricOp::kDestroy,
      [&] { return DoDestroy(id); },
      [](const Status& s) {
        return s.ok() ? MetricOutcome::kOk : MetricOutcome::kError;
      });
  if (s.ok()) Count(MetricCounter::kSessionsDestroyed);
  return s;
}

Result<GcResult> SessionEngine::Gc() {
  if (!options_.metrics) return DoGc();
  auto r = Measured(
      *options_.metrics, env_, *store_, MetricOp::kGc, [&] { return DoGc(); },
      [](const Result<GcResult>& r) {
        return r.ok() ? MetricOutcome::kOk : MetricOutcome::kError;
      });
  if (r.ok()) Count(MetricCounter::kGcRemoved, r->removed);
  return r;
}

Result<bool> SessionEngine::Exists(std::string_view id) {
  if (!options_.metrics) return DoExists(id);
  return Measured(
      *options_.metrics, env_, *store_, MetricOp::kExists,
      [&] { return DoExists(id); },
      [](const Result<bool>& r) {
        if (!r.ok()) return MetricOutcome::kError;
        return *r ? MetricOutcome::kOk : MetricOutcome::kMiss;
      });
}

}  // namespace sessionkit
