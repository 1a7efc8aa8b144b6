#include <re2/re2.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "sessionkit/lifetime.h"

namespace sessionkit {
namespace {

std::string Seconds(Duration d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

}  // namespace

LifetimePolicy::LifetimePolicy(LifetimeOptions options)
    : options_(std::move(options)) {}

LifetimePolicy::~LifetimePolicy() = default;

Result<std::shared_ptr<const LifetimePolicy>> LifetimePolicy::Create(
    LifetimeOptions options,
    const std::function<std::string(std::string_view)>& setting_name) {
  auto name = [&](std::string_view setting) {
    return setting_name ? setting_name(setting) : std::string(setting);
  };
  const std::pair<const char*, Duration> lifetimes[] = {
      {"bot_lifetime", options.bot_lifetime},
      {"first_lifetime", options.first_lifetime},
      {"min_lifetime", options.min_lifetime},
      {"max_lifetime", options.max_lifetime}};
  for (const auto& [setting, value] : lifetimes) {
    if (value.count() < 0) {
      return Status::InvalidArgument(name(setting) +
                                     " must not be negative (got " +
                                     std::to_string(value.count()) + " ms)");
    }
  }
  if (options.min_lifetime.count() > 0 && options.max_lifetime.count() > 0 &&
      options.min_lifetime > options.max_lifetime) {
    return Status::InvalidArgument(
        name("min_lifetime") + " (" + Seconds(options.min_lifetime) +
        ") is above " + name("max_lifetime") + " (" +
        Seconds(options.max_lifetime) + "): no lifetime fits both");
  }
  std::shared_ptr<LifetimePolicy> policy(new LifetimePolicy(options));
  RE2::Options re;
  re.set_case_sensitive(false);
  re.set_log_errors(false);
  const std::string pattern = options.bot_pattern.empty()
                                  ? std::string(kDefaultBotPattern)
                                  : options.bot_pattern;
  policy->bots_ = std::make_unique<RE2>(pattern, re);
  if (!policy->bots_->ok()) {
    return Status::InvalidArgument(name("bot_pattern") +
                                   " is not a valid regular expression (RE2 " +
                                   "syntax): " + policy->bots_->error());
  }
  return std::shared_ptr<const LifetimePolicy>(std::move(policy));
}

bool LifetimePolicy::IsBot(const ClientInfo& client) const {
  if (!client.user_agent.has_value()) return client.http;
  if (client.user_agent->empty()) return true;
  return RE2::PartialMatch(
      re2::StringPiece(client.user_agent->data(), client.user_agent->size()),
      *bots_);
}

Duration FirstVisitLifetime(Duration first, Duration normal, uint32_t writes) {
  if (writes == 0 || first >= normal) return normal;
  Duration lifetime = first;
  for (uint32_t i = 1; i < writes && lifetime < normal; ++i) {
    lifetime = lifetime > normal / 2 ? normal : lifetime * 2;
  }
  return std::min(lifetime, normal);
}

uint32_t NextWriteCount(uint32_t read_writes) {
  return read_writes == 0 ? 1 : std::min(read_writes + 1, kMaxWriteCount);
}

LifetimePolicy::Decision LifetimePolicy::Decide(Duration normal,
                                                const ClientInfo& client,
                                                uint32_t writes) const {
  Decision d{normal, Kind::kNormal};
  if (options_.bot_lifetime.count() > 0 && IsBot(client)) {
    d = {std::min(options_.bot_lifetime, normal), Kind::kBot};
  } else if (options_.first_lifetime.count() > 0) {
    const Duration first =
        FirstVisitLifetime(options_.first_lifetime, normal, writes);
    if (first < normal) d = {first, Kind::kFirstVisit};
  }
  if (options_.min_lifetime.count() > 0) {
    d.lifetime = std::max(d.lifetime, options_.min_lifetime);
  }
  if (options_.max_lifetime.count() > 0) {
    d.lifetime = std::min(d.lifetime, options_.max_lifetime);
  }
  return d;
}

uint8_t LifetimePolicy::StoredWriteCount(Duration normal,
                                         uint32_t writes) const {
  if (options_.first_lifetime.count() <= 0 || writes == 0 ||
      writes >= kMaxWriteCount) {
    return 0;
  }
  return FirstVisitLifetime(options_.first_lifetime, normal, writes) < normal
             ? static_cast<uint8_t>(writes)
             : 0;
}

}  // namespace sessionkit
