#include "sessionkit/c_api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "capi/c_api_internal.h"
#include "capi/c_api_test_support.h"
#include "sessionkit/engine.h"
#include "sessionkit/lock.h"
#include "sessionkit/store.h"

namespace sessionkit {
namespace {

using test::CApiTest;
using test::kId;
using test::kOtherId;
using test::ScopedResult;

TEST_F(CApiTest, RoundTrip) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;

  // A new session reads as not found, with no data.
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.get()), SK_OK);
  EXPECT_EQ(r->found, 0);
  EXPECT_EQ(r->data_len, 0u);
  EXPECT_EQ(r->log_count, 0u);

  const std::string payload = std::string("count|i:1;bin|s:3:\"a\0b\";", 24);
  EXPECT_EQ(sk_write(e, kId.data(), kId.size(), payload.data(), payload.size(),
                     60000, nullptr, r.reset()),
            SK_OK)
      << r.message();
  EXPECT_EQ(r->message, nullptr);

  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r->found, 1);
  EXPECT_EQ(r.data(), payload);
  ASSERT_NE(r->data, nullptr);
  EXPECT_EQ(r->data[r->data_len], '\0');

  EXPECT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 1);
  EXPECT_EQ(sk_exists(e, kOtherId.data(), kOtherId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);

  EXPECT_EQ(sk_touch(e, kId.data(), kId.size(), 60000, nullptr, r.reset()),
            SK_OK);
  EXPECT_EQ(
      sk_touch(e, kOtherId.data(), kOtherId.size(), 60000, nullptr, r.reset()),
      SK_NOT_FOUND);

  EXPECT_EQ(sk_destroy(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);
  // Destroying a missing session is fine.
  EXPECT_EQ(sk_destroy(e, kId.data(), kId.size(), r.reset()), SK_OK);
}

TEST_F(CApiTest, EmptyPayloadIsFound) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "", 0, 60000, nullptr, r.get()),
            SK_OK);
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r->found, 1);
  EXPECT_EQ(r->data_len, 0u);
}

TEST_F(CApiTest, SameSpecYieldsSameEngine) {
  sk_engine* a = Engine();
  sk_engine* b = Engine();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(EngineOf(a), EngineOf(b));

  std::string other = spec_ + "2";
  ScopedResult r;
  sk_engine* c = sk_engine_get(other.data(), other.size(), r.get());
  ASSERT_NE(c, nullptr) << r.message();
  EXPECT_NE(c, a);
  // Going back to the first spec still finds the first engine.
  EXPECT_EQ(Engine(), a);
}

// A process that sees many save paths (ini_set per request, a test suite)
// keeps at most kMaxCachedEngines engines nobody holds; one a caller holds
// is never closed under it.
TEST_F(CApiTest, EngineCacheIsBoundedAndKeepsHeldEngines) {
  sk_shutdown();
  sk_engine* held = Engine();
  ASSERT_NE(held, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_write(held, kId.data(), kId.size(), "k|i:1;", 6, 60000, nullptr,
                     r.get()),
            SK_OK);
  for (int i = 0; i < 3 * static_cast<int>(kMaxCachedEngines); ++i) {
    std::string spec = spec_ + "-many" + std::to_string(i);
    sk_engine* e = sk_engine_get(spec.data(), spec.size(), r.reset());
    ASSERT_NE(e, nullptr) << r.message();
    ASSERT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
    sk_engine_release(e);
    EXPECT_LE(CachedEngineCount(), kMaxCachedEngines) << "after " << i;
  }
  // The held engine survived the churn and still works.
  EXPECT_EQ(Engine(), held);
  sk_engine_release(held);
  EXPECT_EQ(sk_read(held, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r.data(), "k|i:1;");
  sk_engine_release(held);
  // Released, it is evicted like any other once enough specs come by.
  for (int i = 0; i < static_cast<int>(kMaxCachedEngines) + 1; ++i) {
    std::string spec = spec_ + "-more" + std::to_string(i);
    sk_engine* e = sk_engine_get(spec.data(), spec.size(), r.reset());
    ASSERT_NE(e, nullptr) << r.message();
    sk_engine_release(e);
  }
  EXPECT_EQ(CachedEngineCount(), kMaxCachedEngines);
  EXPECT_FALSE(IsEngineCached(spec_));
  // Engines held beyond the bound are kept, and trimmed once released.
  std::vector<sk_engine*> all;
  for (int i = 0; i < static_cast<int>(kMaxCachedEngines) + 4; ++i) {
    std::string spec = spec_ + "-held" + std::to_string(i);
    all.push_back(sk_engine_get(spec.data(), spec.size(), r.reset()));
    ASSERT_NE(all.back(), nullptr) << r.message();
  }
  EXPECT_EQ(CachedEngineCount(), kMaxCachedEngines + 4);
  for (sk_engine* e : all) {
    ASSERT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
    sk_engine_release(e);
  }
  EXPECT_EQ(CachedEngineCount(), kMaxCachedEngines);
  sk_engine_release(nullptr);  // no-op
  sk_shutdown();
}

TEST_F(CApiTest, ShutdownClosesEnginesAndTheCacheRefills) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "k|i:7;", 6, 60000, nullptr, r.get()),
      SK_OK);
  sk_shutdown();
  sk_shutdown();  // idempotent
  sk_engine* again = Engine();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(Engine(), again);
  EXPECT_EQ(sk_read(again, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r.data(), "k|i:7;");
}

