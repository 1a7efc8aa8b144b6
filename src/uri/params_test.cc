// Reading parameter values (StoreUrl's readers) and the value syntaxes
// (ParseSize, ParseDuration, ParseBool).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "sessionkit/store_url.h"
#include "uri/store_url_test_util.h"

namespace sessionkit {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::HasSubstr;

// ---------------------------------------------------------------- getters

TEST(StoreUrlGetters, FallbackUnknownNameAndWrongType) {
  StoreUrl u = Good("lmdb:///x?sync=full");
  EXPECT_EQ(u.SizeParam("map_size", 1ull << 30).value(), 1ull << 30);
  EXPECT_EQ(u.IntParam("max_readers", 512).value(), 512);
  EXPECT_EQ(u.IntParam("mode", 0600).value(), 0600);
  EXPECT_FALSE(u.Param("map_size").has_value());
  EXPECT_EQ(u.Param("sync"), "full");

  Result<uint64_t> unknown = u.SizeParam("mapsize", 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(unknown.status().IsInvalidArgument());
  EXPECT_THAT(unknown.status().message(),
              AllOf(HasSubstr("'mapsize'"), HasSubstr("lmdb")));
  // A name defined for another scheme is still unknown here.
  EXPECT_FALSE(u.DurationParam("timeout", milliseconds(1)).ok());
  EXPECT_FALSE(u.BoolParam("tls_insecure", false).ok());
  // Given, but not in the syntax asked for.
  Result<bool> wrong =
      Good("lmdb:///x?map_size=1GiB").BoolParam("map_size", false);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(),
              AllOf(HasSubstr("map_size=1GiB"), HasSubstr("1/0, true/false")));
  EXPECT_FALSE(u.IntParam("sync", 0).ok());

  StoreUrl r = Good("rediss://h");
  EXPECT_TRUE(r.BoolParam("tls_insecure", true).value());
  EXPECT_FALSE(r.BoolParam("tls_insecure", false).value());
  EXPECT_EQ(r.DurationParam("connect_timeout", milliseconds(100)).value(),
            milliseconds(100));
}

TEST(StoreUrlGetters, HandBuiltValuesAreCheckedToo) {
  StoreUrl u;
  u.scheme = "lmdb";
  u.path = "/x";
  u.params = {{"map_size", "lots"}};
  Result<uint64_t> size = u.SizeParam("map_size", 1);
  ASSERT_FALSE(size.ok());
  EXPECT_THAT(size.status().message(), HasSubstr("map_size=lots"));

  StoreUrl odd;
  odd.scheme = "ftp";
  EXPECT_TRUE(odd.IntParam("x", 0).status().IsInvalidArgument());
  // Unknown parameters of a hand-built URL are not shown by Redacted().
  StoreUrl hand;
  hand.scheme = "redis";
  hand.hosts = {{"h", 1}};
  hand.params = {{"token", "t0ps3cret"}};
  EXPECT_EQ(hand.Redacted(), "redis://h:1?token=***");
}

TEST(StoreUrlGetters, ModePathChoiceAndLargeNumbers) {
  StoreUrl r = Good("rediss://h?tls_ca=/etc/ca.pem&tls_cert=%01x");
  EXPECT_EQ(r.PathParam("tls_ca", "").value(), "/etc/ca.pem");
  EXPECT_EQ(r.PathParam("tls_key", "/k.pem").value(), "/k.pem");
  EXPECT_THAT(r.PathParam("tls_cert", "").status().message(),
              HasSubstr("tls_cert=\\x01x: expected a file path"));

  constexpr std::string_view kWords[] = {"off", "meta", "full"};
  StoreUrl l = Good("lmdb:///x?sync=meta&mode=640");
  EXPECT_EQ(l.ChoiceParam("sync", kWords, 0).value(), 1u);
  EXPECT_EQ(Good("lmdb:///x").ChoiceParam("sync", kWords, 2).value(), 2u);
  EXPECT_THAT(Good("lmdb:///x?sync=no")
                  .ChoiceParam("sync", kWords, 0)
                  .status()
                  .message(),
              HasSubstr("sync=no: expected one of off, meta, full"));
  EXPECT_EQ(l.ModeParam("mode", 0).value(), 0640u);
  EXPECT_EQ(Good("lmdb:///x").ModeParam("mode", 0600).value(), 0600u);
  EXPECT_THAT(Good("lmdb:///x?max_readers=9223372036854775808")
                  .IntParam("max_readers", 0)
                  .status()
                  .message(),
              HasSubstr("max_readers=9223372036854775808: too large"));
}

}  // namespace
}  // namespace sessionkit
