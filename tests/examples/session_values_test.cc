// The example middleware's session format (PHP's, string values only):
// what it writes reads back, and stored bytes it cannot read are refused,
// never read past their end.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "session_middleware.h"

namespace skexample {
namespace {

TEST(SessionValuesTest, WrittenValuesReadBack) {
  std::map<std::string, std::string> values = {
      {"user", "alice"},
      {"cart:apple", "320"},
      {"empty", ""},
      {"tricky", std::string("a\";b|s:1:\"c\";\n\0z", 16)},
  };
  std::string payload = SerializeValues(values);
  EXPECT_EQ(SerializeValues({{"user", "alice"}}), "user|s:5:\"alice\";");
  auto parsed = ParseValues(payload);
  ASSERT_TRUE(parsed.has_value()) << payload;
  EXPECT_EQ(*parsed, values);
  EXPECT_EQ(ParseValues("")->size(), 0u);
}

TEST(SessionValuesTest, WhatItCannotReadIsRefused) {
  const char* const kPayloads[] = {
      "user",                                  // no '|'
      "user|i:5;",                             // not a string
      "user|s:",                               // no size
      "user|s:x:\"\";",                        // size not a number
      "user|s:6:\"alice\";",                   // size too long
      "user|s:50:\"alice\";",                  // size past the end
      "user|s:4:\"alice\";",                   // size too short
      "user|s:5:\"alice\"",                    // no ';'
      "user|s:5:\"alice\";x",                  // trailing bytes
      "user|s:18446744073709551615:\"\";",     // size near SIZE_MAX
      "user|s:99999999999999999999999:\"\";",  // size overflows
  };
  for (const char* payload : kPayloads) {
    EXPECT_FALSE(ParseValues(payload).has_value()) << payload;
  }
}

}  // namespace
}  // namespace skexample
