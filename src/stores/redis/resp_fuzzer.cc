// Feeds arbitrary bytes, as a Redis server's replies on the wire, through
// hiredis's reader as Connection reads them (maxbuf 0; whole, and again in
// small pieces as TCP may deliver them), copies each reply with
// ConvertReply, and gives what it returns to the code that interprets
// replies without a socket: StatusFromErrorReply and ServerText (error
// replies), the Cluster topology's MOVED / ASK reading, the INFO reading of
// the locking version check (RedisVersionFromInfo, VersionMajor,
// CheckLockingVersion), ParsePort (a Sentinel's port) and Reply::Is.
// Checks: no crash; the copy has the type, text, number and elements of
// hiredis's reply, and the same replies come whatever the pieces; a Status
// made from an error reply is an error whose message quotes the server only
// in printable ASCII; the readings return what the text says.
//
// (The lock scripts' reply checks live inside RedisStore's methods, behind
// a connection; only these pieces are reachable without a server.)
#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/stores/redis.h"
#include "stores/redis/cluster_topology.h"
#include "stores/redis/connection.h"
#include "stores/redis/connection_internal.h"
#include "stores/redis/redis_lock.h"
#include "stores/redis/topology.h"

namespace sk = sessionkit;
namespace rd = sessionkit::redis;

namespace {

constexpr std::string_view kStore = "redis://fuzz.invalid:6379";

void Check(bool condition) {
  if (!condition) abort();
}

const rd::Endpoint& From() {
  static const rd::Endpoint endpoint{"10.0.0.1", 7000};
  return endpoint;
}

bool Printable(std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// The copy matches hiredis's reply.
void CheckCopy(const redisReply* r, const rd::Reply& c) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      Check(c.type == (r->type == REDIS_REPLY_STRING ? rd::Reply::Type::kString
                       : r->type == REDIS_REPLY_STATUS
                           ? rd::Reply::Type::kStatus
                           : rd::Reply::Type::kError));
      Check(c.str == std::string_view(r->str, r->len));
      Check(c.elements.empty());
      break;
    case REDIS_REPLY_INTEGER:
      Check(c.type == rd::Reply::Type::kInteger && c.integer == r->integer);
      break;
    case REDIS_REPLY_ARRAY:
      Check(c.type == rd::Reply::Type::kArray);
      Check(c.elements.size() == r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        CheckCopy(r->element[i], c.elements[i]);
      }
      break;
    default:
      Check(c.type == rd::Reply::Type::kNil && c.is_nil());
      break;
  }
}

