// writemap=on (MDB_WRITEMAP): sessions round-trip, across handles too, and
// data.mdb is allocated on disk to the whole map, also after the map grew,
// so that no store into the map can meet a hole (SIGBUS on a full disk).
// The same for lock.mdb, whose reader table every store writes through a
// shared map whatever writemap says.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "sessionkit/store.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_store.h"
#include "stores/lmdb/lmdb_test_fixture.h"
#include "support/file_sizes.h"
#include "support/test_status.h"

namespace sessionkit::lmdb_internal::writemap_test {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr Duration kLong{24 * 3600 * 1000};

std::string Id(int n) {
  char buf[40];
  snprintf(buf, sizeof buf, "wmap%028d", n);
  return buf;
}

class LmdbWritemapTest : public LmdbFixture {
 protected:
  LmdbOptions WritemapOptions(uint64_t map_size) {
    LmdbOptions o = Options(map_size);
    o.writemap = true;
    return o;
  }
  // data.mdb's size and the bytes allocated to it on disk.
  void FileSizes(uint64_t* size, uint64_t* allocated) {
    const std::optional<test::FileSizes> sizes =
        test::SizesOf(path_ + "/data.mdb");
    ASSERT_TRUE(sizes.has_value());
    *size = sizes->size;
    *allocated = sizes->allocated;
  }
};

TEST_F(LmdbWritemapTest, SessionsRoundTripAndTheMapIsAllocated) {
  LmdbStore* store = Open(WritemapOptions(8 * kMiB));
  const std::string small = "counter|i:1;";
  const std::string big(3000, 'w');  // an overflow page
  SK_ASSERT_OK(store->Write(Id(1), small, kLong));
  SK_ASSERT_OK(store->Write(Id(2), big, kLong));
  SK_ASSERT_OK(store->Write(Id(1), small + small, kLong));  // rewritten
  Result<SessionRecord> r = store->Read(Id(1));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, small + small);
  uint64_t size = 0, allocated = 0;
  FileSizes(&size, &allocated);
  EXPECT_EQ(size, 8 * kMiB);
  EXPECT_GE(allocated, 8 * kMiB);

  // Another handle, as another process opens the directory, reads them.
  LmdbStore* other = Open(WritemapOptions(8 * kMiB));
  r = other->Read(Id(2));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, big);
  SK_ASSERT_OK(other->Destroy(Id(2)));
  EXPECT_TRUE(store->Read(Id(2)).status().IsNotFound());
}

TEST_F(LmdbWritemapTest, AGrownMapIsAllocatedToo) {
  LmdbStore* store = Open(WritemapOptions(2 * kMiB));
  const std::string value(4000, 'g');
  for (int n = 0; n < 1500; ++n) {  // about 6 MiB
    SK_ASSERT_OK(store->Write(Id(n), value, kLong)) << n;
  }
  EXPECT_GE(store->MapGrowthsForTesting(), 2u);
  uint64_t size = 0, allocated = 0;
  FileSizes(&size, &allocated);
  EXPECT_GE(size, 8 * kMiB);
  EXPECT_GE(allocated, size);
  Result<SessionRecord> r = store->Read(Id(7));
  SK_ASSERT_OK(r);
  EXPECT_EQ(r->data, value);
}

// A process that opens the directory with a smaller map_size than the map
// grew to (a php-fpm worker started later, or the CLI) must not cut
// data.mdb to its map: that zeroes the sessions written past the cut for
// every process that maps the file (and a write there meanwhile is a
// SIGBUS).
TEST_F(LmdbWritemapTest, AnOpeningWithASmallerMapCutsNothing) {
  LmdbStore* store = Open(WritemapOptions(2 * kMiB));
  auto value = [](int n) { return std::string(4000, 'a' + n % 26); };
  for (int n = 0; n < 1500; ++n) {  // about 6 MiB: the map grew
    SK_ASSERT_OK(store->Write(Id(n), value(n), kLong)) << n;
  }
  ASSERT_GE(store->MapGrowthsForTesting(), 2u);
  uint64_t grown = 0, allocated = 0;
  FileSizes(&grown, &allocated);
  // What a transaction of another process would have written past the
  // pages in use (about 6 MiB of the 8): bytes in the file's last page.
  ASSERT_GE(grown, 8 * kMiB);
  const std::string data = path_ + "/data.mdb";
  const int fd = open(data.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const char mark[] = "written by another process";
  const off_t at = static_cast<off_t>(grown) - 4096;
  ASSERT_EQ(pwrite(fd, mark, sizeof mark, at), ssize_t{sizeof mark});

  // Another process opens the store and reads a session.
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    LmdbStore later(WithFakeClock(WritemapOptions(2 * kMiB)));
    Result<SessionRecord> r = later.Read(Id(7));
    if (!r.ok()) fprintf(stderr, "%s\n", r.status().ToString().c_str());
    _exit(r.ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  uint64_t size = 0;
  FileSizes(&size, &allocated);
  EXPECT_GE(size, grown);
  char back[sizeof mark] = {};
  ASSERT_EQ(pread(fd, back, sizeof back, at), ssize_t{sizeof back});
  close(fd);
  EXPECT_EQ(std::string(back, sizeof back), std::string(mark, sizeof mark))
      << "the opening cut data.mdb below the grown map";
  for (int n = 0; n < 1500; ++n) {
    Result<SessionRecord> r = store->Read(Id(n));
    SK_ASSERT_OK(r) << n;
    ASSERT_EQ(r->data, value(n)) << n;
  }
  SK_ASSERT_OK(store->Write(Id(1500), value(1500), kLong));
}

TEST_F(LmdbWritemapTest, TheReaderTableIsAllocated) {
  for (bool writemap : {false, true}) {
    SCOPED_TRACE(writemap ? "writemap=on" : "writemap=off");
    LmdbOptions options = WritemapOptions(2 * kMiB);
    options.writemap = writemap;
    options.path = path_ + (writemap ? "-on" : "-off");
    options.max_readers = 2000;  // a table of many pages
    LmdbStore* store = Open(options);
    SK_ASSERT_OK(store->Write(Id(1), "n|i:1;", kLong));
    const std::optional<test::FileSizes> lock =
        test::SizesOf(options.path + "/lock.mdb");
    ASSERT_TRUE(lock.has_value());
    EXPECT_GE(lock->size, 2000u * 64);
    EXPECT_GE(lock->allocated, lock->size);
  }
}

}  // namespace
}  // namespace sessionkit::lmdb_internal::writemap_test
