// The meta protocol codec without a server: the exact request bytes, every
// reply kind (whole, byte by byte, pipelined) and malformed replies.
#include "stores/memcached/meta.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_status.h"

namespace sessionkit::memcached {
namespace {

using ::testing::HasSubstr;

constexpr size_t kLimit = 1 << 20;

TEST(MetaKeyTest, AcceptsSessionKeys) {
  SK_EXPECT_OK(ValidateKey("sess:abc-DEF,012"));
  SK_EXPECT_OK(ValidateKey(std::string(kMaxKeyLength, 'k')));
}

TEST(MetaKeyTest, RefusesWithTheProblemNamed) {
  auto message = [](std::string_view key) {
    const Status st = ValidateKey(key);
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
    return st.message();
  };
  EXPECT_THAT(message(""), HasSubstr("empty"));
  EXPECT_THAT(message(std::string(251, 'k')),
              HasSubstr("251 bytes, above memcached's limit of 250"));
  EXPECT_THAT(message("a b"), HasSubstr("a space at byte 1"));
  EXPECT_THAT(message("ab\r\nmn"),
              HasSubstr("a control character (0x0d) at byte 2"));
  EXPECT_THAT(message(std::string("a\0", 2)), HasSubstr("(0x00) at byte 1"));
  EXPECT_THAT(message("a\x7f"), HasSubstr("(0x7f)"));
  EXPECT_THAT(message("caf\xc3\xa9"),
              HasSubstr("a non-ASCII byte (0xc3) at byte 3"));
  // Only a prefix of the key is quoted.
  EXPECT_THAT(message("0123456789abcdefghij klm"),
              HasSubstr("\"0123456789ab...\""));
}

TEST(MetaEncodeTest, Get) {
  std::string out;
  SK_ASSERT_OK(AppendGet("s:abc", {}, &out));
  EXPECT_EQ(out, "mg s:abc v c t f\r\n");
  GetRequest quiet;
  quiet.value = false;
  quiet.ttl = false;
  quiet.client_flags = false;
  quiet.quiet = true;
  quiet.touch_ttl = 60;
  quiet.echo = {.key = true, .opaque = "7"};
  SK_ASSERT_OK(AppendGet("s:abc", quiet, &out));
  EXPECT_EQ(out, "mg s:abc v c t f\r\nmg s:abc c T60 k O7 q\r\n");
}

TEST(MetaEncodeTest, SetIsBinarySafe) {
  std::string out;
  const std::string value("a\0\r\nb", 5);
  SK_ASSERT_OK(AppendSet("k", value, {}, &out));
  EXPECT_EQ(out, "ms k 5\r\n" + value + "\r\n");
  out.clear();
  SK_ASSERT_OK(AppendSet("k", "", {}, &out));
  EXPECT_EQ(out, "ms k 0\r\n\r\n");
}

TEST(MetaEncodeTest, SetWithEveryFlag) {
  SetRequest r;
  r.mode = SetMode::kAdd;
  r.ttl = 1440;
  r.client_flags = 4294967295u;
  r.compare_cas = 18446744073709551615u;
  r.invalidate = true;
  r.return_cas = true;
  r.quiet = true;
  r.echo = {.key = true, .opaque = "op"};
  std::string out = "mn\r\n";
  SK_ASSERT_OK(AppendSet("lock:x", "tok", r, &out));
  EXPECT_EQ(out,
            "mn\r\nms lock:x 3 T1440 F4294967295 C18446744073709551615 ME I "
            "c k Oop q\r\ntok\r\n");
  for (auto [mode, letter] : {std::pair{SetMode::kAppend, 'A'},
                              {SetMode::kPrepend, 'P'},
                              {SetMode::kReplace, 'R'}}) {
    SetRequest m;
    m.mode = mode;
    out.clear();
    SK_ASSERT_OK(AppendSet("k", "v", m, &out));
    EXPECT_EQ(out, std::string("ms k 1 M") + letter + "\r\nv\r\n");
  }
}

TEST(MetaEncodeTest, DeleteArithmeticNoop) {
  std::string out;
  DeleteRequest d;
  d.compare_cas = 42;
  d.quiet = true;
  SK_ASSERT_OK(AppendDelete("lock:x", d, &out));
  EXPECT_EQ(out, "md lock:x C42 q\r\n");
  out.clear();
  SK_ASSERT_OK(AppendDelete("k", {}, &out));
  EXPECT_EQ(out, "md k\r\n");
  out.clear();
  DeleteRequest stale;
  stale.invalidate = true;
  stale.stale_ttl = 30;
  SK_ASSERT_OK(AppendDelete("k", stale, &out));
  EXPECT_EQ(out, "md k I T30\r\n");

  out.clear();
  SK_ASSERT_OK(AppendArithmetic("n", {}, &out));
  EXPECT_EQ(out, "ma n v\r\n");
  out.clear();
  ArithmeticRequest a;
  a.decrement = true;
  a.delta = 5;
  a.create_ttl = 10;
  a.initial = 100;
  a.ttl = 20;
  a.compare_cas = 9;
  a.return_ttl = true;
  a.return_cas = true;
  a.echo.opaque = "z";
  SK_ASSERT_OK(AppendArithmetic("n", a, &out));
  EXPECT_EQ(out, "ma n N10 J100 D5 T20 MD C9 v t c Oz\r\n");

  out.clear();
  AppendNoop(&out);
  EXPECT_EQ(out, "mn\r\n");
}

TEST(MetaEncodeTest, ErrorsLeaveTheBufferAlone) {
  std::string out = "mn\r\n";
  EXPECT_TRUE(AppendGet("a b", {}, &out).IsInvalidArgument());
  SetRequest long_ttl;
  long_ttl.ttl = kMaxRelativeTtl + 1;
  const Status ttl = AppendSet("k", "v", long_ttl, &out);
  EXPECT_TRUE(ttl.IsInvalidArgument());
  EXPECT_THAT(ttl.message(), HasSubstr("Unix time"));
  SetRequest bad_opaque;
  bad_opaque.echo.opaque = "has space";
  EXPECT_TRUE(AppendSet("k", "v", bad_opaque, &out).IsInvalidArgument());
  bad_opaque.echo.opaque = std::string_view("0123456789abcdef0123456789abcdef");
  EXPECT_THAT(AppendSet("k", "v", bad_opaque, &out).message(),
              HasSubstr("32 bytes is longer than the limit of 31"));
  SetRequest bad_mode;
  bad_mode.mode = static_cast<SetMode>('X');
  EXPECT_TRUE(AppendSet("k", "v", bad_mode, &out).IsInvalidArgument());
  DeleteRequest ttl_alone;
  ttl_alone.stale_ttl = 5;
  EXPECT_TRUE(AppendDelete("k", ttl_alone, &out).IsInvalidArgument());
  ArithmeticRequest bad_n;
  bad_n.create_ttl = kMaxRelativeTtl + 1;
  EXPECT_TRUE(AppendArithmetic("k", bad_n, &out).IsInvalidArgument());
  EXPECT_EQ(out, "mn\r\n");
}

// Parses `wire` as one reply: whole, then with the buffer growing one byte
// at a time (every prefix must ask for more).
Response ParseOne(std::string_view wire) {
  Response r;
  for (size_t n = 0; n < wire.size(); ++n) {
    Result<size_t> part = ParseResponse(wire.substr(0, n), kLimit, &r);
    EXPECT_TRUE(part.ok()) << "prefix " << n << ": "
                           << part.status().ToString();
    if (part.ok()) {
      EXPECT_EQ(*part, 0u) << "prefix " << n;
    }
  }
  Result<size_t> whole = ParseResponse(wire, kLimit, &r);
  EXPECT_TRUE(whole.ok()) << whole.status().ToString();
  if (whole.ok()) {
    EXPECT_EQ(*whole, wire.size());
  }
  return r;
}

TEST(MetaParseTest, ValueWithCasTtlFlags) {
  const std::string data("x\r\ny\0z", 6);
  Response r = ParseOne("VA 6 c991 t-1 f7 Oq1 ks:abc\r\n" + data + "\r\n");
  EXPECT_EQ(r.code, ResponseCode::kValue);
  EXPECT_EQ(r.value, data);
  EXPECT_EQ(r.cas, 991u);
  EXPECT_EQ(r.ttl, -1);
  EXPECT_EQ(r.client_flags, 7u);
  EXPECT_EQ(r.opaque, "q1");
  EXPECT_EQ(r.key, "s:abc");
  r = ParseOne("VA 0 t4294967295 f4294967295\r\n\r\n");
  EXPECT_EQ(r.value, "");
  EXPECT_EQ(r.ttl, 4294967295);
  EXPECT_FALSE(r.cas.has_value());
}

TEST(MetaParseTest, EveryStatusCode) {
  EXPECT_EQ(ParseOne("HD\r\n").code, ResponseCode::kHeader);
  Response hd = ParseOne("HD c18446744073709551615 s12 b W X Z h1 l5\r\n");
  EXPECT_EQ(hd.cas, 18446744073709551615u);
  EXPECT_EQ(hd.size, 12u);
  EXPECT_TRUE(hd.key_base64 && hd.won && hd.stale && hd.win_sent);
  EXPECT_EQ(ParseOne("NS\r\n").code, ResponseCode::kNotStored);
  EXPECT_EQ(ParseOne("EX\r\n").code, ResponseCode::kExists);
  EXPECT_EQ(ParseOne("NF Oab\r\n").code, ResponseCode::kNotFound);
  Response miss = ParseOne("EN Ox kkey\r\n");
  EXPECT_EQ(miss.code, ResponseCode::kMiss);
  EXPECT_EQ(miss.opaque, "x");
  EXPECT_EQ(miss.key, "key");
  EXPECT_EQ(ParseOne("MN\r\n").code, ResponseCode::kNoop);
  Response error = ParseOne("ERROR\r\n");
  EXPECT_EQ(error.code, ResponseCode::kError);
  EXPECT_TRUE(error.is_error());
  Response client = ParseOne("CLIENT_ERROR bad data chunk\r\n");
  EXPECT_EQ(client.code, ResponseCode::kClientError);
  EXPECT_EQ(client.message, "bad data chunk");
  Response big = ParseOne("SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(big.code, ResponseCode::kServerError);
  EXPECT_TRUE(big.is_too_large());
  // A control byte in a message is masked, not an error.
  EXPECT_EQ(ParseOne("SERVER_ERROR a\x01"
                     "b\r\n")
                .message,
            "a?b");
}

TEST(MetaParseTest, PipelinedRepliesInOneBuffer) {
  const std::string wire =
      "HD c5\r\nVA 3 c5 t60 f0\r\nabc\r\nNS\r\nEX\r\nHD\r\nEN\r\nMN\r\n";
  const std::vector<ResponseCode> want = {
      ResponseCode::kHeader, ResponseCode::kValue,  ResponseCode::kNotStored,
      ResponseCode::kExists, ResponseCode::kHeader, ResponseCode::kMiss,
      ResponseCode::kNoop};
  // Fed as it may arrive: one more byte at a time, parsing what is whole.
  std::string buffer;
  std::vector<Response> got;
  for (char c : wire) {
    buffer.push_back(c);
    for (;;) {
      Response r;
      Result<size_t> n = ParseResponse(buffer, kLimit, &r);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (*n == 0) break;
      buffer.erase(0, *n);
      got.push_back(r);
    }
  }
  EXPECT_TRUE(buffer.empty());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i].code, want[i]);
  EXPECT_EQ(got[1].value, "abc");
  EXPECT_EQ(got[1].ttl, 60);
}

TEST(MetaParseTest, MalformedRepliesSayWhat) {
  auto error = [](std::string_view wire, size_t limit = kLimit) {
    Response r;
    Result<size_t> n = ParseResponse(wire, limit, &r);
    EXPECT_FALSE(n.ok()) << "parsed: " << wire;
    if (n.ok()) return std::string();
    EXPECT_TRUE(n.status().IsUnavailable());
    EXPECT_THAT(n.status().message(), HasSubstr("memcached protocol error"));
    return n.status().message();
  };
  EXPECT_THAT(error("STORED\r\n"), HasSubstr("unknown reply \"STORED\""));
  EXPECT_THAT(error("HDX\r\n"), HasSubstr("unknown reply"));
  EXPECT_THAT(error("\r\n"), HasSubstr("unknown reply"));
  EXPECT_THAT(error("HD\n"), HasSubstr("bare \\n"));
  EXPECT_THAT(error("\n"), HasSubstr("bare \\n"));
  EXPECT_THAT(error("HD c\x01\r\n"), HasSubstr("byte 0x01"));
  EXPECT_THAT(error("HD c\r\r\n"), HasSubstr("byte 0x0d"));
  EXPECT_THAT(error("VA\r\n"), HasSubstr("VA without a size"));
  EXPECT_THAT(error("VA -1\r\n"), HasSubstr("VA with size \"-1\""));
  EXPECT_THAT(error("VA 99999999999999999999999\r\n"),
              HasSubstr("not a number of at most"));
  EXPECT_THAT(error("VA 2147483646\r\n", SIZE_MAX),
              HasSubstr("not a number of at most 2147483645"));
  EXPECT_THAT(error("VA 11 f1\r\n", 10),
              HasSubstr("a value of 11 bytes, above the limit of 10 bytes"));
  EXPECT_THAT(error("VA 3\r\nabcd\r\n"),
              HasSubstr("3 bytes not followed by \\r\\n"));
  EXPECT_THAT(error("HD c1  t2\r\n"), HasSubstr("two spaces"));
  EXPECT_THAT(error("HD c1 \r\n"), HasSubstr("two spaces"));
  EXPECT_THAT(error("HD c1 c2\r\n"), HasSubstr("flag 'c' twice"));
  EXPECT_THAT(error("HD cx\r\n"), HasSubstr("flag 'c' with token \"x\""));
  EXPECT_THAT(error("HD c18446744073709551616\r\n"), HasSubstr("flag 'c'"));
  EXPECT_THAT(error("HD c+1\r\n"), HasSubstr("flag 'c'"));
  EXPECT_THAT(error("HD t-2\r\n"), HasSubstr("flag 't'"));
  EXPECT_THAT(error("HD t4294967296\r\n"), HasSubstr("flag 't'"));
  EXPECT_THAT(error("HD f4294967296\r\n"), HasSubstr("flag 'f'"));
  EXPECT_THAT(error("HD Wx\r\n"), HasSubstr("flag 'W'"));
  EXPECT_THAT(error("HD 1\r\n"), HasSubstr("not a letter (0x31)"));
  EXPECT_THAT(error("HD\xff\r\n"), HasSubstr("0xff"));
  // A line that never ends is an error once it passes the cap, not a
  // reason to buffer without bound.
  std::string endless = "SERVER_ERROR " + std::string(kMaxResponseLine, 'x');
  EXPECT_THAT(error(endless), HasSubstr("longer than 2048 bytes"));
  Response r;
  Result<size_t> partial = ParseResponse(endless.substr(0, 2049), kLimit, &r);
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(*partial, 0u);
}

TEST(MetaParseTest, ValueSizeCheckedBeforeTheData) {
  // The header alone is enough to refuse: no need to wait for 1 GB.
  Response r;
  Result<size_t> n = ParseResponse("VA 1000000000 c1\r\n", kLimit, &r);
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(n.status().message(), HasSubstr("above the limit"));
}

TEST(MetaErrorTest, StatusesNameTheCase) {
  Response r;
  r.code = ResponseCode::kServerError;
  r.message = "object too large for cache";
  Status st = ErrorStatus(r, "ms of session abc");
  EXPECT_TRUE(st.IsResourceExhausted());
  EXPECT_THAT(st.message(),
              HasSubstr("ms of session abc: the value exceeds the server's "
                        "item size limit (-I) (the server says: SERVER_ERROR "
                        "object too large for cache)"));
  r.message = "out of memory storing object";
  EXPECT_TRUE(ErrorStatus(r, "ms").IsUnavailable());
  r.code = ResponseCode::kError;
  r.message.clear();
  st = ErrorStatus(r, "mg");
  EXPECT_TRUE(st.IsNotSupported());
  EXPECT_THAT(st.message(), HasSubstr("(the server says: ERROR)"));
  r.code = ResponseCode::kClientError;
  EXPECT_EQ(ErrorStatus(r, "mg").code(), StatusCode::kInternal);
  r.code = ResponseCode::kHeader;
  EXPECT_EQ(ErrorStatus(r, "mg").code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace sessionkit::memcached
