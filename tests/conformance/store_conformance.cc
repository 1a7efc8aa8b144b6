#include "conformance/store_conformance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/test_status.h"

namespace sessionkit::conformance {

void PrintTo(const StoreFactory& factory, std::ostream* os) {
  *os << "StoreFactory{" << factory.name << "}";
}

std::string FactoryName(const ::testing::TestParamInfo<StoreFactory>& info) {
  std::string name = info.param.name;
  // GoogleTest accepts only [A-Za-z0-9_] in parameter names.
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  }
  return name.empty() ? "store" + std::to_string(info.index) : name;
}

void StoreConformance::SetUp() {
  ASSERT_TRUE(factory().make_fresh) << "the factory has no make_fresh";
  Result<std::unique_ptr<Store>> store = factory().make_fresh();
  ASSERT_TRUE(store.ok()) << "make_fresh failed: " << store.status().ToString();
  ASSERT_NE(*store, nullptr);
  store_ = std::move(*store);
}

void StoreConformance::TearDown() { store_.reset(); }

TimePoint StoreConformance::Now() const {
  return factory().fake_clock ? factory().fake_clock->WallNow() : Clock::now();
}

void StoreConformance::Wait(Duration d) const {
  if (factory().fake_clock) {
    factory().fake_clock->Advance(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

bool StoreConformance::WaitUntil(const std::function<bool()>& gone,
                                 Duration bound) const {
  if (factory().fake_clock) {
    factory().fake_clock->Advance(bound);
    return gone();
  }
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    if (gone()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return gone();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string StoreConformance::NewId() {
  static const std::string run = [] {
    std::random_device rd;
    char buf[16];
    snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    return std::string(buf);
  }();
  static std::atomic<uint64_t> counter{0};
  char buf[64];
  snprintf(buf, sizeof buf, "cf-%s-%012llu", run.c_str(),
           static_cast<unsigned long long>(counter.fetch_add(1)));
  return buf;
}

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

constexpr Duration kLong{60000};  // the ttl of sessions meant to stay live
constexpr Duration kExpiryTolerance{1000};
constexpr Duration kLockWait{1000};

using Ms = std::chrono::milliseconds;

// A request of another host: never taken over before its lease runs out.
LockRequest Request(std::string name, Duration wait = kLockWait) {
  LockRequest request;
  request.owner.token = "other-host.invalid|1|" + std::move(name);
  request.lease = Duration(60000);
  request.wait = wait;
  request.max_waiters = 0;
  return request;
}

// Skips the test when the factory says the store does not lock (and it
// answers NotSupported); otherwise returns the outcome of taking `id`'s
// lock for `request`, failing the test when the store could not take it.
#define SK_LOCK_OR_SKIP(var, id, request)                                \
  Result<LockedRead> var = store().LockAndRead((id), (request));         \
  if (!GetParam().locks && !var.ok() && var.status().IsNotSupported()) { \
    GTEST_SKIP() << "the store does not lock";                           \
  }                                                                      \
  SK_ASSERT_OK(var)

int64_t MsOf(TimePoint t) { return ToUnixMillis(t); }

// Expects `actual` within kExpiryTolerance of [earliest, latest].
::testing::AssertionResult ExpiryNear(TimePoint actual, TimePoint earliest,
                                      TimePoint latest) {
  if (actual >= earliest - kExpiryTolerance &&
      actual <= latest + kExpiryTolerance) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expires_at is " << MsOf(actual) << " (unix ms), expected "
         << MsOf(earliest) << ".." << MsOf(latest) << " ± "
         << kExpiryTolerance.count() << " ms";
}

// Every byte value, NULs included (at both ends too).
std::string AllBytes() {
  std::string s;
  for (int round = 0; round < 4; ++round) {
    for (int b = 0; b < 256; ++b) s.push_back(static_cast<char>(b));
  }
  s.push_back('\0');
  return s;
}

// `size` deterministic pseudo-random bytes.
std::string PseudoRandomBytes(size_t size, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

// Lists every session with pages of `limit`. Adds a failure (and stops) when
// a page is larger than `limit` or the scan does not end within `max_pages`.
std::vector<SessionInfo> ScanAll(Store& store, size_t limit,
                                 bool include_expired, size_t max_pages) {
  std::vector<SessionInfo> all;
  ScanOptions options;
  options.limit = limit;
  options.include_expired = include_expired;
  for (size_t page_no = 0;; ++page_no) {
    if (page_no == max_pages) {
      ADD_FAILURE() << "Scan did not end within " << max_pages << " pages of "
                    << limit;
      break;
    }
    Result<ScanPage> page = store.Scan(options);
    if (!page.ok()) {
      ADD_FAILURE() << "Scan page " << page_no
                    << " failed: " << page.status().ToString();
      break;
    }
    EXPECT_LE(page->sessions.size(), limit)
        << "Scan page " << page_no << " has more sessions than the limit";
    for (SessionInfo& info : page->sessions) all.push_back(std::move(info));
    if (page->next_cursor.empty()) break;
    options.cursor = page->next_cursor;
  }
  return all;
}

std::vector<std::string> IdsOf(const std::vector<SessionInfo>& sessions) {
  std::vector<std::string> ids;
  for (const SessionInfo& s : sessions) ids.push_back(s.id);
  return ids;
}

// Checks the rules for an error message: it names the store, never holds the
// full id nor a secret.
void ExpectGoodMessage(const Status& status, const Store& store,
                       std::string_view id,
                       const std::vector<std::string>& secrets) {
  EXPECT_THAT(status.message(), HasSubstr(store.name()))
      << "the message does not name the store";
  EXPECT_THAT(status.message(), Not(HasSubstr(std::string(id))))
      << "the message holds the full session id";
  for (const std::string& secret : secrets) {
    EXPECT_THAT(status.message(), Not(HasSubstr(secret)))
        << "the message holds a secret";
  }
}

// --- Basics ----------------------------------------------------------------

TEST_P(StoreConformance, NameIsSetAndHidesSecrets) {
  EXPECT_FALSE(store().name().empty());
  for (const std::string& secret : factory().secrets) {
    ASSERT_FALSE(secret.empty()) << "the factory lists an empty secret";
    EXPECT_THAT(store().name(), Not(HasSubstr(secret)));
  }
}

TEST_P(StoreConformance, HealthIsOk) { SK_EXPECT_OK(store().Health()); }

// --- Round trips -----------------------------------------------------------

TEST_P(StoreConformance, RoundTripsBinaryData) {
  const std::string id = NewId();
  const std::string data = AllBytes();
  const TimePoint before = Now();
  SK_ASSERT_OK(store().Write(id, data, kLong));
  const TimePoint after = Now();
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data.size(), data.size());
  EXPECT_TRUE(read->data == data) << "the bytes read differ from those written";
  EXPECT_TRUE(ExpiryNear(read->expires_at, before + kLong, after + kLong));
}

TEST_P(StoreConformance, RoundTripsEmptyValue) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "", kLong));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read) << "an empty session must be found, not NotFound";
  EXPECT_EQ(read->data, "");
  Result<bool> exists = store().Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_TRUE(*exists);
  if (factory().scans) {
    std::vector<SessionInfo> all = ScanAll(store(), 10, false, 10);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].id, id);
    EXPECT_EQ(all[0].bytes, 0u);
  }
}

