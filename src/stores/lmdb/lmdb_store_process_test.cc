// The LMDB store (lmdb_store.h) at its edges: a full map, several processes
// and threads on one environment, crashed readers, damaged values, and the
// options and paths it refuses.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <lmdb.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::store_process_test {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// A session id of the shape ValidateSessionId accepts.
std::string Id(int n, const char* prefix = "sess") {
  return PaddedId(prefix, n);
}

// In a child: opens the environment with the plain LMDB API, starts a read
// transaction and dies without ending it, like a crashed PHP worker. Returns
// the child's pid.
pid_t CrashWithOpenReader(const std::string& dir) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    MDB_env* env;
    MDB_txn* txn;
    if (mdb_env_create(&env) != 0) _exit(2);
    mdb_env_set_maxdbs(env, 2);
    if (mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0600) != 0) _exit(3);
    if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0) _exit(4);
    _exit(0);  // no abort, no close: the slot stays taken
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  return pid;
}

using LmdbStoreTest = LmdbFixture;

// --- Map full
// -------------------------------------------------------------------

TEST_F(LmdbStoreTest, FullMapIsResourceExhaustedAndRecoversAfterDestroy) {
  LmdbStore* store = Open(FixedMapOptions(1 << 20));
  const std::string value(4096, 'v');
  int written = 0;
  Status full;
  for (; written < 2000; ++written) {
    full = store->Write(Id(written), value, Duration(100000));
    if (!full.ok()) break;
  }
  ASSERT_TRUE(full.IsResourceExhausted()) << full.ToString();
  EXPECT_GT(written, 50);
  EXPECT_THAT(full.message(), HasSubstr(store->name()));
  EXPECT_THAT(full.message(),
              HasSubstr("map is full (map_size=1MiB, at its limit "
                        "map_max=1MiB)"));
  EXPECT_THAT(full.message(), HasSubstr("raise map_max"));
  // The failed write left nothing behind; earlier ones are intact.
  EXPECT_TRUE(store->Read(Id(written)).status().IsNotFound());
  EXPECT_EQ(store->Read(Id(0))->data, value);
  SK_EXPECT_OK(store->CheckIndexForTesting());

  for (int i = 0; i < 10; ++i) SK_ASSERT_OK(store->Destroy(Id(i)));
  SK_EXPECT_OK(store->Write(Id(written), value, Duration(100000)));
  EXPECT_EQ(store->Read(Id(written))->data, value);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, FullMapIsRescuedByGcOfExpiredSessions) {
  LmdbStore* store = Open(FixedMapOptions(1 << 20));
  const std::string value(4096, 'v');
  const int written =
      FillMap(store, value, Duration(1000), [](int n) { return Id(n); });
  ASSERT_GE(written, 0);
  Advance(1000);  // everything written so far has expired
  SK_ASSERT_OK(store->Write(Id(5000), value, Duration(1000)));
  EXPECT_EQ(store->Read(Id(5000))->data, value);
  // The rescue removed the expired sessions.
  ScanOptions all;
  all.include_expired = true;
  auto listed = store->Scan(all);
  SK_ASSERT_OK(listed);
  ASSERT_EQ(listed->sessions.size(), 1u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, FullMapAcceptsWritesAfterAnExplicitGc) {
  // A gc (from the CLI, say) empties a full map in one transaction. LMDB
  // reuses those pages only after a later commit, which the write's own
  // rescue provides.
  LmdbStore* store = Open(FixedMapOptions(1 << 20));
  const std::string value(4096, 'v');
  const int written =
      FillMap(store, value, Duration(1000), [](int n) { return Id(n); });
  ASSERT_GE(written, 0);
  Advance(1000);
  auto gc = store->Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, static_cast<uint64_t>(written));
  for (int i = 0; i < 3; ++i) {
    SK_ASSERT_OK(store->Write(Id(5000 + i), value, Duration(1000))) << i;
  }
  EXPECT_EQ(store->Read(Id(5002))->data, value);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

// --- Processes
// ------------------------------------------------------------------

TEST_F(LmdbStoreTest, ForkedChildReopensAndParentKeepsWorking) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "parent", Duration(100000)));
  SK_ASSERT_OK(store->Read(Id(1)));  // parent now holds a pooled reader slot
  const pid_t parent = getpid();
  ASSERT_EQ(store->EnvPidForTesting(), parent);

  int code = RunInChild([&] {
    if (store->EnvPidForTesting() != 0) return 10;  // must not use parent's
    auto r = store->Read(Id(1));
    if (!r.ok() || r->data != "parent") return 11;
    if (store->EnvPidForTesting() != getpid()) return 12;
    if (!store->Write(Id(2), "child", Duration(100000)).ok()) return 13;
    // Destroying the store in the child closes only the child's handle.
    stores_.clear();
    return 0;
  });
  ASSERT_EQ(code, 0);

  EXPECT_EQ(store->EnvPidForTesting(), parent);
  auto r = store->Read(Id(2));  // reuses the parent's pooled reader slot
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, "child");
  auto pids = store->ReaderPidsForTesting();
  SK_ASSERT_OK(pids);
  EXPECT_THAT(*pids, Contains(parent));
  SK_ASSERT_OK(store->Write(Id(3), "parent again", Duration(100000)));
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, StoreOpenedBeforeForkButUnusedWorksInChildren) {
  LmdbStore* store = Open();
  for (int i = 0; i < 3; ++i) {
    int code = RunInChild([&] {
      return store->Write(Id(i), "c", Duration(100000)).ok() ? 0 : 1;
    });
    ASSERT_EQ(code, 0);
  }
  EXPECT_EQ(store->EnvPidForTesting(), 0);  // the parent never opened it
  auto all = store->Scan(ScanOptions{});
  SK_ASSERT_OK(all);
  EXPECT_EQ(all->sessions.size(), 3u);
}

