// Text helpers of the store URL grammar: trimming, quoting for messages,
// percent-encoding and the number syntaxes (sizes, durations, booleans).
#ifndef SESSIONKIT_URI_TEXT_H_
#define SESSIONKIT_URI_TEXT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sessionkit::uri {

// `text` without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view text);

// `text` with A-Z mapped to a-z.
std::string Lower(std::string_view text);

// `text` in single quotes for an error message: bytes outside printable
// ASCII are shown as \xNN and long text is cut, so a message stays one
// readable line whatever the input.
std::string Quote(std::string_view text);

// "a, b, c", for messages.
std::string Join(std::span<const std::string_view> items);

// Like Quote() but without the quotes.
std::string Printable(std::string_view text);

// Decodes %XX escapes into `out`. On a bad escape returns false and sets
// `bad` to the offending escape (at most three characters).
bool PercentDecode(std::string_view in, std::string* out,
                   std::string_view* bad);

// Encodes every byte except unreserved characters (A-Z a-z 0-9 - . _ ~) and
// those in `keep` as %XX.
std::string PercentEncode(std::string_view in, std::string_view keep);

// True when `text` has a byte below 0x20 or 0x7f (DEL).
bool HasControlChar(std::string_view text);

// A file path: not empty, no control characters.
bool IsFilePath(std::string_view text);

// Why a number did not parse.
enum class NumberError { kNone, kSyntax, kOverflow };

// A whole decimal number (digits only). kOverflow above UINT64_MAX.
std::optional<uint64_t> ParseWhole(std::string_view text, NumberError* error);

// The value syntaxes of store_url.h, with the reason of a failure.
std::optional<uint64_t> SizeValue(std::string_view text, NumberError* error);
std::optional<int64_t> DurationMillis(std::string_view text,
                                      NumberError* error);
std::optional<bool> BoolValue(std::string_view text);
// An octal file mode: 1 to 4 octal digits ("0600", "600"), so at most 07777.
std::optional<unsigned> OctalModeValue(std::string_view text);

}  // namespace sessionkit::uri

#endif  // SESSIONKIT_URI_TEXT_H_