TEST_P(StoreConformance, RoundTripsOneMebibyte) {
  const std::string id = NewId();
  const std::string data = PseudoRandomBytes(1 << 20, 1);
  SK_ASSERT_OK(store().Write(id, data, kLong));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data.size(), data.size());
  EXPECT_TRUE(read->data == data) << "the 1 MiB value came back different";
}

TEST_P(StoreConformance, AcceptsEveryValidIdShape) {
  const std::string charset =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,-";
  std::string longest;  // 256 characters, every allowed one
  while (longest.size() < 256) longest += charset;
  longest.resize(256);
  const std::vector<std::string> ids = {
      "a",  // PHP accepts ids of any length from 1 to 256
      "Z",
      "test003",
      "abcdefghijklmnopqrstuv",
      longest,
      "sessionCASEsensitive00",  // differ only in case: distinct sessions
      "SESSIONcasesensitive00",
      "-leading-dash-and,comma",
      ",,,,,,,,,,,,,,,,,,,,,,,,",
  };
  for (size_t i = 0; i < ids.size(); ++i) {
    SK_ASSERT_OK(store().Write(ids[i], "value " + std::to_string(i), kLong))
        << "id " << ids[i];
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    Result<SessionRecord> read = store().Read(ids[i]);
    SK_ASSERT_OK(read) << "id " << ids[i];
    EXPECT_EQ(read->data, "value " + std::to_string(i)) << "id " << ids[i];
  }
  if (factory().scans) {
    EXPECT_THAT(IdsOf(ScanAll(store(), 100, false, 10)),
                UnorderedElementsAreArray(ids));
  }
}

TEST_P(StoreConformance, OverwriteReplacesDataAndExpiry) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, PseudoRandomBytes(100000, 2), kLong));
  const Duration longer = Duration(600000);
  const TimePoint before = Now();
  SK_ASSERT_OK(store().Write(id, "short", longer));
  const TimePoint after = Now();
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "short");  // nothing left over from the longer value
  EXPECT_TRUE(ExpiryNear(read->expires_at, before + longer, after + longer));

  // A shorter ttl also replaces a later expiry.
  const TimePoint before2 = Now();
  SK_ASSERT_OK(store().Write(id, "again", kLong));
  const TimePoint after2 = Now();
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "again");
  EXPECT_TRUE(ExpiryNear(read->expires_at, before2 + kLong, after2 + kLong));
  if (factory().scans) {
    EXPECT_EQ(ScanAll(store(), 10, false, 10).size(), 1u);
  }
}

// --- Missing sessions, Exists, Destroy -------------------------------------

TEST_P(StoreConformance, UnknownIdIsNotFound) {
  const std::string id = NewId();
  Result<SessionRecord> read = store().Read(id);
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(read.status().IsNotFound()) << read.status().ToString();
  ExpectGoodMessage(read.status(), store(), id, factory().secrets);

  Status touch = store().Touch(id, kLong);
  EXPECT_TRUE(touch.IsNotFound()) << touch.ToString();
  ExpectGoodMessage(touch, store(), id, factory().secrets);
  // Touch did not create it.
  EXPECT_TRUE(store().Read(id).status().IsNotFound());

  Result<bool> exists = store().Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
}