bool Same(const rd::Reply& a, const rd::Reply& b) {
  if (a.type != b.type || a.str != b.str || a.integer != b.integer ||
      a.elements.size() != b.elements.size()) {
    return false;
  }
  for (size_t i = 0; i < a.elements.size(); ++i) {
    if (!Same(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

// Reads `in` as Connection does, fed `piece` bytes at a time (0: at once).
// False on a protocol error (after the replies before it).
bool ReadReplies(std::string_view in, size_t piece,
                 std::vector<rd::Reply>* out) {
  redisReader* reader = rd::NewReplyReader();
  Check(reader != nullptr);
  reader->maxbuf = 0;
  bool ok = true;
  size_t fed = 0;
  while (ok) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
      Check(reader->err != 0);
      ok = false;
      break;
    }
    if (raw == nullptr) {
      if (fed == in.size()) break;  // waits for more than there is
      const size_t n =
          piece == 0 ? in.size() - fed : std::min(piece, in.size() - fed);
      redisReaderFeed(reader, in.data() + fed, n);
      fed += n;
      continue;
    }
    auto* r = static_cast<redisReply*>(raw);
    out->push_back(rd::ConvertReply(r));
    CheckCopy(r, out->back());
    freeReplyObject(r);
  }
  redisReaderFree(reader);
  return ok;
}

void CheckError(std::string_view error) {
  const sk::Status st =
      rd::StatusFromErrorReply(std::string(kStore), From(), "GET", error);
  Check(!st.ok());
  Check(st.code() == sk::StatusCode::kInvalidArgument ||
        st.code() == sk::StatusCode::kUnavailable ||
        st.code() == sk::StatusCode::kInternal);
  // The store name and endpoint are printable: so must the rest be.
  Check(Printable(st.message()));
  const std::string quoted = rd::ServerText(error);
  Check(Printable(quoted) && quoted.size() <= 203);
  Check(st.message().find("(the server says: " + quoted + ")") !=
        std::string::npos);

  // MOVED / ASK, as the Cluster topology reads them (a fresh one: no map,
  // no connections needed).
  sk::RedisOptions options;
  options.name = std::string(kStore);
  rd::ClusterTopology cluster(options, nullptr);
  const rd::Redirect redirect = cluster.OnErrorReply(From(), error);
  switch (redirect.kind) {
    case rd::Redirect::Kind::kNone:
      break;
    case rd::Redirect::Kind::kRetry:
      Check(error.starts_with("MOVED "));
      break;
    case rd::Redirect::Kind::kAsk:
      Check(error.starts_with("ASK "));
      Check(!redirect.to.host.empty() && redirect.to.port != 0);
      break;
  }
}

void CheckText(std::string_view text) {
  const std::optional<std::string> version = rd::RedisVersionFromInfo(text);
  std::optional<int> major = rd::VersionMajor(text);
  if (major) Check(*major >= 0 && *major < 1'000'000);
  if (version) {
    Check(!version->empty() && version->size() <= 40);
    Check(version->find('\n') == std::string::npos);
    Check(text.find("redis_version:" + *version) != std::string_view::npos);
    major = rd::VersionMajor(*version);
    const sk::Status st =
        rd::CheckLockingVersion(std::string(kStore), From(), *version);
    if (major && *major < rd::kMinLockingRedisMajor) {
      Check(st.code() == sk::StatusCode::kNotSupported);
    } else {
      Check(st.ok());
    }
  }
  uint16_t port = 0;
  if (rd::ParsePort(text, &port)) {
    unsigned value = 0;
    for (char c : text) {
      Check(c >= '0' && c <= '9');
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > 65535) break;
    }
    Check(port != 0 && port == value);
  }
}

void Interpret(const rd::Reply& r) {
  Check(r.Is("OK") == ((r.type == rd::Reply::Type::kStatus ||
                        r.type == rd::Reply::Type::kString) &&
                       r.str == "OK"));
  switch (r.type) {
    case rd::Reply::Type::kError:
      CheckError(r.str);
      break;
    case rd::Reply::Type::kString:
    case rd::Reply::Type::kStatus:
      CheckText(r.str);
      break;
    case rd::Reply::Type::kArray:
      for (const rd::Reply& e : r.elements) Interpret(e);
      break;
    default:
      break;
  }
}

#ifdef SK_FUZZ_PLANTED
// The planted "bug" (scripts/fuzz-planted): an array of 3 or more elements
// holding an error reply.
void Planted(const rd::Reply& r) {
  if (r.type != rd::Reply::Type::kArray) return;
  if (r.elements.size() >= 3) {
    for (const rd::Reply& e : r.elements) {
      if (e.is_error()) {
        fprintf(stderr, "SK_FUZZ_PLANTED reached: resp_fuzzer\n");
        abort();
      }
    }
  }
  for (const rd::Reply& e : r.elements) Planted(e);
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<rd::Reply> whole;
  const bool ok = ReadReplies(in, 0, &whole);
  // The same replies, and the same outcome, when TCP splits the bytes.
  std::vector<rd::Reply> pieces;
  Check(ReadReplies(in, 1 + size % 7, &pieces) == ok);
  Check(pieces.size() == whole.size());
  for (size_t i = 0; i < whole.size(); ++i) Check(Same(whole[i], pieces[i]));
  for (const rd::Reply& r : whole) Interpret(r);
#ifdef SK_FUZZ_PLANTED
  for (const rd::Reply& r : whole) Planted(r);
#endif
  return 0;
}
