// The store conformance suite (store_conformance.h): expiry, Gc and Scan.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conformance/conformance_support.h"
#include "conformance/store_conformance.h"
#include "support/test_status.h"

namespace sessionkit::conformance {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

// --- Expiry (these tests wait, each once) --------------------------------

TEST_P(StoreConformance, ExpiredSessionIsNeverReturned) {
  const Duration ttl = factory().short_ttl;
  const std::string gone = NewId(), live = NewId();
  SK_ASSERT_OK(store().Write(live, "live", kLong));
  const auto written = std::chrono::steady_clock::now();
  SK_ASSERT_OK(store().Write(gone, "short-lived", ttl));
  if (factory().fake_clock ||
      std::chrono::steady_clock::now() - written < ttl / 2) {
    SK_EXPECT_OK(store().Read(gone)) << "read right after the write";
  }

  Wait(ttl);
  const bool expired =
      WaitUntil([&] { return store().Read(gone).status().IsNotFound(); },
                factory().expiry_slack);
  ASSERT_TRUE(expired) << "a session written with a ttl of " << ttl.count()
                       << " ms was still readable "
                       << (ttl + factory().expiry_slack).count() << " ms later";

  // Once expired, no primitive returns or revives it.
  Result<bool> exists = store().Exists(gone);
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
  Status touch = store().Touch(gone, kLong);
  EXPECT_TRUE(touch.IsNotFound()) << touch.ToString();
  EXPECT_TRUE(store().Read(gone).status().IsNotFound())
      << "Touch revived an expired session";
  if (factory().scans) {
    EXPECT_THAT(IdsOf(ScanAll(store(), 10, false, 10)),
                UnorderedElementsAreArray({live}));
  }

  // The live one is untouched; the expired id can be written anew.
  Result<SessionRecord> still = store().Read(live);
  SK_ASSERT_OK(still);
  EXPECT_EQ(still->data, "live");
  SK_ASSERT_OK(store().Write(gone, "new", kLong));
  Result<SessionRecord> renewed = store().Read(gone);
  SK_ASSERT_OK(renewed);
  EXPECT_EQ(renewed->data, "new");
}

TEST_P(StoreConformance, TouchMovesExpiry) {
  const Duration ttl = factory().short_ttl;
  const std::string extended = NewId(), shortened = NewId();
  // `extended` would expire after 1.5 ttl; touched, it lives 10 s.
  SK_ASSERT_OK(store().Write(extended, "extended", ttl * 3 / 2));
  SK_ASSERT_OK(store().Write(shortened, "shortened", kLong));
  const TimePoint before = Now();
  SK_ASSERT_OK(store().Touch(extended, Duration(10000)));
  const TimePoint after = Now();
  SK_ASSERT_OK(store().Touch(shortened, ttl));

  Result<SessionRecord> read = store().Read(extended);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "extended") << "Touch changed the data";
  EXPECT_TRUE(ExpiryNear(read->expires_at, before + Duration(10000),
                         after + Duration(10000)));

  Wait(ttl * 5 / 2);  // past the original expiry of `extended`
  read = store().Read(extended);
  SK_ASSERT_OK(read) << "a touched session expired at its old expiry";
  EXPECT_EQ(read->data, "extended");
  Result<bool> exists = store().Exists(extended);
  SK_ASSERT_OK(exists);
  EXPECT_TRUE(*exists);

  // Touch also shortens: `shortened` is gone by now (or within the slack).
  EXPECT_TRUE(
      WaitUntil([&] { return store().Read(shortened).status().IsNotFound(); },
                factory().expiry_slack))
      << "Touch with a short ttl did not shorten the session's life";
}