TEST_F(CApiTest, BadSpecIsReportedEveryTime) {
  const std::string bad = "bogus://" + dir_;
  for (int i = 0; i < 2; ++i) {
    ScopedResult r;
    EXPECT_EQ(sk_engine_get(bad.data(), bad.size(), r.get()), nullptr);
    EXPECT_TRUE(r->code == SK_INVALID_ARGUMENT || r->code == SK_NOT_SUPPORTED)
        << sk_code_name(r->code);
    EXPECT_NE(r.message().find("bogus"), std::string::npos) << r.message();
  }
  const std::string bad_param = spec_ + "?no_such_setting=1";
  ScopedResult r;
  EXPECT_EQ(sk_engine_get(bad_param.data(), bad_param.size(), r.get()),
            nullptr);
  EXPECT_EQ(r->code, SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("no_such_setting"), std::string::npos)
      << r.message();
}

// The message of a spec that cannot be opened is what the PHP glue puts in
// its warning: it must never carry a password, whatever broke the parse.
TEST_F(CApiTest, OpenFailureNeverShowsThePassword) {
  for (std::string bad : {
           "redis://:ab/cdSECRET@127.0.0.1:1",
           "redis://user:ab?cdSECRET@127.0.0.1:1/0",
           "redis://:ab|cdSECRET@127.0.0.1:1",
           "lmdb://u:SECRET@/tmp/x",
           "redis://:SECRET@127.0.0.1:1?no_such_setting=1",
           "nosuch://u:SECRET@127.0.0.1",
           "redis+sentinel://:SECRET@127.0.0.1:1",
       }) {
    ScopedResult r;
    EXPECT_EQ(sk_engine_get(bad.data(), bad.size(), r.get()), nullptr) << bad;
    EXPECT_NE(r->code, SK_OK);
    EXPECT_FALSE(r.message().empty()) << bad;
    EXPECT_EQ(r.message().find("SECRET"), std::string::npos) << r.message();
  }
}

