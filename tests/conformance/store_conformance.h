// The store conformance suite: the tests every Store must pass, so that a new
// backend is proven the same way as the existing ones. It checks the contract
// of include/sessionkit/store.h through the Store interface only.
//
// A store's test binary instantiates it with one or more factories:
//
//   #include "conformance/store_conformance.h"
//
//   sessionkit::conformance::StoreFactory RedisFactory() {
//     sessionkit::conformance::StoreFactory f;
//     f.name = "standalone";
//     f.make_fresh = [] { return OpenStore(UrlWithAFreshPrefix()); };
//     f.gc_reports_removed = false;  // Redis expires keys by itself
//     return f;
//   }
//   INSTANTIATE_STORE_CONFORMANCE(Redis, RedisFactory());
//
// and links the sk_conformance library (CMake):
//
//   sk_add_test(redis_conformance_test redis_conformance_test.cc)
//   if(TARGET redis_conformance_test)
//     target_link_libraries(redis_conformance_test PRIVATE sk_conformance)
//   endif()
//
// Tests are named "<Prefix>/StoreConformance.<Test>/<factory name>".
//
// Contract points the suite holds every store to, beyond store.h's words:
//  - An empty value is a session like any other: Write(id, "") then Read
//    finds it with empty data (not NotFound).
//  - Values are bytes: NUL and every other byte value round-trip, up to at
//    least 1 MiB.
//  - Ids are case-sensitive; every valid shape works (1 to 256 characters,
//    ',' and '-' anywhere).
//  - SessionRecord::expires_at and SessionInfo::expires_at are the expiry set
//    by the last Write or Touch, within one second; an overwrite replaces the
//    expiry, and Touch can shorten it as well as extend it.
//  - A full Scan (pages of `limit` sessions, following next_cursor until it
//    is empty) lists every live session exactly once, never more than
//    `limit` per page. A backend whose native scan may repeat keys (Redis
//    SCAN) must remove the repeats.
//  - After Gc(now), no session that expired at or before `now` is returned by
//    Read, Exists, Touch, or Scan, even with include_expired.
//  - A session expires at its expiry exactly: at that millisecond no
//    primitive returns or revives it (checked where the factory has a fake
//    clock). A ttl of 0 or less (Write, Touch, WriteAndUnlock,
//    TouchAndUnlock) succeeds and leaves no live session.
//  - Every primitive refuses an id with a byte outside PHP's charset (or an
//    empty one) with InvalidArgument, although the engine validated it: a
//    caller may bypass the engine.
//  - NotFound messages name the store (contain name()) and never contain the
//    full session id; neither they nor name() contain any of the factory's
//    secrets.
//  - One Store object is used from 4 threads at once.
#ifndef SESSIONKIT_TESTS_CONFORMANCE_STORE_CONFORMANCE_H_
#define SESSIONKIT_TESTS_CONFORMANCE_STORE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "support/fake_env.h"

namespace sessionkit::conformance {

// How the suite gets stores of one kind, and what it may expect of them.
struct StoreFactory {
  // Names the instantiation in test names: letters, digits and '_' only.
  std::string name;

  // Opens a store with its own, empty namespace (a new directory, key
  // prefix, database or table), so that Scan and Gc see only what the test
  // wrote. Called once at the start of every test; the store is destroyed
  // at its end.
  std::function<Result<std::unique_ptr<Store>>()> make_fresh;

  // Set when the stores from make_fresh decide expiry and leases by this
  // Env's clocks (a FakeEnv of kRecordClocks: lock waits stay real): the
  // suite then advances it instead of sleeping, and passes its time to Gc.
  // Null: real time and real (short) sleeps, as networked stores need.
  std::shared_ptr<test::FakeEnv> fake_clock;

  // Whether Gc's GcResult counts what it removed (sessions and their bytes).
  // False for backends that drop expired sessions by themselves (Redis,
  // Memcached), where Gc may find nothing left to remove and report 0.
  bool gc_reports_removed = true;

  // The ttl of the sessions that the expiry tests let expire; the suite
  // sleeps a small multiple of it (about 5x in all). Raise it for a backend
  // with coarser expiry (Memcached counts whole seconds).
  Duration short_ttl{200};

  // How long past its expiry a session may still be visible before the
  // suite calls it a failure (it polls up to this bound).
  Duration expiry_slack{1000};

  // Texts that must never appear in name() or in an error message, e.g.
  // the password of the store's URL.
  std::vector<std::string> secrets;

  // Whether the store lists its sessions (Scan). False for a store that
  // cannot (the callback store, php://, answers NotSupported): the Scan
  // tests are skipped, and the Gc test checks what it can without one.
  bool scans = true;

  // Whether the store locks. The lock tests fail on a store that says so
  // and answers NotSupported, and are skipped on one that does not lock.
  bool locks = true;

  // Whether the store checks a version and writes in one step
  // (Store::WriteUnlessNewer). Its tests fail on a store that says so and
  // answers NotSupported, and are skipped on one that does not.
  bool writes_unless_newer = false;
};

// Prints the factory's name in failure messages (not its bytes).
void PrintTo(const StoreFactory& factory, std::ostream* os);

// The name generator of INSTANTIATE_STORE_CONFORMANCE: the factory's name.
std::string FactoryName(const ::testing::TestParamInfo<StoreFactory>& info);

// The fixture: a fresh store from the factory for every test.
//
// Thread safety: as any GoogleTest fixture, used by one test at a time.
class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  const StoreFactory& factory() const { return GetParam(); }
  Store& store() { return *store_; }

  // The time by the store's clock (the fake clock when there is one).
  TimePoint Now() const;
  // Lets `d` pass: advances the fake clock, or sleeps.
  void Wait(Duration d) const;
  // Waits until `gone()` is true, or until `bound` has passed (real clock);
  // with a fake clock advances the clock by `bound` at once. Returns the
  // final value of gone().
  bool WaitUntil(const std::function<bool()>& gone, Duration bound) const;

  // A valid session id unique within this process, e.g.
  // "cf-1a2b3c4d-000000000007" (22..256 characters of PHP's charset).
  std::string NewId();

  std::unique_ptr<Store> store_;
};

}  // namespace sessionkit::conformance

// Instantiates the conformance suite once per factory given, at namespace
// scope, e.g.
//   INSTANTIATE_STORE_CONFORMANCE(Lmdb, LmdbFactory(), LmdbFakeClockFactory());
//
// GoogleTest pastes the fixture's name into identifiers, so it must be
// unqualified here: the alias makes it so from any namespace. Referencing
// FactoryName also makes the linker keep the suite's object file from the
// sk_conformance static library (nothing else in a test binary refers to it,
// and its tests register themselves from static initializers).
#define INSTANTIATE_STORE_CONFORMANCE(prefix, ...)                      \
  using StoreConformance = ::sessionkit::conformance::StoreConformance; \
  INSTANTIATE_TEST_SUITE_P(prefix, StoreConformance,                    \
                           ::testing::Values(__VA_ARGS__),              \
                           ::sessionkit::conformance::FactoryName)

#endif  // SESSIONKIT_TESTS_CONFORMANCE_STORE_CONFORMANCE_H_
