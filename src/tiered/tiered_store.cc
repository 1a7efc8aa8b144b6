#include "tiered/tiered_store.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "sessionkit/frame.h"
#include "sessionkit/session_id.h"
#include "tiered/versions.h"

namespace sessionkit::tiered {
namespace {

std::vector<std::string> NamesOf(const TieredOptions& options) {
  std::vector<std::string> names;
  for (const TieredOptions::Tier& tier : options.tiers) {
    names.push_back(tier.store->name());
  }
  return names;
}

std::unique_ptr<Breakers> MakeBreakers(const TieredOptions& options) {
  BreakerOptions breaker;
  breaker.path = options.breaker_path;
  breaker.interval = options.breaker_interval;
  breaker.failures = options.breaker_failures;
  breaker.slow_failure = options.breaker_slow_failure;
  breaker.env = options.env;
  return std::make_unique<Breakers>(breaker, NamesOf(options));
}

}  // namespace

#define SK_CHECK_ID(id) \
  SK_RETURN_IF_ERROR(ValidateSessionId(id).WithContext(name_))

bool TieredStore::Newest::gone() const {
  return newest < 0 || IsTombstoneFrame(answers[newest].record->data);
}

TieredStore::TieredStore(TieredOptions options,
                         std::unique_ptr<Journal> journal)
    : tombstone_ttl_(options.tombstone_ttl),
      write_delay_(options.write_delay),
      env_(Env::OrDefault(options.env)),
      breakers_(MakeBreakers(options)),
      cannot_lock_(new std::atomic<bool>[options.tiers.size()]),
      journal_(std::move(journal)),
      fanout_(options.tiers.size(), options.on_caller_thread) {
  name_ = "tiers: ";
  for (size_t i = 0; i < options.tiers.size(); ++i) {
    TieredOptions::Tier& tier = options.tiers[i];
    if (i > 0) name_ += " | ";
    name_ += tier.store->name();
    if (tier.async) name_ += " (written behind)";
    journal_ids_.push_back(
        JournalId(tier.location.empty() ? tier.store->name() : tier.location));
    async_.push_back(tier.async);
    tiers_.push_back(std::move(tier.store));
    cannot_lock_[i] = false;
  }
  // Ties go to the synchronous tiers, faster first, then to the journal
  // (this host's latest word to the tiers behind: a touch it queued has
  // the same version as what they hold), then to the tiers behind.
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (!async_[i]) tie_order_.push_back(i);
  }
  tie_order_.push_back(journal_slot());
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (async_[i]) tie_order_.push_back(i);
  }
  if (journal_ != nullptr) {
    drainer_ = std::make_unique<Drainer>([this] { return DrainStep(); },
                                         options.drain_every);
  }
}

TieredStore::~TieredStore() {
  drainer_.reset();
  if (!has_async()) return;
  // What this process queued last (a CLI script ends right after its
  // write) goes out now, for a bounded time; the rest waits in the journal
  // for the next process that opens these tiers.
  const SteadyTime deadline = env_->SteadyNow() + kFinalDrain;
  while (env_->SteadyNow() < deadline && DrainStep(write_delay_)) {
  }
}

void TieredStore::Note(size_t i, const Status& status,
                       std::optional<int64_t> started_ms) {
  breakers_->Record(
      i, status, Duration(started_ms ? env_->BootClockMs() - *started_ms : 0));
}

std::vector<size_t> TieredStore::Usable(bool async) {
  std::vector<size_t> all, up;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (async_[i] != async) continue;
    all.push_back(i);
    if (breakers_->Admit(i) != Admission::kSkip) up.push_back(i);
  }
  if (!up.empty()) return up;
  // All left out. While tiers behind stand in for the synchronous ones
  // (reads fall back to them, the lock moves to them, and the journal
  // keeps what the synchronous ones miss), those stay out: a blackholed
  // cache costs no timeout per request. Else asking beats failing unasked.
  if (!async && has_async()) return up;
  return all;
}

void TieredStore::ReadTier(std::string_view id, size_t i, Answer& answer) {
  const int64_t started = env_->BootClockMs();
  Result<SessionRecord> r = tiers_[i]->Read(id);
  answer.status = r.status();
  if (r.ok()) {
    answer.version = VersionOf(r->data);
    answer.record = std::move(*r);
  }
  Note(i, answer.status, started);
}

