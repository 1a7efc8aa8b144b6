#include "php_payload.h"

#include <string>
#include <utility>

namespace sessionkit::cli {
namespace {

using Type = PhpValue::Type;

// The smallest serialized key and value ("i:0;" and "N;"): an array that
// claims more elements than its remaining bytes can hold is refused before
// anything is allocated for it.
constexpr size_t kMinEntryBytes = 6;
// Float literals longer than this are not something PHP writes.
constexpr size_t kMaxFloatLiteral = 512;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// PHP's float grammar (ext/standard/var_unserializer.re):
//   iv = [+-]? [0-9]+;  nv = [+-]? ([0-9]* "." [0-9]+ | [0-9]+ "." [0-9]*);
//   nvexp = (iv | nv) [eE] iv;  plus NAN, INF and -INF.
bool IsPhpFloatLiteral(std::string_view s) {
  if (s == "NAN" || s == "INF" || s == "-INF") return true;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

class Parser {
 public:
  Parser(std::string_view in, const PhpParseLimits& limits)
      : in_(in), limits_(limits) {}

  bool AtEnd() const { return pos_ == in_.size(); }
  size_t pos() const { return pos_; }
  void set_pos(size_t pos) { pos_ = pos; }
  std::string_view input() const { return in_; }

  // Parses one serialized value at nesting level `depth`.
  Status ParseValue(PhpValue* out, int depth) {
    SK_RETURN_IF_ERROR(CountValue());
    if (in_.size() - pos_ < 2) return Fail("expected a serialized value");
    const char tag = in_[pos_];
    if (tag == 'N') {
      if (in_[pos_ + 1] != ';') return Fail("expected ';' after N");
      pos_ += 2;
      out->type = Type::kNull;
      return Status::OK();
    }
    if (in_[pos_ + 1] != ':') {
      return Fail("expected a type letter and ':' (N; b: i: d: s: a: O: ...)");
    }
    const size_t value_start = pos_;
    pos_ += 2;
    switch (tag) {
      case 'b':
        return ParseBool(out);
      case 'i':
        out->type = Type::kInt;
        return ParseSigned(';', &out->int_value);
      case 'd':
        return ParseFloat(out);
      case 's':
        return ParseString(out);
      case 'S':
        return ParseEscapedString(out);
      case 'a':
        return ParseArray(out, depth);
      case 'O':
        return ParseObject(out, depth);
      case 'C':
        return ParseCustomObject(out);
      case 'E':
        return ParseEnum(out);
      case 'r':
      case 'R':
        return ParseReference(out, tag == 'R');
      default:
        pos_ = value_start;
        return Fail("unknown value type '" + EscapeBytes(in_.substr(pos_, 1)) +
                    "'");
    }
  }

  Status Fail(const std::string& what) const {
    return Status::InvalidArgument("at byte " + std::to_string(pos_) + ": " +
                                   what);
  }

 private:
  Status CountValue() {
    if (++values_ > limits_.max_values) {
      return Fail("more than " + std::to_string(limits_.max_values) +
                  " values");
    }
    return Status::OK();
  }

  Status Expect(char c) {
    if (pos_ >= in_.size() || in_[pos_] != c) {
      return Fail(std::string("expected '") + c + "'");
    }
    ++pos_;
    return Status::OK();
  }

  // Digits up to `terminator` (consumed), without sign, fitting uint64.
  Status ParseUnsigned(char terminator, uint64_t* out) {
    const size_t start = pos_;
    uint64_t v = 0;
    while (pos_ < in_.size() && IsDigit(in_[pos_])) {
      const uint64_t digit = static_cast<uint64_t>(in_[pos_] - '0');
      if (v > (UINT64_MAX - digit) / 10) return Fail("number is too large");
      v = v * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) return Fail("expected a number");
    SK_RETURN_IF_ERROR(Expect(terminator));
    *out = v;
    return Status::OK();
  }

  Status ParseSigned(char terminator, int64_t* out) {
    bool negative = false;
    if (pos_ < in_.size() && (in_[pos_] == '-' || in_[pos_] == '+')) {
      negative = in_[pos_] == '-';
      ++pos_;
    }
    uint64_t magnitude = 0;
    SK_RETURN_IF_ERROR(ParseUnsigned(terminator, &magnitude));
    const uint64_t limit = negative ? uint64_t{1} << 63 : INT64_MAX;
    if (magnitude > limit) return Fail("integer does not fit in 64 bits");
    *out = negative ? static_cast<int64_t>(~magnitude + 1)
                    : static_cast<int64_t>(magnitude);
    return Status::OK();
  }

  // A length that must fit in the remaining input.
  Status ParseLength(char terminator, uint64_t* out) {
    SK_RETURN_IF_ERROR(ParseUnsigned(terminator, out));
    if (*out > in_.size() - pos_) {
      return Fail("length " + std::to_string(*out) + " runs past the end (" +
                  std::to_string(in_.size() - pos_) + " bytes remain)");
    }
    return Status::OK();
  }

  // len:"<len bytes>"  (the quoted form shared by s:, O:, C:, E:)
  Status ParseQuoted(std::string* out) {
    uint64_t len = 0;
    SK_RETURN_IF_ERROR(ParseLength(':', &len));
    SK_RETURN_IF_ERROR(Expect('"'));
    if (len > in_.size() - pos_) return Fail("string runs past the end");
    out->assign(in_.substr(pos_, len));
    pos_ += len;
    return Expect('"');
  }

  Status ParseBool(PhpValue* out) {
    if (pos_ >= in_.size() || (in_[pos_] != '0' && in_[pos_] != '1')) {
      return Fail("expected 0 or 1 after b:");
    }
    out->type = Type::kBool;
    out->bool_value = in_[pos_] == '1';
    ++pos_;
    return Expect(';');
  }

  Status ParseFloat(PhpValue* out) {
    const size_t end = in_.find(';', pos_);
    if (end == std::string_view::npos || end - pos_ > kMaxFloatLiteral) {
      return Fail("expected a float literal ending in ';'");
    }
    std::string_view literal = in_.substr(pos_, end - pos_);
    if (!IsPhpFloatLiteral(literal)) return Fail("malformed float literal");
    out->type = Type::kFloat;
    out->text.assign(literal);
    pos_ = end + 1;
    return Status::OK();
  }

  Status ParseString(PhpValue* out) {
    out->type = Type::kString;
    SK_RETURN_IF_ERROR(ParseQuoted(&out->text));
    return Expect(';');
  }

  // S:len:"..."; where len counts decoded bytes and \xx is a hex escape.
  Status ParseEscapedString(PhpValue* out) {
    uint64_t len = 0;
    SK_RETURN_IF_ERROR(ParseLength(':', &len));
    SK_RETURN_IF_ERROR(Expect('"'));
    out->type = Type::kString;
    out->text.reserve(len);
    for (uint64_t i = 0; i < len; ++i) {
      if (pos_ >= in_.size()) return Fail("escaped string runs past the end");
      char c = in_[pos_];
      if (c == '\\') {
        if (in_.size() - pos_ < 3) return Fail("incomplete \\ escape");
        const int hi = HexValue(in_[pos_ + 1]);
        const int lo = HexValue(in_[pos_ + 2]);
        if (hi < 0 || lo < 0) return Fail("bad \\ escape in S: string");
        c = static_cast<char>(hi * 16 + lo);
        pos_ += 3;
      } else {
        ++pos_;
      }
      out->text.push_back(c);
    }
    SK_RETURN_IF_ERROR(Expect('"'));
    return Expect(';');
  }

  // Reads `count` entries and the closing '}' into out->entries.
  Status ParseEntries(uint64_t count, PhpValue* out, int depth,
                      bool allow_int_keys) {
    if (depth >= limits_.max_depth) {
      return Fail("nested deeper than " + std::to_string(limits_.max_depth) +
                  " levels");
    }
    const size_t remaining = in_.size() - pos_;
    if (count > (remaining - (remaining > 0 ? 1 : 0)) / kMinEntryBytes) {
      return Fail(std::to_string(count) + " elements cannot fit in the " +
                  std::to_string(remaining) + " bytes that remain");
    }
    // The count is checked above but may still be large: let the vector
    // grow with what is actually parsed.
    out->entries.reserve(count < 1024 ? count : 1024);
    for (uint64_t i = 0; i < count; ++i) {
      PhpEntry entry;
      const size_t key_pos = pos_;
      SK_RETURN_IF_ERROR(ParseValue(&entry.key, depth + 1));
      if (entry.key.type != Type::kString &&
          !(allow_int_keys && entry.key.type == Type::kInt)) {
        pos_ = key_pos;
        return Fail(allow_int_keys ? "array key must be an int or a string"
                                   : "property name must be a string");
      }
      SK_RETURN_IF_ERROR(ParseValue(&entry.value, depth + 1));
      out->entries.push_back(std::move(entry));
    }
    return Expect('}');
  }

  Status ParseArray(PhpValue* out, int depth) {
    uint64_t count = 0;
    SK_RETURN_IF_ERROR(ParseUnsigned(':', &count));
    SK_RETURN_IF_ERROR(Expect('{'));
    out->type = Type::kArray;
    return ParseEntries(count, out, depth, /*allow_int_keys=*/true);
  }

  Status ParseObject(PhpValue* out, int depth) {
    out->type = Type::kObject;
    SK_RETURN_IF_ERROR(ParseQuoted(&out->class_name));
    SK_RETURN_IF_ERROR(Expect(':'));
    uint64_t count = 0;
    SK_RETURN_IF_ERROR(ParseUnsigned(':', &count));
    SK_RETURN_IF_ERROR(Expect('{'));
    // PHP writes integer property names of casted arrays as i: keys.
    return ParseEntries(count, out, depth, /*allow_int_keys=*/true);
  }

  Status ParseCustomObject(PhpValue* out) {
    out->type = Type::kCustomObject;
    SK_RETURN_IF_ERROR(ParseQuoted(&out->class_name));
    SK_RETURN_IF_ERROR(Expect(':'));
    uint64_t len = 0;
    SK_RETURN_IF_ERROR(ParseLength(':', &len));
    SK_RETURN_IF_ERROR(Expect('{'));
    if (len > in_.size() - pos_) return Fail("object data runs past the end");
    out->text.assign(in_.substr(pos_, len));
    pos_ += len;
    return Expect('}');
  }

  Status ParseEnum(PhpValue* out) {
    out->type = Type::kEnum;
    SK_RETURN_IF_ERROR(ParseQuoted(&out->text));
    const size_t colon = out->text.find(':');
    if (colon == std::string::npos || colon == 0 ||
        colon + 1 == out->text.size()) {
      return Fail("enum value must be \"Class:Case\"");
    }
    return Expect(';');
  }

  Status ParseReference(PhpValue* out, bool php_reference) {
    out->type = Type::kReference;
    out->is_php_reference = php_reference;
    uint64_t index = 0;
    SK_RETURN_IF_ERROR(ParseUnsigned(';', &index));
    if (index == 0 || index > static_cast<uint64_t>(INT64_MAX)) {
      return Fail("reference index out of range");
    }
    out->int_value = static_cast<int64_t>(index);
    return Status::OK();
  }

  std::string_view in_;
  PhpParseLimits limits_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

Result<PhpSession> ParsePhpFormat(std::string_view payload,
                                  const PhpParseLimits& limits) {
  PhpSession session;
  session.format = PhpSessionFormat::kPhp;
  Parser parser(payload, limits);
  while (!parser.AtEnd()) {
    const size_t bar = payload.find('|', parser.pos());
    if (bar == std::string_view::npos) {
      return parser.Fail("expected '|' after a variable name");
    }
    PhpEntry entry;
    entry.key.type = Type::kString;
    entry.key.text.assign(payload.substr(parser.pos(), bar - parser.pos()));
    parser.set_pos(bar + 1);
    SK_RETURN_IF_ERROR(parser.ParseValue(&entry.value, 0));
    session.vars.push_back(std::move(entry));
  }
  return session;
}

Result<PhpSession> ParsePhpSerializeFormat(std::string_view payload,
                                           const PhpParseLimits& limits) {
  Parser parser(payload, limits);
  if (payload.empty() || payload[0] != 'a') {
    return parser.Fail("expected a serialized array (a:...)");
  }
  PhpValue top;
  SK_RETURN_IF_ERROR(parser.ParseValue(&top, 0));
  if (!parser.AtEnd()) return parser.Fail("unexpected bytes after the array");
  PhpSession session;
  session.format = PhpSessionFormat::kPhpSerialize;
  session.vars = std::move(top.entries);
  return session;
}

// Word-like keys print bare; anything else (empty, digits only, spaces,
// punctuation, non-ASCII) prints quoted and escaped.
bool IsPlainKey(std::string_view key) {
  if (key.empty()) return false;
  bool all_digits = true;
  for (char c : key) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      IsDigit(c) || c == '_' || c == '-' || c == '.';
    if (!word) return false;
    if (!IsDigit(c)) all_digits = false;
  }
  return !all_digits;
}

std::string Quote(std::string_view bytes) {
  return "\"" + EscapeBytes(bytes, /*escape_quotes=*/true) + "\"";
}

// Class names keep their namespace separators unescaped (App\Profile).
std::string EscapeClassName(std::string_view name) {
  std::string out;
  size_t start = 0;
  for (;;) {
    const size_t slash = name.find('\\', start);
    out += EscapeBytes(name.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    out += '\\';
    start = slash + 1;
  }
}

std::string FormatKeyName(std::string_view name) {
  return IsPlainKey(name) ? std::string(name) : Quote(name);
}

std::string FormatKey(const PhpValue& key, bool is_property) {
  if (key.type == Type::kInt) return std::to_string(key.int_value);
  std::string_view name = key.text;
  // Property names of private and protected members: "\0Class\0name" and
  // "\0*\0name".
  if (is_property && name.size() > 2 && name[0] == '\0') {
    const size_t second = name.find('\0', 1);
    if (second != std::string_view::npos && second > 1) {
      std::string_view owner = name.substr(1, second - 1);
      std::string_view member = name.substr(second + 1);
      if (owner == "*") return FormatKeyName(member) + " (protected)";
      return FormatKeyName(member) + " (private " + EscapeClassName(owner) +
             ")";
    }
  }
  return FormatKeyName(name);
}

void FormatEntries(const std::vector<PhpEntry>& entries, int indent,
                   bool is_property, std::string* out);

void FormatValue(const PhpValue& v, int indent, std::string* out) {
  switch (v.type) {
    case Type::kNull:
      *out += "null\n";
      return;
    case Type::kBool:
      *out += v.bool_value ? "true\n" : "false\n";
      return;
    case Type::kInt:
      *out += std::to_string(v.int_value) + "\n";
      return;
    case Type::kFloat:
      *out += v.text + "\n";
      return;
    case Type::kString:
      *out += Quote(v.text) + "\n";
      return;
    case Type::kArray:
      *out += "array(" + std::to_string(v.entries.size()) + ")\n";
      FormatEntries(v.entries, indent + 1, /*is_property=*/false, out);
      return;
    case Type::kObject:
      *out += "object(" + EscapeClassName(v.class_name) + ") (" +
              std::to_string(v.entries.size()) + ")\n";
      FormatEntries(v.entries, indent + 1, /*is_property=*/true, out);
      return;
    case Type::kCustomObject:
      *out += "object(" + EscapeClassName(v.class_name) + ") custom " +
              Quote(v.text) + "\n";
      return;
    case Type::kEnum: {
      const size_t colon = v.text.find(':');
      *out += "enum " + EscapeClassName(v.text.substr(0, colon)) +
              "::" + EscapeBytes(v.text.substr(colon + 1)) + "\n";
      return;
    }
    case Type::kReference:
      *out += std::string(v.is_php_reference ? "&ref(" : "ref(") +
              std::to_string(v.int_value) + ")\n";
      return;
  }
}

void FormatEntries(const std::vector<PhpEntry>& entries, int indent,
                   bool is_property, std::string* out) {
  for (const PhpEntry& e : entries) {
    out->append(static_cast<size_t>(indent) * 2, ' ');
    *out += FormatKey(e.key, is_property);
    *out += ": ";
    FormatValue(e.value, indent, out);
  }
}

// Length of the valid UTF-8 sequence at s[i] whose code point is printable
// (not a C1 control, not a bidirectional control or line separator); 0 if
// there is none.
size_t PrintableUtf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = b(i);
  size_t len;
  uint32_t cp;
  uint32_t min;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2, cp = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3, cp = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp <= 0x9F) return 0;  // C1 controls
  if (cp == 0x061C || cp == 0x200E || cp == 0x200F ||
      (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
    return 0;  // line separators and bidi controls can disguise text
  }
  return len;
}

}  // namespace

std::string_view PhpSessionFormatName(PhpSessionFormat format) {
  return format == PhpSessionFormat::kPhp ? "php" : "php_serialize";
}

Result<PhpSession> ParsePhpSession(std::string_view payload,
                                   PhpSessionFormat format,
                                   const PhpParseLimits& limits) {
  return format == PhpSessionFormat::kPhp
             ? ParsePhpFormat(payload, limits)
             : ParsePhpSerializeFormat(payload, limits);
}

Result<PhpSession> ParsePhpSessionAnyFormat(std::string_view payload,
                                            const PhpParseLimits& limits) {
  auto php = ParsePhpFormat(payload, limits);
  if (php.ok()) return php;
  auto serialized = ParsePhpSerializeFormat(payload, limits);
  if (serialized.ok()) return serialized;
  return php;
}

std::string FormatPhpSession(const PhpSession& session) {
  if (session.vars.empty()) return "(empty session)\n";
  std::string out;
  FormatEntries(session.vars, 0, /*is_property=*/false, &out);
  return out;
}

std::string EscapeBytes(std::string_view bytes, bool escape_quotes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\') {
      out += "\\\\";
      ++i;
    } else if (c == '"' && escape_quotes) {
      out += "\\\"";
      ++i;
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
      ++i;
    } else if (size_t n = c >= 0x80 ? PrintableUtf8Length(bytes, i) : 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    }
  }
  return out;
}

}  // namespace sessionkit::cli
