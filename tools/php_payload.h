// Decoding of PHP session payloads for display by the `sessionkit` CLI.
//
// A session payload is whatever PHP's session.serialize_handler produced:
//
//   php            name|<serialized value>name2|<serialized value>...
//   php_serialize  one serialized array: a:2:{s:4:"name";...}
//
// The bytes come from a store and are untrusted: the parser bounds its
// recursion depth and the number of values it builds, checks every length
// against the bytes that remain, and never resolves references, so its work
// and memory stay linear in the input.
#ifndef SESSIONKIT_TOOLS_PHP_PAYLOAD_H_
#define SESSIONKIT_TOOLS_PHP_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"

namespace sessionkit::cli {

struct PhpEntry;

// One value of PHP's serialize() format.
struct PhpValue {
  enum class Type : uint8_t {
    kNull,          // N;
    kBool,          // b:0; b:1;
    kInt,           // i:-12;
    kFloat,         // d:1.5;  (text keeps the literal as written)
    kString,        // s:3:"abc";  S:3:"\61bc";  (text holds the bytes)
    kArray,         // a:n:{key;value;...}
    kObject,        // O:len:"Class":n:{name;value;...}
    kCustomObject,  // C:len:"Class":len:{bytes}  (Serializable)
    kEnum,          // E:len:"Class:Case";
    kReference,     // R:n; (a PHP reference, &) and r:n; (same object)
  };

  Type type = Type::kNull;
  bool bool_value = false;
  // kInt: the number. kReference: the 1-based index of the value referred to.
  int64_t int_value = 0;
  // kReference: true for R: (a PHP reference), false for r: (an object).
  bool is_php_reference = false;
  // kFloat: the literal; kString: the bytes; kCustomObject: its own payload;
  // kEnum: "Class:Case".
  std::string text;
  // kObject, kCustomObject: the class name.
  std::string class_name;
  // kArray, kObject: keys and values in order.
  std::vector<PhpEntry> entries;
};

struct PhpEntry {
  PhpValue key;  // kInt or kString
  PhpValue value;
};

enum class PhpSessionFormat {
  kPhp,           // session.serialize_handler = php (PHP's default)
  kPhpSerialize,  // session.serialize_handler = php_serialize
};

// Returns "php" or "php_serialize".
std::string_view PhpSessionFormatName(PhpSessionFormat format);

// A decoded session: its variables in order.
struct PhpSession {
  PhpSessionFormat format = PhpSessionFormat::kPhp;
  std::vector<PhpEntry> vars;
};

// Bounds on what the parser builds from untrusted bytes.
struct PhpParseLimits {
  // Arrays and objects nested deeper than this are refused.
  int max_depth = 64;
  // Most values (keys count as values) in one payload.
  size_t max_values = 1u << 18;
};

// Parses `payload` in the given format. InvalidArgument naming the byte
// offset and what was expected when the bytes are not in that format, or
// when a limit is exceeded. The whole payload must be consumed.
Result<PhpSession> ParsePhpSession(std::string_view payload,
                                   PhpSessionFormat format,
                                   const PhpParseLimits& limits = {});

// Tries the php format, then php_serialize. On failure returns the php
// format's error (the default handler, so the likelier intent).
Result<PhpSession> ParsePhpSessionAnyFormat(std::string_view payload,
                                            const PhpParseLimits& limits = {});

// Renders a session as an indented tree, one variable or array element per
// line, two spaces per level, e.g.
//
//   user: "alice"
//   cart: array(1)
//     tea: array(2)
//       name: "Green tea"
//       qty: 2
//   visits: 17
//
// Keys that are not plain words are quoted; strings are quoted and escaped
// with EscapeBytes. An empty session renders as "(empty session)\n".
std::string FormatPhpSession(const PhpSession& session);

// Returns `bytes` safe to print on a terminal: printable ASCII and valid
// UTF-8 text are kept; a backslash becomes \\, a double quote \" (when
// `escape_quotes`), and every other byte (control characters, DEL, invalid
// UTF-8, C1 controls and bidirectional overrides) becomes \xNN.
std::string EscapeBytes(std::string_view bytes, bool escape_quotes = false);

}  // namespace sessionkit::cli

#endif  // SESSIONKIT_TOOLS_PHP_PAYLOAD_H_