TEST_P(StoreConformance, ExistsReportsLiveSessions) {
  const std::string a = NewId(), b = NewId();
  SK_ASSERT_OK(store().Write(a, "a", kLong));
  Result<bool> exists = store().Exists(a);
  SK_ASSERT_OK(exists);
  EXPECT_TRUE(*exists);
  exists = store().Exists(b);
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
}

TEST_P(StoreConformance, DestroyIsIdempotent) {
  const std::string id = NewId(), other = NewId();
  SK_ASSERT_OK(store().Write(id, "doomed", kLong));
  SK_ASSERT_OK(store().Write(other, "kept", kLong));
  SK_ASSERT_OK(store().Destroy(id));
  EXPECT_TRUE(store().Read(id).status().IsNotFound());
  Result<bool> exists = store().Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
  SK_EXPECT_OK(store().Destroy(id)) << "destroying it again";
  SK_EXPECT_OK(store().Destroy(NewId())) << "destroying an id never written";
  Result<SessionRecord> kept = store().Read(other);
  SK_ASSERT_OK(kept);
  EXPECT_EQ(kept->data, "kept");
  if (factory().scans) {
    EXPECT_THAT(IdsOf(ScanAll(store(), 10, false, 10)),
                UnorderedElementsAreArray({other}));
  }
  // A destroyed id can be written again.
  SK_ASSERT_OK(store().Write(id, "reborn", kLong));
  Result<SessionRecord> reborn = store().Read(id);
  SK_ASSERT_OK(reborn);
  EXPECT_EQ(reborn->data, "reborn");
}

// Ids reach a store validated by the engine, but a caller may bypass it (the
// CLI, a C++ server): every primitive still refuses an id with a byte
// outside PHP's charset, before it becomes part of a key.
TEST_P(StoreConformance, RefusesIdsOutsideTheCharset) {
  // Spelt out here, not taken from IsSessionIdChar: the test must not
  // follow the rule it checks.
  const std::string charset =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,-";
  std::vector<std::string> bad = {""};
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (charset.find(c) == std::string::npos) {
      bad.push_back("cf-bad-id-" + std::string(1, c) + "-0123456789");
    }
  }
  const LockRequest lock = [] {
    LockRequest r;
    r.owner.token = "other-host.invalid|1|bad-ids";
    r.wait = Duration(0);
    return r;
  }();
  for (const std::string& id : bad) {
    SCOPED_TRACE("byte " + std::to_string(id.size() > 10
                                              ? static_cast<uint8_t>(id[10])
                                              : -1));
    EXPECT_TRUE(store().Write(id, "x", kLong).IsInvalidArgument());
    EXPECT_TRUE(store().Read(id).status().IsInvalidArgument());
    EXPECT_TRUE(store().Touch(id, kLong).IsInvalidArgument());
    EXPECT_TRUE(store().Exists(id).status().IsInvalidArgument());
    EXPECT_TRUE(store().Destroy(id).IsInvalidArgument());
    if (!factory().locks) continue;
    EXPECT_TRUE(store().LockAndRead(id, lock).status().IsInvalidArgument());
    EXPECT_TRUE(
        store().WriteAndUnlock(id, "x", kLong, lock.owner).IsInvalidArgument());
    EXPECT_TRUE(
        store().TouchAndUnlock(id, kLong, lock.owner).IsInvalidArgument());
    EXPECT_TRUE(store().Unlock(id, lock.owner).IsInvalidArgument());
  }
  if (factory().scans) {
    EXPECT_TRUE(ScanAll(store(), 10, true, 10).empty())
        << "a refused id was stored";
  }
}

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

// --- Concurrency -----------------------------------------------------------

// The value thread `t` writes in iteration `i`: a header naming (t, i), then
// bytes derived from them, of a length that varies, so that a torn or mixed
// write cannot pass for a real one.
std::string ThreadValue(int t, int i) {
  std::string v = std::to_string(t) + "," + std::to_string(i) + "|";
  const size_t length = 16 + static_cast<size_t>((t * 977 + i * 131) % 2000);
  for (size_t k = 0; v.size() < length; ++k) {
    v.push_back(static_cast<char>((t * 31 + i * 7 + k) & 0xff));
  }
  return v;
}

// True when `v` is exactly ThreadValue(t, i) for some t < threads, i < iters,
// or the seed value ThreadValue(99, 0).
bool IsWrittenValue(const std::string& v, int threads, int iters) {
  int t = -1, i = -1;
  if (sscanf(v.c_str(), "%d,%d|", &t, &i) != 2) return false;
  const bool known =
      (t == 99 && i == 0) || (t >= 0 && t < threads && i >= 0 && i < iters);
  return known && v == ThreadValue(t, i);
}

