// Feeds arbitrary bytes, as a memcached server's meta protocol replies on
// the wire, through ParseResponse as a connection reads them: the whole
// buffer, and again with the buffer growing in small pieces as TCP may
// deliver them. Then builds requests from the same bytes (a key and a
// value) with the encoders.
// Checks: no crash; the same replies and the same end (an error, or a
// partial reply waiting for more) whatever the pieces; every reply takes
// bytes, holds at most the value limit, a TTL of -1 or more, and only
// printable text in an error message; an error Status names the protocol
// error; ErrorStatus of an error reply is an error with printable text;
// a key the validator accepts is sent verbatim and the request has the
// exact framing, and a refused one leaves the buffer untouched.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "stores/memcached/meta.h"

namespace mc = sessionkit::memcached;

namespace {

// Small, so that a value over the limit is easy to reach.
constexpr size_t kLimit = 64;

void Check(bool condition) {
  if (!condition) abort();
}

bool Printable(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

struct Outcome {
  std::vector<mc::Response> replies;
  bool failed = false;  // ended on a protocol error
  size_t leftover = 0;  // bytes of a partial reply at the end
};

bool Same(const mc::Response& a, const mc::Response& b) {
  return a.code == b.code && a.value == b.value && a.cas == b.cas &&
         a.ttl == b.ttl && a.client_flags == b.client_flags &&
         a.size == b.size && a.opaque == b.opaque && a.key == b.key &&
         a.key_base64 == b.key_base64 && a.won == b.won && a.stale == b.stale &&
         a.win_sent == b.win_sent && a.message == b.message;
}

void CheckReply(const mc::Response& r, size_t used) {
  Check(used > 0);
  Check(r.value.size() <= kLimit);
  Check(r.code == mc::ResponseCode::kValue || r.value.empty());
  if (r.code == mc::ResponseCode::kValue) Check(used >= r.value.size() + 6);
  if (r.ttl) Check(*r.ttl >= -1);
  Check(Printable(r.message));
  Check(r.is_error() || r.message.empty());
  if (r.is_error()) {
    const sessionkit::Status st = mc::ErrorStatus(r, "mg");
    Check(!st.ok() && Printable(st.message()));
    Check(st.IsResourceExhausted() == r.is_too_large());
  }
}

// Parses what `buffer` holds from `*offset` on, advancing it.
bool Drain(std::string_view buffer, size_t* offset, Outcome* out) {
  for (;;) {
    mc::Response r;
    sessionkit::Result<size_t> used =
        mc::ParseResponse(buffer.substr(*offset), kLimit, &r);
    if (!used.ok()) {
      Check(used.status().IsUnavailable());
      Check(used.status().message().starts_with("memcached protocol error: "));
      Check(Printable(used.status().message()));
      out->failed = true;
      return false;
    }
    if (*used == 0) return true;
    Check(*used <= buffer.size() - *offset);
    CheckReply(r, *used);
    *offset += *used;
    out->replies.push_back(std::move(r));
  }
}

Outcome ParseGrowing(std::string_view in, size_t piece) {
  Outcome out;
  size_t offset = 0;
  for (size_t have = piece == 0 ? in.size() : 0; have <= in.size();) {
    if (!Drain(in.substr(0, have), &offset, &out)) return out;
    if (have == in.size()) break;
    have = std::min(in.size(), have + (piece == 0 ? in.size() : piece));
  }
  out.leftover = in.size() - offset;
  return out;
}

// The first byte is the key's length (up to 255, so over the limit too),
// the key follows, the rest is the value.
void CheckEncoders(std::string_view in) {
  if (in.empty()) return;
  const auto n = static_cast<uint8_t>(in[0]);
  const std::string_view key = in.substr(1, n);
  const std::string_view value = in.substr(1 + key.size());
  const uint32_t ttl = n * 1000u;
  bool valid = !key.empty() && key.size() <= mc::kMaxKeyLength;
  for (char c : key) valid = valid && c > 0x20 && c < 0x7f;
  Check(mc::ValidateKey(key).ok() == valid);
  Check(Printable(mc::ValidateKey(key).message()));

  std::string out = "mn\r\n";
  mc::SetRequest set;
  set.ttl = ttl;
  const sessionkit::Status st = mc::AppendSet(key, value, set, &out);
  Check(st.ok() == valid);
  if (!valid) {
    Check(out == "mn\r\n");
    return;
  }
  const std::string head = "mn\r\nms " + std::string(key) + " " +
                           std::to_string(value.size()) + " T" +
                           std::to_string(ttl) + "\r\n";
  Check(out == head + std::string(value) + "\r\n");
  out.clear();
  mc::GetRequest get;
  get.echo.opaque = key.substr(0, mc::kMaxOpaqueLength);
  Check(mc::AppendGet(key, get, &out).ok());
  Check(out.starts_with("mg " + std::string(key) + " v c t f O"));
  Check(out.ends_with("\r\n") && out.find('\n') == out.size() - 1);
}

#ifdef SK_FUZZ_PLANTED
// The planted "bug" (scripts/fuzz-planted): a CLIENT_ERROR after a VA with
// a value, in one buffer.
void Planted(const Outcome& o) {
  bool value = false;
  for (const mc::Response& r : o.replies) {
    value |= r.code == mc::ResponseCode::kValue && !r.value.empty();
    if (value && r.code == mc::ResponseCode::kClientError) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: meta_fuzzer\n");
      abort();
    }
  }
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Outcome whole = ParseGrowing(in, 0);
  // The same replies, and the same end, when the bytes come in pieces.
  // Byte by byte only for short inputs: each step re-reads the line.
  for (size_t piece : {1 + size % 7, size <= 64 ? size_t{1} : size_t{0}}) {
    if (piece == 0) continue;
    const Outcome pieces = ParseGrowing(in, piece);
    Check(pieces.failed == whole.failed);
    Check(pieces.leftover == whole.leftover);
    Check(pieces.replies.size() == whole.replies.size());
    for (size_t i = 0; i < whole.replies.size(); ++i) {
      Check(Same(whole.replies[i], pieces.replies[i]));
    }
  }
  CheckEncoders(in);
#ifdef SK_FUZZ_PLANTED
  Planted(whole);
#endif
  return 0;
}
