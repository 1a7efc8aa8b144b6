// php-memcached: the session as a plain item prefix+id on a pool placed by
// ketama (memcached.sess_consistent_hash, its default), through the
// Memcached store's connection layer and key placement.
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "legacy/legacy_sources.h"
#include "sessionkit/session_id.h"
#include "sessionkit/stores/memcached.h"
#include "stores/memcached/connection.h"
#include "stores/memcached/ketama.h"
#include "uri/text.h"

namespace sessionkit::legacy {
namespace {

// The most one server's key listing may hold (lru_crawler metadump).
constexpr size_t kMaxDumpBytes = size_t{256} << 20;

class MemcachedSource final : public LegacySource {
 public:
  MemcachedSource(LegacySpec spec, memcached::KetamaRing ring,
                  std::vector<memcached::ConnectionOptions> servers)
      : spec_(std::move(spec)),
        ring_(std::move(ring)),
        servers_(std::move(servers)),
        idle_(servers_.size()) {}

  Result<LegacySession> Read(std::string_view id) override {
    SK_RETURN_IF_ERROR(ValidateSessionId(id));
    memcached::Pipeline pipeline;
    memcached::GetRequest get;
    get.cas = false;
    get.client_flags = false;
    SK_RETURN_IF_ERROR(pipeline.Get(spec_.prefix + std::string(id), get));
    memcached::Response reply;
    SK_RETURN_IF_ERROR(Exchange(ring_.ServerFor(id), pipeline, &reply));
    if (reply.code == memcached::ResponseCode::kMiss) {
      return Status::NotFound("no session");
    }
    if (reply.code != memcached::ResponseCode::kValue) {
      return Status::Unavailable(Describe() + ": mg: unexpected reply " +
                                 std::string(ResponseCodeName(reply.code)));
    }
    LegacySession session;
    session.payload = std::move(reply.value);
    session.ttl = Duration(reply.ttl.value_or(-1) > 0 ? *reply.ttl * 1000 : 0);
    return session;
  }

  Status Delete(std::string_view id) override {
    SK_RETURN_IF_ERROR(ValidateSessionId(id));
    memcached::Pipeline pipeline;
    SK_RETURN_IF_ERROR(pipeline.Delete(spec_.prefix + std::string(id), {}));
    memcached::Response reply;
    SK_RETURN_IF_ERROR(Exchange(ring_.ServerFor(id), pipeline, &reply));
    if (reply.code == memcached::ResponseCode::kHeader ||
        reply.code == memcached::ResponseCode::kNotFound) {
      return Status::OK();
    }
    return Status::Unavailable(Describe() + ": md: unexpected reply " +
                               std::string(ResponseCodeName(reply.code)));
  }

  // One page per server (its whole key listing); the cursor is the index
  // of the next server.
  Result<LegacyPage> Scan(std::string_view cursor, size_t) override {
    size_t server = 0;
    if (!cursor.empty()) {
      uri::NumberError error = uri::NumberError::kNone;
      auto n = uri::ParseWhole(cursor, &error);
      if (!n || *n >= servers_.size()) {
        return Status::InvalidArgument("bad scan cursor " + uri::Quote(cursor));
      }
      server = static_cast<size_t>(*n);
    }
    std::string dump;
    {
      auto conn = Take(server);
      Status s = conn->Dump("lru_crawler metadump all", kMaxDumpBytes, &dump);
      Give(server, std::move(conn));
      SK_RETURN_IF_ERROR(s);
    }
    LegacyPage page;
    size_t pos = 0;
    while (pos < dump.size()) {
      size_t end = dump.find('\n', pos);
      if (end == std::string::npos) end = dump.size();
      std::string_view line(dump.data() + pos, end - pos);
      pos = end + 1;
      if (!line.starts_with("key=")) continue;
      std::string key;
      std::string_view bad;
      if (!uri::PercentDecode(line.substr(4, line.find(' ') - 4), &key, &bad) ||
          !key.starts_with(spec_.prefix)) {
        continue;
      }
      std::string_view id = std::string_view(key).substr(spec_.prefix.size());
      if (ValidateSessionId(id).ok()) page.ids.emplace_back(id);
    }
    if (server + 1 < servers_.size()) {
      page.next_cursor = std::to_string(server + 1);
    }
    return page;
  }

  std::string Describe() const override { return spec_.redacted; }

 private:
  std::unique_ptr<memcached::Connection> Take(size_t server) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_[server].empty()) {
        auto conn = std::move(idle_[server].back());
        idle_[server].pop_back();
        if (conn->usable()) return conn;
      }
    }
    return std::make_unique<memcached::Connection>(servers_[server]);
  }
  void Give(size_t server, std::unique_ptr<memcached::Connection> conn) {
    if (!conn->usable()) return;
    std::lock_guard<std::mutex> lock(mu_);
    idle_[server].push_back(std::move(conn));
  }

  Status Exchange(size_t server, const memcached::Pipeline& pipeline,
                  memcached::Response* reply) {
    auto conn = Take(server);
    std::vector<memcached::Response> replies;
    Status s = conn->Execute(pipeline, &replies);
    Give(server, std::move(conn));
    SK_RETURN_IF_ERROR(s);
    if (replies.size() != 1) {
      return Status::Unavailable(Describe() + ": missing reply");
    }
    if (replies[0].is_error()) {
      return memcached::ErrorStatus(replies[0], "a session of " + Describe());
    }
    *reply = std::move(replies[0]);
    return Status::OK();
  }

  const LegacySpec spec_;
  const memcached::KetamaRing ring_;
  const std::vector<memcached::ConnectionOptions> servers_;
  std::mutex mu_;
  // Idle connections per server. Guarded by mu_.
  std::vector<std::vector<std::unique_ptr<memcached::Connection>>> idle_;
};

}  // namespace

Result<std::unique_ptr<LegacySource>> NewMemcachedSource(LegacySpec spec) {
  // The Memcached store's reader of the same URL: hosts, timeouts, TLS.
  auto options = MemcachedOptions::FromUrl(spec.url);
  if (!options.ok()) return options.status();
  std::vector<memcached::KetamaServer> pool;
  std::vector<memcached::ConnectionOptions> servers;
  std::shared_ptr<memcached::TlsContext> tls;
  if (options->tls.enabled) {
    auto context = memcached::TlsContext::Create(options->tls, spec.redacted);
    if (!context.ok()) return context.status();
    tls = *context;
  }
  for (const HostPort& host : spec.url.hosts) {
    pool.push_back({host.host, host.port, 1});
    memcached::ConnectionOptions server;
    server.endpoint = {host.host, host.port};
    server.store_name = spec.redacted;
    server.connect_timeout = options->connect_timeout;
    server.read_timeout = options->read_timeout;
    server.tls = tls;
    servers.push_back(std::move(server));
  }
  auto ring =
      memcached::KetamaRing::Create(pool, memcached::KetamaMode::kKetama);
  if (!ring.ok()) return ring.status();
  return std::unique_ptr<LegacySource>(new MemcachedSource(
      std::move(spec), std::move(ring).value(), std::move(servers)));
}

}  // namespace sessionkit::legacy