TEST_P(StoreConformance, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 4, kIters = 200, kIdsEach = 5;
  std::vector<std::string> shared;
  for (int k = 0; k < kIdsEach; ++k) {
    shared.push_back(NewId());
    SK_ASSERT_OK(store().Write(shared.back(), ThreadValue(99, 0), kLong));
  }
  std::vector<std::vector<std::string>> own(kThreads);
  for (auto& ids : own) {
    for (int k = 0; k < kIdsEach; ++k) ids.push_back(NewId());
  }

  std::mutex mu;
  std::vector<std::string> errors;  // guarded by mu
  auto fail = [&](std::string what) {
    std::lock_guard<std::mutex> lock(mu);
    if (errors.size() < 10) errors.push_back(std::move(what));
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        const std::string value = ThreadValue(t, i);
        const std::string& mine = own[t][i % kIdsEach];
        Status w = store().Write(mine, value, kLong);
        if (!w.ok()) fail("write own: " + w.ToString());
        Result<SessionRecord> r = store().Read(mine);
        if (!r.ok()) {
          fail("read own: " + r.status().ToString());
        } else if (r->data != value) {
          fail("thread " + std::to_string(t) + " read back another value " +
               "than it just wrote to its own session");
        }
        w = store().Write(shared[i % kIdsEach], value, kLong);
        if (!w.ok()) fail("write shared: " + w.ToString());
        r = store().Read(shared[(i + 1) % kIdsEach]);
        if (!r.ok()) {
          fail("read shared: " + r.status().ToString());
        } else if (!IsWrittenValue(r->data, kThreads, kIters)) {
          fail("a shared session held a value nobody wrote (" +
               std::to_string(r->data.size()) + " bytes)");
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::string& e : errors) ADD_FAILURE() << e;

  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kIdsEach; ++k) {
      Result<SessionRecord> r = store().Read(own[t][k]);
      SK_ASSERT_OK(r);
      // The last iteration i < kIters with i % kIdsEach == k.
      const int last = kIters - kIdsEach + k;
      EXPECT_TRUE(r->data == ThreadValue(t, last))
          << "thread " << t << "'s session " << k
          << " does not hold its last write";
    }
  }
  for (const std::string& id : shared) {
    Result<SessionRecord> r = store().Read(id);
    SK_ASSERT_OK(r);
    EXPECT_TRUE(IsWrittenValue(r->data, kThreads, kIters));
  }
  if (factory().scans) {
    EXPECT_EQ(ScanAll(store(), 7, false, 100).size(),
              static_cast<size_t>(kIdsEach * (kThreads + 1)));
  }
}

// --- Locking ----------------------------------------------------------------

using SteadyClock = std::chrono::steady_clock;

int64_t MsSince(SteadyClock::time_point t) {
  return std::chrono::duration_cast<Ms>(SteadyClock::now() - t).count();
}

TEST_P(StoreConformance, LockOwnerWritesAndUnlocks) {
  const std::string id = NewId();
  const LockRequest a = Request("owner-a");
  SK_LOCK_OR_SKIP(locked, id, a);
  EXPECT_TRUE(locked->acquired());
  EXPECT_FALSE(locked->found) << "a session never written was found";
  EXPECT_EQ(locked->broken_owner, "");
  SK_ASSERT_OK(store().WriteAndUnlock(id, "by owner", kLong, a.owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "by owner");

  // Unlocked: another owner locks at once and reads the data.
  const LockRequest b = Request("owner-b", Duration(0));
  locked = store().LockAndRead(id, b);
  SK_ASSERT_OK(locked);
  EXPECT_TRUE(locked->acquired());
  EXPECT_TRUE(locked->found);
  EXPECT_EQ(locked->record.data, "by owner");
  EXPECT_TRUE(
      ExpiryNear(locked->record.expires_at, Now() + kLong, Now() + kLong));
  SK_EXPECT_OK(store().Unlock(id, b.owner));
}

TEST_P(StoreConformance, NonOwnerWriteAndUnlockIsLockLost) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "original", kLong));
  const LockRequest a = Request("owner-a");
  const LockOwner b{"other-host.invalid|2|owner-b"};
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  EXPECT_TRUE(locked->found);
  EXPECT_EQ(locked->record.data, "original");

  Status w = store().WriteAndUnlock(id, "by intruder", kLong, b);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  Status t = store().TouchAndUnlock(id, Duration(1000), b);
  EXPECT_TRUE(t.IsLockLost()) << t.ToString();
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "original") << "a refused write changed the session";
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + kLong, Now() + kLong))
      << "a refused touch moved the expiry";

  // The refused calls left the lock with its owner.
  Result<LockedRead> other = store().LockAndRead(id, Request("c", Duration(0)));
  SK_ASSERT_OK(other);
  EXPECT_FALSE(other->acquired());

  SK_EXPECT_OK(store().WriteAndUnlock(id, "by owner", kLong, a.owner));
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "by owner");
}

TEST_P(StoreConformance, WriteAndUnlockWithoutAnyLockIsLockLost) {
  const std::string id = NewId();
  SK_LOCK_OR_SKIP(probe, NewId(), Request("probe"));
  Status w = store().WriteAndUnlock(id, "x", kLong, Request("a").owner);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  EXPECT_TRUE(store().Read(id).status().IsNotFound());
}