TEST_F(CApiTest, BadIdIsRefusedWithoutEchoingIt) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  const std::string long_id(300, 'a');
  const std::string nul_id = std::string("abcdefghijklmnop\0qrstuvwxyz", 27);
  const std::string_view bad_ids[] = {"../x", long_id, "a b", nul_id, ""};
  for (std::string_view id : bad_ids) {
    ScopedResult r;
    EXPECT_EQ(sk_read(e, id.data(), id.size(), nullptr, r.get()),
              SK_INVALID_ARGUMENT);
    EXPECT_NE(r.message().find("session id"), std::string::npos) << r.message();
    EXPECT_EQ(
        sk_write(e, id.data(), id.size(), "x", 1, 60000, nullptr, r.reset()),
        SK_INVALID_ARGUMENT);
    EXPECT_EQ(sk_destroy(e, id.data(), id.size(), r.reset()),
              SK_INVALID_ARGUMENT);
    EXPECT_EQ(sk_validate_id(id.data(), id.size(), r.reset()),
              SK_INVALID_ARGUMENT);
    // Strict mode: a malformed id simply does not exist.
    EXPECT_EQ(sk_exists(e, id.data(), id.size(), r.reset()), SK_OK);
    EXPECT_EQ(r->found, 0);
  }
  ScopedResult r;
  sk_read(e, long_id.data(), long_id.size(), nullptr, r.get());
  EXPECT_NE(r.message().find("300"), std::string::npos) << r.message();
  EXPECT_EQ(r.message().find(long_id.substr(0, 40)), std::string::npos);
  EXPECT_EQ(sk_validate_id(kId.data(), kId.size(), r.reset()), SK_OK);
}

TEST_F(CApiTest, CorruptDataReadsEmptyWithWarningInLog) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  // Bypass the engine's framing: raw bytes that are not a frame.
  ASSERT_TRUE(EngineOf(e)
                  ->store()
                  .Write(kId, "not a frame at all", std::chrono::seconds(60))
                  .ok());
  ScopedResult r;
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.get()), SK_OK);
  EXPECT_EQ(r->found, 0);
  EXPECT_EQ(r->data_len, 0u);
  ASSERT_EQ(r->log_count, 1u);
  EXPECT_EQ(r->log[0].level, SK_LOG_WARNING);
  std::string line = r->log[0].message;
  EXPECT_NE(line.find("empty session"), std::string::npos) << line;
  EXPECT_EQ(line.find(std::string(kId)), std::string::npos) << line;

  // The log belongs to that call only.
  EXPECT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->log_count, 0u);
}

TEST_F(CApiTest, GcRemovesOnlyExpired) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  // The short-lived one last: a write also sweeps expired sessions away
  // (lmdb_records.h), which would leave gc nothing to remove.
  ASSERT_EQ(sk_write(e, kOtherId.data(), kOtherId.size(), "b|i:2;", 6, 60000,
                     nullptr, r.get()),
            SK_OK);
  // 50 ms, not 1: a write transaction stalled for a millisecond on a busy
  // machine would sweep the session it just wrote, leaving gc nothing.
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "a|i:1;", 6, 50, nullptr, r.reset()),
      SK_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(sk_gc(e, r.reset()), SK_OK) << r.message();
  EXPECT_EQ(r->removed, 1u);
  EXPECT_EQ(sk_read(e, kOtherId.data(), kOtherId.size(), nullptr, r.reset()),
            SK_OK);
  EXPECT_EQ(r->found, 1);
  EXPECT_EQ(sk_gc(e, r.reset()), SK_OK);
  EXPECT_EQ(r->removed, 0u);
}

TEST_F(CApiTest, NonPositiveTtlIsRefused) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  EXPECT_EQ(sk_write(e, kId.data(), kId.size(), "x", 1, 0, nullptr, r.get()),
            SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("check session.gc_maxlifetime"), std::string::npos)
      << r.message();
}

bool AllIn(std::string_view s, std::string_view alphabet) {
  return s.find_first_not_of(alphabet) == std::string_view::npos;
}

