// Meta protocol requests and replies (see meta.h for the protocol facts).
#include "stores/memcached/meta.h"

#include <charconv>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

namespace sessionkit::memcached {
namespace {

// How much of a key an error message quotes: enough to recognise a prefix,
// not a whole session id.
constexpr size_t kKeyPreview = 12;

std::string Sanitized(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

std::string KeyPreview(std::string_view key) {
  std::string out = "\"" + Sanitized(key.substr(0, kKeyPreview));
  if (key.size() > kKeyPreview) out += "...";
  return out + "\"";
}

std::string Hex(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", c);
  return buf;
}

void AppendNumber(uint64_t n, std::string* out) {
  char buf[24];
  const char* end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out->append(buf, static_cast<size_t>(end - buf));
}

// " <flag><n>"
void AppendFlag(char flag, uint64_t n, std::string* out) {
  out->push_back(' ');
  out->push_back(flag);
  AppendNumber(n, out);
}

void AppendFlag(char flag, std::string* out) {
  out->push_back(' ');
  out->push_back(flag);
}

Status CheckOpaque(std::string_view opaque) {
  if (opaque.size() > kMaxOpaqueLength) {
    return Status::InvalidArgument("memcached opaque token of " +
                                   std::to_string(opaque.size()) +
                                   " bytes is longer than the limit of " +
                                   std::to_string(kMaxOpaqueLength));
  }
  for (size_t i = 0; i < opaque.size(); ++i) {
    const auto c = static_cast<unsigned char>(opaque[i]);
    if (c <= 0x20 || c >= 0x7f) {
      return Status::InvalidArgument("memcached opaque token has byte " +
                                     Hex(c) + " at byte " + std::to_string(i) +
                                     " (printable ASCII without spaces only)");
    }
  }
  return Status::OK();
}

Status CheckTtl(uint32_t ttl, char flag) {
  if (ttl <= kMaxRelativeTtl) return Status::OK();
  return Status::InvalidArgument(
      "memcached TTL (" + std::string(1, flag) + ") of " + std::to_string(ttl) +
      " s exceeds " + std::to_string(kMaxRelativeTtl) +
      " s (30 days), beyond which memcached reads it as a Unix time");
}

Status CheckKeyAndEcho(std::string_view key, const Echo& echo) {
  SK_RETURN_IF_ERROR(ValidateKey(key));
  return CheckOpaque(echo.opaque);
}

// "<cm> <key>"
void AppendStart(std::string_view command, std::string_view key,
                 std::string* out) {
  out->append(command);
  out->push_back(' ');
  out->append(key);
}

void AppendEchoAndEnd(const Echo& echo, bool quiet, std::string* out) {
  if (echo.key) AppendFlag('k', out);
  if (!echo.opaque.empty()) {
    AppendFlag('O', out);
    out->append(echo.opaque);
  }
  if (quiet) AppendFlag('q', out);
  out->append("\r\n");
}

}  // namespace

Status ValidateKey(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("memcached key is empty");
  if (key.size() > kMaxKeyLength) {
    return Status::InvalidArgument("memcached key " + KeyPreview(key) + " is " +
                                   std::to_string(key.size()) +
                                   " bytes, above memcached's limit of " +
                                   std::to_string(kMaxKeyLength));
  }
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c > 0x20 && c < 0x7f) continue;
    const std::string what = c == ' '   ? "a space"
                             : c < 0x80 ? "a control character (" + Hex(c) + ")"
                                        : "a non-ASCII byte (" + Hex(c) + ")";
    return Status::InvalidArgument("memcached key " + KeyPreview(key) +
                                   " has " + what + " at byte " +
                                   std::to_string(i));
  }
  return Status::OK();
}

Status AppendGet(std::string_view key, const GetRequest& request,
                 std::string* out) {
  SK_RETURN_IF_ERROR(CheckKeyAndEcho(key, request.echo));
  if (request.touch_ttl) SK_RETURN_IF_ERROR(CheckTtl(*request.touch_ttl, 'T'));
  AppendStart("mg", key, out);
  if (request.value) AppendFlag('v', out);
  if (request.cas) AppendFlag('c', out);
  if (request.ttl) AppendFlag('t', out);
  if (request.client_flags) AppendFlag('f', out);
  if (request.touch_ttl) AppendFlag('T', *request.touch_ttl, out);
  AppendEchoAndEnd(request.echo, request.quiet, out);
  return Status::OK();
}

