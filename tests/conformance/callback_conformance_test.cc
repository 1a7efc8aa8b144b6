// The store conformance suite on the callback store (php://NAME) over a
// std::map of callbacks (support/map_callbacks.h), once on the real clock
// and once on a fake clock. The callbacks are registered for every thread:
// the suite calls one store from several.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "conformance/store_conformance.h"
#include "sessionkit/stores/callback.h"
#include "support/map_callbacks.h"

namespace sessionkit::conformance {
namespace {

// A fresh map registered under a fresh name; the map lives as long as the
// process (registrations are never withdrawn here).
Result<std::unique_ptr<Store>> FreshStore(Env* env) {
  static std::atomic<int> n{0};
  const std::string name = "conformance" + std::to_string(n++);
  auto* map = new test::MapCallbacks(env);
  SK_RETURN_IF_ERROR(RegisterCallbackStore(name, test::MapCallbacks::Table(),
                                           map, CallbackScope::kAnyThread));
  CallbackOptions options;
  options.name = name;
  options.env = env;
  return OpenCallbackStore(options);
}

StoreFactory RealClockFactory() {
  StoreFactory factory;
  factory.name = "real_clock";
  factory.make_fresh = [] { return FreshStore(nullptr); };
  factory.gc_reports_removed = false;  // the store's TTL drops them
  factory.scans = false;
  return factory;
}

StoreFactory FakeClockFactory() {
  StoreFactory factory;
  factory.name = "fake_clock";
  factory.fake_clock =
      std::make_shared<test::FakeEnv>(test::FakeEnv::Scope::kRecordClocks);
  factory.make_fresh = [env = factory.fake_clock] {
    return FreshStore(env.get());
  };
  factory.gc_reports_removed = false;
  factory.scans = false;
  return factory;
}

INSTANTIATE_STORE_CONFORMANCE(Callback, RealClockFactory(), FakeClockFactory());

}  // namespace
}  // namespace sessionkit::conformance
