// The memcached meta protocol on the wire: request encoders and a response
// parser, without a socket (the connection layer sends and receives).
//
// Written against memcached 1.6.18 (Debian 12), doc/protocol.txt and
// proto_text.c of that release. What the codec relies on:
//  - Requests "<cm> <key> [<datalen>] <flag>*\r\n"; a key is at most 250
//    bytes (a longer one is "CLIENT_ERROR bad command line format", and an
//    ms then does not swallow its data block); each flag is a letter with an
//    optional token; a flag may appear once; at most 20 tokens per line.
//  - mg flags v (value), c (CAS), t (remaining TTL, "-1" when none), f
//    (client flags), k (key), O<opaque> (at most 32 bytes with the O), q
//    (no "EN" on a miss), T<ttl> (touch). Replies: "VA <size> <flags>*" +
//    data + "\r\n" with v, "HD <flags>*" without, "EN" on a miss (with O
//    and k echoed).
//  - ms <key> <datalen> flags T<ttl>, F<client flags>, C<cas> (compare),
//    M<E|A|P|R|S> (add, append, prepend, replace, set), I (invalidate), c,
//    k, O, q (no "HD"). Replies: HD stored; NS not stored (add on an
//    existing key, replace/append/prepend on a missing one); EX CAS
//    mismatch; NF CAS given but no item. A value over the server's item
//    size max (-I, which counts the item's header and key too) is
//    "SERVER_ERROR object too large for cache"; the data block is then
//    swallowed, and an existing item under that key is removed.
//  - md flags C<cas>, I, T<ttl> (with I), k, O, q (no "HD"). Replies: HD
//    deleted, NF no item, EX CAS mismatch.
//  - ma flags N<ttl> (create on a miss), J<initial>, D<delta>, T<ttl>,
//    M<I|D>, C<cas>, v, t, c, k, O, q. Replies: HD / VA (with v), NF, NS, EX.
//  - mn replies "MN": ends a pipeline of quiet requests.
//  - Errors "ERROR" (unknown command: a memcached before 1.6 answers meta
//    commands so), "CLIENT_ERROR <msg>", "SERVER_ERROR <msg>"; q never
//    hides them.
//  - TTLs: seconds; 0 never expires; above 30 days the server reads a Unix
//    time, so the encoders refuse relative TTLs above that.
//  - The server may add W, X, Z (recache won, stale, win sent) to mg
//    replies; other unknown flags are skipped.
//
// Thread safety: the functions keep no state; the structs are plain values.
#ifndef SESSIONKIT_STORES_MEMCACHED_META_H_
#define SESSIONKIT_STORES_MEMCACHED_META_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/status.h"

