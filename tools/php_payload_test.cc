#include "php_payload.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sessionkit::cli {
namespace {

using ::testing::HasSubstr;
using Type = PhpValue::Type;

// What PHP 8.2's session_encode() writes for
//   $_SESSION = ['user' => 'alice',
//                'cart' => ['tea' => ['name' => 'Green tea', 'qty' => 2]],
//                'visits' => 17];
constexpr char kPhpPayload[] =
    "user|s:5:\"alice\";cart|a:1:{s:3:\"tea\";a:2:{s:4:\"name\";s:9:\"Green "
    "tea\";s:3:\"qty\";i:2;}}visits|i:17;";
constexpr char kPhpSerializePayload[] =
    "a:3:{s:4:\"user\";s:5:\"alice\";s:4:\"cart\";a:1:{s:3:\"tea\";a:2:{s:4:"
    "\"name\";s:9:\"Green tea\";s:3:\"qty\";i:2;}}s:6:\"visits\";i:17;}";
constexpr char kExpectedTree[] =
    "user: \"alice\"\n"
    "cart: array(1)\n"
    "  tea: array(2)\n"
    "    name: \"Green tea\"\n"
    "    qty: 2\n"
    "visits: 17\n";

std::string FormatOrError(std::string_view payload) {
  auto session = ParsePhpSessionAnyFormat(payload);
  if (!session.ok()) return "error: " + session.status().message();
  return FormatPhpSession(*session);
}

// A string literal with embedded NULs.
template <size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// Wraps a serialized value as the session variable "v" (php format).
std::string Var(const std::string& serialized) { return "v|" + serialized; }

TEST(PhpPayloadTest, ParsesPhpFormat) {
  auto session = ParsePhpSession(kPhpPayload, PhpSessionFormat::kPhp);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  ASSERT_EQ(session->vars.size(), 3u);
  EXPECT_EQ(session->vars[0].key.text, "user");
  EXPECT_EQ(session->vars[0].value.type, Type::kString);
  EXPECT_EQ(session->vars[0].value.text, "alice");
  EXPECT_EQ(session->vars[1].value.type, Type::kArray);
  ASSERT_EQ(session->vars[1].value.entries.size(), 1u);
  EXPECT_EQ(session->vars[1].value.entries[0].value.entries[1].value.int_value,
            2);
  EXPECT_EQ(session->vars[2].value.int_value, 17);
  EXPECT_EQ(FormatPhpSession(*session), kExpectedTree);
}

TEST(PhpPayloadTest, ParsesPhpSerializeFormat) {
  EXPECT_FALSE(
      ParsePhpSession(kPhpSerializePayload, PhpSessionFormat::kPhp).ok());
  auto session = ParsePhpSessionAnyFormat(kPhpSerializePayload);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ(session->format, PhpSessionFormat::kPhpSerialize);
  EXPECT_EQ(FormatPhpSession(*session), kExpectedTree);
}

TEST(PhpPayloadTest, PhpFormatWinsWhenBothParse) {
  auto session = ParsePhpSessionAnyFormat("a|i:1;");
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->format, PhpSessionFormat::kPhp);
}

TEST(PhpPayloadTest, EmptyPayloadIsAnEmptySession) {
  auto session = ParsePhpSessionAnyFormat("");
  ASSERT_TRUE(session.ok());
  EXPECT_TRUE(session->vars.empty());
  EXPECT_EQ(FormatPhpSession(*session), "(empty session)\n");
  EXPECT_EQ(FormatOrError("a:0:{}"), "(empty session)\n");
}

TEST(PhpPayloadTest, Scalars) {
  EXPECT_EQ(FormatOrError("n|N;t|b:1;f|b:0;i|i:-42;p|i:+7;"),
            "n: null\nt: true\nf: false\ni: -42\np: 7\n");
  EXPECT_EQ(FormatOrError(Var("i:9223372036854775807;")),
            "v: 9223372036854775807\n");
  EXPECT_EQ(FormatOrError(Var("i:-9223372036854775808;")),
            "v: -9223372036854775808\n");
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("i:9223372036854775808;")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("i:99999999999999999999;")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("i:;")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("b:2;")).ok());
}