TieredStore::Newest TieredStore::ReadAll(std::string_view id, size_t skip,
                                         const std::function<void()>& first,
                                         bool with_journal) {
  Newest n;
  n.answers.resize(tiers_.size() + 1);
  for (Answer& a : n.answers) {
    a.status = Status::Unavailable(name_ + ": tier left out");
  }
  std::vector<std::function<void()>> calls;
  if (first) calls.push_back(first);
  for (size_t i : Usable()) {
    if (i == skip) continue;
    calls.push_back([this, id, i, &n] { ReadTier(id, i, n.answers[i]); });
  }
  fanout_.RunAll(calls);
  // Read-your-writes: what this host still owes a tier written behind.
  if (has_async() && with_journal) n.answers[journal_slot()] = Pending(id);
  PickNewest(n);
  return n;
}

void TieredStore::ReadBehind(std::string_view id, Newest& n, size_t skip) {
  if (!has_async()) return;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    if (!async_[i] && n.answers[i].record) return;  // a synchronous copy
  }
  std::vector<std::function<void()>> calls;
  for (size_t i : Usable(/*async=*/true)) {
    if (i == skip) continue;
    calls.push_back([this, id, i, &n] { ReadTier(id, i, n.answers[i]); });
  }
  fanout_.RunAll(calls);
  PickNewest(n);
}

void TieredStore::PickNewest(Newest& n) const {
  n.newest = -1;
  for (size_t i : tie_order_) {
    const Answer& a = n.answers[i];
    if (!a.record) continue;
    if (n.newest < 0 || a.version > n.answers[n.newest].version) {
      n.newest = static_cast<int>(i);
    }
  }
}

Status TieredStore::Combine(const std::vector<Status>& statuses) const {
  const Status* refusal = nullptr;
  const Status* outage = nullptr;
  for (const Status& st : statuses) {
    if (st.ok()) return st;
    if (IsOutage(st)) {
      if (outage == nullptr) outage = &st;
    } else if (refusal == nullptr) {
      refusal = &st;
    }
  }
  if (refusal != nullptr) return *refusal;
  if (outage != nullptr) {
    return Status(
        outage->code(),
        name_ + ": no tier answered; the first said: " + outage->message());
  }
  return Status::Unavailable(name_ + ": no tier to ask");
}

std::vector<Status> TieredStore::OnTiers(
    const std::vector<size_t>& which,
    const std::function<Status(size_t)>& call) {
  std::vector<Status> statuses(which.size());
  std::vector<std::function<void()>> calls;
  for (size_t k = 0; k < which.size(); ++k) {
    calls.push_back([&, k] {
      const int64_t started = env_->BootClockMs();
      statuses[k] = call(which[k]);
      Note(which[k], statuses[k], started);
    });
  }
  fanout_.RunAll(calls);
  return statuses;
}

Status TieredStore::NotFound(std::string_view id) const {
  return Status::NotFound(name_ + ": session " + SessionIdPrefix(id) +
                          " not found");
}

Status TieredStore::NoCopy(std::string_view id, const Newest& n) const {
  std::vector<Status> statuses;
  for (size_t i = 0; i < n.answers.size(); ++i) {
    // The journal's "nothing pending" says nothing of the tiers' copies:
    // with every tier out, the answer is their outage, not "not found"
    // (a caller would start the session again, and its save would be
    // queued over the real one).
    if (i == journal_slot() && n.answers[i].status.IsNotFound()) continue;
    statuses.push_back(n.answers[i].status);
  }
  const Status combined = Combine(statuses);
  if (n.newest >= 0 || combined.ok() || combined.IsNotFound()) {
    return NotFound(id);
  }
  return combined;
}

Result<SessionRecord> TieredStore::Read(std::string_view id) {
  return ReadNewest(id, /*or_mark=*/false);
}

Result<SessionRecord> TieredStore::ReadOrMark(std::string_view id) {
  return ReadNewest(id, /*or_mark=*/true);
}

Result<SessionRecord> TieredStore::ReadNewest(std::string_view id,
                                              bool or_mark) {
  SK_CHECK_ID(id);
  Drain();
  Newest n = ReadAll(id, kNoTier, {});
  ReadBehind(id, n, kNoTier);
  if (!n.gone() || (or_mark && n.newest >= 0)) {
    return std::move(*n.answers[n.newest].record);
  }
  return NoCopy(id, n);
}

