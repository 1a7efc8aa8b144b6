// Rendering store URLs and specs for messages and logs without their
// secrets: StoreUrl::Redacted and RedactStoreSpec.
#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/store_url.h"
#include "uri/grammar.h"
#include "uri/schemes.h"
#include "uri/text.h"

namespace sessionkit {
namespace {

using uri::FindParam;
using uri::FindScheme;
using uri::ParamSpec;
using uri::ParamType;
using uri::SchemeSpec;
using uri::StartsWithScheme;

// Renders params as "?a=1&b=2", secrets as "***"; with `locating`, only
// the parameters that locate the sessions, by name.
std::string RenderQuery(const StoreUrl& url, bool locating = false) {
  const SchemeSpec* s = FindScheme(url.scheme);
  std::vector<std::pair<std::string, std::string>> params = url.params;
  if (locating) {
    std::erase_if(params, [&](const auto& p) {
      const ParamSpec* spec = s ? FindParam(*s, p.first) : nullptr;
      return spec == nullptr || !spec->locates;
    });
    std::sort(params.begin(), params.end());
  }
  std::string out;
  for (const auto& [name, value] : params) {
    out += out.empty() ? "?" : "&";
    out += uri::PercentEncode(name, "");
    out += "=";
    const ParamSpec* spec = s ? FindParam(*s, name) : nullptr;
    // A parameter this scheme does not know is rendered hidden too: it can
    // only come from a hand-built StoreUrl and might be a secret.
    if (spec == nullptr || spec->type == ParamType::kSecret) {
      out += "***";
    } else {
      out += uri::PercentEncode(value, "/:+");
    }
  }
  return out;
}

// Names whose values RedactSpecText hides: any parameter that may hold a
// credential, whatever the scheme.
bool MayHoldSecret(std::string_view name) {
  std::string lower;
  for (char c : name) {
    lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  for (std::string_view word :
       {"pass", "pwd", "auth", "secret", "key", "token"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

// Whether a new URL of a tier list starts at text[i]: a '|' or ',' followed
// by "scheme://".
bool IsTierStart(std::string_view text, size_t i) {
  return (text[i] == '|' || text[i] == ',') &&
         StartsWithScheme(text.substr(i + 1));
}

// Replaces the value of every password-like query parameter in `text` by
// "***". A value runs to the next '&' or the next tier, so a '|' or '#'
// inside a password does not end it.
std::string RedactParams(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i++];
    out.push_back(c);
    if (c != '?' && c != '&') continue;
    size_t eq = text.find_first_of("=&|?/#", i);
    if (eq == std::string_view::npos || text[eq] != '=' ||
        !MayHoldSecret(text.substr(i, eq - i))) {
      continue;
    }
    out.append(text.substr(i, eq + 1 - i));
    out.append("***");
    i = eq + 1;
    while (i < text.size() && text[i] != '&' && !IsTierStart(text, i)) ++i;
  }
  return out;
}

// RedactStoreSpec for a spec that does not parse: works on the raw text.
// Such a spec says nothing reliable about where a password ends (it may
// hold a raw '/', '?', '#', '|', '@' or even "://"), so everything between
// the first "://" (or the start, when the spec does not begin with a
// scheme) and the last '@' is masked, whatever tier it belongs to.
std::string RedactSpecText(std::string_view spec) {
  size_t last_at = spec.rfind('@');
  if (last_at == std::string_view::npos) return RedactParams(spec);
  size_t start = 0;
  if (StartsWithScheme(spec)) start = spec.find("://") + 3;
  std::string out(spec.substr(0, start));
  out += "***";
  out += RedactParams(spec.substr(last_at));
  return out;
}

// The URL for messages (passwords hidden), or with `location` its
// Location (no user, password, or parameter that does not locate).
std::string Render(const StoreUrl& url, bool location) {
  std::string out = url.scheme + "://";
  if (url.scheme == "lmdb") {
    out += uri::PercentEncode(url.path, "/:+");
    return out + RenderQuery(url, location);
  }
  if (url.scheme == "php") return out + url.path + RenderQuery(url, location);
  if (!location && (!url.user.empty() || url.has_password)) {
    out += uri::PercentEncode(url.user, "");
    if (url.has_password) out += ":***";
    out += "@";
  }
  for (size_t i = 0; i < url.hosts.size(); ++i) {
    if (i > 0) out += ",";
    const std::string& h = url.hosts[i].host;
    if (h.find(':') != std::string::npos) {
      out += "[" + h + "]";
    } else {
      out += uri::PercentEncode(h, "");
    }
    out += ":" + std::to_string(url.hosts[i].port);
  }
  if (!url.path.empty()) out += "/" + uri::PercentEncode(url.path, ":+");
  return out + RenderQuery(url, location);
}

}  // namespace

std::string RedactStoreSpec(std::string_view spec) {
  auto urls = ParseStoreSpec(spec);
  if (!urls.ok()) return RedactSpecText(spec);
  std::string out;
  for (const StoreUrl& url : *urls) {
    if (!out.empty()) out += "|";
    out += url.Redacted();
  }
  return out;
}

std::string StoreUrl::Redacted() const { return Render(*this, false); }

std::string StoreUrl::Location() const { return Render(*this, true); }

}  // namespace sessionkit
