// The store conformance suite (store_conformance.h): WriteUnlessNewer, the
// check-and-write in one step that tiers written behind apply a drain's
// batch with.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "conformance/conformance_support.h"
#include "conformance/store_conformance.h"
#include "sessionkit/frame.h"
#include "support/test_status.h"

namespace sessionkit::conformance {
namespace {

// A format 2 frame of session version `version`.
std::string Frame(uint64_t version, std::string_view payload) {
  FrameHeader header;
  header.session_version = version;
  return EncodeFrame(header, payload);
}

// Why a store that cannot check a version and write in one step skips
// these tests (tests/allowed-skips names it).
constexpr char kCannot[] =
    "the store cannot check a version and write in one step";

// Skips the test when the factory says the store cannot (and it answers
// NotSupported to `st`).
#define SK_SKIP_IF_CANNOT(st)                                     \
  if (!GetParam().writes_unless_newer && (st).IsNotSupported()) { \
    GTEST_SKIP() << kCannot;                                      \
  }

// WriteUnlessNewer(...): skips the test as above, else asserts OK.
#define SK_UNLESS_NEWER_OR_SKIP(...)                    \
  do {                                                  \
    Status st_ = store().WriteUnlessNewer(__VA_ARGS__); \
    SK_SKIP_IF_CANNOT(st_);                             \
    SK_ASSERT_OK(st_);                                  \
  } while (0)

std::string DataOf(Store& store, const std::string& id) {
  Result<SessionRecord> read = store.Read(id);
  return read.ok() ? read->data : read.status().ToString();
}

TEST_P(StoreConformance, WriteUnlessNewerKeepsOnlyANewerVersion) {
  const std::string absent = NewId(), newer = NewId(), older = NewId(),
                    same = NewId(), plain = NewId(), unversioned = NewId(),
                    zero = NewId();
  SK_ASSERT_OK(store().Write(newer, Frame(5, "newer kept"), kLong));
  SK_ASSERT_OK(store().Write(older, Frame(5, "older"), kLong));
  SK_ASSERT_OK(store().Write(same, Frame(5, "same before"), kLong));
  SK_ASSERT_OK(store().Write(plain, "not a frame", kLong));
  SK_ASSERT_OK(store().Write(unversioned, Frame(2, "versioned kept"), kLong));
  // Version 0 (a format 1 frame made format 2): the same version as a
  // value without one, so written over.
  SK_ASSERT_OK(store().Write(zero, Frame(0, "version 0"), kLong));
  const TimePoint first_expiry = Now() + kLong;

  const std::string absent_v = Frame(1, "absent written"),
                    newer_v = Frame(3, "newer lost"),
                    older_v = Frame(7, "older replaced"),
                    same_v = Frame(5, "same replaced"),
                    plain_v = Frame(1, "plain replaced");
  const Duration later = kLong * 2;
  const std::vector<VersionedWrite> writes = {
      {absent, absent_v, later},   {newer, newer_v, later},
      {older, older_v, later},     {same, same_v, later},
      {plain, plain_v, later},     {unversioned, "raw bytes", later},
      {zero, "no version", later},
  };
  const TimePoint before = Now();
  SK_UNLESS_NEWER_OR_SKIP(writes);
  const TimePoint after = Now();

  EXPECT_EQ(DataOf(store(), absent), absent_v);
  EXPECT_EQ(DataOf(store(), newer), Frame(5, "newer kept"))
      << "an older version replaced a newer one";
  EXPECT_EQ(DataOf(store(), older), older_v);
  EXPECT_EQ(DataOf(store(), same), same_v);
  EXPECT_EQ(DataOf(store(), plain), plain_v);
  EXPECT_EQ(DataOf(store(), unversioned), Frame(2, "versioned kept"))
      << "a value without a version replaced a versioned one";
  EXPECT_EQ(DataOf(store(), zero), "no version")
      << "a value of version 0 was kept over one of the same version";
  // A kept value keeps its expiry; a written one has the write's.
  Result<SessionRecord> kept = store().Read(newer);
  SK_ASSERT_OK(kept);
  EXPECT_TRUE(
      ExpiryNear(kept->expires_at, first_expiry - kLong / 10, first_expiry));
  Result<SessionRecord> replaced = store().Read(older);
  SK_ASSERT_OK(replaced);
  EXPECT_TRUE(ExpiryNear(replaced->expires_at, before + later, after + later));
}

TEST_P(StoreConformance, WriteUnlessNewerReplacesANewerVersionThatExpired) {
  const Duration ttl = factory().short_ttl;
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, Frame(9, "expires"), ttl));
  Wait(ttl);
  ASSERT_TRUE(WaitUntil([&] { return store().Read(id).status().IsNotFound(); },
                        factory().expiry_slack));
  const std::string older = Frame(3, "written after the expiry");
  SK_UNLESS_NEWER_OR_SKIP(std::vector<VersionedWrite>{{id, older, kLong}});
  EXPECT_EQ(DataOf(store(), id), older);
}

// More than one statement's worth at once (the SQL stores split a batch
// by size): every write is made.
TEST_P(StoreConformance, WriteUnlessNewerWritesALargeBatchWhole) {
  std::vector<std::string> ids, values;
  for (int i = 0; i < 300; ++i) {
    ids.push_back(NewId());
    values.push_back(Frame(i + 1, PseudoRandomBytes(2048, i)));
  }
  std::vector<VersionedWrite> writes;
  for (size_t i = 0; i < ids.size(); ++i) {
    writes.push_back({ids[i], values[i], kLong});
  }
  SK_UNLESS_NEWER_OR_SKIP(writes);
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(DataOf(store(), ids[i]), values[i]) << "write " << i;
  }
}

// Writers that race on the same sessions, each in its own order: each
// session ends at the highest version any of them wrote.
TEST_P(StoreConformance, WriteUnlessNewerRacingWritersLeaveTheNewest) {
  const std::vector<std::string> ids = {NewId(), NewId(), NewId()};
  constexpr int kWriters = 4, kRounds = 40;
  const std::string probe = Frame(1, "p");
  SK_UNLESS_NEWER_OR_SKIP({{ids[0], probe, kLong}});
  std::vector<Status> failed(kWriters);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int round = 0; round < kRounds; ++round) {
        // Writer w goes up in even rounds and down in odd ones.
        const int step = round % 2 == 0 ? round : kRounds - round;
        const uint64_t version = static_cast<uint64_t>(step * kWriters + w + 2);
        std::vector<std::string> frames;
        std::vector<VersionedWrite> batch;
        for (const std::string& id : ids) {
          frames.push_back(Frame(version, id + " v" + std::to_string(version)));
        }
        for (size_t i = 0; i < ids.size(); ++i) {
          batch.push_back({ids[i], frames[i], kLong});
        }
        Status st = store().WriteUnlessNewer(batch);
        if (!st.ok()) failed[w] = st;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  for (const Status& st : failed) SK_ASSERT_OK(st);
  const uint64_t highest = (kRounds - 1) * kWriters + (kWriters - 1) + 2;
  for (const std::string& id : ids) {
    EXPECT_EQ(DataOf(store(), id),
              Frame(highest, id + " v" + std::to_string(highest)));
  }
}

TEST_P(StoreConformance, WriteUnlessNewerRefusesABadIdAndWritesNothing) {
  const std::string good = NewId(), frame = Frame(1, "x");
  Status st = store().WriteUnlessNewer(
      {{good, frame, kLong}, {"bad id!", frame, kLong}});
  SK_SKIP_IF_CANNOT(st);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_TRUE(store().Read(good).status().IsNotFound());
}

}  // namespace
}  // namespace sessionkit::conformance