TEST(PhpPayloadTest, FloatsAsPhpWritesThem) {
  // serialize([1.5, -0.0, INF, -INF, NAN, 1e100, 0.1]) in PHP 8.2.
  EXPECT_EQ(FormatOrError(Var("a:7:{i:0;d:1.5;i:1;d:-0;i:2;d:INF;i:3;d:-INF;"
                              "i:4;d:NAN;i:5;d:1.0E+100;i:6;d:0.1;}")),
            "v: array(7)\n  0: 1.5\n  1: -0\n  2: INF\n  3: -INF\n  4: NAN\n"
            "  5: 1.0E+100\n  6: 0.1\n");
  EXPECT_TRUE(ParsePhpSessionAnyFormat(Var("d:.5;")).ok());
  EXPECT_TRUE(ParsePhpSessionAnyFormat(Var("d:5.;")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("d:1e;")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("d:.;")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("d:1x;")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("d:1.5")).ok());
}

TEST(PhpPayloadTest, StringsAreByteCountedAndEscaped) {
  // The length counts bytes, and the string may contain '|', ';' and '"'.
  EXPECT_EQ(FormatOrError(Var("s:5:\"a|\";b\";")), "v: \"a|\\\";b\"\n");
  EXPECT_EQ(FormatOrError(Bytes("v|s:2:\"\x00\x01\";")), "v: \"\\x00\\x01\"\n");
  EXPECT_EQ(FormatOrError(Var("s:5:\"caf\xc3\xa9\";")), "v: \"caf\xc3\xa9\"\n");
  EXPECT_EQ(FormatOrError(Var("S:3:\"\\61bc\";")), "v: \"abc\"\n");
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("S:3:\"\\6xbc\";")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("s:9:\"abc\";")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("s:3:\"abcd\";")).ok());
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("s:3:\"abc\"")).ok());
}

TEST(PhpPayloadTest, KeysThatAreNotWordsAreQuoted) {
  EXPECT_EQ(
      FormatOrError(Var("a:4:{i:3;N;s:0:\"\";N;s:3:\"a b\";N;s:3:\"a-1\";N;}")),
      "v: array(4)\n  3: null\n  \"\": null\n  \"a b\": null\n"
      "  a-1: null\n");
  // A digit-only session variable name must not look like an int key.
  EXPECT_EQ(FormatOrError("12|i:1;"), "\"12\": 1\n");
  // Control characters in names are escaped.
  EXPECT_EQ(FormatOrError("a\x1b[2J|i:1;"), "\"a\\x1b[2J\": 1\n");
}

TEST(PhpPayloadTest, ObjectsWithVisibility) {
  // serialize(new User) where User has public $name, protected $role and
  // private $secret, as written by PHP 8.2.
  static constexpr char kUser[] =
      "O:4:\"User\":3:{s:4:\"name\";s:3:\"bob\";s:7:\"\0*\0role\";s:5:"
      "\"admin\";s:12:\"\0User\0secret\";s:1:\"x\";}";
  const std::string user = Bytes(kUser);
  EXPECT_EQ(FormatOrError(Var(user)),
            "v: object(User) (3)\n  name: \"bob\"\n  role (protected): "
            "\"admin\"\n  secret (private User): \"x\"\n");
}

TEST(PhpPayloadTest, NamespacedClassNamesKeepTheirBackslashes) {
  EXPECT_EQ(FormatOrError(Var("O:11:\"App\\Profile\":1:{s:4:\"path\";s:3:"
                              "\"a\\b\";}")),
            "v: object(App\\Profile) (1)\n  path: \"a\\\\b\"\n");
  EXPECT_EQ(FormatOrError(Var("E:15:\"App\\Suit:Hearts\";")),
            "v: enum App\\Suit::Hearts\n");
}

TEST(PhpPayloadTest, CustomObjectsEnumsAndReferences) {
  EXPECT_EQ(FormatOrError(Var("C:11:\"ArrayObject\":5:{x:i:0}")),
            "v: object(ArrayObject) custom \"x:i:0\"\n");
  EXPECT_EQ(FormatOrError(Var("E:11:\"Suit:Hearts\";")),
            "v: enum Suit::Hearts\n");
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("E:6:\"Hearts\";")).ok());
  // $a = [1]; $a[] = &$a[0];  and  [$o, $o]
  EXPECT_EQ(FormatOrError(Var("a:2:{i:0;i:1;i:1;R:2;}")),
            "v: array(2)\n  0: 1\n  1: &ref(2)\n");
  EXPECT_EQ(FormatOrError(Var("a:2:{i:0;O:8:\"stdClass\":0:{}i:1;r:2;}")),
            "v: array(2)\n  0: object(stdClass) (0)\n  1: ref(2)\n");
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var("r:0;")).ok());
}

