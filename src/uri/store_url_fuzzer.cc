// Feeds arbitrary bytes to the store URL grammar and checks its promises:
// no crash; an accepted URL is well formed, its typed parameters read back
// (the store's own settings through its Options::FromUrl),
// and Redacted() hides the password yet parses back to the same URL; an
// error is InvalidArgument with a short message that does not depend on
// the password; a spec with a secret in its user info that does not parse
// never shows the secret once redacted.
//
// Inputs are mutated with the structure of a store spec in mind
// (store_url_mutator.h): byte mutations alone rarely turn one valid URL
// into another.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/store_url.h"
#include "sessionkit/stores/lmdb.h"
#include "sessionkit/stores/memcached.h"
#include "sessionkit/stores/redis.h"
#include "uri/schemes.h"
#include "uri/store_url_mutator.h"

namespace sk = sessionkit;

namespace {

// Messages quote at most a short stretch of input, so a garbage URL cannot
// flood a log.
constexpr size_t kMaxMessage = 2048;

void Check(bool condition) {
  if (!condition) abort();
}

std::string EncodeAll(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    out += '%';
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

bool IsSecretParam(const sk::StoreUrl& url, const std::string& name) {
  const sk::uri::SchemeSpec* s = sk::uri::FindScheme(url.scheme);
  const sk::uri::ParamSpec* p = s ? sk::uri::FindParam(*s, name) : nullptr;
  return p != nullptr && p->type == sk::uri::ParamType::kSecret;
}

// The same URL, part by part: CheckUrl() of one checks the other.
bool SameUrl(const sk::StoreUrl& a, const sk::StoreUrl& b) {
  if (a.scheme != b.scheme || a.user != b.user || a.password != b.password ||
      a.has_password != b.has_password || a.path != b.path ||
      a.params != b.params || a.hosts.size() != b.hosts.size()) {
    return false;
  }
  for (size_t i = 0; i < a.hosts.size(); ++i) {
    if (a.hosts[i].host != b.hosts[i].host ||
        a.hosts[i].port != b.hosts[i].port) {
      return false;
    }
  }
  return true;
}

void CheckError(const sk::Status& status) {
  Check(!status.ok());
  Check(status.IsInvalidArgument());
  Check(!status.message().empty());
  Check(status.message().size() < kMaxMessage);
}

void CheckUrl(const sk::StoreUrl& url) {
  Check(!url.scheme.empty());
  Check(sk::uri::FindScheme(url.scheme) != nullptr);
  if (url.scheme == "lmdb") {
    Check(url.hosts.empty());
    Check(!url.path.empty() && url.path.front() == '/');
    Check(url.user.empty() && !url.has_password);
  } else if (url.scheme == "php") {
    // php://NAME: a registered store's name, no host.
    Check(url.hosts.empty());
    Check(!url.path.empty() && url.path.size() <= sk::uri::kMaxStoreNameLength);
    Check(url.user.empty() && !url.has_password);
  } else {
    Check(!url.hosts.empty());
    for (const sk::HostPort& hp : url.hosts) {
      Check(!hp.host.empty());
      Check(hp.port != 0);
    }
  }
  if (!url.has_password) Check(url.password.empty());

  // Every parameter name is the scheme's.
  const sk::uri::SchemeSpec* s = sk::uri::FindScheme(url.scheme);
  for (const auto& [name, value] : url.params) {
    Check(sk::uri::FindParam(*s, name) != nullptr);
    Check(url.Param(name) == value);
  }
  // The values of a store's settings are its Options::FromUrl's: it reads
  // any parsed URL of its schemes without crashing, and a refusal is an
  // InvalidArgument (it names the store by its redacted URL, so it is as
  // long as the URL).
  if (url.scheme == "lmdb") {
    sk::Result<sk::LmdbOptions> options = sk::LmdbOptions::FromUrl(url);
    Check(options.ok() || options.status().IsInvalidArgument());
  } else if (url.scheme.starts_with("redis")) {
    sk::Result<sk::RedisOptions> options = sk::RedisOptions::FromUrl(url);
    Check(options.ok() || options.status().IsInvalidArgument());
  } else if (url.scheme == "memcached") {
    sk::Result<sk::MemcachedOptions> options =
        sk::MemcachedOptions::FromUrl(url);
    Check(options.ok() || options.status().IsInvalidArgument());
  }
  Check(url.write_async() == (url.Param("write") == "async"));

  // Redacted() parses back to the same URL, secrets as "***".
  std::string redacted = url.Redacted();
  sk::Result<sk::StoreUrl> again = sk::ParseStoreUrl(redacted);
  Check(again.ok());
  Check(again->scheme == url.scheme);
  Check(again->user == url.user);
  Check(again->has_password == url.has_password);
  if (url.has_password) Check(again->password == "***");
  Check(again->hosts.size() == url.hosts.size());
  for (size_t i = 0; i < url.hosts.size(); ++i) {
    Check(again->hosts[i].host == url.hosts[i].host);
    Check(again->hosts[i].port == url.hosts[i].port);
  }
  Check(again->path == url.path);
  Check(again->params.size() == url.params.size());
  for (size_t i = 0; i < url.params.size(); ++i) {
    Check(again->params[i].first == url.params[i].first);
    if (IsSecretParam(url, url.params[i].first)) {
      Check(again->params[i].second == "***");
    } else {
      Check(again->params[i].second == url.params[i].second);
    }
  }
  Check(again->Redacted() == redacted);
  sk::Result<std::vector<sk::StoreUrl>> as_spec = sk::ParseStoreSpec(redacted);
  Check(as_spec.ok() && as_spec->size() == 1);

  // Redacted() never shows a non-empty password. Rendered without the
  // password, the URL differs only by an inserted ":***" (and '@'), so any
  // password without those characters that appears in Redacted() but not
  // in that rendering was leaked.
  if (!url.password.empty() &&
      url.password.find_first_of(":*@") == std::string::npos) {
    sk::StoreUrl bare = url;
    bare.password.clear();
    bare.has_password = false;
    if (bare.Redacted().find(url.password) == std::string::npos) {
      Check(redacted.find(url.password) == std::string::npos);
    }
  }
}

// A spec that embeds `secret` (fully percent-encoded) as the password or
// sentinel password, with `tail` as the rest of the URL.
std::string WithSecret(uint8_t shape, std::string_view secret,
                       std::string_view tail) {
  static constexpr const char* kHeads[] = {
      "redis://u:",        "rediss://:",         "redis+sentinel://:",
      "redis+cluster://:", "memcached://u:",     "mysql://u:",
      "postgres://u:",     "postgresql://user:",
  };
  constexpr size_t kNumHeads = sizeof(kHeads) / sizeof(kHeads[0]);
  if (shape % (kNumHeads + 1) == kNumHeads) {
    return "redis+sentinel://h/m?sentinel_password=" + EncodeAll(secret) +
           std::string(tail);
  }
  return kHeads[shape % (kNumHeads + 1)] + EncodeAll(secret) + "@" +
         std::string(tail);
}

void FuzzSecret(const uint8_t* data, size_t size) {
  if (size < 3) return;
  size_t len = 1 + data[1] % 24;
  if (size < 2 + len) return;
  std::string secret(reinterpret_cast<const char*>(data + 2), len);
  std::string_view tail(reinterpret_cast<const char*>(data + 2 + len),
                        size - 2 - len);
  // Another secret of the same length: the outcome must not change.
  std::string other = secret;
  for (char& c : other) c = static_cast<char>(c ^ 0x5a);

  sk::Result<std::vector<sk::StoreUrl>> a =
      sk::ParseStoreSpec(WithSecret(data[0], secret, tail));
  sk::Result<std::vector<sk::StoreUrl>> b =
      sk::ParseStoreSpec(WithSecret(data[0], other, tail));
  Check(a.ok() == b.ok());
  if (!a.ok()) {
    CheckError(a.status());
    Check(a.status().message() == b.status().message());
    return;
  }
  Check(a->size() == b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    CheckUrl((*a)[i]);
    Check((*a)[i].Redacted() == (*b)[i].Redacted());
  }
}

// A spec holding a known secret in its user info, with arbitrary bytes
// around it (a raw '/', '?', '#', '|', '@' or "://" included), that does not
// parse: its redaction must never show the secret, whatever the tier.
void FuzzRedactedSecret(const uint8_t* data, size_t size) {
  static constexpr std::string_view kSecret = "QzSECRETzQ";
  static constexpr const char* kHeads[] = {
      "redis://",
      "rediss://:",
      "redis+sentinel://u:",
      "memcached://",
      "mysql://u:",
      "postgres://",
      "nosuch://",
      "",
      "lmdb:///x|redis://:",
      "redis://h|redis://:",
      "redis:/:",
  };
  constexpr size_t kNumHeads = sizeof(kHeads) / sizeof(kHeads[0]);
  if (size < 3) return;
  std::string body(reinterpret_cast<const char*>(data + 3), size - 3);
  for (char& c : body) {
    if (c == 'Q') c = 'q';  // the secret appears only where it is put
  }
  size_t cut1 = data[1] % (body.size() + 1);
  size_t cut2 = cut1 + data[2] % (body.size() - cut1 + 1);
  std::string tail;
  for (char c : body.substr(cut2)) {
    if (c != '@') tail += c;  // the secret is before the last '@'
  }
  std::string head = kHeads[data[0] % kNumHeads] + body.substr(0, cut1);
  std::string spec =
      head + std::string(kSecret) + body.substr(cut1, cut2 - cut1) + "@" + tail;
  // User info comes after the scheme: a secret before the first "://" is in
  // what reads as a scheme, not in the user info.
  size_t sep = spec.find("://");
  if (sep != std::string::npos && sep >= head.size()) return;
  if (sk::ParseStoreSpec(spec).ok()) return;
  Check(sk::RedactStoreSpec(spec).find(kSecret) == std::string::npos);
}

void FuzzValues(std::string_view in) {
  sk::Result<uint64_t> size = sk::ParseSize(in);
  if (size.ok()) {
    sk::Result<uint64_t> again = sk::ParseSize(std::to_string(*size));
    Check(again.ok() && *again == *size);
  } else {
    CheckError(size.status());
  }
  sk::Result<sk::Duration> duration = sk::ParseDuration(in);
  if (duration.ok()) {
    Check(duration->count() >= 0);
    sk::Result<sk::Duration> again =
        sk::ParseDuration(std::to_string(duration->count()) + "ms");
    Check(again.ok() && *again == *duration);
  } else {
    CheckError(duration.status());
  }
  sk::Result<bool> flag = sk::ParseBool(in);
  if (!flag.ok()) CheckError(flag.status());
}

#ifdef SK_FUZZ_PLANTED
// The planted "bug" (scripts/fuzz-planted): a redis+sentinel URL of 3 or
// more sentinels with a tls_ca parameter, parsed OK.
void Planted(const sk::StoreUrl& url) {
  if (url.scheme == "redis+sentinel" && url.hosts.size() >= 3 &&
      url.Param("tls_ca").has_value()) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: store_url_fuzzer\n");
    abort();
  }
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  sk::Result<std::vector<sk::StoreUrl>> spec = sk::ParseStoreSpec(in);
  if (spec.ok()) {
    Check(!spec->empty());
    for (const sk::StoreUrl& url : *spec) CheckUrl(url);
#ifdef SK_FUZZ_PLANTED
    for (const sk::StoreUrl& url : *spec) Planted(url);
#endif
  } else {
    CheckError(spec.status());
  }
  // A single URL usually parses as the spec's only tier, whose checks were
  // just made: CheckUrl() would only repeat them.
  sk::Result<sk::StoreUrl> one = sk::ParseStoreUrl(in);
  if (one.ok()) {
    if (!spec.ok() || spec->size() != 1 || !SameUrl(*one, spec->front())) {
      CheckUrl(*one);
    }
  } else {
    CheckError(one.status());
  }

  FuzzValues(in);
  FuzzSecret(data, size);
  FuzzRedactedSecret(data, size);
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size,
                                          size_t max_size, unsigned seed) {
  return sk::uri::fuzz::MutateStoreSpec(data, size, max_size, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1,
                                            const uint8_t* data2, size_t size2,
                                            uint8_t* out, size_t max_out_size,
                                            unsigned seed) {
  return sk::uri::fuzz::CrossOverStoreSpecs(data1, size1, data2, size2, out,
                                            max_out_size, seed);
}
