// The C ABI of stores written in the caller's language (sk_store_register,
// sk_store_unregister_all): an engine of php://NAME kept in the cache
// across "requests" reaches a registration only while it stands.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "capi/c_api_test_support.h"
#include "sessionkit/c_api.h"
#include "support/map_callbacks.h"

namespace sessionkit::test {
namespace {

using ::testing::HasSubstr;

TEST(CApiStore, ABadNameOrAMissingCallbackIsRefused) {
  MapCallbacks map(nullptr);
  ScopedResult r;
  EXPECT_EQ(sk_store_register("a b", 3, MapCallbacks::Table(), &map, r.get()),
            SK_INVALID_ARGUMENT);
  EXPECT_THAT(r.message(), HasSubstr("expected the name of a registered "
                                     "store after 'php://'"));
  sk_store_callbacks partial = *MapCallbacks::Table();
  partial.add = nullptr;
  EXPECT_EQ(sk_store_register("cart", 4, &partial, &map, r.reset()),
            SK_INVALID_ARGUMENT);
  EXPECT_EQ(r.message(), "php://cart: a callback of the store is missing");
}

TEST(CApiStore, AnEngineOfACachedSavePathSeesOnlyTheRegistrationOfNow) {
  const std::string spec = "php://capi";
  ScopedResult r;
  for (int request = 0; request < 2; ++request) {
    MapCallbacks map(nullptr);  // a request's object
    ASSERT_EQ(
        sk_store_register("capi", 4, MapCallbacks::Table(), &map, r.reset()),
        SK_OK);
    sk_engine* e = sk_engine_get(spec.data(), spec.size(), r.reset());
    ASSERT_NE(e, nullptr) << r.message();
    EXPECT_EQ(sk_write(e, kId.data(), kId.size(), "n|i:1;", 6, 60000, nullptr,
                       r.reset()),
              SK_OK)
        << r.message();
    std::string stored;
    EXPECT_TRUE(map.Peek(std::string(kId), &stored));
    EXPECT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
    EXPECT_EQ(r->found, 1);
    // The request ends: its object goes, the engine stays cached.
    sk_store_unregister_all();
    EXPECT_EQ(sk_read(e, kId.data(), kId.size(), nullptr, r.reset()),
              SK_INVALID_ARGUMENT);
    EXPECT_THAT(r.message(),
                HasSubstr("php://capi: no store registered under this name; "
                          "call sessionkit_register_store() before "
                          "session_start()"));
    sk_engine_release(e);
  }
}

}  // namespace
}  // namespace sessionkit::test