TEST_F(CApiTest, CreateIdHonoursLengthAndBits) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_create_id(e, 40, 4, r.get()), SK_OK);
  EXPECT_EQ(r->data_len, 40u);
  EXPECT_TRUE(AllIn(r.data(), "0123456789abcdef")) << r.data();
  ASSERT_EQ(sk_create_id(e, 40, 5, r.reset()), SK_OK);
  EXPECT_EQ(r->data_len, 40u);
  EXPECT_TRUE(AllIn(r.data(), "0123456789abcdefghijklmnopqrstuv"));
  ASSERT_EQ(sk_create_id(e, 48, 6, r.reset()), SK_OK);
  EXPECT_EQ(r->data_len, 48u);
  EXPECT_TRUE(AllIn(r.data(),
                    "0123456789abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ,-"));
  // 22 hex characters carry only 88 bits: the length is raised to 32.
  ASSERT_EQ(sk_create_id(e, 22, 4, r.reset()), SK_OK);
  EXPECT_EQ(r->data_len, 32u);
  std::string first = r.data();
  ASSERT_EQ(sk_create_id(e, 22, 4, r.reset()), SK_OK);
  EXPECT_NE(r.data(), first);

  EXPECT_EQ(sk_create_id(e, 32, 7, r.reset()), SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("7"), std::string::npos) << r.message();
  EXPECT_EQ(sk_generate_id(32, 5, r.reset()), SK_OK);
  EXPECT_EQ(r->data_len, 32u);
}

TEST(CApiRedactTest, HidesPasswords) {
  ScopedResult r;
  const std::string spec =
      "redis://user:s3cret@h1:6379/0?timeout=50ms&password=hunter2|"
      "memcached://h2,h3|mysql://app:p%40ss@db/sessions?table=t";
  ASSERT_EQ(sk_redact_spec(spec.data(), spec.size(), r.get()), SK_OK);
  // redis:// has no "password" parameter, so this spec does not parse:
  // everything between "://" and the last '@' is masked.
  EXPECT_EQ(r.data(), "redis://***@db/sessions?table=t");
  const std::string good =
      "redis://user:s3cret@h1:6379/0?timeout=50ms|"
      "memcached://h2,h3|mysql://app:p%40ss@db/sessions?table=t";
  ASSERT_EQ(sk_redact_spec(good.data(), good.size(), r.reset()), SK_OK);
  EXPECT_EQ(r.data(),
            "redis://user:***@h1:6379/0?timeout=50ms|"
            "memcached://h2:11211,h3:11211|mysql://app:***@db:3306/sessions"
            "?table=t");
  const std::string plain = "lmdb:///var/lib/sessionkit?sync=off";
  ASSERT_EQ(sk_redact_spec(plain.data(), plain.size(), r.reset()), SK_OK);
  EXPECT_EQ(r.data(), plain);
  const std::string sentinel = "redis+sentinel://:pw@h1:26379,h2:26379/m";
  ASSERT_EQ(sk_redact_spec(sentinel.data(), sentinel.size(), r.reset()), SK_OK);
  EXPECT_EQ(r.data(), "redis+sentinel://:***@h1:26379,h2:26379/m");
  const std::string commas = "redis://h1,redis://u:pw@h2/1";
  ASSERT_EQ(sk_redact_spec(commas.data(), commas.size(), r.reset()), SK_OK);
  EXPECT_EQ(r.data(), "redis://h1:6379|redis://u:***@h2:6379/1");
}

TEST(CApiResultTest, FreeIsIdempotentAndNullIsRefused) {
  sk_result r = SK_RESULT_INIT;
  sk_result_free(&r);
  sk_result_free(&r);
  sk_result_free(nullptr);
  EXPECT_EQ(sk_validate_id("x", 1, nullptr), SK_INTERNAL);
  EXPECT_EQ(sk_engine_get("lmdb:///tmp/x", 13, nullptr), nullptr);
  EXPECT_EQ(sk_read(nullptr, "x", 1, nullptr, &r), SK_INTERNAL);
  EXPECT_NE(r.message, nullptr);
  sk_result_free(&r);
  EXPECT_EQ(r.message, nullptr);
  EXPECT_STREQ(sk_code_name(SK_NOT_FOUND), "not found");
  EXPECT_STRNE(sk_version(), "");
}

