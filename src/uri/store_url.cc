// The store URL grammar: a spec's split into tiers, and the scheme that
// decides how the rest of each URL is read (see include/sessionkit/
// store_url.h and docs/configuration.md), and the public value syntaxes.
// grammar.cc reads the rest of a URL; the parameter names are each
// scheme's (schemes.cc); their values are read by each store's
// Options::FromUrl (params.cc has the readers).
#include "sessionkit/store_url.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "uri/grammar.h"
#include "uri/schemes.h"
#include "uri/text.h"

namespace sessionkit {
namespace uri {

// Tiers are split at '|' and at a ',' directly followed (after spaces) by
// "scheme://"; a ',' inside a host list is followed by a host, never by
// "://", so it stays part of its URL.
bool StartsWithScheme(std::string_view text) {
  size_t i = text.find_first_not_of(" \t\n\r\f\v");
  if (i == std::string_view::npos) return false;
  text.remove_prefix(i);
  i = 0;
  auto alpha = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  if (text.empty() || !alpha(text[0])) return false;
  while (i < text.size() &&
         (alpha(text[i]) || (text[i] >= '0' && text[i] <= '9') ||
          text[i] == '+' || text[i] == '.' || text[i] == '-')) {
    ++i;
  }
  return text.substr(i, 3) == "://";
}

}  // namespace uri

namespace {

using uri::Bad;
using uri::FindScheme;
using uri::NumberError;
using uri::PathRule;
using uri::Quote;
using uri::QuoteHidingUserInfo;
using uri::SchemeSpec;
using uri::StartsWithScheme;

std::vector<std::string_view> SplitTiers(std::string_view spec) {
  std::vector<std::string_view> tiers;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); ++i) {
    bool end = i == spec.size() || spec[i] == '|' ||
               (spec[i] == ',' && StartsWithScheme(spec.substr(i + 1)));
    if (end) {
      tiers.push_back(uri::Trim(spec.substr(start, i - start)));
      start = i + 1;
    }
  }
  return tiers;
}

}  // namespace

Result<StoreUrl> ParseStoreUrl(std::string_view url) {
  url = uri::Trim(url);
  if (url.empty()) {
    return Status::InvalidArgument(
        "empty store URL (expected e.g. lmdb:///var/lib/sessionkit)");
  }
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    if (url.front() == '/') {
      return Status::InvalidArgument(
          "bad store URL: " + Quote(url) +
          " is a path, not a store URL: for an LMDB store in that directory "
          "write lmdb://" +
          uri::Printable(url));
    }
    size_t colon = url.find(':');
    if (colon != std::string_view::npos &&
        FindScheme(uri::Lower(url.substr(0, colon))) != nullptr) {
      std::string scheme = uri::Lower(url.substr(0, colon));
      return Bad(scheme,
                 "expected '//' after '" + scheme + ":', as in " + scheme +
                     (scheme == "lmdb" ? ":///var/lib/sessionkit" : "://host"));
    }
    return Status::InvalidArgument(
        "bad store URL: " + QuoteHidingUserInfo(url) +
        " has no scheme (expected scheme://..., scheme one of " +
        uri::KnownSchemes() + ")");
  }
  std::string scheme = uri::Lower(url.substr(0, sep));
  if (scheme == "postgresql") scheme = "postgres";
  const SchemeSpec* s = FindScheme(scheme);
  if (s == nullptr) {
    return Status::InvalidArgument("bad store URL: unknown scheme " +
                                   QuoteHidingUserInfo(url.substr(0, sep)) +
                                   " (known: " + uri::KnownSchemes() +
                                   "; postgresql is an alias of postgres)");
  }
  std::string_view rest = url.substr(sep + 3);
  if (s->path == PathRule::kFilesystem) return uri::ParseLmdb(*s, rest);
  if (s->path == PathRule::kName) return uri::ParseName(*s, rest);

  uri::Pieces standard = uri::SplitStandard(rest);
  Result<StoreUrl> parsed = uri::ParseNetwork(*s, standard);
  if (parsed.ok() || standard.tail.find('@') == std::string_view::npos) {
    return parsed;
  }
  // An '@' after the first '/' or '?': most likely user info with an
  // unencoded '/' or '?' (and, when there is an '@' before it too, an
  // unencoded '@'). The first error may then quote part of the password,
  // so report from the split that keeps it hidden.
  Result<StoreUrl> hidden = uri::ParseNetwork(*s, uri::SplitAtLastAt(rest));
  if (hidden.ok()) {
    if (standard.has_userinfo) {
      return Bad(s->name,
                 "the part before the last '@' contains an unencoded '/', "
                 "'?' or '@': percent-encode them in a user name or "
                 "password (%2F, %3F, %40)");
    }
    return Bad(s->name,
               "the part before '@' contains an unencoded '/' or '?': "
               "percent-encode them in a user name or password (%2F, %3F)");
  }
  return Status::InvalidArgument(
      hidden.status().message() +
      " (if the password contains '/', '?' or '@', percent-encode them as "
      "%2F, %3F and %40)");
}

