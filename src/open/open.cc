// Maps a parsed store URL to its backend, and opens engines over them.
#include "sessionkit/open.h"

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/store_key.h"
#include "sessionkit/stores/callback.h"
#include "sessionkit/stores/lmdb.h"
#include "sessionkit/stores/memcached.h"
#include "sessionkit/stores/mysql.h"
#include "sessionkit/stores/postgres.h"
#include "sessionkit/stores/redis.h"
#include "sessionkit/stores/tiered.h"

namespace sessionkit {
namespace {

// Where the journal of tiers written behind lives unless journal= says.
constexpr std::string_view kDefaultJournalPath = "/var/lib/sessionkit/journal";

// A store of this build: the schemes it serves, how their settings are
// checked (its Options::FromUrl) and how it is opened from a URL (FromUrl,
// then the store). A new store adds its row here and its folder under
// src/stores; the URL grammar lists its parameter names
// (src/uri/schemes.cc).
struct Backend {
  std::string_view store;  // for messages: "lmdb"
  std::span<const std::string_view> schemes;
  Status (*check)(const StoreUrl& url);
  Result<std::unique_ptr<Store>> (*open)(const StoreUrl& url, Env* env);
};

template <typename Options>
Status CheckSettings(const StoreUrl& url) {
  return Options::FromUrl(url).status();
}

// Options::FromUrl, then the store, with `env` (nullptr: Env::Default()).
template <typename Options,
          Result<std::unique_ptr<Store>> (*kOpen)(const Options&)>
Result<std::unique_ptr<Store>> OpenWithEnv(const StoreUrl& url, Env* env) {
  Result<Options> options = Options::FromUrl(url);
  if (!options.ok()) return options.status();
  options->env = env;
  return kOpen(*options);
}

constexpr std::string_view kLmdbSchemes[] = {"lmdb"};
constexpr std::string_view kMemcachedSchemes[] = {"memcached"};
constexpr std::string_view kMysqlSchemes[] = {"mysql"};
constexpr std::string_view kRedisSchemes[] = {
    "redis", "rediss", "redis+sentinel", "redis+cluster"};
constexpr std::string_view kPostgresSchemes[] = {"postgres"};
constexpr std::string_view kPhpSchemes[] = {"php"};

constexpr Backend kBackends[] = {
    {"lmdb", kLmdbSchemes, &CheckSettings<LmdbOptions>,
     &OpenWithEnv<LmdbOptions, &OpenLmdbStore>},
    {"redis", kRedisSchemes, &CheckSettings<RedisOptions>,
     &OpenWithEnv<RedisOptions, &OpenRedisStore>},
    {"postgres", kPostgresSchemes, &CheckSettings<PostgresOptions>,
     &OpenWithEnv<PostgresOptions, &OpenPostgresStore>},
    {"mysql", kMysqlSchemes, &CheckSettings<MysqlOptions>,
     &OpenWithEnv<MysqlOptions, &OpenMysqlStore>},
    {"memcached", kMemcachedSchemes, &CheckSettings<MemcachedOptions>,
     &OpenWithEnv<MemcachedOptions, &OpenMemcachedStore>},
    {"php", kPhpSchemes, &CheckSettings<CallbackOptions>,
     &OpenWithEnv<CallbackOptions, &OpenCallbackStore>},
};

const Backend* FindBackend(std::string_view scheme) {
  for (const Backend& b : kBackends) {
    for (std::string_view s : b.schemes) {
      if (s == scheme) return &b;
    }
  }
  return nullptr;
}

Status NotAvailable(const StoreUrl& url) {
  std::string stores;
  for (size_t i = 0; i < std::size(kBackends); ++i) {
    if (i > 0) stores += i + 1 == std::size(kBackends) ? " and " : ", ";
    stores += kBackends[i].store;
  }
  return Status::NotSupported(url.Redacted() + ": the " + url.scheme +
                              " store is not available in this build (it "
                              "has the " +
                              stores + " stores)");
}

// Checks the settings of every tier, naming the tier, so that a bad value
// is reported before anything is opened.
Status CheckTiers(const std::vector<StoreUrl>& urls) {
  for (size_t i = 0; i < urls.size(); ++i) {
    const Backend* backend = FindBackend(urls[i].scheme);
    if (backend == nullptr) continue;  // its rules are the URL grammar's
    Status st = backend->check(urls[i]);
    if (!st.ok()) return st.WithContext("tier " + std::to_string(i + 1));
  }
  return Status::OK();
}

// Opens one tier. A Memcached tier never moves a session to another
// server of its pool: processes that disagree on which server is down
// would keep copies on two servers, and a server back with the copies it
// held before would be believed, where the journal can correct only the
// session's own server (MemcachedOptions::failover).
Result<std::unique_ptr<Store>> OpenTier(const StoreUrl& url, Env* env) {
  if (url.scheme != "memcached") return OpenStore(url, env);
  Result<MemcachedOptions> options = MemcachedOptions::FromUrl(url);
  if (!options.ok()) return options.status();
  if (url.Param("failover") && options->failover) {
    return Status::InvalidArgument(
        url.Redacted() +
        ": failover=1 cannot be used in a tier (a server back with old "
        "copies would be believed); leave it out, a tier fails over to the "
        "next tier instead");
  }
  options->failover = false;
  options->env = env;
  return OpenMemcachedStore(*options);
}

}  // namespace

Result<std::unique_ptr<Store>> OpenStore(const StoreUrl& url, Env* env) {
  const Backend* backend = FindBackend(url.scheme);
  if (backend == nullptr) return NotAvailable(url);
  return backend->open(url, env);
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view spec, Env* env) {
  auto urls = ParseStoreSpec(spec);
  if (!urls.ok()) return urls.status();
  if (urls->size() == 1) return OpenStore(urls->front(), env);
  SK_RETURN_IF_ERROR(CheckTiers(*urls));
  TieredOptions options;
  options.env = env;
  for (size_t i = 0; i < urls->size(); ++i) {
    const StoreUrl& url = (*urls)[i];
    const std::string tier = "tier " + std::to_string(i + 1);
    Result<std::string> journal =
        url.PathParam("journal", std::string(kDefaultJournalPath));
    if (!journal.ok()) return journal.status().WithContext(tier);
    // Its callbacks may be called only on the request's own thread
    // (CallbackOptions::FromUrl refuses write=async).
    if (url.scheme == "php") options.on_caller_thread = true;
    if (url.write_async()) {
      if (!journal->starts_with("/")) {
        return Status::InvalidArgument(
            tier + ": journal=" + *journal +
            ": expected an absolute path (the journal's directory)");
      }
      if (!options.journal_path.empty() && options.journal_path != *journal) {
        return Status::InvalidArgument(tier + ": journal=" + *journal +
                                       " differs from " + options.journal_path +
                                       ": the tiers of one save path share one "
                                       "journal");
      }
      options.journal_path = *journal;
    }
    // The breakers' file: one per save path, on any tier (docs/tiers.md).
    Result<std::string> breaker = url.PathParam("breaker", "");
    if (!breaker.ok()) return breaker.status().WithContext(tier);
    if (!breaker->empty()) {
      if (*breaker != "off" && !breaker->starts_with("/")) {
        return Status::InvalidArgument(
            tier + ": breaker=" + *breaker +
            ": expected an absolute path (the breakers' file) or \"off\"");
      }
      if (!options.breaker_path.empty() && options.breaker_path != *breaker) {
        return Status::InvalidArgument(
            tier + ": breaker=" + *breaker + " differs from " +
            options.breaker_path +
            ": the tiers of one save path share one breaker file");
      }
      options.breaker_path = *breaker;
    }
    // How long a tier behind waits for its writes: on the tier behind.
    if (url.Param("write_delay")) {
      if (!url.write_async()) {
        return Status::InvalidArgument(
            tier +
            ": write_delay is a setting of a tier written behind "
            "(write=async)");
      }
      Result<Duration> delay =
          url.DurationParam("write_delay", options.write_delay);
      if (!delay.ok()) return delay.status().WithContext(tier);
      if (*delay > TieredOptions::kMaxWriteDelay) {
        return Status::InvalidArgument(
            tier + ": write_delay=" + std::to_string(delay->count()) +
            "ms: at most " +
            std::to_string(TieredOptions::kMaxWriteDelay.count()) + "ms");
      }
      options.write_delay = *delay;
    }
    Result<std::unique_ptr<Store>> store = OpenTier(url, env);
    if (!store.ok()) return store.status().WithContext(tier);
    options.tiers.push_back(
        {std::move(*store), url.write_async(), url.Location()});
  }
  // The journal's thread writes a tier behind, and also the writes a tier
  // of the request missed: it would call a php:// tier off its thread.
  for (const StoreUrl& url : *urls) {
    if (options.on_caller_thread && url.write_async()) {
      return Status::InvalidArgument(
          url.Redacted() +
          ": no tier can be written behind (write=async) beside a store "
          "written in PHP (php://): the journal is drained by a thread of "
          "its own, which would call the PHP store with the writes it "
          "missed");
    }
  }
  return OpenTieredStore(std::move(options));
}

Result<std::unique_ptr<SessionEngine>> OpenEngine(std::string_view spec,
                                                  EngineOptions options) {
  // Refused before any store is opened: hash_ids without its secret.
  SK_RETURN_IF_ERROR(CheckIdHashing(options));
  auto store = OpenStore(spec, options.env);
  if (!store.ok()) return store.status();
  return std::make_unique<SessionEngine>(std::move(store).value(),
                                         std::move(options));
}

}  // namespace sessionkit
