// The lifetime policy: how long a session written for one request lives,
// from who asked (a crawler, a client seen once) rather than one lifetime
// for all; and the size limits of what a write may store. The engine
// applies both (EngineOptions::lifetime, EngineOptions::size_limits);
// docs/lifetimes.md explains them and their trade-offs.
#ifndef SESSIONKIT_LIFETIME_H_
#define SESSIONKIT_LIFETIME_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace sessionkit {

// The lifetime of a session written for a bot by default (bot_lifetime):
// 5 minutes. Longer than any request (and than a lock lease), so a crawler
// that does return its cookie keeps its session while it crawls (each
// write extends it); short enough that the sessions of crawlers that never
// return a cookie (almost all) leave the store within minutes, not after
// gc_maxlifetime.
inline constexpr Duration kDefaultBotLifetime = std::chrono::seconds(300);

// The User-Agent patterns that name a bot when bot_pattern is empty (RE2
// syntax, matched case-insensitively anywhere in the header): crawlers of
// search engines, SEO tools and link previews, HTTP libraries and headless
// browsers. It also matches the few real browsers whose name contains "bot"
// (e.g. Cubot phones): such users get bot_lifetime, renewed by each request.
// Crawlers are named by their crawlers' names, not their companies': the
// DuckDuckGo, Telegram, Baidu, Sogou and Yandex apps are browsers.
inline constexpr std::string_view kDefaultBotPattern =
    "bot|crawl|spider|slurp|yandex(images|video|media|metrika|favicons)|"
    "exabot|semrush|"
    "ahrefs|mj12|petalbot|bytespider|applebot|facebookexternalhit|"
    "facebookcatalog|ia_archiver|archive\\.org|mediapartners|feedfetcher|"
    "curl/|wget/|python-requests|python-urllib|aiohttp|httpx|go-http-client|"
    "java/|okhttp|libwww|lwp-|httpclient|guzzle|scrapy|headless|phantomjs|"
    "lighthouse|pingdom|uptime|whatsapp|embedly";

// The highest write count a frame holds (FrameHeader::write_count); a
// session read with a count of 0 (written before counts existed, or
// living its normal lifetime) counts as this many writes.
inline constexpr uint32_t kMaxWriteCount = 255;

// Settings of the lifetime policy. In PHP each one is the ini entry
// sessionkit.<name> (whole seconds there). Every lifetime is at most the
// normal one (the ttl passed to Write: session.gc_maxlifetime), then
// bounded by min_lifetime and max_lifetime.
struct LifetimeOptions {
  // bot_pattern: the User-Agent patterns of bots, RE2 syntax, matched
  // case-insensitively anywhere in the header; empty: kDefaultBotPattern.
  std::string bot_pattern;
  // bot_lifetime: the lifetime of a session written for a bot (its
  // User-Agent matches, or an HTTP request sent none or an empty one);
  // 0: bots are not told apart.
  Duration bot_lifetime = kDefaultBotLifetime;
  // first_lifetime: the lifetime of a session written once (a first visit:
  // the client has not sent its cookie back yet); each later write doubles
  // it (write n: first_lifetime * 2^(n-1)) until it reaches the normal
  // lifetime. 0: off. On, the frame records the write count while the
  // session grows, which engines older than this one cannot read.
  Duration first_lifetime{0};
  // min_lifetime / max_lifetime: bounds of every lifetime; 0: none.
  Duration min_lifetime{0};
  Duration max_lifetime{0};
};

// Who a write or touch serves, as the host knows it.
struct ClientInfo {
  // True when it serves an HTTP request (in PHP: a web SAPI). Without one
  // (a CLI script) and without a user_agent, there is no client to judge,
  // and the session is never a bot's.
  bool http = false;
  // The request's User-Agent header; nullopt when it sent none.
  std::optional<std::string_view> user_agent;
};

// The size limits of the payload a write hands over (PHP's serialized
// session data, before compression and encryption). In PHP the ini entries
// sessionkit.max_size and sessionkit.warn_size; 0: no limit.
struct SizeLimits {
  // max_size: a larger payload is refused (InvalidArgument naming both
  // sizes); the stored session stays as it was.
  size_t max_size = 0;
  // warn_size: a larger payload is written, and a notice names both sizes.
  size_t warn_size = 0;
};

// What the lifetime policy and the size limits did since the engine opened,
// for metrics and tests.
struct PolicyCounters {
  uint64_t size_refused = 0;     // writes refused by max_size
  uint64_t size_warned = 0;      // writes above warn_size (written)
  uint64_t bot_lifetimes = 0;    // saves given bot_lifetime
  uint64_t first_lifetimes = 0;  // saves given a first-visit lifetime
};

// A compiled lifetime policy.
//
// Thread safety: immutable once created; safe for concurrent use.
class LifetimePolicy {
 public:
  // Checks and compiles `options`. InvalidArgument naming the setting (as
  // `setting_name` spells it; empty: sessionkit's names) for a negative
  // lifetime, a min_lifetime above max_lifetime, or a bot_pattern RE2
  // cannot compile (with RE2's reason).
  static Result<std::shared_ptr<const LifetimePolicy>> Create(
      LifetimeOptions options,
      const std::function<std::string(std::string_view)>& setting_name = {});

  ~LifetimePolicy();
  LifetimePolicy(const LifetimePolicy&) = delete;
  LifetimePolicy& operator=(const LifetimePolicy&) = delete;

  // True when `client` is a bot: its User-Agent matches the patterns, is
  // empty, or is missing from an HTTP request.
  bool IsBot(const ClientInfo& client) const;

  // How a save of a session whose normal lifetime is `normal` is treated.
  enum class Kind { kNormal, kBot, kFirstVisit };
  struct Decision {
    Duration lifetime;
    Kind kind = Kind::kNormal;
  };
  // The lifetime of the `writes`-th save (1: the first) of a session for
  // `client`: bot_lifetime for a bot (when on), the first-visit lifetime
  // while it is below `normal` (when on), else `normal`; each at most
  // `normal`, then bounded by min_lifetime and max_lifetime.
  Decision Decide(Duration normal, const ClientInfo& client,
                  uint32_t writes) const;

  // The write count a frame of the `writes`-th save should hold: `writes`
  // while the first-visit lifetime of that save is below `normal` (the
  // session still grows), 0 otherwise (first_lifetime off, or grown).
  uint8_t StoredWriteCount(Duration normal, uint32_t writes) const;

  const LifetimeOptions& options() const { return options_; }

 private:
  explicit LifetimePolicy(LifetimeOptions options);

  LifetimeOptions options_;
  std::unique_ptr<re2::RE2> bots_;
};

// The first-visit lifetime of the `writes`-th save (1: the first): `first`
// doubled (writes - 1) times, at most `normal`. `normal` for writes 0.
Duration FirstVisitLifetime(Duration first, Duration normal, uint32_t writes);

// The write count of a save following a read that returned `read_writes`
// (SessionLock::read_writes; 0: nothing read): 1 then, else one more, at
// most kMaxWriteCount.
uint32_t NextWriteCount(uint32_t read_writes);

}  // namespace sessionkit

#endif  // SESSIONKIT_LIFETIME_H_