Status AppendSet(std::string_view key, std::string_view value,
                 const SetRequest& request, std::string* out) {
  SK_RETURN_IF_ERROR(CheckKeyAndEcho(key, request.echo));
  SK_RETURN_IF_ERROR(CheckTtl(request.ttl, 'T'));
  if (value.size() > kMaxDataLength) {
    return Status::InvalidArgument(
        "memcached value of " + std::to_string(value.size()) +
        " bytes for key " + KeyPreview(key) + " exceeds the protocol's " +
        std::to_string(kMaxDataLength) + "-byte limit");
  }
  switch (request.mode) {
    case SetMode::kSet:
    case SetMode::kAdd:
    case SetMode::kAppend:
    case SetMode::kPrepend:
    case SetMode::kReplace:
      break;
    default:
      return Status::InvalidArgument(
          "memcached ms mode " + Hex(static_cast<unsigned char>(request.mode)) +
          " is not one of S, E, A, P, R");
  }
  out->reserve(out->size() + key.size() + value.size() + 96);
  AppendStart("ms", key, out);
  out->push_back(' ');
  AppendNumber(value.size(), out);
  if (request.ttl > 0) AppendFlag('T', request.ttl, out);
  if (request.client_flags > 0) AppendFlag('F', request.client_flags, out);
  if (request.compare_cas) AppendFlag('C', *request.compare_cas, out);
  if (request.mode != SetMode::kSet) {
    AppendFlag('M', out);
    out->push_back(static_cast<char>(request.mode));
  }
  if (request.invalidate) AppendFlag('I', out);
  if (request.return_cas) AppendFlag('c', out);
  AppendEchoAndEnd(request.echo, request.quiet, out);
  out->append(value);
  out->append("\r\n");
  return Status::OK();
}

Status AppendDelete(std::string_view key, const DeleteRequest& request,
                    std::string* out) {
  SK_RETURN_IF_ERROR(CheckKeyAndEcho(key, request.echo));
  if (request.stale_ttl) {
    if (!request.invalidate) {
      return Status::InvalidArgument(
          "memcached md: a TTL (T) applies only with invalidate (I)");
    }
    SK_RETURN_IF_ERROR(CheckTtl(*request.stale_ttl, 'T'));
  }
  AppendStart("md", key, out);
  if (request.compare_cas) AppendFlag('C', *request.compare_cas, out);
  if (request.invalidate) AppendFlag('I', out);
  if (request.stale_ttl) AppendFlag('T', *request.stale_ttl, out);
  AppendEchoAndEnd(request.echo, request.quiet, out);
  return Status::OK();
}

Status AppendArithmetic(std::string_view key, const ArithmeticRequest& request,
                        std::string* out) {
  SK_RETURN_IF_ERROR(CheckKeyAndEcho(key, request.echo));
  if (request.create_ttl)
    SK_RETURN_IF_ERROR(CheckTtl(*request.create_ttl, 'N'));
  if (request.ttl) SK_RETURN_IF_ERROR(CheckTtl(*request.ttl, 'T'));
  AppendStart("ma", key, out);
  if (request.create_ttl) {
    AppendFlag('N', *request.create_ttl, out);
    if (request.initial != 0) AppendFlag('J', request.initial, out);
  }
  if (request.delta != 1) AppendFlag('D', request.delta, out);
  if (request.ttl) AppendFlag('T', *request.ttl, out);
  if (request.decrement) out->append(" MD");
  if (request.compare_cas) AppendFlag('C', *request.compare_cas, out);
  if (request.return_value) AppendFlag('v', out);
  if (request.return_ttl) AppendFlag('t', out);
  if (request.return_cas) AppendFlag('c', out);
  AppendEchoAndEnd(request.echo, request.quiet, out);
  return Status::OK();
}

void AppendNoop(std::string* out) { out->append("mn\r\n"); }

std::string_view ResponseCodeName(ResponseCode code) {
  switch (code) {
    case ResponseCode::kValue:
      return "VA";
    case ResponseCode::kHeader:
      return "HD";
    case ResponseCode::kNotStored:
      return "NS";
    case ResponseCode::kExists:
      return "EX";
    case ResponseCode::kNotFound:
      return "NF";
    case ResponseCode::kMiss:
      return "EN";
    case ResponseCode::kNoop:
      return "MN";
    case ResponseCode::kError:
      return "ERROR";
    case ResponseCode::kClientError:
      return "CLIENT_ERROR";
    case ResponseCode::kServerError:
      return "SERVER_ERROR";
  }
  return "?";
}