Result<std::vector<StoreUrl>> ParseStoreSpec(std::string_view spec) {
  if (uri::Trim(spec).empty()) {
    return Status::InvalidArgument(
        "empty store URL (expected e.g. lmdb:///var/lib/sessionkit, or "
        "several URLs separated by '|')");
  }
  std::vector<std::string_view> tiers = SplitTiers(spec);
  auto where = [&](size_t i) {
    return tiers.size() > 1 ? "tier " + std::to_string(i + 1) + ": "
                            : std::string();
  };
  // A tier without "://" is reported first: it is often the tail of a
  // password that held a '|', and the error of the tier before it could
  // quote the rest of that password.
  for (size_t i = 0; i < tiers.size(); ++i) {
    if (tiers[i].empty()) {
      return Status::InvalidArgument(
          "tier " + std::to_string(i + 1) + " of " +
          std::to_string(tiers.size()) +
          " is empty (a doubled or trailing '|' or ','?)");
    }
    if (tiers.size() > 1 && tiers[i].find("://") == std::string_view::npos) {
      std::string msg = ParseStoreUrl(tiers[i]).status().message();
      if (tiers[i].find('@') != std::string_view::npos) {
        msg += "; if a password contains '|', percent-encode it as %7C";
      }
      return Status::InvalidArgument(where(i) + msg);
    }
  }
  std::vector<StoreUrl> urls;
  urls.reserve(tiers.size());
  for (size_t i = 0; i < tiers.size(); ++i) {
    Result<StoreUrl> url = ParseStoreUrl(tiers[i]);
    if (!url.ok()) {
      if (tiers.size() == 1) return url.status();
      return url.status().WithContext("tier " + std::to_string(i + 1));
    }
    urls.push_back(std::move(url).value());
  }
  return urls;
}

Result<uint64_t> ParseSize(std::string_view text) {
  NumberError err;
  std::optional<uint64_t> v = uri::SizeValue(text, &err);
  if (v) return *v;
  if (err == NumberError::kOverflow) {
    return Status::InvalidArgument("size " + Quote(text) + " is too large");
  }
  return Status::InvalidArgument(
      Quote(text) +
      " is not a size: expected a whole number with an optional unit B, "
      "K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB, like 512MiB or 1GiB");
}

Result<Duration> ParseDuration(std::string_view text) {
  NumberError err;
  std::optional<int64_t> v = uri::DurationMillis(text, &err);
  if (v) return Duration(*v);
  if (err == NumberError::kOverflow) {
    return Status::InvalidArgument("duration " + Quote(text) + " is too long");
  }
  return Status::InvalidArgument(
      Quote(text) +
      " is not a duration: expected a whole number with a unit ms, s, m or "
      "h, like 250ms or 2s (a bare number is milliseconds)");
}

Result<bool> ParseBool(std::string_view text) {
  std::optional<bool> v = uri::BoolValue(text);
  if (v) return *v;
  return Status::InvalidArgument(
      Quote(text) +
      " is not a boolean: expected 1/0, true/false, on/off or "
      "yes/no");
}

}  // namespace sessionkit
