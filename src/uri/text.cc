#include "uri/text.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sessionkit::uri {
namespace {

// Longest stretch of user text a message quotes: enough to recognise it,
// short enough to keep log lines readable.
constexpr size_t kMaxQuoted = 96;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits "512 MiB" into the leading digits and the unit after optional
// spaces; nullopt when there are no leading digits.
struct NumberAndUnit {
  std::string_view digits;
  std::string unit;  // lower case
};
std::optional<NumberAndUnit> SplitNumber(std::string_view text) {
  text = Trim(text);
  size_t i = 0;
  while (i < text.size() && IsDigit(text[i])) ++i;
  if (i == 0) return std::nullopt;
  return NumberAndUnit{text.substr(0, i), Lower(Trim(text.substr(i)))};
}

}  // namespace

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  size_t n = 0;
  for (char ch : text) {
    if (n == kMaxQuoted) {
      out += "...";
      break;
    }
    ++n;
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string Quote(std::string_view text) { return "'" + Printable(text) + "'"; }

std::string Join(std::span<const std::string_view> items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool PercentDecode(std::string_view in, std::string* out,
                   std::string_view* bad) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      *out += in[i];
      continue;
    }
    int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
    int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      *bad = in.substr(i, 3);
      return false;
    }
    *out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::string PercentEncode(std::string_view in, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      IsDigit(ch) || c == '-' || c == '.' || c == '_' ||
                      c == '~';
    if (unreserved || (c != 0 && keep.find(ch) != std::string_view::npos)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

bool HasControlChar(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

bool IsFilePath(std::string_view text) {
  return !text.empty() && !HasControlChar(text);
}

std::optional<uint64_t> ParseWhole(std::string_view text, NumberError* error) {
  *error = NumberError::kSyntax;
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::nullopt;
    auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      *error = NumberError::kOverflow;
      return std::nullopt;
    }
    value = value * 10 + digit;
  }
  *error = NumberError::kNone;
  return value;
}

std::optional<uint64_t> SizeValue(std::string_view text, NumberError* error) {
  *error = NumberError::kSyntax;
  std::optional<NumberAndUnit> parts = SplitNumber(text);
  if (!parts) return std::nullopt;
  int shift;
  const std::string& u = parts->unit;
  if (u.empty() || u == "b") {
    shift = 0;
  } else if (u == "k" || u == "kb" || u == "kib") {
    shift = 10;
  } else if (u == "m" || u == "mb" || u == "mib") {
    shift = 20;
  } else if (u == "g" || u == "gb" || u == "gib") {
    shift = 30;
  } else if (u == "t" || u == "tb" || u == "tib") {
    shift = 40;
  } else {
    return std::nullopt;
  }
  std::optional<uint64_t> n = ParseWhole(parts->digits, error);
  if (!n) return std::nullopt;
  if (*n > (std::numeric_limits<uint64_t>::max() >> shift)) {
    *error = NumberError::kOverflow;
    return std::nullopt;
  }
  return *n << shift;
}

std::optional<int64_t> DurationMillis(std::string_view text,
                                      NumberError* error) {
  *error = NumberError::kSyntax;
  std::optional<NumberAndUnit> parts = SplitNumber(text);
  if (!parts) return std::nullopt;
  int64_t scale;
  const std::string& u = parts->unit;
  if (u.empty() || u == "ms") {
    scale = 1;
  } else if (u == "s") {
    scale = 1000;
  } else if (u == "m") {
    scale = 60 * 1000;
  } else if (u == "h") {
    scale = 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }
  std::optional<uint64_t> n = ParseWhole(parts->digits, error);
  if (!n) return std::nullopt;
  if (*n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / scale)) {
    *error = NumberError::kOverflow;
    return std::nullopt;
  }
  return static_cast<int64_t>(*n) * scale;
}

std::optional<bool> BoolValue(std::string_view text) {
  std::string v = Lower(Trim(text));
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  return std::nullopt;
}

std::optional<unsigned> OctalModeValue(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    value = value * 8 + static_cast<unsigned>(c - '0');
  }
  return value;
}

}  // namespace sessionkit::uri