bool Response::is_too_large() const {
  return code == ResponseCode::kServerError &&
         message.starts_with("object too large for cache");
}

Status ErrorStatus(const Response& response, std::string_view what) {
  const std::string quoted =
      " (the server says: " + std::string(ResponseCodeName(response.code)) +
      (response.message.empty() ? "" : " ") + response.message + ")";
  const std::string prefix = std::string(what) + ": ";
  switch (response.code) {
    case ResponseCode::kServerError:
      if (response.is_too_large()) {
        return Status::ResourceExhausted(
            prefix + "the value exceeds the server's item size limit (-I)" +
            quoted);
      }
      return Status::Unavailable(prefix + "the server failed" + quoted);
    case ResponseCode::kError:
      return Status::NotSupported(
          prefix +
          "the server does not know the meta protocol (memcached 1.6 or "
          "newer is needed)" +
          quoted);
    case ResponseCode::kClientError:
      return Status::Internal(prefix + "the server refused the request" +
                              quoted);
    default:
      return Status::Internal(prefix + "reply " +
                              std::string(ResponseCodeName(response.code)) +
                              " is not an error");
  }
}

// --- Replies ----------------------------------------------------------------

namespace {

Status ProtocolError(std::string what) {
  return Status::Unavailable("memcached protocol error: " + what);
}

// A decimal without sign or leading '+', at most `max`.
bool ParseUnsigned(std::string_view text, uint64_t max, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  uint64_t n = 0;
  const auto [ptr, ec] =
      std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || n > max) {
    return false;
  }
  *out = n;
  return true;
}

Status BadFlag(char flag, std::string_view token) {
  return ProtocolError("flag '" + std::string(1, flag) + "' with token \"" +
                       Sanitized(token.substr(0, 40)) + "\"");
}

// One returned flag, e.g. "c123", "t-1", "Oabc", "W".
Status ParseFlag(std::string_view token, Response* out) {
  const char flag = token[0];
  const std::string_view arg = token.substr(1);
  uint64_t n = 0;
  switch (flag) {
    case 'c':
      if (!ParseUnsigned(arg, std::numeric_limits<uint64_t>::max(), &n)) {
        return BadFlag(flag, arg);
      }
      out->cas = n;
      break;
    case 't':
      // memcached prints an item past its time but not yet reaped as the
      // unsigned wrap of a negative number: any 32-bit value comes.
      if (arg == "-1") {
        out->ttl = -1;
      } else if (ParseUnsigned(arg, std::numeric_limits<uint32_t>::max(), &n)) {
        out->ttl = static_cast<int64_t>(n);
      } else {
        return BadFlag(flag, arg);
      }
      break;
    case 'f':
    case 's':
      if (!ParseUnsigned(arg, std::numeric_limits<uint32_t>::max(), &n)) {
        return BadFlag(flag, arg);
      }
      (flag == 'f' ? out->client_flags : out->size) = static_cast<uint32_t>(n);
      break;
    case 'O':
      out->opaque = std::string(arg);
      break;
    case 'k':
      out->key = std::string(arg);
      break;
    case 'b':
    case 'W':
    case 'X':
    case 'Z':
      if (!arg.empty()) return BadFlag(flag, arg);
      (flag == 'b'   ? out->key_base64
       : flag == 'W' ? out->won
       : flag == 'X' ? out->stale
                     : out->win_sent) = true;
      break;
    default:
      break;  // a flag this codec never asks for (h, l, ...): skipped
  }
  return Status::OK();
}

// The flags after the code (and VA's size), space-separated.
Status ParseFlags(std::string_view rest, Response* out) {
  bool seen[128] = {};
  while (!rest.empty()) {
    if (rest[0] != ' ') return ProtocolError("flags not separated by a space");
    rest.remove_prefix(1);
    const size_t end = rest.find(' ');
    const std::string_view token = rest.substr(0, end);
    rest =
        end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (token.empty())
      return ProtocolError("an empty flag (two spaces, or one at the end)");
    const auto flag = static_cast<unsigned char>(token[0]);
    if (flag < 'A' || flag > 'z' || (flag > 'Z' && flag < 'a')) {
      return ProtocolError("a flag that is not a letter (" + Hex(flag) + ")");
    }
    if (seen[flag]) {
      return ProtocolError("flag '" + std::string(1, token[0]) + "' twice");
    }
    seen[flag] = true;
    SK_RETURN_IF_ERROR(ParseFlag(token, out));
  }
  return Status::OK();
}