TEST_F(CApiTest, LockedReadHandsBackATokenThatReleases) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "n|i:1;", 6, 60000, nullptr, r.get()),
      SK_OK);
  sk_lock_options opts = {1, 0, 30000, 4, SK_LOCK_TIMEOUT_FAIL};
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK)
      << r.message();
  ASSERT_EQ(r->lock_state, SK_LOCK_HELD);
  ASSERT_NE(r->lock_token, nullptr);
  const std::string token(r->lock_token, r->lock_token_len);
  EXPECT_EQ(r.data(), "n|i:1;");

  // Held: a second request with no wait fails (action fail) ...
  ScopedResult other;
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), &opts, other.get()),
            SK_DEADLINE_EXCEEDED);
  EXPECT_NE(other.message().find("lock_wait_ms"), std::string::npos);
  // ... or reads read-only, and its write is skipped with a warning.
  opts.timeout_action = SK_LOCK_TIMEOUT_READONLY;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, other.reset()), SK_OK);
  EXPECT_EQ(other->lock_state, SK_LOCK_READONLY);
  EXPECT_EQ(other.data(), "n|i:1;");
  EXPECT_EQ(other->lock_token, nullptr);
  // A notice, not a warning: read-only is no error (issue 10, item 6).
  ASSERT_GE(other->log_count, 1u);
  EXPECT_EQ(other->log[0].level, SK_LOG_NOTICE);
  sk_lock readonly = {SK_LOCK_READONLY, nullptr, 0, 0, nullptr, 0};
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "n|i:9;", 6, 60000, &readonly,
                     other.reset()),
            SK_OK);
  ASSERT_GE(other->log_count, 1u);
  EXPECT_NE(std::string(other->log[0].message).find("not saved"),
            std::string::npos);

  // A token that is not the holder's loses; the holder's write releases.
  const std::string wrong = token + "x";
  sk_lock stranger = {SK_LOCK_HELD, wrong.data(), wrong.size(), 0, nullptr, 0};
  EXPECT_EQ(sk_write(e, kId.data(), kId.size(), "n|i:7;", 6, 60000, &stranger,
                     r.reset()),
            SK_LOCK_LOST);
  sk_lock mine = {SK_LOCK_HELD, token.data(), token.size(), 0, nullptr, 0};
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "n|i:2;", 6, 60000, &mine, r.reset()),
      SK_OK)
      << r.message();
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK);
  EXPECT_EQ(r->lock_state, SK_LOCK_HELD);
  EXPECT_EQ(r.data(), "n|i:2;");
  const std::string second(r->lock_token, r->lock_token_len);
  EXPECT_NE(second, token);
  sk_lock held = {SK_LOCK_HELD, second.data(), second.size(), 0, nullptr, 0};
  EXPECT_EQ(sk_unlock(e, kId.data(), kId.size(), &held, r.reset()), SK_OK);
  opts.timeout_action = SK_LOCK_TIMEOUT_FAIL;
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK)
      << "sk_unlock did not release";
  EXPECT_EQ(r->lock_state, SK_LOCK_HELD);
  const std::string third(r->lock_token, r->lock_token_len);
  sk_lock last = {SK_LOCK_HELD, third.data(), third.size(), 0, nullptr, 0};
  EXPECT_EQ(sk_unlock(e, kId.data(), kId.size(), &last, r.reset()), SK_OK);
}

