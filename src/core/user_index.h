// The records behind sessions by user (sessionkit/users.h): their keys and
// the payloads of their frames. The payloads are read back from a store, so
// decoding them checks everything (user_index_fuzzer.cc).
#ifndef SESSIONKIT_CORE_USER_INDEX_H_
#define SESSIONKIT_CORE_USER_INDEX_H_

#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/engine.h"
#include "sessionkit/status.h"

namespace sessionkit {

// One session in a user's index.
struct UserIndexEntry {
  std::string key;  // the session's store key (StoreKey)
  std::string id;   // its id when stored (hash_ids with encryption); or ""
};

// The payload of a user's index record: a version line, then one line per
// entry, "KEY ID" or "KEY -".
std::string EncodeUserIndex(const std::vector<UserIndexEntry>& entries);
// Corrupt, saying what is wrong, unless `payload` is what EncodeUserIndex
// makes: keys and ids must be valid session ids, at most
// kMaxSessionsPerUser entries, no key twice.
Result<std::vector<UserIndexEntry>> DecodeUserIndex(std::string_view payload);

// The payload of a session's owner record: the key of its user's index.
std::string EncodeOwner(std::string_view index_key);
// The index key an owner record names; Corrupt unless it is one.
Result<std::string> DecodeOwner(std::string_view payload);

// The store key of `user`'s index: kInternalKeyPrefix, "user,", and the
// hex of a BLAKE2b hash of the name, keyed by the key file's hash line
// when options.hash_ids (so a copy of the store does not tell whose index
// it is), unkeyed otherwise. Errors as CheckIdHashing.
Result<std::string> UserIndexKey(const EngineOptions& options,
                                 std::string_view user);
// The store key of the owner record of the session kept under
// `session_key`, hashed as UserIndexKey.
Result<std::string> OwnerKey(const EngineOptions& options,
                             std::string_view session_key);

}  // namespace sessionkit

#endif  // SESSIONKIT_CORE_USER_INDEX_H_
