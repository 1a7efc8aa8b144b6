// writemap=on (MDB_WRITEMAP): sessions round-trip, across handles too, and
// data.mdb is allocated on disk to the whole map, also after the map grew,
// so that no store into the map can meet a hole (SIGBUS on a full disk).
// The same for lock.mdb, whose reader table every store writes through a
// shared map whatever writemap says.
#include <gtest/gtest.h>

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