Status TieredStore::Write(std::string_view id, std::string_view data,
                          Duration ttl) {
  SK_CHECK_ID(id);
  Drain();
  const std::vector<size_t> asked = Usable();
  const std::vector<Status> statuses =
      OnTiers(asked, [&](size_t i) { return tiers_[i]->Write(id, data, ttl); });
  Status st = Combine(statuses);
  // Refused (a value too large, say): not queued either, so that neither
  // this host's reads nor the tiers behind get what the caller was told
  // failed.
  if (!has_async() || (!st.ok() && !IsOutage(st))) return st;
  SessionRecord record{std::string(data), env_->WallNow() + ttl};
  // Queued: the journal holds it for the tiers behind and for the
  // synchronous ones that did not answer.
  return Queue(id, record, VersionOf(data), Owed(asked, statuses));
}

Status TieredStore::Touch(std::string_view id, Duration ttl) {
  SK_CHECK_ID(id);
  Drain();
  Newest n = ReadAll(id, kNoTier, {});
  ReadBehind(id, n, kNoTier);
  if (n.gone()) return NoCopy(id, n);
  // The synchronous tiers with the newest copy move its expiry; those that
  // answered with an older one or none get it whole.
  const Answer& newest = n.answers[n.newest];
  std::vector<size_t> asked;
  for (size_t i = 0; i < tiers_.size(); ++i) {
    const Answer& a = n.answers[i];
    if (async_[i] || (!a.record && !a.status.IsNotFound())) continue;
    asked.push_back(i);
  }
  const std::vector<Status> statuses = OnTiers(asked, [&](size_t i) {
    const bool current = n.answers[i].record &&
                         n.answers[i].version == newest.version &&
                         n.answers[i].record->data == newest.record->data;
    return current ? tiers_[i]->Touch(id, ttl)
                   : tiers_[i]->Write(id, newest.record->data, ttl);
  });
  if (has_async()) {
    SessionRecord moved{newest.record->data, env_->WallNow() + ttl};
    SK_RETURN_IF_ERROR(Queue(id, moved, newest.version, Owed(asked, statuses)));
    return Status::OK();
  }
  Status st = Combine(statuses);
  return st.IsNotFound() ? NotFound(id) : st;
}

Result<bool> TieredStore::Exists(std::string_view id) {
  SK_CHECK_ID(id);
  Newest n;
  return LiveCopy(id, n);
}

Result<bool> TieredStore::LiveCopy(std::string_view id, Newest& n) {
  n = ReadAll(id, kNoTier, {});
  ReadBehind(id, n, kNoTier);
  if (!n.gone()) return true;
  Status st = NoCopy(id, n);
  if (!st.IsNotFound()) return st;
  return false;
}

Result<ScanPage> TieredStore::Scan(const ScanOptions& options) {
  // The first synchronous tier that answers lists what it holds. Each is
  // admitted just before it is asked, so that no probe is claimed for a
  // tier that is not; when none is admitted, all are asked.
  Status last = Status::Unavailable(name_ + ": no tier to scan");
  bool asked = false;
  for (bool anyway : {false, true}) {
    if (anyway && asked) break;
    for (size_t i = 0; i < tiers_.size(); ++i) {
      if (async_[i]) continue;
      if (!anyway && breakers_->Admit(i) == Admission::kSkip) continue;
      asked = true;
      Result<ScanPage> page = tiers_[i]->Scan(options);
      Note(i, page.status());
      if (page.ok()) DropMarks(i, *page);
      if (page.ok() || !IsOutage(page.status())) return page;
      last = page.status();
    }
  }
  return last;
}

void TieredStore::DropMarks(size_t i, ScanPage& page) {
  // A destroy's mark is no session. Marks are the size of a frame header;
  // only values that small are read to tell (the page's cursor stays).
  static const size_t kMarkBytes = EncodeTombstoneFrame(0).size();
  std::erase_if(page.sessions, [&](const SessionInfo& s) {
    if (s.bytes != kMarkBytes) return false;
    Result<SessionRecord> r = tiers_[i]->Read(s.id);
    return r.ok() && IsTombstoneFrame(r->data);
  });
}

