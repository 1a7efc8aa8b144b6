#include "stores/redis/sentinel_watch.h"

#include <string>
#include <utility>
#include <vector>

#include "stores/fork_generation.h"
#include "stores/redis/topology.h"

namespace sessionkit::redis {
namespace {

// The words of `text` separated by single spaces.
std::vector<std::string_view> Words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t space = text.find(' ', at);
    const size_t end = space == std::string_view::npos ? text.size() : space;
    words.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return words;
}

}  // namespace

std::optional<Endpoint> ParseSwitchMaster(std::string_view message,
                                          std::string_view master_name) {
  const std::vector<std::string_view> words = Words(message);
  if (words.size() != 5 || words[0] != master_name || words[3].empty()) {
    return std::nullopt;
  }
  Endpoint master;
  if (!ParsePort(words[4], &master.port)) return std::nullopt;
  master.host = std::string(words[3]);
  return master;
}

std::optional<Endpoint> ParsePromotion(std::string_view message,
                                       std::string_view master_name) {
  const std::vector<std::string_view> words = Words(message);
  if (words.size() != 8 || words[0] != "slave" || words[4] != "@" ||
      words[5] != master_name || words[2].empty()) {
    return std::nullopt;
  }
  Endpoint replica;
  if (!ParsePort(words[3], &replica.port)) return std::nullopt;
  replica.host = std::string(words[2]);
  return replica;
}

SentinelWatch::SentinelWatch(ConnectionOptions sentinel_options,
                             std::string master_name)
    : options_(std::move(sentinel_options)),
      master_name_(std::move(master_name)) {}

void SentinelWatch::DropStaleLocked() {
  const uint64_t generation = ForkGeneration();
  std::erase_if(subscriptions_, [generation](const Subscription& s) {
    // Another process's socket is closed without a word, as the pool does.
    return s.generation != generation || !s.conn->usable() ||
           !s.conn->connected();
  });
}

bool SentinelWatch::subscribed(const Endpoint& sentinel) {
  std::lock_guard<std::mutex> lock(mu_);
  DropStaleLocked();
  for (const Subscription& s : subscriptions_) {
    if (s.conn->endpoint() == sentinel) return true;
  }
  return false;
}

Status SentinelWatch::Subscribe(const Endpoint& sentinel) {
  std::lock_guard<std::mutex> lock(mu_);
  DropStaleLocked();
  for (const Subscription& s : subscriptions_) {
    if (s.conn->endpoint() == sentinel) return Status::OK();
  }
  ConnectionOptions options = options_;
  options.endpoint = sentinel;
  options.stats = nullptr;  // not a command the store sent
  auto conn = std::make_unique<Connection>(std::move(options));
  // One confirmation per SUBSCRIBE.
  const Command subscribe[] = {{{"SUBSCRIBE", kSwitchMasterChannel}},
                               {{"SUBSCRIBE", kPromotionChannels[0]}},
                               {{"SUBSCRIBE", kPromotionChannels[1]}}};
  std::vector<Reply> replies;
  SK_RETURN_IF_ERROR(conn->Execute(subscribe, &replies, /*read_only=*/true));
  for (const Reply& r : replies) {
    if (r.type != Reply::Type::kArray || r.elements.size() != 3 ||
        !r.elements[0].Is("subscribe")) {
      return Status::Unavailable(
          conn->options().store_name + ": sentinel " + sentinel.ToString() +
          " did not confirm the subscriptions to " + kSwitchMasterChannel +
          ", " + kPromotionChannels[0] + " and " + kPromotionChannels[1]);
    }
  }
  subscriptions_.push_back({std::move(conn), ForkGeneration()});
  return Status::OK();
}

std::optional<SentinelWatch::Heard> SentinelWatch::Poll() {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;
  DropStaleLocked();
  std::optional<Heard> latest;
  std::vector<Reply> pushed;
  for (Subscription& s : subscriptions_) {
    pushed.clear();
    // A failure breaks the connection; what came before it still counts.
    (void)s.conn->ReadPushed(&pushed);
    for (const Reply& m : pushed) {
      if (m.type != Reply::Type::kArray || m.elements.size() != 3 ||
          !m.elements[0].Is("message")) {
        continue;
      }
      if (m.elements[1].Is(kSwitchMasterChannel)) {
        std::optional<Endpoint> named =
            ParseSwitchMaster(m.elements[2].str, master_name_);
        if (named) latest = Heard{std::move(*named), true};
      } else if (m.elements[1].Is(kPromotionChannels[0]) ||
                 m.elements[1].Is(kPromotionChannels[1])) {
        std::optional<Endpoint> promoting =
            ParsePromotion(m.elements[2].str, master_name_);
        if (promoting && !(latest && latest->announced)) {
          latest = Heard{std::move(*promoting), false};
        }
      }
    }
  }
  return latest;
}

}  // namespace sessionkit::redis
