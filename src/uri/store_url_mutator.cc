#include "uri/store_url_mutator.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/mutator_growth.h"
#include "uri/schemes.h"

// libFuzzer's byte-level mutator (with the -dict entries).
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace sessionkit::uri::fuzz {
namespace {

using Rng = std::mt19937;

// Bytes a byte mutation of one part may add to it.
constexpr size_t kPartRoom = 16;

// Values of the forms the stores read (durations, sizes, numbers, modes,
// booleans, paths, prefixes), for a parameter whose rule has no choices.
constexpr std::string_view kValueForms[] = {
    "",     "0",   "1",    "2",    "250ms", "2s",   "1GiB",       "512",
    "0600", "off", "full", "true", "no",    "app:", "/etc/x.pem", "%2F",
};
constexpr std::string_view kHosts[] = {"localhost", "127.0.0.1:6379",
                                       "[::1]:26379", "h"};

struct Param {
  std::string name;
  bool has_value = false;
  std::string value;
};

// One URL, split so that Render() gives back its exact bytes. Tolerant:
// anything with "://" splits, whether or not the grammar accepts it.
struct Url {
  std::string lead, trail;  // spaces around it (in "a | b")
  std::string scheme;       // before "://"
  bool has_userinfo = false;
  std::string userinfo;            // before the authority's last '@'
  std::vector<std::string> hosts;  // the authority's ',' list
  bool has_path = false;
  std::string path;  // after the authority's '/', before '?'
  bool has_query = false;
  std::vector<Param> params;  // after '?', '&'-separated
};

// A spec: its '|'-separated tiers, each a URL or (when it has no "://")
// kept as it is.
struct Spec {
  std::vector<std::string> raw;
  std::vector<std::optional<Url>> urls;
};

size_t Pick(Rng& rng, size_t n) {
  return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
}

bool OneIn(Rng& rng, size_t n) { return Pick(rng, n) == 0; }

// Splits on `sep`; the empty string gives no parts.
std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  if (s.empty()) return parts;
  for (;;) {
    const size_t at = s.find(sep);
    parts.emplace_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

std::string Join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::optional<Url> ParseUrl(std::string_view in) {
  const size_t sep = in.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  Url url;
  const size_t first = in.find_first_not_of(' ');
  url.lead = in.substr(0, first);
  const size_t last = in.find_last_not_of(' ');
  url.trail = in.substr(last + 1);
  in = in.substr(0, last + 1);
  url.scheme = in.substr(first, sep - first);
  std::string_view rest = in.substr(sep + 3);
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    url.has_query = true;
    for (const std::string& kv : Split(rest.substr(q + 1), '&')) {
      const size_t eq = kv.find('=');
      url.params.push_back({kv.substr(0, eq), eq != std::string::npos,
                            eq == std::string::npos ? "" : kv.substr(eq + 1)});
    }
    rest = rest.substr(0, q);
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    url.has_path = true;
    url.path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    url.has_userinfo = true;
    url.userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  url.hosts = Split(rest, ',');
  return url;
}

std::string Render(const Url& url) {
  std::string out = url.lead + url.scheme + "://";
  if (url.has_userinfo) out += url.userinfo + "@";
  out += Join(url.hosts, ',');
  if (url.has_path) out += "/" + url.path;
  if (url.has_query) out += "?";
  for (size_t i = 0; i < url.params.size(); ++i) {
    if (i > 0) out += '&';
    out += url.params[i].name;
    if (url.params[i].has_value) out += "=" + url.params[i].value;
  }
  return out + url.trail;
}

Spec ParseSpec(std::string_view in) {
  Spec spec;
  spec.raw = Split(in, '|');
  for (const std::string& tier : spec.raw) spec.urls.push_back(ParseUrl(tier));
  return spec;
}

std::string RenderSpec(const Spec& spec) {
  std::vector<std::string> tiers;
  for (size_t i = 0; i < spec.raw.size(); ++i) {
    tiers.push_back(spec.urls[i] ? Render(*spec.urls[i]) : spec.raw[i]);
  }
  return Join(tiers, '|');
}

// ------------------------------------------------ names from the grammar

std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> names;
  for (std::string& name : Split(list, ',')) {
    if (!name.empty() && name[0] == ' ') name.erase(0, 1);
    names.push_back(std::move(name));
  }
  return names;
}

// Every scheme, and every parameter name of any scheme, once.
struct Grammar {
  std::vector<std::string> schemes;
  std::vector<std::string> params;
};

const Grammar& Known() {
  static const Grammar grammar = [] {
    Grammar g;
    g.schemes = SplitList(KnownSchemes());
    for (const std::string& scheme : g.schemes) {
      for (const ParamSpec& p : FindScheme(scheme)->params) {
        bool seen = false;
        for (const std::string& name : g.params) seen = seen || name == p.name;
        if (!seen) g.params.emplace_back(p.name);
      }
    }
    return g;
  }();
  return grammar;
}

// The parameter names `url`'s scheme accepts (all known ones for an
// unknown scheme or one that takes none, and now and then anyway, to reach
// the refusals). Never empty.
std::vector<std::string> NamesFor(const Url& url, Rng& rng) {
  const SchemeSpec* scheme = FindScheme(url.scheme);
  if (scheme == nullptr || scheme->params.empty() || OneIn(rng, 4)) {
    return Known().params;
  }
  std::vector<std::string> names;
  for (const ParamSpec& p : scheme->params) names.emplace_back(p.name);
  return names;
}

bool HasParam(const Url& url, std::string_view name) {
  for (const Param& p : url.params) {
    if (p.name == name) return true;
  }
  return false;
}

// A name for a new parameter: one `url` does not have yet, mostly (a name
// given twice is refused before anything else is checked).
std::string NewParamName(const Url& url, Rng& rng) {
  std::vector<std::string> names = NamesFor(url, rng);
  std::vector<std::string> absent;
  for (const std::string& n : names) {
    if (!HasParam(url, n)) absent.push_back(n);
  }
  if (!absent.empty() && !OneIn(rng, 8)) names = std::move(absent);
  return names[Pick(rng, names.size())];
}

// --------------------------------------------------------------- values

void MutateBytes(std::string* part) {
  const size_t size = part->size();
  part->resize(size + kPartRoom);
  const size_t n = LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(part->data()),
                                    size, part->size());
  part->resize(n);
}

// A value for parameter `name` of `url`: one of its rule's choices, a
// value already in the spec, a common form, or a byte mutation of one.
std::string ValueFor(const Spec& spec, const Url& url, std::string_view name,
                     Rng& rng) {
  const SchemeSpec* scheme = FindScheme(url.scheme);
  const ParamSpec* p = scheme ? FindParam(*scheme, name) : nullptr;
  if (p != nullptr && !p->choices.empty() && OneIn(rng, 2)) {
    return std::string(p->choices[Pick(rng, p->choices.size())]);
  }
  std::vector<std::string> seen;
  for (const std::optional<Url>& u : spec.urls) {
    if (!u) continue;
    for (const Param& q : u->params) {
      if (q.has_value) seen.push_back(q.value);
    }
  }
  std::string value =
      !seen.empty() && OneIn(rng, 2)
          ? seen[Pick(rng, seen.size())]
          : std::string(kValueForms[Pick(rng, std::size(kValueForms))]);
  if (OneIn(rng, 4)) MutateBytes(&value);
  return value;
}

// ---------------------------------------------------------------- edits
// Each edits one URL of `spec` (`spec` gives values to reuse) and returns
// false when it does not apply.

bool DuplicateHost(const Spec&, Url& url, Rng& rng) {
  std::string host = url.hosts.empty()
                         ? std::string(kHosts[Pick(rng, std::size(kHosts))])
                         : url.hosts[Pick(rng, url.hosts.size())];
  if (OneIn(rng, 4)) MutateBytes(&host);
  url.hosts.insert(url.hosts.begin() + Pick(rng, url.hosts.size() + 1), host);
  return true;
}

bool DropHost(const Spec&, Url& url, Rng& rng) {
  if (url.hosts.empty()) return false;
  url.hosts.erase(url.hosts.begin() + Pick(rng, url.hosts.size()));
  return true;
}

bool AlterHost(const Spec&, Url& url, Rng& rng) {
  if (url.hosts.empty()) return false;
  MutateBytes(&url.hosts[Pick(rng, url.hosts.size())]);
  return true;
}

bool AddParam(const Spec& spec, Url& url, Rng& rng) {
  Param p;
  p.name = NewParamName(url, rng);
  p.has_value = true;
  p.value = ValueFor(spec, url, p.name, rng);
  url.has_query = true;
  url.params.insert(url.params.begin() + Pick(rng, url.params.size() + 1),
                    std::move(p));
  return true;
}

bool DropParam(const Spec&, Url& url, Rng& rng) {
  if (url.params.empty()) return false;
  url.params.erase(url.params.begin() + Pick(rng, url.params.size()));
  if (url.params.empty() && OneIn(rng, 2)) url.has_query = false;
  return true;
}

bool RenameParam(const Spec&, Url& url, Rng& rng) {
  if (url.params.empty()) return false;
  std::string name = NewParamName(url, rng);
  url.params[Pick(rng, url.params.size())].name = std::move(name);
  return true;
}

bool ChangeValue(const Spec& spec, Url& url, Rng& rng) {
  if (url.params.empty()) return false;
  Param& p = url.params[Pick(rng, url.params.size())];
  std::string value = p.value;
  if (OneIn(rng, 2)) {
    MutateBytes(&value);
  } else {
    value = ValueFor(spec, url, p.name, rng);
  }
  p.has_value = true;
  p.value = std::move(value);
  return true;
}

bool SwitchScheme(const Spec&, Url& url, Rng& rng) {
  const std::vector<std::string>& schemes = Known().schemes;
  url.scheme = schemes[Pick(rng, schemes.size())];
  return true;
}

bool AlterUserInfo(const Spec&, Url& url, Rng&) {
  url.has_userinfo = true;
  MutateBytes(&url.userinfo);
  return true;
}

bool AlterPath(const Spec&, Url& url, Rng&) {
  url.has_path = true;
  MutateBytes(&url.path);
  return true;
}

using Edit = bool (*)(const Spec&, Url&, Rng&);
// Edits that add a host or a parameter come twice: they make what byte
// mutations cannot, while those that alter one part overlap with them.
constexpr Edit kEdits[] = {
    DuplicateHost, DuplicateHost, DropHost,      AlterHost,
    AddParam,      AddParam,      DropParam,     RenameParam,
    ChangeValue,   SwitchScheme,  AlterUserInfo, AlterPath,
};

// Tier edits, now and then: a URL of the spec copied next to it, or a tier
// dropped.
void EditTiers(Spec& spec, size_t tier, Rng& rng) {
  if (spec.raw.size() > 1 && OneIn(rng, 2)) {
    spec.raw.erase(spec.raw.begin() + tier);
    spec.urls.erase(spec.urls.begin() + tier);
    return;
  }
  const size_t at = Pick(rng, spec.raw.size() + 1);
  std::string raw = spec.raw[tier];
  std::optional<Url> copy = spec.urls[tier];
  spec.raw.insert(spec.raw.begin() + at, std::move(raw));
  spec.urls.insert(spec.urls.begin() + at, std::move(copy));
}

// One edit to one URL of the spec; false if the spec has no URL.
bool EditSpec(Spec& spec, Rng& rng) {
  std::vector<size_t> urls;
  for (size_t i = 0; i < spec.urls.size(); ++i) {
    if (spec.urls[i]) urls.push_back(i);
  }
  if (urls.empty()) return false;
  const size_t tier = urls[Pick(rng, urls.size())];
  if (OneIn(rng, 16)) {
    EditTiers(spec, tier, rng);
    return true;
  }
  Url url = *spec.urls[tier];
  for (int tries = 0; tries < 8; ++tries) {
    if (kEdits[Pick(rng, std::size(kEdits))](spec, url, rng)) {
      spec.urls[tier] = std::move(url);
      return true;
    }
  }
  return false;
}

// How far inputs may grow (fuzz/mutator_growth.h): from a little above
// the longest seed (96 bytes).
::sessionkit::fuzz::GrowthLimit g_growth(128);

size_t LengthLimit(size_t size, size_t max_size) {
  return g_growth.Next(size, max_size);
}

using ::sessionkit::fuzz::Emit;

}  // namespace