Result<GcResult> TieredStore::Gc(TimePoint now) {
  std::vector<size_t> use = Usable();
  for (size_t i : Usable(/*async=*/true)) use.push_back(i);
  std::vector<Result<GcResult>> results(use.size(),
                                        Status::Unavailable("not asked"));
  std::vector<std::function<void()>> calls;
  for (size_t k = 0; k < use.size(); ++k) {
    calls.push_back([&, k] {
      results[k] = tiers_[use[k]]->Gc(now);
      Note(use[k], results[k].status());
    });
  }
  fanout_.RunAll(calls);
  // Each tier removes its own copies: the most any tier removed is the
  // number of sessions gone.
  std::optional<GcResult> most;
  std::vector<Status> statuses;
  for (const Result<GcResult>& r : results) {
    statuses.push_back(r.status());
    if (r.ok() && (!most || r->removed > most->removed)) most = *r;
  }
  if (most) return *most;
  return Combine(statuses);
}

uint64_t TieredStore::TakeRoundTrips() {
  uint64_t sum = 0;
  for (const auto& tier : tiers_) sum += tier->TakeRoundTrips();
  return sum;
}

Status TieredStore::Health() {
  std::vector<size_t> use = Usable();
  for (size_t i : Usable(/*async=*/true)) use.push_back(i);
  return Combine(OnTiers(use, [&](size_t i) { return tiers_[i]->Health(); }));
}

}  // namespace sessionkit::tiered

namespace sessionkit {

Result<std::unique_ptr<Store>> OpenTieredStore(TieredOptions options) {
  const size_t n = options.tiers.size();
  if (n < 2 || n > TieredOptions::kMaxTiers) {
    return Status::InvalidArgument(
        "tiers: " + std::to_string(n) + " stores given; tiers are 2 to " +
        std::to_string(TieredOptions::kMaxTiers) + " stores");
  }
  bool any_async = false;
  for (const TieredOptions::Tier& tier : options.tiers) {
    if (tier.store == nullptr) {
      return Status::InvalidArgument("tiers: a tier is not an open store");
    }
    any_async = any_async || tier.async;
  }
  if (options.tiers.front().async) {
    return Status::InvalidArgument(
        "tiers: the first tier (" + options.tiers.front().store->name() +
        ") is written behind; the first tier must be written at once");
  }
  if (options.breaker_interval.count() <= 0 ||
      options.tombstone_ttl.count() <= 0 || options.breaker_failures < 1 ||
      options.breaker_slow_failure.count() <= 0) {
    return Status::InvalidArgument(
        "tiers: breaker_interval, breaker_failures, breaker_slow_failure and "
        "tombstone_ttl must be positive");
  }
  // A duration setting outside [low, high] ms.
  auto out_of_range = [](const char* name, Duration d, int64_t low,
                         Duration high) -> std::optional<Status> {
    if (d.count() >= low && d <= high) return std::nullopt;
    return Status::InvalidArgument(std::string("tiers: ") + name +
                                   " must be from " + std::to_string(low) +
                                   " to " + std::to_string(high.count()) +
                                   " ms, not " + std::to_string(d.count()));
  };
  for (std::optional<Status> refused :
       {out_of_range("write_delay", options.write_delay, 0,
                     TieredOptions::kMaxWriteDelay),
        out_of_range("drain_every", options.drain_every, 1,
                     TieredOptions::kMaxDrainEvery)}) {
    if (refused) return *refused;
  }
  if (!options.breaker_path.empty() &&
      options.breaker_path != tiered::kBreakerOff &&
      !options.breaker_path.starts_with("/")) {
    return Status::InvalidArgument("tiers: breaker=" + options.breaker_path +
                                   ": expected an absolute path or \"off\"");
  }
  std::unique_ptr<tiered::Journal> journal;
  if (any_async) {
    if (options.journal_path.empty()) {
      return Status::InvalidArgument(
          "tiers: a tier is written behind but no journal directory is set");
    }
    tiered::JournalOptions journal_options;
    journal_options.path = options.journal_path;
    journal_options.sync = options.journal_sync;
    journal_options.env = options.env;
    Result<std::unique_ptr<tiered::Journal>> opened =
        tiered::Journal::Open(journal_options);
    if (!opened.ok()) {
      return opened.status().WithContext("tiers: the journal " +
                                         options.journal_path);
    }
    journal = std::move(*opened);
  }
  return std::unique_ptr<Store>(std::make_unique<tiered::TieredStore>(
      std::move(options), std::move(journal)));
}

}  // namespace sessionkit