struct CodeEntry {
  std::string_view text;
  ResponseCode code;
};

constexpr CodeEntry kCodes[] = {
    {"VA", ResponseCode::kValue},     {"HD", ResponseCode::kHeader},
    {"NS", ResponseCode::kNotStored}, {"EX", ResponseCode::kExists},
    {"NF", ResponseCode::kNotFound},  {"EN", ResponseCode::kMiss},
    {"MN", ResponseCode::kNoop},
};

constexpr CodeEntry kErrorCodes[] = {
    {"ERROR", ResponseCode::kError},
    {"CLIENT_ERROR", ResponseCode::kClientError},
    {"SERVER_ERROR", ResponseCode::kServerError},
};

void Reset(Response* out) {
  // Keeps value's capacity: a connection reuses one Response.
  std::string value = std::move(out->value);
  value.clear();
  *out = Response{};
  out->value = std::move(value);
}

}  // namespace

Result<size_t> ParseResponse(std::string_view buffer, size_t max_value_size,
                             Response* out) {
  Reset(out);
  // The line, within kMaxResponseLine bytes before its "\r\n".
  const size_t nl = buffer.substr(0, kMaxResponseLine + 2).find('\n');
  if (nl == std::string_view::npos) {
    if (buffer.size() < kMaxResponseLine + 2) return size_t{0};
    return ProtocolError("a reply line longer than " +
                         std::to_string(kMaxResponseLine) + " bytes");
  }
  if (nl == 0 || buffer[nl - 1] != '\r') {
    return ProtocolError("a reply line ending in a bare \\n");
  }
  const std::string_view line = buffer.substr(0, nl - 1);
  const size_t line_size = nl + 1;

  for (const CodeEntry& e : kErrorCodes) {
    if (!line.starts_with(e.text)) continue;
    const std::string_view rest = line.substr(e.text.size());
    if (!rest.empty() && rest[0] != ' ') continue;  // e.g. "ERRORX"
    out->code = e.code;
    out->message = Sanitized(rest.empty() ? rest : rest.substr(1));
    return line_size;
  }

  for (char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      return ProtocolError("byte " + Hex(u) + " in a reply line");
    }
  }
  const CodeEntry* entry = nullptr;
  for (const CodeEntry& e : kCodes) {
    if (line.starts_with(e.text) && (line.size() == 2 || line[2] == ' ')) {
      entry = &e;
      break;
    }
  }
  if (entry == nullptr) {
    return ProtocolError("unknown reply \"" + Sanitized(line.substr(0, 40)) +
                         (line.size() > 40 ? "...\"" : "\""));
  }
  out->code = entry->code;
  std::string_view rest = line.substr(2);
  uint64_t size = 0;
  if (out->code == ResponseCode::kValue) {
    if (rest.empty()) return ProtocolError("VA without a size");
    rest.remove_prefix(1);
    const size_t end = rest.find(' ');
    const std::string_view digits = rest.substr(0, end);
    rest =
        end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (!ParseUnsigned(digits, kMaxDataLength, &size)) {
      return ProtocolError("VA with size \"" + Sanitized(digits.substr(0, 40)) +
                           "\" (not a number of at most " +
                           std::to_string(kMaxDataLength) + ")");
    }
    if (size > max_value_size) {
      return ProtocolError("a value of " + std::to_string(size) +
                           " bytes, above the limit of " +
                           std::to_string(max_value_size) + " bytes");
    }
  }
  SK_RETURN_IF_ERROR(ParseFlags(rest, out));
  if (out->code != ResponseCode::kValue) return line_size;

  // size <= kMaxDataLength and line_size <= kMaxResponseLine + 2: no
  // overflow.
  const size_t total = line_size + static_cast<size_t>(size) + 2;
  if (buffer.size() < total) return size_t{0};
  if (buffer.substr(total - 2, 2) != "\r\n") {
    return ProtocolError("a value of " + std::to_string(size) +
                         " bytes not followed by \\r\\n");
  }
  out->value.assign(buffer.substr(line_size, static_cast<size_t>(size)));
  return total;
}

}  // namespace sessionkit::memcached