// The lifetimes of sk_write and sk_touch are milliseconds, with and
// without a lock: read back from the store.
TEST_F(CApiTest, WriteAndTouchTakeMilliseconds) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  Store& store = EngineOf(e)->store();
  auto expires_in = [&](std::string_view id) -> int64_t {
    auto record = store.Read(id);
    if (!record.ok()) return -1;
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               record->expires_at - Clock::now())
        .count();
  };
  ScopedResult r;
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "a|i:1;", 6, 90000, nullptr, r.get()),
      SK_OK);
  EXPECT_NEAR(expires_in(kId), 90000, 2000) << "sk_write's ttl_ms";
  ASSERT_EQ(sk_touch(e, kId.data(), kId.size(), 30000, nullptr, r.reset()),
            SK_OK);
  EXPECT_NEAR(expires_in(kId), 30000, 2000) << "sk_touch's ttl_ms";

  // The same under the lock, which each call releases.
  sk_lock_options opts = {1, 0, 30000, 0, SK_LOCK_TIMEOUT_FAIL};
  for (int64_t ttl : {int64_t{150000}, int64_t{45000}}) {
    ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK)
        << r.message();
    ASSERT_EQ(r->lock_state, SK_LOCK_HELD);
    const std::string token(r->lock_token, r->lock_token_len);
    sk_lock held = {SK_LOCK_HELD, token.data(), token.size(), 0, nullptr, 0};
    if (ttl == 150000) {
      ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "a|i:2;", 6, ttl, &held,
                         r.reset()),
                SK_OK)
          << r.message();
    } else {
      ASSERT_EQ(sk_touch(e, kId.data(), kId.size(), ttl, &held, r.reset()),
                SK_OK)
          << r.message();
    }
    EXPECT_NEAR(expires_in(kId), ttl, 2000);
  }
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK)
      << "the locked touch did not release";
  EXPECT_EQ(r.data(), "a|i:2;");
  const std::string token(r->lock_token, r->lock_token_len);
  sk_lock held = {SK_LOCK_HELD, token.data(), token.size(), 0, nullptr, 0};
  EXPECT_EQ(sk_unlock(e, kId.data(), kId.size(), &held, r.reset()), SK_OK);
}

// Every field of sk_lock_options reaches the lock, and each message names
// the PHP ini entry of the setting it is about.
TEST_F(CApiTest, LockOptionsReachTheLockAndMessagesNameTheIniEntries) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "n|i:1;", 6, 60000, nullptr, r.get()),
      SK_OK);
  // Held for 30 s by a first request.
  const sk_lock_options hold = {1, 0, 30000, 0, SK_LOCK_TIMEOUT_FAIL};
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &hold, r.reset()), SK_OK);
  ASSERT_EQ(r->lock_state, SK_LOCK_HELD);
  const std::string token(r->lock_token, r->lock_token_len);

  // wait_ms: a second request waits that long, then fails (action fail).
  const sk_lock_options wait = {1, 300, 30000, 0, SK_LOCK_TIMEOUT_FAIL};
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), &wait, r.reset()),
            SK_DEADLINE_EXCEEDED);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(280));
  EXPECT_LT(waited, std::chrono::milliseconds(3000));
  EXPECT_NE(r.message().find("(sessionkit.lock_wait_ms = 300 ms)"),
            std::string::npos)
      << r.message();

  // timeout_action readonly: read without the lock, a notice naming it.
  const sk_lock_options readonly = {1, 0, 30000, 0, SK_LOCK_TIMEOUT_READONLY};
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &readonly, r.reset()), SK_OK);
  EXPECT_EQ(r->lock_state, SK_LOCK_READONLY);
  ASSERT_EQ(r->log_count, 1u);
  EXPECT_EQ(r->log[0].level, SK_LOG_NOTICE);
  EXPECT_NE(std::string(r->log[0].message)
                .find("(sessionkit.lock_timeout_action = readonly)"),
            std::string::npos)
      << r->log[0].message;

  // max_waiters: with one request waiting, a second one over the cap of 1
  // is refused at once.
  const sk_lock_options capped = {1, 5000, 30000, 1, SK_LOCK_TIMEOUT_FAIL};
  sk_code first = SK_INTERNAL;
  std::string first_token;
  std::thread waiter([&] {
    ScopedResult w;
    first = sk_read(e, kId.data(), kId.size(), &capped, w.get());
    if (w->lock_token != nullptr) {
      first_token.assign(w->lock_token, w->lock_token_len);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), &capped, r.reset()),
            SK_RESOURCE_EXHAUSTED);
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(1000));
  EXPECT_NE(r.message().find("1 request already waits for its lock "
                             "(sessionkit.lock_max_waiters)"),
            std::string::npos)
      << r.message();
  sk_lock held = {SK_LOCK_HELD, token.data(), token.size(), 0, nullptr, 0};
  EXPECT_EQ(sk_unlock(e, kId.data(), kId.size(), &held, r.reset()), SK_OK);
  waiter.join();
  ASSERT_EQ(first, SK_OK) << "the waiter within the cap did not get the lock";
  ASSERT_FALSE(first_token.empty());
  held = {SK_LOCK_HELD, first_token.data(), first_token.size(), 0, nullptr, 0};
  EXPECT_EQ(sk_unlock(e, kId.data(), kId.size(), &held, r.reset()), SK_OK);

  // lease_ms: a lock of 200 ms is taken over once it ran out, with a
  // notice naming the setting.
  const sk_lock_options brief = {1, 0, 200, 0, SK_LOCK_TIMEOUT_FAIL};
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &brief, r.reset()), SK_OK);
  ASSERT_EQ(r->lock_state, SK_LOCK_HELD);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &hold, r.reset()), SK_OK)
      << "a lock past its lease_ms was not taken over: " << r.message();
  ASSERT_EQ(r->lock_state, SK_LOCK_HELD);
  ASSERT_EQ(r->log_count, 1u);
  EXPECT_NE(std::string(r->log[0].message)
                .find("its lease of sessionkit.lock_lease_ms ran out"),
            std::string::npos)
      << r->log[0].message;
  const std::string last(r->lock_token, r->lock_token_len);
  held = {SK_LOCK_HELD, last.data(), last.size(), 0, nullptr, 0};
  EXPECT_EQ(sk_unlock(e, kId.data(), kId.size(), &held, r.reset()), SK_OK);
}

