#include "capi/engine_settings.h"

#include <string>
#include <string_view>
#include <utility>

#include "sessionkit/dictionaries.h"
#include "sessionkit/keyring.h"
#include "sessionkit/legacy.h"
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
