#include "capi/engine_settings.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "sessionkit/dictionaries.h"
#include "sessionkit/keyring.h"
#include "sessionkit/legacy.h"
#include "sessionkit/lifetime.h"
#include "sessionkit/metrics.h"

namespace sessionkit {
namespace {

// Appends one setting to a cache key. A NUL never appears in a spec that
// opens nor in a path, and each field is named, so no two different
// settings make the same key.
void AppendField(std::string* key, std::string_view name,
                 std::string_view value) {
  if (value.empty()) return;
  key->push_back('\0');
  key->append(name);
  key->push_back('=');
  key->append(value);
}

// Seconds as a Duration, saturating (negative stays negative: refused by
// LifetimePolicy::Create).
Duration SecondsToDuration(int64_t s) {
  constexpr int64_t kMax = INT64_MAX / 1000;
  if (s > kMax) return Duration(INT64_MAX);
  if (s < -kMax) return Duration(INT64_MIN);
  return Duration(s * 1000);
}

size_t Bytes(uint64_t n) {
  return n > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(n);
}

}  // namespace

std::string EngineCacheKey(std::string_view spec,
                           const sk_engine_settings* settings) {
  std::string key(spec);
  if (settings == nullptr) return key;
  AppendField(&key, "keys", View(settings->keys_path, settings->keys_path_len));
  AppendField(&key, "legacy", View(settings->legacy, settings->legacy_len));
  AppendField(
      &key, "dictionaries",
      View(settings->dictionaries_path, settings->dictionaries_path_len));
  AppendField(&key, "hash_ids", settings->hash_ids != 0 ? "1" : "");
  AppendField(&key, "bot_pattern",
              View(settings->bot_pattern, settings->bot_pattern_len));
  const std::pair<const char*, int64_t> numbers[] = {
      {"bot_lifetime", settings->bot_lifetime_s},
      {"first_lifetime", settings->first_lifetime_s},
      {"min_lifetime", settings->min_lifetime_s},
      {"max_lifetime", settings->max_lifetime_s},
      {"max_size", static_cast<int64_t>(settings->max_size)},
      {"warn_size", static_cast<int64_t>(settings->warn_size)}};
  for (const auto& [name, value] : numbers) {
    AppendField(&key, name, value != 0 ? std::to_string(value) : "");
  }
  AppendField(&key, "metrics",
              View(settings->metrics_path, settings->metrics_path_len));
  return key;
}

Status ApplyEngineSettings(const sk_engine_settings* settings,
                           EngineOptions* options) {
  if (settings == nullptr) return Status::OK();
  const std::string_view keys =
      View(settings->keys_path, settings->keys_path_len);
  if (!keys.empty()) {
    auto ring = KeyRing::Load(std::string(keys));
    if (!ring.ok()) {
      return Status::InvalidArgument("sessionkit.keys: " +
                                     ring.status().message());
    }
    options->keys = std::move(ring).value();
  }
  const std::string_view legacy = View(settings->legacy, settings->legacy_len);
  if (!legacy.empty()) {
    auto source = OpenLegacySource(legacy, options->env);
    if (!source.ok()) {
      return Status(source.status().code(),
                    "sessionkit.legacy: " + source.status().message());
    }
    options->legacy = std::move(source).value();
  }
  const std::string_view dicts =
      View(settings->dictionaries_path, settings->dictionaries_path_len);
  if (!dicts.empty()) {
    auto loaded = Dictionaries::Load(std::string(dicts));
    if (!loaded.ok()) {
      return Status::InvalidArgument("sessionkit.dictionaries: " +
                                     loaded.status().message());
    }
    options->dictionaries = std::move(loaded).value();
  }
  // Checked with the keys by OpenEngine (CheckIdHashing).
  options->hash_ids = settings->hash_ids != 0;
  options->size_limits.max_size = Bytes(settings->max_size);
  options->size_limits.warn_size = Bytes(settings->warn_size);
  if (settings->bot_lifetime_s == 0 && settings->first_lifetime_s == 0 &&
      settings->min_lifetime_s == 0 && settings->max_lifetime_s == 0) {
    return Status::OK();  // no lifetime policy
  }
  LifetimeOptions lifetime;
  lifetime.bot_pattern.assign(
      View(settings->bot_pattern, settings->bot_pattern_len));
  lifetime.bot_lifetime = SecondsToDuration(settings->bot_lifetime_s);
  lifetime.first_lifetime = SecondsToDuration(settings->first_lifetime_s);
  lifetime.min_lifetime = SecondsToDuration(settings->min_lifetime_s);
  lifetime.max_lifetime = SecondsToDuration(settings->max_lifetime_s);
  auto policy =
      LifetimePolicy::Create(std::move(lifetime), options->setting_name);
  if (!policy.ok()) return policy.status();
  options->lifetime = std::move(policy).value();
  return Status::OK();
}

std::string ApplyMetricsSetting(const sk_engine_settings* settings,
                                std::string_view spec, EngineOptions* options) {
  if (settings == nullptr) return "";
  const std::string_view path =
      View(settings->metrics_path, settings->metrics_path_len);
  if (path.empty()) return "";
  auto sink = OpenMetricsFile(std::string(path), MetricsStoreLabel(spec));
  if (!sink.ok()) {
    return "sessionkit.metrics: " + sink.status().message() +
           "; sessions are stored, but not counted";
  }
  options->metrics = std::move(sink).value();
  return "";
}

}  // namespace sessionkit