TEST_F(LmdbStoreTest, ConcurrentWritersAcrossProcessesLoseNothing) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Health());  // open in the parent before forking
  constexpr int kProcs = 8, kCycles = 500, kShared = 5;
  const std::string pad(2000, 'p');
  std::vector<pid_t> children;
  fflush(nullptr);
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      std::mt19937 rng(p);
      const std::string own = Id(p, "own-");
      for (int c = 0; c < kCycles; ++c) {
        // Read-modify-write of this process's own session.
        int count = 0;
        auto r = store->Read(own);
        if (r.ok()) {
          count = std::stoi(r->data.substr(0, r->data.find(':')));
        } else if (!r.status().IsNotFound()) {
          _exit(20);
        }
        if (count != c) _exit(21);
        if (!store
                 ->Write(own, std::to_string(count + 1) + ":" + pad,
                         Duration(600000))
                 .ok()) {
          _exit(22);
        }
        // And a shared session every process hammers.
        const std::string shared = Id(static_cast<int>(rng() % kShared), "sh-");
        auto s = store->Read(shared);
        if (!s.ok() && !s.status().IsNotFound()) _exit(23);
        if (s.ok() && s->data.rfind("proc", 0) != 0) _exit(24);
        if (!store
                 ->Write(shared, "proc" + std::to_string(p) + ":" + pad,
                         Duration(600000))
                 .ok()) {
          _exit(25);
        }
        if (c % 50 == 0 && !store->Touch(shared, Duration(700000)).ok() &&
            !store->Read(shared).ok()) {
          _exit(26);
        }
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child exit status " << status;
  }
  for (int p = 0; p < kProcs; ++p) {
    auto r = store->Read(Id(p, "own-"));
    SK_ASSERT_OK(r);
    EXPECT_EQ(r->data, std::to_string(kCycles) + ":" + pad);
  }
  for (int s = 0; s < kShared; ++s) {
    auto r = store->Read(Id(s, "sh-"));
    SK_ASSERT_OK(r);
    EXPECT_EQ(r->data.rfind("proc", 0), 0u);
  }
  SK_EXPECT_OK(store->CheckIndexForTesting());
  ScanOptions all;
  all.include_expired = true;
  EXPECT_EQ(store->Scan(all)->sessions.size(),
            static_cast<size_t>(kProcs + kShared));
}

