// Helpers of the store URL tests (store_url_test.cc, params_test.cc,
// redact_test.cc): parse a URL or spec that must be good or bad.
#ifndef SESSIONKIT_URI_STORE_URL_TEST_UTIL_H_
#define SESSIONKIT_URI_STORE_URL_TEST_UTIL_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/store_url.h"

namespace sessionkit {

// Parses `url`, which must be valid.
inline StoreUrl Good(std::string_view url) {
  Result<StoreUrl> r = ParseStoreUrl(url);
  EXPECT_TRUE(r.ok()) << url << " -> " << r.status().ToString();
  return r.ok() ? *r : StoreUrl{};
}

// Parses `url`, which must be refused as InvalidArgument; returns the message.
inline std::string Bad(std::string_view url) {
  Result<StoreUrl> r = ParseStoreUrl(url);
  EXPECT_FALSE(r.ok()) << url << " was accepted";
  if (r.ok()) return "";
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_FALSE(r.status().message().empty());
  return r.status().message();
}

inline std::vector<StoreUrl> GoodSpec(std::string_view spec) {
  Result<std::vector<StoreUrl>> r = ParseStoreSpec(spec);
  EXPECT_TRUE(r.ok()) << spec << " -> " << r.status().ToString();
  return r.ok() ? *r : std::vector<StoreUrl>{};
}

inline std::string BadSpec(std::string_view spec) {
  Result<std::vector<StoreUrl>> r = ParseStoreSpec(spec);
  EXPECT_FALSE(r.ok()) << spec << " was accepted";
  if (r.ok()) return "";
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  return r.status().message();
}

MATCHER_P2(IsHost, host, port, "") {
  return arg.host == host && arg.port == port;
}

}  // namespace sessionkit

#endif  // SESSIONKIT_URI_STORE_URL_TEST_UTIL_H_
