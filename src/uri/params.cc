// Reading the values of a store URL's parameters: StoreUrl's readers, for
// each store's Options::FromUrl. The syntaxes themselves are defined once,
// in text.cc (ParseSize and the other public parsers use the same).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "sessionkit/store_url.h"
#include "uri/grammar.h"
#include "uri/schemes.h"
#include "uri/text.h"

namespace sessionkit {
namespace {

using uri::Bad;
using uri::FindParam;
using uri::FindScheme;
using uri::FindValue;
using uri::NumberError;
using uri::ParamSpec;
using uri::ParamType;
using uri::PathRule;
using uri::Quote;
using uri::SchemeSpec;

// A parameter's value as a reader finds it.
struct Found {
  std::string_view name;     // the parameter given: `name`, or its fallback
  const std::string* value;  // nullptr when neither was given
  bool secret = false;
};

// Finds the value of `name` (or of the parameter it falls back to).
// InvalidArgument when the scheme does not define `name`.
Result<Found> Lookup(const StoreUrl& url, std::string_view name) {
  const SchemeSpec* s = FindScheme(url.scheme);
  if (s == nullptr) {
    return Status::InvalidArgument("unknown store scheme " + Quote(url.scheme));
  }
  const ParamSpec* spec = FindParam(*s, name);
  if (spec == nullptr) {
    return Status::InvalidArgument(
        Quote(name) + " is not a parameter of " + url.scheme +
        " URLs (valid: " + uri::ParamNames(*s) + ")");
  }
  Found found{name, FindValue(url.params, name),
              spec->type == ParamType::kSecret};
  if (found.value == nullptr && !spec->fallback_from.empty()) {
    found.name = spec->fallback_from;
    found.value = FindValue(url.params, spec->fallback_from);
  }
  return found;
}

// "bad <scheme> URL: name=value: <expected>"; a secret's value is not shown.
Status BadValue(const StoreUrl& url, const Found& found,
                std::string_view expected) {
  std::string given(found.name);
  if (!found.secret) given += "=" + uri::Printable(*found.value);
  return Bad(url.scheme, given + ": " + std::string(expected));
}

// A value as a reader's syntax parsed it, or what was expected instead.
template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string expected;
};

// The value of `name` (or of its fallback parameter) parsed by `parse`,
// `fallback` when neither was given, or the error naming what was given.
template <typename T, typename Parse>
Result<T> Read(const StoreUrl& url, std::string_view name, T fallback,
               Parse parse) {
  Result<Found> found = Lookup(url, name);
  if (!found.ok()) return found.status();
  if (found->value == nullptr) return fallback;
  Parsed<T> parsed = parse(*found->value);
  if (parsed.value) return *std::move(parsed.value);
  return BadValue(url, *found, parsed.expected);
}

}  // namespace

std::optional<std::string> StoreUrl::Param(std::string_view name) const {
  const std::string* v = FindValue(params, name);
  if (v == nullptr) return std::nullopt;
  return *v;
}

Result<uint64_t> StoreUrl::SizeParam(std::string_view name,
                                     uint64_t fallback) const {
  return Read<uint64_t>(*this, name, fallback, [](const std::string& v) {
    NumberError err;
    std::optional<uint64_t> size = uri::SizeValue(v, &err);
    return Parsed<uint64_t>{size, err == NumberError::kOverflow
                                      ? "too large for a size"
                                      : "expected a size like 512MiB or 1GiB"};
  });
}

Result<Duration> StoreUrl::DurationParam(std::string_view name,
                                         Duration fallback) const {
  return Read<Duration>(*this, name, fallback, [](const std::string& v) {
    NumberError err;
    std::optional<int64_t> ms = uri::DurationMillis(v, &err);
    return Parsed<Duration>{
        ms ? std::optional<Duration>(Duration(*ms)) : std::nullopt,
        err == NumberError::kOverflow
            ? "too long for a duration"
            : "expected a duration like 250ms or 2s (units ms, s, m, h)"};
  });
}

Result<bool> StoreUrl::BoolParam(std::string_view name, bool fallback) const {
  return Read<bool>(*this, name, fallback, [](const std::string& v) {
    return Parsed<bool>{uri::BoolValue(v),
                        "expected 1/0, true/false, on/off or yes/no"};
  });
}

Result<int64_t> StoreUrl::IntParam(std::string_view name,
                                   int64_t fallback) const {
  // redis://host/3 gives the database as the path (the parser makes db= the
  // path too).
  if (name == "db" && !path.empty() && FindValue(params, name) == nullptr) {
    const SchemeSpec* s = FindScheme(scheme);
    if (s != nullptr && s->path == PathRule::kOptionalDb) {
      NumberError err;
      std::optional<uint64_t> db = uri::ParseWhole(path, &err);
      if (!db || *db > static_cast<uint64_t>(uri::kMaxRedisDb)) {
        return Bad(scheme,
                   "database " + Quote("/" + path) + " is not a whole number");
      }
      return static_cast<int64_t>(*db);
    }
  }
  return Read<int64_t>(*this, name, fallback, [](const std::string& v) {
    NumberError err;
    std::optional<uint64_t> n = uri::ParseWhole(v, &err);
    if (n && *n <= static_cast<uint64_t>(INT64_MAX)) {
      return Parsed<int64_t>{static_cast<int64_t>(*n), ""};
    }
    return Parsed<int64_t>{std::nullopt, n || err == NumberError::kOverflow
                                             ? "too large for a whole number"
                                             : "expected a whole number"};
  });
}

Result<unsigned> StoreUrl::ModeParam(std::string_view name,
                                     unsigned fallback) const {
  return Read<unsigned>(*this, name, fallback, [](const std::string& v) {
    return Parsed<unsigned>{uri::OctalModeValue(v),
                            "expected an octal file mode like 0600"};
  });
}

Result<std::string> StoreUrl::PathParam(std::string_view name,
                                        std::string fallback) const {
  return Read<std::string>(
      *this, name, std::move(fallback), [](const std::string& v) {
        return Parsed<std::string>{
            uri::IsFilePath(v) ? std::optional<std::string>(v) : std::nullopt,
            "expected a file path (not empty, no control characters)"};
      });
}

Result<size_t> StoreUrl::ChoiceParam(std::string_view name,
                                     std::span<const std::string_view> choices,
                                     size_t fallback) const {
  return Read<size_t>(*this, name, fallback, [&](const std::string& v) {
    for (size_t i = 0; i < choices.size(); ++i) {
      if (v == choices[i]) return Parsed<size_t>{i, ""};
    }
    return Parsed<size_t>{std::nullopt,
                          "expected one of " + uri::Join(choices)};
  });
}

bool StoreUrl::write_async() const {
  const std::string* v = FindValue(params, "write");
  return v != nullptr && *v == "async";
}

}  // namespace sessionkit
