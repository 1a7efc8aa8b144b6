#include "stores/memcached/record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "stores/memcached/meta.h"
#include "support/test_status.h"

namespace sessionkit::memcached {
namespace {

using ::testing::HasSubstr;

TEST(MemcachedRecordTest, KeysArePrefixIdAndLockSuffix) {
  SessionKeys keys = KeysFor("sk:", "abc,-Z9");
  EXPECT_EQ(keys.data, "sk:abc,-Z9");
  EXPECT_EQ(keys.lock, "sk:abc,-Z9.lock");
  SK_EXPECT_OK(ValidateKey(keys.data));
  SK_EXPECT_OK(ValidateKey(keys.lock));
}

TEST(MemcachedRecordTest, IdsTooLongForAKeyAreHashed) {
  const std::string prefix(64, 'p');
  // 64 + 181 + 5 = 250 still fits; one more does not.
  const std::string fits(181, 'a');
  EXPECT_EQ(KeysFor(prefix, fits).data, prefix + fits);
  const std::string longer(182, 'a');
  const SessionKeys hashed = KeysFor(prefix, longer);
  EXPECT_EQ(hashed.data.size(), prefix.size() + 1 + 43);
  EXPECT_EQ(hashed.data[prefix.size()], '#');
  EXPECT_EQ(hashed.lock, hashed.data + ".lock");
  SK_EXPECT_OK(ValidateKey(hashed.lock));
  // The longest ids, differing in their last byte only, get other keys.
  const std::string a(256, 'a');
  std::string b = a;
  b.back() = 'b';
  EXPECT_NE(KeysFor(prefix, a).data, KeysFor(prefix, b).data);
  EXPECT_EQ(KeysFor(prefix, a).data, KeysFor(prefix, a).data);
}

TEST(MemcachedRecordTest, DataRoundTripsWithItsExpiry) {
  const std::string frame("\0\x01\xff binary", 10);
  const std::string id(256, 'i');
  const std::string value = EncodeData(id, frame, 1733400000123);
  Result<StoredValue> read = DecodeValue(value, "read");
  SK_ASSERT_OK(read);
  EXPECT_FALSE(read->tombstone);
  EXPECT_EQ(read->at_ms, 1733400000123);
  EXPECT_EQ(read->id, id);
  EXPECT_EQ(read->frame, frame);
  // The decoded views point into the value: it must outlive them.
  const std::string small = EncodeData("a", "", -5);
  Result<StoredValue> empty = DecodeValue(small, "read");
  SK_ASSERT_OK(empty);
  EXPECT_EQ(empty->at_ms, -5);
  EXPECT_EQ(empty->id, "a");
  EXPECT_EQ(empty->frame, "");
}

TEST(MemcachedRecordTest, TombstoneRoundTrips) {
  const std::string tombstone = EncodeTombstone(42);
  Result<StoredValue> read = DecodeValue(tombstone, "read");
  SK_ASSERT_OK(read);
  EXPECT_TRUE(read->tombstone);
  EXPECT_EQ(read->at_ms, 42);
}

TEST(MemcachedRecordTest, ForeignValuesAreCorruptNotSessions) {
  for (std::string bad :
       {std::string(""), std::string("a:1:{}"), std::string("SK\x01short", 8),
        // an id longer than the value
        std::string("SK\x01", 3) + std::string(8, '\0') +
            std::string("\x01\0", 2) + "abc",
        std::string("SK\x03") + std::string(8, '\0'),
        EncodeTombstone(1) + "x"}) {
    Result<StoredValue> read = DecodeValue(bad, "read of session abc");
    EXPECT_TRUE(read.status().IsCorrupt()) << bad;
    EXPECT_THAT(read.status().message(),
                HasSubstr("read of session abc: the stored item is not"));
  }
}

TEST(MemcachedRecordTest, LockRoundTripsAndRefusesOthers) {
  const std::string value = EncodeLock(1234, "tok en");
  Result<LockValue> lock = DecodeLock(value, "lock");
  SK_ASSERT_OK(lock);
  EXPECT_EQ(lock->lease_until_ms, 1234);
  EXPECT_EQ(lock->token, "tok en");
  for (std::string_view bad :
       {"", "1234", "1234 ", " tok", "12a4 tok", "99999999999999999999 tok"}) {
    EXPECT_TRUE(DecodeLock(bad, "lock").status().IsCorrupt()) << bad;
  }
}

TEST(MemcachedRecordTest, ItemTtlRoundsUpAndAddsASecond) {
  EXPECT_EQ(ItemTtl(1000, 1000), 1u);  // due now: still at least 1
  EXPECT_EQ(ItemTtl(0, 1000), 1u);
  EXPECT_EQ(ItemTtl(1001, 1000), 2u);
  EXPECT_EQ(ItemTtl(2000, 1000), 2u);
  EXPECT_EQ(ItemTtl(2001, 1000), 3u);
  const int64_t day = 86400000;
  EXPECT_EQ(ItemTtl(29 * day, 0), 29u * 86400 + 1);
  EXPECT_EQ(ItemTtl(30 * day, 0), 0u);  // 30 days + 1 s: never
  EXPECT_EQ(ItemTtl(400 * day, 0), 0u);
}

}  // namespace
}  // namespace sessionkit::memcached
