// Scan and Gc: memcached lists its keys only through `lru_crawler metadump`
// (every key of the server, in no order, in one go). The `hash` form walks
// the hash table; `all` walks the LRUs with the crawler, which answers a
// dump asked for right after another with nothing at all (memcached
// 1.6.18). A page therefore
// dumps one server, keeps the session keys of this store's prefix whose
// session lives first on that server (so that a replica's copy is not
// listed twice), sorts them and reads the page's sessions with one
// pipeline. The cursor is "<server index>:<last id listed>".
//
// A session whose key holds a hash of its id (an id too long for a key,
// see record.h) is listed by the id in its value.
#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/session_id.h"
#include "stores/memcached/memcached_store.h"

namespace sessionkit::memcached {
namespace {

// A dump larger than this is refused rather than held in memory.
constexpr size_t kMaxDumpBytes = size_t{256} << 20;
// Gc reads (and deletes) this many sessions per pipeline.
constexpr size_t kGcBatch = 500;

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

// The keys of this store's sessions among the keys of a dump: `ids` for
// those that hold the id, `hashed` (whole keys) for those that hold a hash
// of it.
void SessionKeysOf(std::string_view dump, std::string_view prefix,
                   std::vector<std::string>* ids,
                   std::vector<std::string>* hashed) {
  size_t pos = 0;
  while (pos < dump.size()) {
    size_t end = dump.find('\n', pos);
    if (end == dump.npos) end = dump.size();
    std::string_view line = dump.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with("key=")) continue;
    const size_t space = line.find(' ');
    std::string key = UrlDecode(line.substr(4, space - 4));
    if (!key.starts_with(prefix)) continue;
    const std::string_view id = std::string_view(key).substr(prefix.size());
    // Lock items and waiter counts end in ".lock" and ".w": not ids.
    if (ValidateSessionId(id).ok()) {
      ids->emplace_back(id);
    } else if (id.starts_with('#') && id.find('.') == id.npos) {
      hashed->push_back(std::move(key));
    }
  }
}

}  // namespace

Result<std::vector<std::string>> MemcachedStore::SessionsOn(size_t server,
                                                            bool home_only) {
  std::string dump;
  SK_RETURN_IF_ERROR(
      servers_.Dump(server, "lru_crawler metadump hash", kMaxDumpBytes, &dump));
  std::vector<std::string> ids, hashed;
  SessionKeysOf(dump, options_.prefix, &ids, &hashed);
  if (!hashed.empty()) {
    // Their ids are in their values.
    ServerSet::Call call;
    call.server = server;
    const GetRequest get = ValueAndCas();
    for (const std::string& key : hashed) {
      SK_RETURN_IF_ERROR(call.pipeline.Get(key, get));
    }
    servers_.RunAll(std::span<ServerSet::Call>(&call, 1));
    if (!call.status.ok()) return call.status;
    for (size_t i = 0; i < call.replies.size() && i < hashed.size(); ++i) {
      const Response& r = call.replies[i];
      if (r.code != ResponseCode::kValue) continue;
      Result<StoredValue> value = DecodeValue(r.value, "");
      // Only an id whose key is the one it was read from: a damaged value,
      // or another program's, names no session (and an id that is not one
      // would fail the whole scan when its key is built).
      if (value.ok() && !value->tombstone &&
          ValidateSessionId(value->id).ok() &&
          KeysFor(options_.prefix, value->id).data == hashed[i]) {
        ids.emplace_back(value->id);
      }
    }
  }
  if (home_only) {
    std::erase_if(ids, [&](const std::string& id) {
      const std::vector<size_t> home = ServersOf(id);
      return home.empty() || home[0] != server;
    });
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

Result<GcResult> MemcachedStore::Gc(TimePoint now_point) {
  // memcached drops an item some time after the session expired (its TTL
  // counts whole seconds); Gc removes what is left, on every server, so
  // that no listing shows it. A dump of every server: for a cron job, not
  // for every request.
  const int64_t now = ToUnixMillis(now_point);
  GcResult result;
  for (size_t server = 0; server < servers_.size(); ++server) {
    Result<std::vector<std::string>> ids = SessionsOn(server, false);
    if (!ids.ok()) return ids.status();
    for (size_t from = 0; from < ids->size(); from += kGcBatch) {
      const size_t to = std::min(ids->size(), from + kGcBatch);
      ServerSet::Call read;
      read.server = server;
      const GetRequest get = ValueAndCas();
      for (size_t i = from; i < to; ++i) {
        SK_RETURN_IF_ERROR(
            read.pipeline.Get(KeysFor(options_.prefix, (*ids)[i]).data, get));
      }
      servers_.RunAll(std::span<ServerSet::Call>(&read, 1));
      if (!read.status.ok()) return read.status;
      ServerSet::Call remove;
      remove.server = server;
      // Each delete sent: its session's stored bytes when this server is
      // the session's first (where a session is counted), else none.
      std::vector<std::optional<uint64_t>> counted;
      for (size_t i = from; i < to; ++i) {
        const Response& r = read.replies[i - from];
        if (r.code != ResponseCode::kValue || !r.cas) continue;
        Result<StoredValue> value = DecodeValue(r.value, "gc");
        if (!value.ok() || value->tombstone || value->at_ms > now) continue;
        DeleteRequest del;
        del.compare_cas = *r.cas;  // unless it was written meanwhile
        SK_RETURN_IF_ERROR(remove.pipeline.Delete(
            KeysFor(options_.prefix, (*ids)[i]).data, del));
        const std::vector<size_t> home = ServersOf((*ids)[i]);
        counted.push_back(!home.empty() && home[0] == server
                              ? std::optional<uint64_t>(value->frame.size())
                              : std::nullopt);
      }
      if (counted.empty()) continue;
      servers_.RunAll(std::span<ServerSet::Call>(&remove, 1));
      if (!remove.status.ok()) return remove.status;
      for (size_t k = 0; k < counted.size(); ++k) {
        if (remove.replies[k].code == ResponseCode::kHeader && counted[k]) {
          ++result.removed;
          result.bytes_removed += *counted[k];
        }
      }
    }
  }
  return result;
}

Result<ScanPage> MemcachedStore::Scan(const ScanOptions& scan) {
  size_t server = 0;
  std::string after;
  if (!scan.cursor.empty()) {
    const size_t colon = scan.cursor.find(':');
    const char* end =
        scan.cursor.data() + (colon == std::string::npos ? 0 : colon);
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
    Result<std::vector<std::string>> listed = SessionsOn(server, true);
    if (!listed.ok()) return listed.status();
    std::vector<std::string> ids = std::move(listed).value();
    std::erase_if(ids, [&](const std::string& id) { return id <= after; });
    if (ids.size() > limit) ids.resize(limit);
    if (ids.empty()) continue;
    ServerSet::Call call;
    call.server = server;
    const GetRequest get = ValueAndCas();
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
