// GoogleTest assertions for sessionkit::Status and Result<T>: on failure they
// print the code and message of the error, not just "false".
//
//   SK_ASSERT_OK(store->Write(id, "x", ttl));
//   SK_EXPECT_OK(store->Read(id));
#ifndef SESSIONKIT_TESTS_SUPPORT_TEST_STATUS_H_
#define SESSIONKIT_TESTS_SUPPORT_TEST_STATUS_H_

#include <gtest/gtest.h>

#include "sessionkit/status.h"

namespace sessionkit::test {

inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) {
  return result.status();
}

// Predicate formatter behind SK_ASSERT_OK / SK_EXPECT_OK.
template <typename T>
::testing::AssertionResult IsOk(const char* text, const T& status_or_result) {
  const Status& status = StatusOf(status_or_result);
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << text << " failed: " << status.ToString();
}

}  // namespace sessionkit::test

#define SK_ASSERT_OK(expr) ASSERT_PRED_FORMAT1(::sessionkit::test::IsOk, expr)
#define SK_EXPECT_OK(expr) EXPECT_PRED_FORMAT1(::sessionkit::test::IsOk, expr)

#endif  // SESSIONKIT_TESTS_SUPPORT_TEST_STATUS_H_
