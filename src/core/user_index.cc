#include "core/user_index.h"

#include <sodium.h>

#include <set>
#include <string>

#include "core/store_key.h"
#include "sessionkit/keyring.h"
#include "sessionkit/session_id.h"
#include "sessionkit/users.h"

namespace sessionkit {
namespace {

constexpr std::string_view kIndexMagic = "sessionkit-user-index 1\n";
constexpr std::string_view kOwnerMagic = "sessionkit-owner 1\n";
constexpr std::string_view kNoId = "-";

// Hashing domains: a session id never holds a NUL, so neither hash can be
// the hash of a session id (KeyRing::HashSessionId), nor of each other.
constexpr std::string_view kUserDomain{"\0sessionkit user\0", 17};
constexpr std::string_view kOwnerDomain{"\0sessionkit owner\0", 18};

Result<std::string> InternalKey(const EngineOptions& options,
                                std::string_view kind, std::string_view domain,
                                std::string_view name) {
  std::string input(domain);
  input.append(name);
  std::string hex;
  if (options.hash_ids) {
    SK_RETURN_IF_ERROR(CheckIdHashing(options));
    auto hashed = options.keys->HashSessionId(input);
    if (!hashed.ok()) return hashed.status();
    hex = std::move(hashed).value();
  } else {
    if (sodium_init() < 0) return Status::Internal("libsodium failed to start");
    unsigned char digest[kSessionIdHashSize];
    crypto_generichash(digest, sizeof(digest),
                       reinterpret_cast<const unsigned char*>(input.data()),
                       input.size(), nullptr, 0);
    char text[2 * sizeof(digest) + 1];
    sodium_bin2hex(text, sizeof(text), digest, sizeof(digest));
    hex.assign(text, 2 * sizeof(digest));
  }
  return std::string(kInternalKeyPrefix) + std::string(kind) + "," + hex;
}

Status BadIndex(std::string_view what) {
  return Status::Corrupt("user index record: " + std::string(what));
}

}  // namespace

Status ValidateUserName(std::string_view user) {
  if (user.empty()) return Status::InvalidArgument("user name is empty");
  if (user.size() > kMaxUserNameLength) {
    return Status::InvalidArgument(
        "user name is too long (" + std::to_string(user.size()) +
        " bytes; at most " + std::to_string(kMaxUserNameLength) +
        " are allowed)");
  }
  return Status::OK();
}

std::string EncodeUserIndex(const std::vector<UserIndexEntry>& entries) {
  std::string out(kIndexMagic);
  for (const UserIndexEntry& e : entries) {
    out += e.key;
    out += ' ';
    out += e.id.empty() ? kNoId : std::string_view(e.id);
    out += '\n';
  }
  return out;
}

Result<std::vector<UserIndexEntry>> DecodeUserIndex(std::string_view payload) {
  if (payload.substr(0, kIndexMagic.size()) != kIndexMagic) {
    return BadIndex("it does not start with its version line");
  }
  payload.remove_prefix(kIndexMagic.size());
  std::vector<UserIndexEntry> entries;
  std::set<std::string_view> keys;
  while (!payload.empty()) {
    const size_t end = payload.find('\n');
    if (end == std::string_view::npos) return BadIndex("its last line is cut");
    std::string_view line = payload.substr(0, end);
    payload.remove_prefix(end + 1);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return BadIndex("entry " + std::to_string(entries.size() + 1) +
                      " has no id field");
    }
    const std::string_view key = line.substr(0, space);
    const std::string_view id = line.substr(space + 1);
    if (!ValidateSessionId(key).ok() ||
        (id != kNoId && !ValidateSessionId(id).ok())) {
      return BadIndex("entry " + std::to_string(entries.size() + 1) +
                      " is not a session key");
    }
    if (entries.size() == kMaxSessionsPerUser) {
      return BadIndex("it holds more than " +
                      std::to_string(kMaxSessionsPerUser) + " entries");
    }
    if (!keys.insert(key).second) {
      return BadIndex("entry " + std::to_string(entries.size() + 1) +
                      " repeats a session");
    }
    entries.push_back(
        UserIndexEntry{std::string(key), id == kNoId ? "" : std::string(id)});
  }
  return entries;
}

std::string EncodeOwner(std::string_view index_key) {
  return std::string(kOwnerMagic) + std::string(index_key) + "\n";
}

Result<std::string> DecodeOwner(std::string_view payload) {
  // The magic ends with a newline of its own: the record's last one must
  // come after it.
  if (payload.size() <= kOwnerMagic.size() ||
      payload.substr(0, kOwnerMagic.size()) != kOwnerMagic ||
      payload.back() != '\n') {
    return Status::Corrupt("owner record: not in its format");
  }
  payload.remove_prefix(kOwnerMagic.size());
  payload.remove_suffix(1);
  if (!IsInternalStoreKey(payload) || !ValidateSessionId(payload).ok()) {
    return Status::Corrupt("owner record: it names no user index");
  }
  return std::string(payload);
}

Result<std::string> UserIndexKey(const EngineOptions& options,
                                 std::string_view user) {
  SK_RETURN_IF_ERROR(ValidateUserName(user));
  return InternalKey(options, "user", kUserDomain, user);
}

Result<std::string> OwnerKey(const EngineOptions& options,
                             std::string_view session_key) {
  return InternalKey(options, "owner", kOwnerDomain, session_key);
}

}  // namespace sessionkit