// A session lives until its expiry and not one millisecond longer: at
// `ttl` after the write, no primitive returns or revives it. Only a store
// whose clock the test holds (a fake_clock factory) can be checked to the
// millisecond.
TEST_P(StoreConformance, ExpiryIsExactToTheMillisecond) {
  if (!factory().fake_clock) {
    GTEST_SKIP() << "needs the factory's fake clock";
  }
  const Duration ttl(1000);
  const std::string read = NewId(), exists = NewId(), touched = NewId(),
                    locked = NewId(), scanned = NewId();
  for (const std::string& id : {read, exists, touched, locked, scanned}) {
    SK_ASSERT_OK(store().Write(id, "v", ttl));
  }
  const TimePoint expiry = Now() + ttl;

  Wait(ttl - Duration(1));  // one millisecond left
  Result<SessionRecord> r = store().Read(read);
  SK_ASSERT_OK(r) << "read 1 ms before its expiry";
  EXPECT_EQ(MsOf(r->expires_at), MsOf(expiry));
  Result<bool> live = store().Exists(exists);
  SK_ASSERT_OK(live);
  EXPECT_TRUE(*live) << "Exists 1 ms before the expiry";
  if (factory().scans) {
    EXPECT_EQ(ScanAll(store(), 10, false, 10).size(), 5u);
  }
  if (factory().locks) {
    Result<LockedRead> l = store().LockAndRead(locked, Request("early"));
    SK_ASSERT_OK(l);
    ASSERT_TRUE(l->acquired());
    EXPECT_TRUE(l->found) << "a locked read 1 ms before the expiry";
    SK_ASSERT_OK(store().Unlock(locked, Request("early").owner));
  }

  Wait(Duration(1));  // now == the expiry
  EXPECT_TRUE(store().Read(read).status().IsNotFound()) << "read at its expiry";
  live = store().Exists(exists);
  SK_ASSERT_OK(live);
  EXPECT_FALSE(*live) << "Exists at the expiry";
  EXPECT_TRUE(store().Touch(touched, kLong).IsNotFound())
      << "Touch at the expiry revived it";
  EXPECT_TRUE(store().Read(touched).status().IsNotFound());
  if (factory().scans) {
    EXPECT_TRUE(ScanAll(store(), 10, false, 10).empty())
        << "Scan listed sessions at their expiry";
  }
  if (factory().locks) {
    Result<LockedRead> l = store().LockAndRead(locked, Request("late"));
    SK_ASSERT_OK(l);
    ASSERT_TRUE(l->acquired());
    EXPECT_FALSE(l->found) << "a locked read at the expiry";
    EXPECT_TRUE(store()
                    .TouchAndUnlock(locked, kLong, Request("late").owner)
                    .IsNotFound())
        << "TouchAndUnlock at the expiry revived it";
    EXPECT_TRUE(store().Read(locked).status().IsNotFound());
  }
  Result<GcResult> gc = store().Gc(Now());
  SK_ASSERT_OK(gc);
  if (factory().gc_reports_removed) {
    EXPECT_EQ(gc->removed, 5u) << "Gc(now) left sessions expiring at now";
  }
  if (factory().scans) {
    EXPECT_TRUE(ScanAll(store(), 10, true, 10).empty());
  }
}

// A lease ends at its end exactly: one millisecond before, another request
// waits; at the end, it takes the lock over. (Fake clock only, as
// ExpiryIsExactToTheMillisecond.)
TEST_P(StoreConformance, LeaseIsExactToTheMillisecond) {
  if (!factory().fake_clock) {
    GTEST_SKIP() << "needs the factory's fake clock";
  }
  const std::string id = NewId();
  LockRequest a = Request("a", Duration(0));
  a.lease = Duration(1000);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  const LockRequest b = Request("b", Duration(0));
  Wait(Duration(999));
  Result<LockedRead> early = store().LockAndRead(id, b);
  SK_ASSERT_OK(early);
  EXPECT_FALSE(early->acquired()) << "taken 1 ms before the lease ended";
  Wait(Duration(1));
  Result<LockedRead> late = store().LockAndRead(id, b);
  SK_ASSERT_OK(late);
  EXPECT_TRUE(late->acquired()) << "not taken at the end of the lease";
  EXPECT_EQ(late->broken_owner, a.owner.token);
  EXPECT_TRUE(store().WriteAndUnlock(id, "x", kLong, a.owner).IsLockLost());
  SK_EXPECT_OK(store().Unlock(id, b.owner));
}

// A lifetime of 0 or less has ended at once: the session is written (or
// touched) as expired, never returned, and the call succeeds. A store that
// cannot keep such a session deletes it.
TEST_P(StoreConformance, NonPositiveTtlExpiresAtOnce) {
  for (const Duration ttl : {Duration(0), Duration(-1), Duration(-60000)}) {
    SCOPED_TRACE("ttl " + std::to_string(ttl.count()) + " ms");
    const std::string written = NewId(), replaced = NewId(), touched = NewId();
    SK_EXPECT_OK(store().Write(written, "gone", ttl));
    SK_ASSERT_OK(store().Write(replaced, "old", kLong));
    SK_EXPECT_OK(store().Write(replaced, "new", ttl));
    SK_ASSERT_OK(store().Write(touched, "old", kLong));
    SK_EXPECT_OK(store().Touch(touched, ttl));
    for (const std::string& id : {written, replaced, touched}) {
      EXPECT_TRUE(store().Read(id).status().IsNotFound());
      Result<bool> live = store().Exists(id);
      SK_ASSERT_OK(live);
      EXPECT_FALSE(*live);
    }
    if (!factory().locks) continue;
    const std::string write_locked = NewId(), touch_locked = NewId();
    const LockRequest a = Request("a", Duration(0));
    for (const std::string& id : {write_locked, touch_locked}) {
      SK_ASSERT_OK(store().Write(id, "old", kLong));
      Result<LockedRead> l = store().LockAndRead(id, a);
      SK_ASSERT_OK(l);
      ASSERT_TRUE(l->acquired());
    }
    SK_EXPECT_OK(store().WriteAndUnlock(write_locked, "new", ttl, a.owner));
    SK_EXPECT_OK(store().TouchAndUnlock(touch_locked, ttl, a.owner));
    for (const std::string& id : {write_locked, touch_locked}) {
      EXPECT_TRUE(store().Read(id).status().IsNotFound());
      Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
      SK_ASSERT_OK(b);
      EXPECT_TRUE(b->acquired()) << "the lock was not released";
      EXPECT_FALSE(b->found);
      SK_EXPECT_OK(store().Unlock(id, Request("b").owner));
    }
  }
}

