// The pieces of the store URL grammar that store_url.cc puts together:
// the grammar of one URL after its scheme (grammar.cc) and the helpers its
// messages share. Internal to src/uri.
#ifndef SESSIONKIT_URI_GRAMMAR_H_
#define SESSIONKIT_URI_GRAMMAR_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/status.h"
#include "sessionkit/store_url.h"
#include "uri/schemes.h"

namespace sessionkit::uri {

// InvalidArgument "bad <scheme> URL: <message>".
Status Bad(std::string_view scheme, std::string_view message);

// Quotes text that may hold user info: everything up to the last '@' is
// shown as "***".
std::string QuoteHidingUserInfo(std::string_view text);

// The pieces of a network URL after "scheme://", before decoding.
struct Pieces {
  bool has_userinfo = false;
  std::string_view userinfo;
  std::string_view hostlist;
  std::string_view tail;  // empty, or starts with '/' or '?'
};

// Standard split: the authority ends at the first '/' or '?', and user info
// ends at the last '@' inside it.
Pieces SplitStandard(std::string_view rest);

// Split for user info holding an unencoded '/' or '?': user info ends at
// the last '@' of the whole rest.
Pieces SplitAtLastAt(std::string_view rest);

// The value of the parameter `name`, or nullptr.
const std::string* FindValue(
    const std::vector<std::pair<std::string, std::string>>& params,
    std::string_view name);

// An lmdb URL from what follows "lmdb://".
Result<StoreUrl> ParseLmdb(const SchemeSpec& s, std::string_view rest);

// A php URL from what follows "php://": the store's name (1 to
// kMaxStoreNameLength letters, digits, '_', '-' or '.') in `path`, then
// the parameters.
Result<StoreUrl> ParseName(const SchemeSpec& s, std::string_view rest);

// A network URL (every scheme but lmdb and php) from its pieces.
Result<StoreUrl> ParseNetwork(const SchemeSpec& s, const Pieces& p);

// True when `text` (after leading spaces) begins with "scheme://": where a
// new tier of a spec starts.
bool StartsWithScheme(std::string_view text);

}  // namespace sessionkit::uri

#endif  // SESSIONKIT_URI_GRAMMAR_H_