TEST_F(LmdbStoreTest, ConcurrentThreadsShareOneEnvironment) {
  LmdbStore* store = Open();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string id = Id(t * 1000 + i % 20, "th-");
        if (!store->Write(id, std::to_string(i), Duration(100000)).ok()) {
          ++failures;
        }
        auto r = store->Read(id);
        if (!r.ok() || r->data != std::to_string(i)) ++failures;
        if (i % 7 == 0 && !store->Destroy(id).ok()) ++failures;
        if (i % 50 == 0 && !store->Scan(ScanOptions{}).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, TwoStoresOnOneDirectoryShareTheEnvironment) {
  LmdbStore* a = Open();
  auto b = std::make_unique<LmdbStore>(WithFakeClock(Options()));
  SK_ASSERT_OK(a->Write(Id(1), "from a", Duration(100000)));
  auto r = b->Read(Id(1));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, "from a");
  b.reset();  // must not close the environment a still uses
  SK_EXPECT_OK(a->Read(Id(1)));
  SK_ASSERT_OK(a->Write(Id(2), "still fine", Duration(100000)));
  auto pids = a->ReaderPidsForTesting();
  SK_ASSERT_OK(pids);
  EXPECT_THAT(*pids, Contains(getpid()));
}

TEST_F(LmdbStoreTest, CrashedReaderSlotIsReclaimedWhenTheStoreOpens) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "x", Duration(100000)));
  const pid_t dead = CrashWithOpenReader(path_);
  auto pids = store->ReaderPidsForTesting();
  SK_ASSERT_OK(pids);
  ASSERT_THAT(*pids, Contains(dead));
  // The writer is not blocked by the dead reader.
  SK_ASSERT_OK(store->Write(Id(2), "y", Duration(100000)));
  // A process that opens the store clears the dead slot.
  int code = RunInChild([&] {
    LmdbStore fresh(WithFakeClock(Options()));
    return fresh.Read(Id(2)).ok() ? 0 : 1;
  });
  ASSERT_EQ(code, 0);
  pids = store->ReaderPidsForTesting();
  SK_ASSERT_OK(pids);
  EXPECT_THAT(*pids, Not(Contains(dead)));
}

TEST_F(LmdbStoreTest, CrashedReaderDoesNotFillTheMap) {
  // A dead reader pins the pages of its snapshot. Without reclaiming its
  // slot, thousands of overwrites could not reuse freed pages and would fill
  // this 1 MiB map; the full-map rescue clears the slot.
  LmdbStore* store = Open(FixedMapOptions(1 << 20));
  const std::string value(4096, 'v');
  SK_ASSERT_OK(store->Write(Id(1), value, Duration(100000)));
  const pid_t dead = CrashWithOpenReader(path_);
  ASSERT_THAT(store->ReaderPidsForTesting().value_or({}), Contains(dead));
  for (int i = 0; i < 2000; ++i) {
    SK_ASSERT_OK(store->Write(Id(1 + i % 3), value, Duration(100000))) << i;
  }
  EXPECT_THAT(store->ReaderPidsForTesting().value_or({}), Not(Contains(dead)));
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, GcFreesReaderSlotsOfDeadProcesses) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(1), "x", Duration(100000)));
  const pid_t dead = CrashWithOpenReader(path_);
  ASSERT_THAT(store->ReaderPidsForTesting().value_or({}), Contains(dead));
  SK_ASSERT_OK(store->Gc(Now()));
  EXPECT_THAT(store->ReaderPidsForTesting().value_or({}), Not(Contains(dead)));
}

TEST_F(LmdbStoreTest, ReadersFullIsRetriedAfterReaderCheck) {
  LmdbOptions options = Options();
  options.max_readers = 1;
  LmdbStore* store = Open(options);
  SK_ASSERT_OK(store->Write(Id(1), "x", Duration(100000)));  // opens, no reader
  const pid_t dead = CrashWithOpenReader(path_);             // takes the slot
  ASSERT_THAT(store->ReaderPidsForTesting().value_or({}), Contains(dead));
  auto r = store->Read(Id(1));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, "x");
}

TEST_F(LmdbStoreTest, MapGrownByAnotherProcessIsFollowed) {
  LmdbStore* store = Open(Options(1 << 20));
  const std::string value(4096, 'v');
  SK_ASSERT_OK(store->Write(Id(0), value, Duration(100000)));
  SK_ASSERT_OK(store->Read(Id(0)));
  int code = RunInChild([&] {
    LmdbStore bigger(WithFakeClock(Options(8 << 20)));
    for (int i = 1; i <= 600; ++i) {
      if (!bigger.Write(Id(i), value, Duration(100000)).ok()) return 1;
    }
    return 0;
  });
  ASSERT_EQ(code, 0);
  // The data now reaches past this process's 1 MiB map.
  auto r = store->Read(Id(600));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, value);
  SK_ASSERT_OK(store->Write(Id(601), value, Duration(100000)));
  ScanOptions all;
  all.limit = 10000;
  EXPECT_EQ(store->Scan(all)->sessions.size(), 602u);
  SK_EXPECT_OK(store->CheckIndexForTesting());
}