size_t MutateStoreSpec(uint8_t* data, size_t size, size_t max_size,
                       unsigned seed) {
  Rng rng(seed);
  const size_t limit = LengthLimit(size, max_size);
  if (!OneIn(rng, 4)) {
    Spec spec = ParseSpec({reinterpret_cast<const char*>(data), size});
    if (EditSpec(spec, rng)) {
      if (size_t n = Emit(RenderSpec(spec), data, limit)) return n;
    }
  }
  return LLVMFuzzerMutate(data, size, limit);
}

size_t CrossOverStoreSpecs(const uint8_t* data1, size_t size1,
                           const uint8_t* data2, size_t size2, uint8_t* out,
                           size_t max_out_size, unsigned seed) {
  Rng rng(seed);
  std::optional<Url> a =
      ParseUrl({reinterpret_cast<const char*>(data1), size1});
  std::optional<Url> b =
      ParseUrl({reinterpret_cast<const char*>(data2), size2});
  if (!a || !b) return 0;
  if (OneIn(rng, 2)) a->scheme = b->scheme;
  if (OneIn(rng, 2)) {
    a->has_userinfo = b->has_userinfo;
    a->userinfo = b->userinfo;
  }
  switch (Pick(rng, 3)) {
    case 0:  // a's hosts
      break;
    case 1:  // b's
      a->hosts = b->hosts;
      break;
    default:  // both
      a->hosts.insert(a->hosts.end(), b->hosts.begin(), b->hosts.end());
      break;
  }
  if (OneIn(rng, 2)) {
    a->has_path = b->has_path;
    a->path = b->path;
  }
  switch (Pick(rng, 3)) {
    case 0:  // a's parameters
      break;
    case 1:  // b's
      a->has_query = b->has_query;
      a->params = b->params;
      break;
    default:  // a's, then those of b's that a does not have
      for (const Param& p : b->params) {
        if (!HasParam(*a, p.name)) a->params.push_back(p);
      }
      a->has_query = a->has_query || b->has_query;
      break;
  }
  return Emit(Render(*a), out,
              LengthLimit(std::max(size1, size2), max_out_size));
}

}  // namespace sessionkit::uri::fuzz
