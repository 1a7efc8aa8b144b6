// Scan: memcached lists its keys only through `lru_crawler metadump all`
// (every key of the server, in no order, in one go). A page therefore
// dumps one server, keeps the session keys of this store's prefix whose
// session lives first on that server (so that a replica's copy is not
// listed twice), sorts them and reads the page's sessions with one
// pipeline. The cursor is "<server index>:<last id listed>".
//
// Sessions whose key holds a hash instead of the id (ids too long for a
// key, see record.h) cannot be listed: their id is not in the key.
#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/session_id.h"
#include "stores/memcached/memcached_store.h"

namespace sessionkit::memcached {
namespace {

// A dump larger than this is refused rather than held in memory.
constexpr size_t kMaxDumpBytes = size_t{256} << 20;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// metadump writes keys URL-encoded.
std::string UrlDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

// The ids of this store's sessions among the keys of a dump.
std::vector<std::string> SessionIds(std::string_view dump,
                                    std::string_view prefix) {
  std::vector<std::string> ids;
  size_t pos = 0;
  while (pos < dump.size()) {
    size_t end = dump.find('\n', pos);
    if (end == dump.npos) end = dump.size();
    std::string_view line = dump.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with("key=")) continue;
    const size_t space = line.find(' ');
    const std::string key = UrlDecode(line.substr(4, space - 4));
    if (!key.starts_with(prefix)) continue;
    const std::string_view id = std::string_view(key).substr(prefix.size());
    // Lock items, waiter counts and hashed keys are not listed; a valid id
    // has none of their '.' and '#'.
    if (!ValidateSessionId(id).ok()) continue;
    ids.emplace_back(id);
  }
  return ids;
}

}  // namespace

Result<ScanPage> MemcachedStore::Scan(const ScanOptions& scan) {
  size_t server = 0;
  std::string after;
  if (!scan.cursor.empty()) {
    const size_t colon = scan.cursor.find(':');
    const char* end = scan.cursor.data() +
                      (colon == std::string::npos ? 0 : colon);
    auto [ptr, ec] = std::from_chars(scan.cursor.data(), end, server);
    if (colon == std::string::npos || ec != std::errc() || ptr != end ||
        server >= servers_.size()) {
      return Status::InvalidArgument(name() + ": scan: bad cursor");
    }
    after = scan.cursor.substr(colon + 1);
  }
  const size_t limit = std::max<size_t>(scan.limit, 1);
  ScanPage page;
  for (; server < servers_.size(); ++server, after.clear()) {
    std::string dump;
    SK_RETURN_IF_ERROR(servers_.Dump(server, "lru_crawler metadump all",
                                     kMaxDumpBytes, &dump));
    std::vector<std::string> ids = SessionIds(dump, options_.prefix);
    std::erase_if(ids, [&](const std::string& id) {
      const std::vector<size_t> home = ServersOf(id);
      return id <= after || home.empty() || home[0] != server;
    });
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    if (ids.size() > limit) ids.resize(limit);
    if (ids.empty()) continue;
    ServerSet::Call call;
    call.server = server;
    GetRequest get;
    get.cas = false;
    get.ttl = false;
    get.client_flags = false;
    for (const std::string& id : ids) {
      SK_RETURN_IF_ERROR(
          call.pipeline.Get(KeysFor(options_.prefix, id).data, get));
    }
    servers_.RunAll(std::span<ServerSet::Call>(&call, 1));
    if (!call.status.ok()) return call.status;
    const int64_t now = NowMs();
    for (size_t i = 0; i < ids.size(); ++i) {
      const Response& r = call.replies[i];
      if (r.code != ResponseCode::kValue) continue;  // gone since the dump
      Result<StoredValue> value = DecodeValue(r.value, name() + ": scan");
      if (!value.ok() || value->tombstone) continue;
      if (!scan.include_expired && value->at_ms <= now) continue;
      SessionInfo info;
      info.id = ids[i];
      info.bytes = value->frame.size();
      info.expires_at = FromUnixMillis(value->at_ms);
      page.sessions.push_back(std::move(info));
    }
    if (ids.size() == limit) {
      page.next_cursor = std::to_string(server) + ":" + ids.back();
    } else if (server + 1 < servers_.size()) {
      page.next_cursor = std::to_string(server + 1) + ":";
    }
    return page;
  }
  return page;
}

}  // namespace sessionkit::memcached
