#include "sessionkit/status.h"

#include <gtest/gtest.h>

#include <string>

namespace sessionkit {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, CodesAreDistinctAndNamed) {
  EXPECT_TRUE(Status::NotFound("x").IsNotFound());
  EXPECT_TRUE(Status::Unavailable("x").IsUnavailable());
  EXPECT_TRUE(Status::LockLost("x").IsLockLost());
  EXPECT_TRUE(Status::Corrupt("x").IsCorrupt());
  EXPECT_TRUE(Status::InvalidArgument("x").IsInvalidArgument());
  EXPECT_TRUE(Status::NotSupported("x").IsNotSupported());
  EXPECT_TRUE(Status::ResourceExhausted("x").IsResourceExhausted());
  EXPECT_FALSE(Status::NotFound("x").IsUnavailable());
  EXPECT_EQ(Status::Unavailable("redis down").ToString(),
            "unavailable: redis down");
  EXPECT_EQ(Status::Corrupt("bad").ToString(), "corrupt data: bad");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = Status::NotFound("no such session").WithContext("lmdb:///x");
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.message(), "lmdb:///x: no such session");
  EXPECT_TRUE(Status::OK().WithContext("ctx").ok());
}

Result<int> Half(int v) {
  if (v % 2 != 0) return Status::InvalidArgument("odd");
  return v / 2;
}

Status UsesReturnIfError(int v, int* out) {
  auto r = Half(v);
  SK_RETURN_IF_ERROR(r.status());
  *out = *r;
  return Status::OK();
}

TEST(ResultTest, HoldsValueOrStatus) {
  auto ok = Half(4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  EXPECT_TRUE(ok.status().ok());
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(ResultTest, ReturnIfErrorPropagates) {
  int out = 0;
  EXPECT_TRUE(UsesReturnIfError(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_TRUE(UsesReturnIfError(7, &out).IsInvalidArgument());
}

TEST(ResultTest, MovesValueOut) {
  Result<std::string> r(std::string(1000, 'x'));
  std::string v = std::move(r).value();
  EXPECT_EQ(v.size(), 1000u);
}

}  // namespace
}  // namespace sessionkit
