// What the files of the store conformance suite share: its constants, the
// lock request of another host, and checks of expiry, scans and messages.
#ifndef SESSIONKIT_TESTS_CONFORMANCE_CONFORMANCE_SUPPORT_H_
#define SESSIONKIT_TESTS_CONFORMANCE_CONFORMANCE_SUPPORT_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/store.h"

namespace sessionkit::conformance {

inline constexpr Duration kLong{
    60000};  // the ttl of sessions meant to stay live
inline constexpr Duration kExpiryTolerance{1000};
inline constexpr Duration kLockWait{1000};

using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// A request of another host: never taken over before its lease runs out.
LockRequest Request(std::string name, Duration wait = kLockWait);

// Skips the test when the factory says the store does not lock (and it
// answers NotSupported); otherwise returns the outcome of taking `id`'s
// lock for `request`, failing the test when the store could not take it.
#define SK_LOCK_OR_SKIP(var, id, request)                                \
  Result<LockedRead> var = store().LockAndRead((id), (request));         \
  if (!GetParam().locks && !var.ok() && var.status().IsNotSupported()) { \
    GTEST_SKIP() << "the store does not lock";                           \
  }                                                                      \
  SK_ASSERT_OK(var)

int64_t MsOf(TimePoint t);
// Milliseconds since `t` on the steady clock.
int64_t MsSince(SteadyClock::time_point t);

// Expects `actual` within kExpiryTolerance of [earliest, latest].
::testing::AssertionResult ExpiryNear(TimePoint actual, TimePoint earliest,
                                      TimePoint latest);

// Every byte value, NULs included (at both ends too).
std::string AllBytes();

// `size` deterministic pseudo-random bytes.
std::string PseudoRandomBytes(size_t size, uint32_t seed);

// Lists every session with pages of `limit`. Adds a failure (and stops) when
// a page is larger than `limit` or the scan does not end within `max_pages`.
std::vector<SessionInfo> ScanAll(Store& store, size_t limit,
                                 bool include_expired, size_t max_pages);

std::vector<std::string> IdsOf(const std::vector<SessionInfo>& sessions);

// Checks the rules for an error message: it names the store, never holds the
// full id nor a secret.
void ExpectGoodMessage(const Status& status, const Store& store,
                       std::string_view id,
                       const std::vector<std::string>& secrets);

}  // namespace sessionkit::conformance

#endif  // SESSIONKIT_TESTS_CONFORMANCE_CONFORMANCE_SUPPORT_H_