TEST_P(StoreConformance, LockedSessionStaysReadableAndWritableUnlocked) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "v1", kLong));
  SK_LOCK_OR_SKIP(locked, id, Request("a"));
  ASSERT_TRUE(locked->acquired());
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "v1");
  Result<bool> exists = store().Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_TRUE(*exists);
  SK_EXPECT_OK(store().Unlock(id, Request("a").owner));
}

TEST_P(StoreConformance, RelockBySameOwnerSucceeds) {
  const std::string id = NewId();
  const LockRequest a = Request("a", Duration(0));
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  locked = store().LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  EXPECT_TRUE(locked->acquired());
  SK_EXPECT_OK(store().Unlock(id, a.owner));
}

TEST_P(StoreConformance, SecondOwnerTimesOutWithinItsWait) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "held", kLong));
  SK_LOCK_OR_SKIP(locked, id, Request("a"));
  ASSERT_TRUE(locked->acquired());

  const auto start = SteadyClock::now();
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(300)));
  const int64_t waited = MsSince(start);
  SK_ASSERT_OK(b);
  EXPECT_EQ(b->outcome, LockOutcome::kTimedOut);
  EXPECT_GE(waited, 280) << "gave up before its wait ran out";
  // Far below the 5 s a store that ignored the wait would take; room for
  // a loaded machine under sanitizers.
  EXPECT_LE(waited, 300 + 700) << "waited well past lock wait";

  // A wait of 0 tries once.
  b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_EQ(b->outcome, LockOutcome::kTimedOut);
  SK_EXPECT_OK(store().Unlock(id, Request("a").owner));
}

TEST_P(StoreConformance, UnlockByNonOwnerDoesNothing) {
  const std::string id = NewId();
  SK_LOCK_OR_SKIP(locked, id, Request("a"));
  ASSERT_TRUE(locked->acquired());
  SK_EXPECT_OK(store().Unlock(id, Request("b").owner));
  Result<LockedRead> c = store().LockAndRead(id, Request("c", Duration(0)));
  SK_ASSERT_OK(c);
  EXPECT_FALSE(c->acquired()) << "a non-owner's Unlock released the lock";
  SK_EXPECT_OK(store().Unlock(id, Request("a").owner));
  c = store().LockAndRead(id, Request("c", Duration(0)));
  SK_ASSERT_OK(c);
  EXPECT_TRUE(c->acquired()) << "the owner's Unlock did not release";
  SK_EXPECT_OK(store().Unlock(id, Request("c").owner));
  // Unlocking a session nobody holds is fine.
  SK_EXPECT_OK(store().Unlock(id, Request("c").owner));
}

// A waiter sleeps until the release wakes it, not until its next poll: the
// median of many hand-offs (release to the waiter's acquire) stays far
// below what polling every 50 ms would give (25 ms on average), and a
// median is not moved by a few slow hand-offs on a loaded machine or under
// sanitizers. The holders are of another host with long leases, so nothing
// but the release may end the waiter's sleep.
TEST_P(StoreConformance, WaiterIsWokenAtOnceByRelease) {
  constexpr int kHandOffs = 15;
  std::vector<int64_t> handoff_us;
  for (int i = 0; i < kHandOffs; ++i) {
    const std::string id = NewId();
    const LockRequest a = Request("a" + std::to_string(i));
    SK_LOCK_OR_SKIP(locked, id, a);
    ASSERT_TRUE(locked->acquired());
    const LockRequest b_request = Request("b" + std::to_string(i), Ms(5000));
    Result<LockedRead> b = Status::Internal("not run");
    SteadyClock::time_point acquired_at;
    std::thread waiter([&] {
      b = store().LockAndRead(id, b_request);
      acquired_at = SteadyClock::now();
    });
    std::this_thread::sleep_for(Ms(30));  // the waiter sleeps by now
    const SteadyClock::time_point released_at = SteadyClock::now();
    SK_ASSERT_OK(store().WriteAndUnlock(id, "from a", kLong, a.owner));
    waiter.join();
    SK_ASSERT_OK(b);
    ASSERT_TRUE(b->acquired());
    EXPECT_TRUE(b->found);
    EXPECT_EQ(b->record.data, "from a") << "the waiter read stale data";
    EXPECT_EQ(b->broken_owner, "");
    handoff_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                             acquired_at - released_at)
                             .count());
    SK_EXPECT_OK(store().Unlock(id, b_request.owner));
  }
  std::sort(handoff_us.begin(), handoff_us.end());
  const int64_t median_us = handoff_us[kHandOffs / 2];
  EXPECT_LT(median_us, 10000) << "median hand-off " << median_us / 1000.0
                              << " ms: the waiter was not woken by the release";
}

TEST_P(StoreConformance, TouchAndUnlockReleasesAndMovesExpiry) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "data", Duration(5000)));
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  SK_ASSERT_OK(store().TouchAndUnlock(id, kLong, a.owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "data");
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + kLong, Now() + kLong));
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "TouchAndUnlock kept the lock";

  // A touch of a session that is gone is NotFound and still releases.
  const std::string gone = NewId();
  locked = store().LockAndRead(gone, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  EXPECT_TRUE(store().TouchAndUnlock(gone, kLong, a.owner).IsNotFound());
  b = store().LockAndRead(gone, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired());
}

