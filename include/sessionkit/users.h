// Sessions by user: which sessions belong to which user, so that a support
// desk or a password change can list or end every session of one user
// (SessionEngine::SetUser, UserSessions, DestroyUser; docs/users.md).
//
// The index is kept through the Store interface, so it works the same on
// every store: per user, one record under a key derived from the user name
// (a hash: the name never reaches the store), holding the store keys of the
// user's sessions; per session, one owner record naming the user's index.
// Both are frames like sessions, so encryption applies to them. Their keys
// start with kInternalKeyPrefix, which the engine refuses as a session id.
#ifndef SESSIONKIT_USERS_H_
#define SESSIONKIT_USERS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"

namespace sessionkit {

// The longest user name, in bytes (any bytes: names are binary safe).
inline constexpr size_t kMaxUserNameLength = 256;

// The most sessions one user's index holds. Setting the user of one more
// session first drops the entries of sessions that are gone; when all are
// live, it fails with ResourceExhausted.
inline constexpr size_t kMaxSessionsPerUser = 200;

// How long an owner record and a user's index are kept after they were
// last written, at least (twice the session lifetime when that is longer).
// A session whose user is set again within half of it keeps being listed
// (docs/users.md: sessionkit.user_key does that on every write).
inline constexpr Duration kUserIndexRetention{30LL * 24 * 3600 * 1000};

// The start of every store key sessionkit keeps for itself (user indexes,
// owner records). No session id may start with it: the engine refuses such
// an id (StoreKey), so no cookie can read or overwrite one of these
// records, and `sessionkit ls` leaves them out.
inline constexpr std::string_view kInternalKeyPrefix = ",sk-";

// True when `key` is one of sessionkit's own records, not a session.
inline bool IsInternalStoreKey(std::string_view key) {
  return key.substr(0, kInternalKeyPrefix.size()) == kInternalKeyPrefix;
}

// OK when `user` can name a user: 1 to kMaxUserNameLength bytes.
// InvalidArgument saying which rule it breaks otherwise (never echoing it).
Status ValidateUserName(std::string_view user);

// One session of a user, as SessionEngine::UserSessions lists it.
struct UserSession {
  // The session id; when it is not known (hash_ids with a key file that
  // encrypts nothing: the ids are stored nowhere), the key the store keeps
  // the session under, as `sessionkit ls` shows it.
  std::string id;
  bool id_known = true;
};

}  // namespace sessionkit

#endif  // SESSIONKIT_USERS_H_
