// The regenerate grace through the C ABI (sk_read_replacing): the old id's
// read hands back the key it followed, and the write, touch and unlock that
// pass it back go to the new session (on an LMDB store).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "capi/c_api_test_support.h"
#include "sessionkit/c_api.h"

namespace sessionkit {
namespace {

using test::CApiTest;
using test::kId;
using test::kOtherId;
using test::ScopedResult;

// What a read returned, as the sk_lock to pass back.
struct Held {
  explicit Held(const sk_result* r)
      : token(r->lock_token, r->lock_token_len),
        key(r->followed_key ? std::string(r->followed_key, r->followed_key_len)
                            : std::string()),
        lock{r->lock_state,
             token.data(),
             token.size(),
             r->version,
             key.empty() ? nullptr : key.data(),
             key.size()} {}
  std::string token;
  std::string key;
  sk_lock lock;
};

TEST_F(CApiTest, AReadOfTheOldIdFollowsToTheNewSessionWithinTheGrace) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "u|s:1:\"a\";", 10, 60000,
                     nullptr, r.get()),
            SK_OK);
  sk_lock_options opts = SK_LOCK_OPTIONS_INIT;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK);
  Held old(r.get());
  ASSERT_EQ(old.lock.state, SK_LOCK_HELD);
  EXPECT_EQ(r->followed_key, nullptr);

  ASSERT_EQ(
      sk_read_replacing(e, kOtherId.data(), kOtherId.size(), &opts, kId.data(),
                        kId.size(), &old.lock, 5000, r.reset()),
      SK_OK)
      << r.message();
  Held fresh(r.get());
  EXPECT_EQ(r.data(), "u|s:1:\"a\";") << "the copy of the old session";
  ASSERT_EQ(sk_write(e, kOtherId.data(), kOtherId.size(), "u|s:1:\"b\";", 10,
                     60000, &fresh.lock, r.reset()),
            SK_OK);

  ASSERT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 1);
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK);
  EXPECT_EQ(r.data(), "u|s:1:\"b\";");
  ASSERT_NE(r->followed_key, nullptr);
  EXPECT_EQ(std::string(r->followed_key, r->followed_key_len), kOtherId);
  Held via_old(r.get());
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "u|s:1:\"c\";", 10, 60000,
                     &via_old.lock, r.reset()),
            SK_OK)
      << r.message();
  ASSERT_EQ(sk_read(e, kOtherId.data(), kOtherId.size(), nullptr, r.reset()),
            SK_OK);
  EXPECT_EQ(r.data(), "u|s:1:\"c\";");

  // Touch and unlock with the key passed back release the new session's
  // lock: the next locking read does not wait for it.
  opts.wait_ms = 0;
  opts.timeout_action = SK_LOCK_TIMEOUT_FAIL;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK);
  Held touch(r.get());
  ASSERT_EQ(sk_touch(e, kId.data(), kId.size(), 60000, &touch.lock, r.reset()),
            SK_OK);
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK)
      << r.message();
  Held unlock(r.get());
  ASSERT_EQ(sk_unlock(e, kId.data(), kId.size(), &unlock.lock, r.reset()),
            SK_OK);
  ASSERT_EQ(sk_read(e, kOtherId.data(), kOtherId.size(), &opts, r.reset()),
            SK_OK)
      << r.message();
  Held last(r.get());
  ASSERT_EQ(
      sk_unlock(e, kOtherId.data(), kOtherId.size(), &last.lock, r.reset()),
      SK_OK);

  // The logout of the old id ends the new session too.
  ASSERT_EQ(sk_destroy(e, kId.data(), kId.size(), r.reset()), SK_OK);
  ASSERT_EQ(sk_exists(e, kOtherId.data(), kOtherId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);
  sk_engine_release(e);
}

// A request holds the new session through the old id; the grace runs out
// before its session_destroy(): sk_destroy_held still ends the session it
// holds, and its lock.
TEST_F(CApiTest, ADestroyWithTheLockEndsTheSessionHeldThroughTheOldId) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "u|i:1;", 6, 60000, nullptr, r.get()),
      SK_OK);
  sk_lock_options opts = SK_LOCK_OPTIONS_INIT;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK);
  Held old(r.get());
  ASSERT_EQ(
      sk_read_replacing(e, kOtherId.data(), kOtherId.size(), &opts, kId.data(),
                        kId.size(), &old.lock, 300, r.reset()),
      SK_OK);
  Held fresh(r.get());
  ASSERT_EQ(sk_write(e, kOtherId.data(), kOtherId.size(), "u|i:2;", 6, 60000,
                     &fresh.lock, r.reset()),
            SK_OK);
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK);
  Held via_old(r.get());
  ASSERT_FALSE(via_old.key.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the grace
  ASSERT_EQ(
      sk_destroy_held(e, kId.data(), kId.size(), &via_old.lock, r.reset()),
      SK_OK)
      << r.message();
  ASSERT_EQ(sk_exists(e, kOtherId.data(), kOtherId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0) << "the session stayed logged in";
  opts.wait_ms = 0;
  opts.timeout_action = SK_LOCK_TIMEOUT_FAIL;
  ASSERT_EQ(sk_read(e, kOtherId.data(), kOtherId.size(), &opts, r.reset()),
            SK_OK)
      << "its lock stayed held: " << r.message();
  Held after(r.get());
  ASSERT_EQ(
      sk_unlock(e, kOtherId.data(), kOtherId.size(), &after.lock, r.reset()),
      SK_OK);
  // Without a lock it is sk_destroy.
  ASSERT_EQ(sk_write(e, kId.data(), kId.size(), "u|i:3;", 6, 60000, nullptr,
                     r.reset()),
            SK_OK);
  ASSERT_EQ(sk_destroy_held(e, kId.data(), kId.size(), nullptr, r.reset()),
            SK_OK);
  ASSERT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);
  sk_engine_release(e);
}

TEST_F(CApiTest, NoGraceDestroysTheOldId) {
  sk_engine* e = Engine();
  ASSERT_NE(e, nullptr);
  ScopedResult r;
  ASSERT_EQ(
      sk_write(e, kId.data(), kId.size(), "u|i:1;", 6, 60000, nullptr, r.get()),
      SK_OK);
  sk_lock_options opts = SK_LOCK_OPTIONS_INIT;
  ASSERT_EQ(sk_read(e, kId.data(), kId.size(), &opts, r.reset()), SK_OK);
  Held old(r.get());
  ASSERT_EQ(sk_read_replacing(e, kOtherId.data(), kOtherId.size(), &opts,
                              kId.data(), kId.size(), &old.lock, 0, r.reset()),
            SK_OK);
  EXPECT_EQ(r->found, 0);
  Held fresh(r.get());
  ASSERT_EQ(
      sk_unlock(e, kOtherId.data(), kOtherId.size(), &fresh.lock, r.reset()),
      SK_OK);
  ASSERT_EQ(sk_exists(e, kId.data(), kId.size(), r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);
  sk_engine_release(e);
}

}  // namespace
}  // namespace sessionkit