TEST(PhpPayloadTest, RejectsMalformedInput) {
  const char* bad[] = {
      "user",                               // no '|'
      "user|",                              // no value
      "user|x:1;",                          // unknown type
      "user|s:5:\"alice\";tail",            // trailing name without '|'
      "a:1:{i:0;i:1;",                      // unterminated array
      "a:1:{i:0;i:1;}junk",                 // bytes after the array
      "a:1:{d:1.5;i:1;}",                   // float key
      "v|a:1:{a:0:{}i:1;}",                 // array key
      "v|a:2:{i:0;i:1;}",                   // fewer elements than claimed
      "v|O:4:\"User\":1:{i:0;}",            // missing value
      "v|C:3:\"Foo\":10:{ab}",              // custom data past the end
      "v|s:18446744073709551615:\"\";",     // length past the end
      "v|s:99999999999999999999999:\"\";",  // length overflow
  };
  for (const char* payload : bad) {
    auto result = ParsePhpSessionAnyFormat(payload);
    EXPECT_FALSE(result.ok()) << payload;
    if (!result.ok()) {
      EXPECT_TRUE(result.status().IsInvalidArgument());
      EXPECT_THAT(result.status().message(), HasSubstr("at byte "));
    }
  }
}

TEST(PhpPayloadTest, ErrorsNameTheOffset) {
  auto result =
      ParsePhpSession("user|s:5:\"alice\";x|q:1;", PhpSessionFormat::kPhp);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "at byte 19: unknown value type 'q'");
}

TEST(PhpPayloadTest, HugeElementCountIsRefusedBeforeAllocating) {
  auto result = ParsePhpSessionAnyFormat("v|a:4000000000:{i:0;N;}");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("cannot fit"));
}

std::string Nested(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "a:1:{i:0;";
  s += "N;";
  for (int i = 0; i < depth; ++i) s += "}";
  return s;
}

TEST(PhpPayloadTest, DepthIsBounded) {
  PhpParseLimits limits;
  limits.max_depth = 8;
  EXPECT_TRUE(
      ParsePhpSession(Var(Nested(8)), PhpSessionFormat::kPhp, limits).ok());
  auto deep = ParsePhpSession(Var(Nested(9)), PhpSessionFormat::kPhp, limits);
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(deep.status().message(), HasSubstr("nested deeper than 8"));
  // The default bound holds against input that would overflow the stack.
  EXPECT_FALSE(ParsePhpSessionAnyFormat(Var(Nested(100000))).ok());
  EXPECT_TRUE(ParsePhpSessionAnyFormat(Var(Nested(60))).ok());
}

TEST(PhpPayloadTest, ValueCountIsBounded) {
  PhpParseLimits limits;
  limits.max_values = 7;  // v's array, then 3 keys and 3 values
  std::string three = Var("a:3:{i:0;N;i:1;N;i:2;N;}");
  EXPECT_TRUE(ParsePhpSession(three, PhpSessionFormat::kPhp, limits).ok());
  limits.max_values = 6;
  auto result = ParsePhpSession(three, PhpSessionFormat::kPhp, limits);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("more than 6 values"));
}

TEST(EscapeBytesTest, KeepsTextAndEscapesTheRest) {
  EXPECT_EQ(EscapeBytes("plain text 123"), "plain text 123");
  EXPECT_EQ(EscapeBytes("a\\b\"c"), "a\\\\b\"c");
  EXPECT_EQ(EscapeBytes("a\\b\"c", /*escape_quotes=*/true), "a\\\\b\\\"c");
  EXPECT_EQ(EscapeBytes(Bytes("\0\n\t\x7f")), "\\x00\\x0a\\x09\\x7f");
  EXPECT_EQ(EscapeBytes("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(EscapeBytesTest, EscapesInvalidAndDeceptiveUtf8) {
  EXPECT_EQ(EscapeBytes("\xff"), "\\xff");
  EXPECT_EQ(EscapeBytes("\xc0\x80"), "\\xc0\\x80");           // overlong NUL
  EXPECT_EQ(EscapeBytes("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");  // overlong
  EXPECT_EQ(EscapeBytes("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(EscapeBytes("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(EscapeBytes("\xc3"), "\\xc3");                    // truncated
  EXPECT_EQ(EscapeBytes("\xc2\x85"), "\\xc2\\x85");           // C1 NEL
  EXPECT_EQ(EscapeBytes("\xc2\x9b"), "\\xc2\\x9b");           // C1 CSI
  EXPECT_EQ(EscapeBytes("\xe2\x80\xae"), "\\xe2\\x80\\xae");  // RLO
  EXPECT_EQ(EscapeBytes("\xc2\xa0"), "\xc2\xa0");             // NBSP is fine
}

}  // namespace
}  // namespace sessionkit::cli
