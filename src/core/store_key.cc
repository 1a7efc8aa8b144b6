#include "core/store_key.h"

#include <string>

#include "sessionkit/users.h"

namespace sessionkit {
namespace {

std::string Setting(const EngineOptions& options, std::string_view name) {
  return options.setting_name ? options.setting_name(name) : std::string(name);
}

}  // namespace

Status CheckIdHashing(const EngineOptions& options) {
  if (!options.hash_ids) return Status::OK();
  const std::string hash_ids = Setting(options, "hash_ids");
  const std::string keys = Setting(options, "keys");
  if (options.keys == nullptr) {
    return Status::InvalidArgument(
        "session ids are to be hashed (" + hash_ids + ") but no key file is " +
        "set (" + keys + "): the hash is keyed by the hash line of a key " +
        "file; create one with \"sessionkit keys generate --out FILE\" and " +
        "set " + keys + " to it, or turn " + hash_ids + " off");
  }
  if (!options.keys->has_hash_secret()) {
    const std::string& file = options.keys->source();
    return Status::InvalidArgument(
        "session ids are to be hashed (" + hash_ids + ") but key file " + file +
        " (" + keys + ") has no hash line: add one with \"sessionkit " +
        "keys add --hash " + file + "\" on one host and copy the file to " +
        "every host, or turn " + hash_ids + " off");
  }
  return Status::OK();
}

Result<std::string> StoreKey(const EngineOptions& options,
                             std::string_view id) {
  if (IsInternalStoreKey(id)) {
    return Status::InvalidArgument(
        "session id starts with \"" + std::string(kInternalKeyPrefix) +
        "\", which sessionkit keeps for its own records (user indexes), "
        "not for sessions");
  }
  if (!options.hash_ids) return std::string(id);
  SK_RETURN_IF_ERROR(CheckIdHashing(options));
  return options.keys->HashSessionId(id);
}

}  // namespace sessionkit