namespace sessionkit::memcached {

// memcached's KEY_MAX_LENGTH.
inline constexpr size_t kMaxKeyLength = 250;
// An opaque token, without its 'O' (the server allows 32 bytes with it).
inline constexpr size_t kMaxOpaqueLength = 31;
// The largest relative TTL (30 days); larger ones are Unix times.
inline constexpr uint32_t kMaxRelativeTtl = 60 * 60 * 24 * 30;
// The largest datalen memcached parses (INT_MAX - 2).
inline constexpr size_t kMaxDataLength = 0x7fffffff - 2;
// A response line longer than this (without its data block) is a protocol
// error rather than a reason to wait for more bytes. memcached's longest
// lines (a 250-byte key, a 32-byte opaque, every numeric flag) stay far
// below; its error texts too.
inline constexpr size_t kMaxResponseLine = 2048;

// OK when `key` can be sent as a meta command key: 1 to 250 bytes of
// printable ASCII without spaces. InvalidArgument naming the problem (empty,
// too long, a space, a control or non-ASCII byte and where) otherwise. The
// message quotes at most the first 12 bytes of the key.
Status ValidateKey(std::string_view key);

// Optional fields of every request: 'k' and 'O' come back in the reply,
// which matches replies to requests in a pipeline with quiet ones.
struct Echo {
  bool key = false;  // k: the reply carries the key
  // O<opaque>: copied back; empty: none. At most kMaxOpaqueLength bytes of
  // printable ASCII without spaces.
  std::string_view opaque;
};

// mg: what to return.
struct GetRequest {
  bool value = true;         // v: VA with the data; else HD
  bool cas = true;           // c
  bool ttl = true;           // t: remaining seconds, -1 for none
  bool client_flags = true;  // f
  bool quiet = false;        // q: a miss sends nothing
  // T<ttl>: set the remaining TTL on a hit (touch); 0 = never expire.
  std::optional<uint32_t> touch_ttl;
  Echo echo;
};

// ms modes (M<char>).
enum class SetMode : char {
  kSet = 'S',
  kAdd = 'E',  // NS when the key exists
  kAppend = 'A',
  kPrepend = 'P',
  kReplace = 'R',  // NS when the key is missing
};

// ms: how to store.
struct SetRequest {
  SetMode mode = SetMode::kSet;
  uint32_t ttl = 0;           // T; 0: never expires (sent only when > 0)
  uint32_t client_flags = 0;  // F (sent only when > 0)
  // C<cas>: store only if the item's CAS equals it (EX otherwise, NF when
  // missing).
  std::optional<uint64_t> compare_cas;
  bool invalidate = false;  // I: with C, an older CAS marks the item stale
  bool return_cas = false;  // c: the new CAS on success
  bool quiet = false;       // q: success sends nothing
  Echo echo;
};

// md: what to delete.
struct DeleteRequest {
  std::optional<uint64_t> compare_cas;  // C: EX when the CAS differs
  bool invalidate = false;  // I: mark stale and bump CAS instead of removing
  std::optional<uint32_t> stale_ttl;  // T: with invalidate only
  bool quiet = false;                 // q: success sends nothing
  Echo echo;
};

// ma: the arithmetic (the value is an unsigned 64-bit decimal).
struct ArithmeticRequest {
  bool decrement = false;  // M<D>; else increment (the default, not sent)
  uint64_t delta = 1;      // D (sent only when not 1)
  // N<ttl>: create the item on a miss with this TTL and value `initial`.
  std::optional<uint32_t> create_ttl;
  uint64_t initial = 0;                 // J (sent only with create_ttl)
  std::optional<uint32_t> ttl;          // T: set on success
  std::optional<uint64_t> compare_cas;  // C
  bool return_value = true;             // v: VA with the new value
  bool return_cas = false;              // c
  bool return_ttl = false;              // t
  bool quiet = false;                   // q: success sends nothing
  Echo echo;
};

// The encoders append one request to `out`, so that several requests go
// out in one write. On an error (InvalidArgument naming the key, the
// opaque, the TTL or the value size) `out` is left as it was.
Status AppendGet(std::string_view key, const GetRequest& request,
                 std::string* out);
// `value` is binary-safe; at most kMaxDataLength bytes (the server's item
// size max is usually far lower: it answers SERVER_ERROR for more).
Status AppendSet(std::string_view key, std::string_view value,
                 const SetRequest& request, std::string* out);
Status AppendDelete(std::string_view key, const DeleteRequest& request,
                    std::string* out);
Status AppendArithmetic(std::string_view key, const ArithmeticRequest& request,
                        std::string* out);
// "mn\r\n": its "MN" reply ends a pipeline.
void AppendNoop(std::string* out);

// A reply's status code.
enum class ResponseCode {
  kValue,        // VA: value follows
  kHeader,       // HD: success without a value
  kNotStored,    // NS
  kExists,       // EX: CAS mismatch
  kNotFound,     // NF
  kMiss,         // EN: mg found nothing
  kNoop,         // MN
  kError,        // ERROR: unknown command
  kClientError,  // CLIENT_ERROR <message>
  kServerError,  // SERVER_ERROR <message>
};

// The code as the server writes it: "VA", "HD", ..., "SERVER_ERROR".
std::string_view ResponseCodeName(ResponseCode code);

// One parsed reply. Fields the server did not return are empty.
struct Response {
  ResponseCode code = ResponseCode::kHeader;
  std::string value;  // VA's data block (binary)
  std::optional<uint64_t> cas;
  std::optional<int64_t> ttl;  // remaining seconds; -1: never expires
  std::optional<uint32_t> client_flags;
  std::optional<uint32_t> size;       // s: the item's value size
  std::optional<std::string> opaque;  // O, without the 'O'
  std::optional<std::string> key;     // k
  bool key_base64 = false;            // b: the key is base64
  bool won = false;                   // W
  bool stale = false;                 // X
  bool win_sent = false;              // Z
  // ERROR / CLIENT_ERROR / SERVER_ERROR text, non-printable bytes as '?'.
  std::string message;

  bool is_error() const {
    return code == ResponseCode::kError || code == ResponseCode::kClientError ||
           code == ResponseCode::kServerError;
  }
  // SERVER_ERROR object too large for cache: the value exceeds the
  // server's item size max (-I).
  bool is_too_large() const;
};

// Parses the reply at the front of `buffer`, which may hold only part of
// it or several pipelined replies. Returns the bytes it took (> 0) with
// `*out` filled; 0 when the buffer ends inside the reply (read more and
// call again with the buffer grown; nothing is kept between calls). A
// malformed reply is Unavailable ("memcached protocol error: ..." saying
// what is wrong): the connection cannot be read further. A value above
// `max_value_size` (the caller's limit, e.g. the server's item size max) is
// such an error before its bytes arrive, so a reply never makes the caller
// buffer more than max_value_size + kMaxResponseLine + 2 bytes.
Result<size_t> ParseResponse(std::string_view buffer, size_t max_value_size,
                             Response* out);

// The Status for an error reply (is_error()) to `what` (e.g. "ms of
// session abc..."): ResourceExhausted for a value too large for the
// server, Unavailable for other SERVER_ERRORs (out of memory: a retry or
// another server may do), NotSupported for ERROR (no meta protocol: before
// memcached 1.6), Internal for CLIENT_ERROR (a request sessionkit should
// not have sent). Quotes the server's text.
Status ErrorStatus(const Response& response, std::string_view what);

}  // namespace sessionkit::memcached

#endif  // SESSIONKIT_STORES_MEMCACHED_META_H_