// A waiter that came while the lock was held and gave up (its wait ran
// out) changes nothing for the holder: its write, touch and release still
// do all they do. (Redis: the waiter's registration ends the holder's
// WATCH, so these go through the release scripts, not MULTI/EXEC.)
TEST_P(StoreConformance, ReleasesAfterAWaiterCameAndWent) {
  const std::string id = NewId();
  SK_LOCK_OR_SKIP(probe, NewId(), Request("probe"));
  SK_ASSERT_OK(store().Write(id, "before", Duration(5000)));
  const LockRequest a = Request("a");
  const LockRequest b = Request("b", Duration(100));
  auto lock_and_wait = [&]() -> ::testing::AssertionResult {
    Result<LockedRead> held = store().LockAndRead(id, a);
    if (!held.ok())
      return ::testing::AssertionFailure() << held.status().ToString();
    if (!held->acquired()) return ::testing::AssertionFailure() << "not held";
    Result<LockedRead> waited = store().LockAndRead(id, b);
    if (!waited.ok())
      return ::testing::AssertionFailure() << waited.status().ToString();
    if (waited->acquired()) {
      return ::testing::AssertionFailure() << "the waiter took a held lock";
    }
    return ::testing::AssertionSuccess();
  };
  auto free_now = [&] {
    Result<LockedRead> c = store().LockAndRead(id, Request("c", Duration(0)));
    const bool acquired = c.ok() && c->acquired();
    if (acquired) (void)store().Unlock(id, Request("c").owner);
    return acquired;
  };

  // TouchAndUnlock: moves the expiry and releases.
  ASSERT_TRUE(lock_and_wait()) << "before the touch";
  SK_ASSERT_OK(store().TouchAndUnlock(id, kLong, a.owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "before");
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + kLong, Now() + kLong))
      << "the touch did not move the expiry";
  EXPECT_TRUE(free_now()) << "the touch did not release the lock";

  // WriteAndUnlock: writes data and expiry, and releases.
  ASSERT_TRUE(lock_and_wait()) << "before the write";
  SK_ASSERT_OK(store().WriteAndUnlock(id, "after", Duration(600000), a.owner));
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "after");
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + Duration(600000),
                         Now() + Duration(600000)));
  EXPECT_TRUE(free_now()) << "the write did not release the lock";

  // Unlock: releases, changes nothing else.
  ASSERT_TRUE(lock_and_wait()) << "before the unlock";
  SK_ASSERT_OK(store().Unlock(id, a.owner));
  EXPECT_TRUE(free_now()) << "Unlock did not release the lock";
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "after");

  // A touch of a session that is gone still releases.
  SK_ASSERT_OK(store().Destroy(id));
  ASSERT_TRUE(lock_and_wait()) << "before the touch of nothing";
  EXPECT_TRUE(store().TouchAndUnlock(id, kLong, a.owner).IsNotFound());
  EXPECT_TRUE(free_now()) << "the touch of nothing did not release the lock";
  EXPECT_TRUE(store().Read(id).status().IsNotFound());
}

TEST_P(StoreConformance, ExpiredLeaseIsTakenOver) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "before", kLong));
  LockRequest a = Request("a");
  a.lease = Duration(300);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(500));

  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired()) << "a lock past its lease was not taken over";
  EXPECT_EQ(b->record.data, "before");
  // The record outlives the lease (kLockRecordRetention): the store knows
  // whom it took the lock from.
  EXPECT_EQ(b->broken_owner, a.owner.token);

  // The old holder comes back: its write is refused and nothing changes.
  Status w = store().WriteAndUnlock(id, "stale", kLong, a.owner);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  SK_ASSERT_OK(store().WriteAndUnlock(id, "after", kLong, Request("b").owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "after");
}

TEST_P(StoreConformance, WaiterTakesOverWhenLeaseRunsOut) {
  const std::string id = NewId();
  LockRequest a = Request("a");
  a.lease = Duration(400);
  // The lease starts somewhere within a's call, which a loaded machine
  // (sanitizers, other tests) may make slow: the takeover is timed from
  // before that call.
  const auto before_a = SteadyClock::now();
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  if (factory().fake_clock) {
    GTEST_SKIP() << "leases follow the factory's fake clock";
  }
  const auto start = SteadyClock::now();
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(3000)));
  const int64_t waited = MsSince(start);
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired());
  EXPECT_EQ(b->broken_owner, a.owner.token);
  EXPECT_GE(MsSince(before_a), 300) << "taken over before the lease ended";
  // Far below the 3 s wait a waiter blind to the lease would sleep out.
  EXPECT_LE(waited, 400 + 1000) << "the waiter slept past the lease";
}