TEST_F(LmdbStoreTest, ValueWithoutHeaderIsCorrupt) {
  LmdbStore* store = Open();
  SK_ASSERT_OK(store->Write(Id(2), "fine", Duration(100000)));
  // Plant a 3-byte value with the plain LMDB API, in another process (one
  // process must not open the environment twice).
  int code = RunInChild([&] {
    MDB_env* env;
    MDB_txn* txn;
    MDB_dbi dbi;
    if (mdb_env_create(&env) != 0) return 2;
    mdb_env_set_maxdbs(env, 2);
    if (mdb_env_open(env, path_.c_str(), MDB_NOTLS, 0600) != 0) return 3;
    if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) return 4;
    if (mdb_dbi_open(txn, nullptr, 0, &dbi) != 0) return 5;
    std::string id = Id(1);
    MDB_val k{id.size(), id.data()}, v{3, const_cast<char*>("abc")};
    if (mdb_put(txn, dbi, &k, &v, 0) != 0) return 6;
    if (mdb_txn_commit(txn) != 0) return 7;
    mdb_env_close(env);
    return 0;
  });
  ASSERT_EQ(code, 0);
  auto r = store->Read(Id(1));
  EXPECT_TRUE(r.status().IsCorrupt()) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr("expiry header"));
  EXPECT_TRUE(store->Exists(Id(1)).status().IsCorrupt());
  EXPECT_TRUE(store->Touch(Id(1), Duration(1000)).IsCorrupt());
  // A write replaces it and leaves a consistent index.
  SK_ASSERT_OK(store->Write(Id(1), "repaired", Duration(100000)));
  EXPECT_EQ(store->Read(Id(1))->data, "repaired");
  SK_EXPECT_OK(store->CheckIndexForTesting());
  SK_EXPECT_OK(store->Read(Id(2)));
}

// --- Configuration and bad paths
// -----------------------------------------------

// Each sync mode stores and reads, with the LMDB flags it stands for read
// back from the environment.
TEST_F(LmdbStoreTest, SyncModesWork) {
  constexpr unsigned kSyncFlags = MDB_NOSYNC | MDB_NOMETASYNC;
  const std::pair<LmdbSync, unsigned> modes[] = {
      {LmdbSync::kOff, MDB_NOSYNC},
      {LmdbSync::kMeta, MDB_NOMETASYNC},
      {LmdbSync::kFull, 0u},
  };
  for (const auto& [sync, flags] : modes) {
    LmdbOptions options = Options();
    options.path = path_ + std::to_string(static_cast<int>(sync));
    options.sync = sync;
    LmdbStore* store = Open(options);
    SK_ASSERT_OK(store->Write(Id(1), "durable", Duration(100000)));
    EXPECT_EQ(store->Read(Id(1))->data, "durable");
    Result<unsigned> got = store->EnvFlagsForTesting();
    SK_ASSERT_OK(got);
    EXPECT_EQ(*got & kSyncFlags, flags) << static_cast<int>(sync);
  }
}

TEST_F(LmdbStoreTest, CreatesMissingParentsWithModeDerivedFromFileMode) {
  LmdbOptions options = Options();
  options.path = dir_ + "/a/b/c";
  options.file_mode = 0640;
  const mode_t old = umask(0);
  LmdbStore* store = Open(options);
  Status s = store->Health();
  umask(old);
  SK_ASSERT_OK(s);
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/a/b/c").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_EQ(stat((dir_ + "/a/b/c/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(LmdbStoreTest, RegularFileAsDirectoryIsAClearError) {
  std::ofstream(path_) << "not a directory";
  LmdbStore* store = Open();
  Status s = store->Health();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(path_));
  EXPECT_THAT(s.message(), HasSubstr("not a directory"));
  EXPECT_TRUE(store->Read(Id(1)).status().IsInvalidArgument());
  EXPECT_TRUE(store->Write(Id(1), "x", Duration(1)).IsInvalidArgument());
}