// C (and so PHP's ini defaults) cannot include lock.h: its macros must say
// what LockLimits says.
TEST(CApiLockDefaultsTest, AreTheLockLimitsDefaults) {
  const LockLimits limits;
  EXPECT_EQ(SK_LOCK_DEFAULT_WAIT_MS, limits.wait.count());
  EXPECT_EQ(SK_LOCK_DEFAULT_LEASE_MS, limits.lease.count());
  EXPECT_EQ(static_cast<uint32_t>(SK_LOCK_DEFAULT_MAX_WAITERS),
            limits.max_waiters);
  const sk_lock_options init = SK_LOCK_OPTIONS_INIT;
  const LockOptions options;
  EXPECT_EQ(init.enabled != 0, options.enabled);
  EXPECT_EQ(init.wait_ms, options.wait.count());
  EXPECT_EQ(init.lease_ms, options.lease.count());
  EXPECT_EQ(init.max_waiters, options.max_waiters);
  EXPECT_EQ(init.timeout_action == SK_LOCK_TIMEOUT_FAIL,
            options.timeout_action == LockTimeoutAction::kFail);
}

TEST_F(CApiTest, DefaultLockOptionsLockAndRelease) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  const sk_lock_options defaults = SK_LOCK_OPTIONS_INIT;
  ScopedResult r;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &defaults, r.get()), SK_OK)
      << r.message();
  ASSERT_EQ(r->lock_state, SK_LOCK_HELD);
  const std::string token(r->lock_token, r->lock_token_len);
  sk_lock held = {SK_LOCK_HELD, token.data(), token.size(), 0, nullptr, 0};
  EXPECT_EQ(sk_unlock(e, kId.data(), kId.size(), &held, r.reset()), SK_OK);
}

TEST_F(CApiTest, BadLockOptionsAreRefused) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  sk_lock_options negative_wait = {1, -1, 30000, 0, SK_LOCK_TIMEOUT_FAIL};
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), &negative_wait, r.get()),
            SK_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("lock_wait_ms"), std::string::npos);
  sk_lock_options no_lease = {1, 10, 0, 0, SK_LOCK_TIMEOUT_FAIL};
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), &no_lease, r.reset()),
            SK_INVALID_ARGUMENT);
  // Locking off: a plain read, no token.
  sk_lock_options off = {0, -1, 0, 0, SK_LOCK_TIMEOUT_FAIL};
  EXPECT_EQ(sk_read(e, kId.data(), kId.size(), &off, r.reset()), SK_OK);
  EXPECT_EQ(r->lock_state, SK_LOCK_NONE);
}

}  // namespace
}  // namespace sessionkit
