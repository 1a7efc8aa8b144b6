// The fixture of the LMDB store's tests: a fresh directory under
// SK_TEST_TMPDIR per test, stores opened on it (closed and removed at the
// end), and fake clocks the tests advance by hand (a FakeEnv of
// kRecordClocks: waits stay real).
#ifndef SESSIONKIT_STORES_LMDB_LMDB_TEST_FIXTURE_H_
#define SESSIONKIT_STORES_LMDB_LMDB_TEST_FIXTURE_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_store.h"
#include "support/fake_env.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal {

// A fixed "now" for the fake clock.
inline constexpr int64_t kFixtureStartMs = test::FakeEnv::kStartWallMs;

// A session id of the shape ValidateSessionId accepts (26 characters): the
// four characters of `prefix`, then `n` in 22 digits.
inline std::string PaddedId(const char* prefix, int n) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.4s%022d", prefix, n);
  return buf;
}

// A lock request of another host, named `name`: never taken over before
// its lease (60 s) runs out.
inline LockRequest OtherHostRequest(const std::string& name,
                                    Duration wait = Duration(0)) {
  LockRequest r;
  r.owner.token = "other-host.invalid|1|" + name;
  r.lease = Duration(60000);
  r.wait = wait;
  return r;
}

// The exit code of a child (128 + signal when it was killed), -1 on error.
inline int Reap(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs `fn` in a forked child and returns its exit code (128 + signal when
// it was killed). `fn` must not use gtest assertions.
inline int RunInChild(const std::function<int()>& fn) {
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(fn());
  return Reap(pid);
}

// Thread safety: the stores may be used from several threads; the fixture's
// own methods only from the test's.
class LmdbFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("SK_TEST_TMPDIR");
    const std::filesystem::path root =
        base ? std::filesystem::path(base)
             : std::filesystem::current_path() / "test-tmp";
    std::filesystem::create_directories(root);
    std::string templ = (root / "lmdb-XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = dir_ + "/env";
  }
  void TearDown() override {
    stores_.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  LmdbOptions Options(uint64_t map_size = 64ull << 20) {
    LmdbOptions o;
    o.path = path_;
    o.map_size = map_size;
    return o;
  }

  // Options of a map that cannot grow: map_max = map_size.
  LmdbOptions FixedMapOptions(uint64_t map_size) {
    LmdbOptions o = Options(map_size);
    o.map_max = map_size;
    return o;
  }

  // A store on path_ on the fake clocks of env_ (advance them to expire
  // sessions and end leases).
  LmdbStore* Open(LmdbOptions options) {
    return OpenReal(WithFakeClock(std::move(options)));
  }
  LmdbStore* Open() { return Open(Options()); }

  // A store on the system clock, as other processes see time.
  LmdbStore* OpenReal(LmdbOptions options) {
    SK_EXPECT_OK(ValidateLmdbOptions(options));
    stores_.push_back(std::make_unique<LmdbStore>(std::move(options)));
    return stores_.back().get();
  }
  LmdbStore* OpenReal() { return OpenReal(Options()); }

  // Writes `value` under id(0), id(1), ... until the map is full and
  // returns how many fitted; -1 (and a test failure) when a write fails
  // otherwise or 2000 writes did not fill it.
  static int FillMap(LmdbStore* store, const std::string& value, Duration ttl,
                     const std::function<std::string(int)>& id) {
    for (int n = 0; n < 2000; ++n) {
      Status s = store->Write(id(n), value, ttl);
      if (s.IsResourceExhausted()) return n;
      if (!s.ok()) {
        ADD_FAILURE() << "write " << n << ": " << s.ToString();
        return -1;
      }
    }
    ADD_FAILURE() << "2000 writes of " << value.size()
                  << " bytes did not fill the map";
    return -1;
  }

  // `options` on the fake clocks of env_.
  LmdbOptions WithFakeClock(LmdbOptions options) {
    options.env = &env_;
    return options;
  }
  // Time passes for the session expiries and the lock leases.
  void Advance(int64_t ms) { env_.Advance(Duration(ms)); }
  // The wall clock alone jumps to `ms` (Unix ms).
  void SetNowMs(int64_t ms) { env_.SetWallNow(FromUnixMillis(ms)); }
  int64_t NowMs() { return ToUnixMillis(env_.WallNow()); }
  TimePoint Now() { return env_.WallNow(); }

  std::string dir_;
  std::string path_;
  test::FakeEnv env_{test::FakeEnv::Scope::kRecordClocks};
  std::vector<std::unique_ptr<LmdbStore>> stores_;
};

}  // namespace sessionkit::lmdb_internal

#endif  // SESSIONKIT_STORES_LMDB_LMDB_TEST_FIXTURE_H_