TEST_F(LmdbStoreTest, PathUnderARegularFileIsAClearError) {
  // Even root cannot create a directory below a regular file.
  std::ofstream(path_) << "file";
  LmdbOptions options = Options();
  options.path = path_ + "/sub/store";
  LmdbStore* store = Open(options);
  Status s = store->Write(Id(1), "x", Duration(1000));
  EXPECT_TRUE(s.IsInvalidArgument() || s.IsUnavailable()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("lmdb://" + path_ + "/sub/store"));
  EXPECT_THAT(s.message(), HasSubstr(path_));
  EXPECT_THAT(s.message(), HasSubstr("not a directory"));
}

// Makes a directory unwritable even for root (the immutable attribute), or
// by its mode for other users. Undone on destruction.
class UnwritableDir {
 public:
  explicit UnwritableDir(const std::string& path) : path_(path) {
    fs::create_directories(path_);
    if (geteuid() != 0) {
      ok_ = chmod(path_.c_str(), 0500) == 0;
      return;
    }
    fd_ = open(path_.c_str(), O_RDONLY | O_DIRECTORY);
    int flags = 0;
    ok_ = fd_ >= 0 && ioctl(fd_, FS_IOC_GETFLAGS, &flags) == 0;
    if (ok_) {
      flags |= FS_IMMUTABLE_FL;
      ok_ = ioctl(fd_, FS_IOC_SETFLAGS, &flags) == 0;
    }
  }
  ~UnwritableDir() {
    if (fd_ >= 0) {
      int flags = 0;
      if (ok_ && ioctl(fd_, FS_IOC_GETFLAGS, &flags) == 0) {
        flags &= ~FS_IMMUTABLE_FL;
        ioctl(fd_, FS_IOC_SETFLAGS, &flags);
      }
      close(fd_);
    } else {
      chmod(path_.c_str(), 0700);
    }
  }
  bool ok() const { return ok_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST_F(LmdbStoreTest, UnwritableDirectoryIsUnavailable) {
  UnwritableDir unwritable(path_);
  if (!unwritable.ok()) GTEST_SKIP() << "cannot make a directory unwritable";
  LmdbStore* store = Open();
  Status s = store->Health();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(store->name()));
  EXPECT_THAT(s.message(), HasSubstr("cannot open the LMDB environment in"));
  EXPECT_THAT(s.message(), HasSubstr(geteuid() == 0 ? "Operation not permitted"
                                                    : "Permission denied"));
  EXPECT_TRUE(store->Write(Id(1), "x", Duration(1000)).IsUnavailable());
}

TEST_F(LmdbStoreTest, OpenLmdbStoreValidatesOptions) {
  LmdbOptions options = Options();
  options.path = "relative/dir";
  auto r = OpenLmdbStore(options);
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_THAT(r.status().message(), HasSubstr("absolute"));

  options = Options();
  options.map_size = 4096;
  r = OpenLmdbStore(options);
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_THAT(r.status().message(), HasSubstr("map_size=4KiB"));

  options = Options();
  options.max_readers = 0;
  r = OpenLmdbStore(options);
  EXPECT_THAT(r.status().message(), HasSubstr("max_readers=0"));

  options = Options();
  options.file_mode = 0400;
  r = OpenLmdbStore(options);
  EXPECT_THAT(r.status().message(), HasSubstr("mode=0400"));

  // Opening is lazy: nothing is created until first use.
  r = OpenLmdbStore(Options());
  SK_ASSERT_OK(r);
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_EQ((*r)->name(), "lmdb://" + path_);
  SK_ASSERT_OK((*r)->Write(Id(1), "x", Duration(1000)));
  EXPECT_TRUE(fs::exists(path_ + "/data.mdb"));
  // Locking is offered (lmdb_lock_test.cc tests it).
  SK_EXPECT_OK((*r)->Unlock(Id(1), LockOwner{"h|1|r"}));
}

TEST(LmdbFormatSize, UsesTheLargestExactUnit) {
  EXPECT_EQ(FormatSize(1 << 20), "1MiB");
  EXPECT_EQ(FormatSize(10 << 20), "10MiB");
  EXPECT_EQ(FormatSize(1ull << 30), "1GiB");
  EXPECT_EQ(FormatSize(1536), "1536B");
  EXPECT_EQ(FormatSize(3 << 10), "3KiB");
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::store_process_test