// A request that outlives its lease loses nothing when nobody else wanted
// the session: its write, touch and release still go through.
TEST_P(StoreConformance, EndedLeaseNobodyTookStillWrites) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "before", kLong));
  LockRequest a = Request("a");
  a.lease = Duration(300);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(600));
  SK_ASSERT_OK(store().WriteAndUnlock(id, "late but alone", kLong, a.owner));
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "late but alone");
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "the late write did not release the lock";
  EXPECT_EQ(b->broken_owner, "");
  SK_ASSERT_OK(store().Unlock(id, Request("b").owner));

  // The same for a touch and for a plain release.
  locked = store().LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(600));
  SK_ASSERT_OK(store().TouchAndUnlock(id, Duration(5000), a.owner));
  read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + Duration(5000),
                         Now() + Duration(5000)))
      << "the late touch did not move the expiry";
  locked = store().LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(600));
  SK_ASSERT_OK(store().Unlock(id, a.owner));
  b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired()) << "the late Unlock did not release the lock";
  EXPECT_EQ(b->broken_owner, "") << "an unlocked session had a holder";
  SK_ASSERT_OK(store().Unlock(id, Request("b").owner));
}

// Another owner took the lock over after the lease and released it again:
// the late holder's write would erase what that owner wrote, so it is
// refused although nobody holds the lock now.
TEST_P(StoreConformance, TakenOverAndReleasedRefusesTheOldHolder) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "before", kLong));
  LockRequest a = Request("a");
  a.lease = Duration(300);
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Wait(Duration(600));
  const LockRequest b = Request("b", Duration(0));
  Result<LockedRead> taken = store().LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired()) << "a lock past its lease was not taken";
  EXPECT_EQ(taken->broken_owner, a.owner.token);
  SK_ASSERT_OK(store().WriteAndUnlock(id, "by b", kLong, b.owner));

  Status w = store().WriteAndUnlock(id, "stale from a", kLong, a.owner);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  Status t = store().TouchAndUnlock(id, Duration(1000), a.owner);
  EXPECT_TRUE(t.IsLockLost()) << t.ToString();
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, "by b");
  EXPECT_TRUE(ExpiryNear(read->expires_at, Now() + kLong, Now() + kLong));
}

// A logout (Destroy, by any request: here one without the lock, as a
// request whose wait ran out) ends the lock: the holder's later write and
// touch are refused, so the session does not come back.
TEST_P(StoreConformance, DestroyEndsTheLockOfItsHolder) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "user=alice", kLong));
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  SK_ASSERT_OK(store().Destroy(id));
  Status w = store().WriteAndUnlock(id, "user=alice;cart=1", kLong, a.owner);
  EXPECT_TRUE(w.IsLockLost()) << w.ToString();
  Status t = store().TouchAndUnlock(id, kLong, a.owner);
  EXPECT_TRUE(t.IsLockLost()) << t.ToString();
  SK_EXPECT_OK(store().Unlock(id, a.owner));
  EXPECT_TRUE(store().Read(id).status().IsNotFound())
      << "the destroyed session came back";
  Result<bool> exists = store().Exists(id);
  SK_ASSERT_OK(exists);
  EXPECT_FALSE(*exists);
  // The lock is free for the next request, which finds no session.
  Result<LockedRead> b = store().LockAndRead(id, Request("b", Duration(0)));
  SK_ASSERT_OK(b);
  EXPECT_TRUE(b->acquired());
  EXPECT_FALSE(b->found);
  EXPECT_EQ(b->broken_owner, "");
  SK_EXPECT_OK(store().Unlock(id, Request("b").owner));
}

// A holder that destroys its own session (the logout request itself, or
// session_regenerate_id(true)) ends its lock that way too; a waiter is
// woken at once, not at the end of the lease.
TEST_P(StoreConformance, DestroyWakesWaitersAtOnce) {
  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "user=alice", kLong));
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());
  Result<LockedRead> b = Status::Internal("not run");
  std::atomic<int64_t> acquired_at_us{0};
  std::thread waiter([&] {
    b = store().LockAndRead(id, Request("b", Duration(5000)));
    acquired_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                         SteadyClock::now().time_since_epoch())
                         .count();
  });
  std::this_thread::sleep_for(Ms(200));  // the waiter is waiting by now
  const int64_t destroyed_at_us =
      std::chrono::duration_cast<std::chrono::microseconds>(
          SteadyClock::now().time_since_epoch())
          .count();
  SK_ASSERT_OK(store().Destroy(id));
  waiter.join();
  SK_ASSERT_OK(b);
  ASSERT_TRUE(b->acquired());
  EXPECT_FALSE(b->found) << "the waiter read the destroyed session";
  EXPECT_LT((acquired_at_us - destroyed_at_us) / 1000, 100)
      << "the waiter was not woken by the destroy";
  SK_EXPECT_OK(store().Unlock(id, a.owner));  // already ended: harmless
  EXPECT_TRUE(store().WriteAndUnlock(id, "x", kLong, a.owner).IsLockLost());
  SK_EXPECT_OK(store().WriteAndUnlock(id, "by b", kLong, Request("b").owner));
}

