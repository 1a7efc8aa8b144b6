// The store conformance suite on the LMDB store: once on the real clock
// (through the public OpenLmdbStore, as applications open it) and once on a
// fake clock (expiry without sleeping). Every test gets its own LMDB
// directory under SK_TEST_TMPDIR, removed when the test binary ends.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "conformance/store_conformance.h"
#include "sessionkit/stores/lmdb.h"
#include "support/test_server.h"

namespace sessionkit::conformance {
namespace {

// The parent of this process's LMDB directories; removed at exit.
const std::string& BaseDir() {
  static const std::string dir = [] {
    Result<std::string> made = test::MakeTempDir("lmdb_conformance");
    return made.ok() ? *made : std::string();
  }();
  return dir;
}

class RemoveBaseDir : public ::testing::Environment {
 public:
  void TearDown() override {
    if (!BaseDir().empty()) test::RemoveTempDir(BaseDir());
  }
};
const auto* const kCleanup =
    ::testing::AddGlobalTestEnvironment(new RemoveBaseDir);

Result<LmdbOptions> FreshOptions() {
  static int n = 0;
  if (BaseDir().empty()) {
    return Status::Unavailable("cannot create a directory under " +
                               test::TestTmpDir());
  }
  LmdbOptions options;
  options.path = BaseDir() + "/store" + std::to_string(n++);
  options.map_size = 64ull << 20;  // room for the 1 MiB values, little else
  return options;
}

StoreFactory RealClockFactory() {
  StoreFactory factory;
  factory.name = "real_clock";
  factory.make_fresh = []() -> Result<std::unique_ptr<Store>> {
    Result<LmdbOptions> options = FreshOptions();
    if (!options.ok()) return options.status();
    return OpenLmdbStore(*options);
  };
  return factory;
}

StoreFactory FakeClockFactory() {
  StoreFactory factory;
  factory.name = "fake_clock";
  factory.fake_clock =
      std::make_shared<test::FakeEnv>(test::FakeEnv::Scope::kRecordClocks);
  factory.make_fresh =
      [env = factory.fake_clock]() -> Result<std::unique_ptr<Store>> {
    Result<LmdbOptions> options = FreshOptions();
    if (!options.ok()) return options.status();
    options->env = env.get();
    return OpenLmdbStore(*options);
  };
  return factory;
}

INSTANTIATE_STORE_CONFORMANCE(Lmdb, RealClockFactory(), FakeClockFactory());

}  // namespace
}  // namespace sessionkit::conformance
