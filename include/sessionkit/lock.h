// The session lock's own facts, in one place: the limits of a request's lock
// and their defaults (LockLimits), and the owner token with the one parser
// of its format (LockOwner). The engine's LockOptions (engine.h), the
// store's LockRequest (store.h), the C ABI's sk_lock_options (c_api.h) and
// the PHP ini defaults all start from here.
#ifndef SESSIONKIT_LOCK_H_
#define SESSIONKIT_LOCK_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/env.h"

namespace sessionkit {

// The limits of one request's session lock. These defaults are the only
// ones: LockOptions and LockRequest inherit them, and the C ABI's
// SK_LOCK_DEFAULT_* macros (which the PHP ini defaults use) are checked
// against them by a test (c_api_test.cc).
struct LockLimits {
  // How long a request waits for a held lock before giving up.
  Duration wait{5000};
  // After this long without a release, another request may break the lock
  // (a holder on this host whose process is gone is taken over at once).
  Duration lease{30000};
  // At most this many requests wait for one session's lock at once; one
  // more is refused at once (and its update is lost). 0: no limit, as the
  // files handler, which loses no update however many requests queue.
  uint32_t max_waiters = 0;
};

// Identifies the holder of a session lock: "host|pid|random", where host is
// this machine's name and identity ("name~<16 hex digits>": Env::HostName),
// pid the holder's process id and random 64 bits in hex that differ for
// every token a process makes (a random key per thread, mixed with a
// counter). Only the owner may write, touch or release a locked session.
//
// Tokens are taken apart here and nowhere else (Parse, and the questions
// about a holder below, which every store asks through them).
struct LockOwner {
  std::string token;

  // A fresh token for a lock taken by the calling process, on `env`'s host
  // and pid (nullptr: Env::Default()).
  static LockOwner Generate(Env* env = nullptr);

  // The fields of a token as Generate writes it.
  struct Parts {
    std::string_view host;  // "name~identity"
    pid_t pid = 0;          // > 0
    std::string_view random;
  };
  // The fields of `token`; nullopt when it is not "host|pid|random" with a
  // pid of 1 to 9 digits and no leading zero (a token written by hand, or by
  // another program). A token it accepts is its parts joined by '|'.
  static std::optional<Parts> Parse(std::string_view token);

  // This host as the tokens of its processes name it (what Generate puts
  // before the first '|').
  static std::string_view ThisHost(Env* env = nullptr);
};

// Questions about the holder named by a lock token, asked of `env`
// (nullptr: Env::Default()). A token that does not parse names a holder of
// another host for all of them.

// True when `token` names a process of this host (same name and identity),
// this process included.
bool LockHolderIsOnThisHost(std::string_view token, Env* env = nullptr);

// True when `token` names another process of this host: one whose death
// LockHolderIsGone can see.
bool LockHolderIsOtherProcessOfThisHost(std::string_view token,
                                        Env* env = nullptr);

// True when `token` names a process of this host that no longer exists, so
// that its lock may be taken over at once instead of after its lease. False
// for a token of another host, of a live process (including one this
// process may not signal), and for a token that does not parse.
bool LockHolderIsGone(std::string_view token, Env* env = nullptr);

}  // namespace sessionkit

#endif  // SESSIONKIT_LOCK_H_