TEST_P(StoreConformance, LockOfAGoneProcessOnThisHostIsTakenAtOnce) {
  // A process that has exited (and been reaped): its pid names nobody.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  LockRequest dead;
  dead.owner.token = std::string(LockOwner::ThisHost()) + "|" +
                     std::to_string(child) + "|dead";
  dead.lease = Duration(60000);
  dead.wait = Duration(0);
  ASSERT_TRUE(LockHolderIsGone(dead.owner.token));

  const std::string id = NewId();
  SK_ASSERT_OK(store().Write(id, "v", kLong));
  SK_LOCK_OR_SKIP(locked, id, dead);
  ASSERT_TRUE(locked->acquired());

  LockRequest b;
  b.owner = LockOwner::Generate();
  b.wait = Duration(5000);
  const auto start = SteadyClock::now();
  Result<LockedRead> taken = store().LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  ASSERT_TRUE(taken->acquired());
  EXPECT_LT(MsSince(start), 1000);
  EXPECT_EQ(taken->broken_owner, dead.owner.token);
  EXPECT_EQ(taken->record.data, "v");
  SK_EXPECT_OK(store().Unlock(id, b.owner));

  // A live process of this host (this one) is waited for, not taken over.
  LockRequest live;
  live.owner = LockOwner::Generate();
  locked = store().LockAndRead(id, live);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  b.wait = Duration(100);
  taken = store().LockAndRead(id, b);
  SK_ASSERT_OK(taken);
  EXPECT_FALSE(taken->acquired());
}

TEST_P(StoreConformance, WaiterCapRefusesAtOnce) {
  const std::string id = NewId();
  const LockRequest a = Request("a");
  SK_LOCK_OR_SKIP(locked, id, a);
  ASSERT_TRUE(locked->acquired());

  constexpr int kCap = 2;
  std::vector<std::thread> waiters;
  std::vector<Result<LockedRead>> got(kCap, Status::Internal("not run"));
  for (int i = 0; i < kCap; ++i) {
    waiters.emplace_back([&, i] {
      LockRequest w = Request("w" + std::to_string(i), Duration(5000));
      w.max_waiters = kCap;
      got[i] = store().LockAndRead(id, w);
      if (got[i].ok() && got[i]->acquired()) {
        std::this_thread::sleep_for(Ms(20));
        (void)store().Unlock(id, w.owner);
      }
    });
  }
  std::this_thread::sleep_for(Ms(300));  // both are waiting by now

  LockRequest extra = Request("extra", Duration(5000));
  extra.max_waiters = kCap;
  const auto start = SteadyClock::now();
  Result<LockedRead> refused = store().LockAndRead(id, extra);
  SK_ASSERT_OK(refused);
  EXPECT_EQ(refused->outcome, LockOutcome::kTooManyWaiters);
  // Refused, not made to wait its 5 s; the bound leaves room for a store
  // that opens a connection for the request (a SQL server's, under ASan).
  EXPECT_LT(MsSince(start), 1000) << "a request over the cap waited";

  SK_ASSERT_OK(store().Unlock(id, a.owner));
  for (auto& t : waiters) t.join();
  for (int i = 0; i < kCap; ++i) {
    SK_ASSERT_OK(got[i]);
    EXPECT_TRUE(got[i]->acquired()) << "waiter " << i;
  }

  // Waiters that left (timed out) no longer count against the cap.
  locked = store().LockAndRead(id, a);
  SK_ASSERT_OK(locked);
  ASSERT_TRUE(locked->acquired());
  LockRequest quick = Request("quick", Duration(100));
  quick.max_waiters = 1;
  for (int i = 0; i < 3; ++i) {
    Result<LockedRead> q = store().LockAndRead(id, quick);
    SK_ASSERT_OK(q);
    EXPECT_EQ(q->outcome, LockOutcome::kTimedOut) << "round " << i;
  }
  SK_EXPECT_OK(store().Unlock(id, a.owner));
}

TEST_P(StoreConformance, LockedIncrementsLoseNoUpdate) {
  const std::string id = NewId();
  SK_LOCK_OR_SKIP(probe, NewId(), Request("probe"));
  constexpr int kThreads = 6;
  constexpr int kIters = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        LockRequest r;
        r.owner = LockOwner::Generate();
        r.wait = Duration(20000);
        r.max_waiters = 0;
        Result<LockedRead> got = store().LockAndRead(id, r);
        if (!got.ok() || !got->acquired()) {
          failures++;
          continue;
        }
        const int n = got->found ? std::stoi(got->record.data) : 0;
        if (!store()
                 .WriteAndUnlock(id, std::to_string(n + 1), kLong, r.owner)
                 .ok()) {
          failures++;
        }
      }
      (void)t;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  Result<SessionRecord> read = store().Read(id);
  SK_ASSERT_OK(read);
  EXPECT_EQ(read->data, std::to_string(kThreads * kIters));
}

TEST_P(StoreConformance, LocksOfDifferentSessionsAreIndependent) {
  const std::string x = NewId();
  const std::string y = NewId();
  SK_LOCK_OR_SKIP(lx, x, Request("a"));
  ASSERT_TRUE(lx->acquired());
  Result<LockedRead> ly = store().LockAndRead(y, Request("b", Duration(0)));
  SK_ASSERT_OK(ly);
  EXPECT_TRUE(ly->acquired());
  SK_EXPECT_OK(store().Unlock(x, Request("a").owner));
  SK_EXPECT_OK(store().Unlock(y, Request("b").owner));
}

}  // namespace
}  // namespace sessionkit::conformance