TEST_P(StoreConformance, GcRemovesOnlyExpiredSessions) {
  const Duration ttl = factory().short_ttl;
  std::vector<std::string> live, doomed;
  uint64_t doomed_bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    live.push_back(NewId());
    SK_ASSERT_OK(store().Write(live.back(), std::string(100 + i, 'L'), kLong));
    doomed.push_back(NewId());
    const std::string data(200 + i, 'D');
    doomed_bytes += data.size();
    SK_ASSERT_OK(store().Write(doomed.back(), data, ttl));
  }

  // Before anything expired, Gc removes nothing.
  Result<GcResult> gc = store().Gc(Now());
  SK_ASSERT_OK(gc);
  if (factory().fake_clock ||
      std::chrono::steady_clock::now() - start < ttl / 2) {
    EXPECT_EQ(gc->removed, 0u) << "Gc removed live sessions";
    for (const std::string& id : doomed) SK_EXPECT_OK(store().Read(id));
  }
  for (const std::string& id : live) SK_EXPECT_OK(store().Read(id));

  Wait(ttl);
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const std::string& id : doomed) {
          if (!store().Read(id).status().IsNotFound()) return false;
        }
        return true;
      },
      factory().expiry_slack))
      << "sessions with a ttl of " << ttl.count() << " ms did not expire";

  // With progress (the CLI's display): the last report is the result.
  std::vector<GcResult> reports;
  gc = store().GcWithProgress(
      Now(), [&](const GcResult& so_far) { reports.push_back(so_far); });
  SK_ASSERT_OK(gc);
  if (factory().gc_reports_removed) {
    EXPECT_EQ(gc->removed, doomed.size());
    EXPECT_EQ(gc->bytes_removed, doomed_bytes);
  }
  ASSERT_FALSE(reports.empty()) << "GcWithProgress reported nothing";
  EXPECT_EQ(reports.back().removed, gc->removed);
  EXPECT_EQ(reports.back().bytes_removed, gc->bytes_removed);
  for (const std::string& id : live) {
    Result<SessionRecord> read = store().Read(id);
    SK_EXPECT_OK(read) << "Gc removed a live session";
  }
  for (const std::string& id : doomed) {
    EXPECT_TRUE(store().Read(id).status().IsNotFound());
  }
  // After Gc, not even include_expired lists the expired ones.
  if (factory().scans) {
    EXPECT_THAT(IdsOf(ScanAll(store(), 4, true, 20)),
                UnorderedElementsAreArray(live));
  }

  gc = store().Gc(Now());
  SK_ASSERT_OK(gc);
  EXPECT_EQ(gc->removed, 0u) << "a second Gc found more to remove";
}

// --- Scan ------------------------------------------------------------------

TEST_P(StoreConformance, ScanOfEmptyStoreIsEmpty) {
  if (!factory().scans) GTEST_SKIP() << "the store does not list sessions";
  ScanOptions options;
  options.limit = 7;
  Result<ScanPage> page = store().Scan(options);
  SK_ASSERT_OK(page);
  EXPECT_TRUE(page->sessions.empty());
  EXPECT_TRUE(page->next_cursor.empty());
}

TEST_P(StoreConformance, ScanListsEverySessionExactlyOnce) {
  if (!factory().scans) GTEST_SKIP() << "the store does not list sessions";
  std::map<std::string, size_t> written;  // id -> bytes
  const TimePoint before = Now();
  for (int i = 0; i < 51; ++i) {
    const std::string id = NewId();
    const std::string data =
        PseudoRandomBytes(static_cast<size_t>(i) * 3, static_cast<uint32_t>(i));
    SK_ASSERT_OK(store().Write(id, data, kLong));
    written[id] = data.size();
  }
  const TimePoint after = Now();
  // One destroyed: 50 remain.
  const std::string destroyed = written.begin()->first;
  SK_ASSERT_OK(store().Destroy(destroyed));
  written.erase(destroyed);

  std::vector<SessionInfo> all = ScanAll(store(), 7, false, 100);
  std::map<std::string, int> seen;
  for (const SessionInfo& info : all) {
    if (++seen[info.id] == 2) {
      ADD_FAILURE() << "Scan listed session " << info.id << " twice";
    }
    auto it = written.find(info.id);
    if (it == written.end()) {
      ADD_FAILURE() << "Scan listed " << info.id
                    << ", which is not a live session of this store";
      continue;
    }
    EXPECT_EQ(info.bytes, it->second) << "bytes of " << info.id;
    EXPECT_TRUE(ExpiryNear(info.expires_at, before + kLong, after + kLong))
        << "expiry of " << info.id;
  }
  for (const auto& [id, bytes] : written) {
    EXPECT_EQ(seen.count(id), 1u) << "Scan missed session " << id;
  }
  EXPECT_EQ(all.size(), written.size());
}

}  // namespace
}  // namespace sessionkit::conformance
