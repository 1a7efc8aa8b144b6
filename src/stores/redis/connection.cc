#include "stores/redis/connection.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "stores/redis/connection_internal.h"

namespace sessionkit::redis {
namespace {

// Redis in the connection layer's messages.
constexpr net::ServerWords kRedisWords{
    .name = "Redis",
    .tls_port_hint = "is this a TLS port? plain Redis is redis://",
    .client_auth_setting = "tls-auth-clients yes",
    .client_ca_setting = "tls-ca-cert-file",
};

// Why a read may take longer than read_timeout (Execute's `blocking`).
constexpr std::string_view kBlockingCommand = "a blocking command";

}  // namespace

// --- Connection -----------------------------------------------------------

Connection::Connection(ConnectionOptions options)
    : ClientConnection(
          options, kRedisWords,
          options.stats != nullptr ? &options.stats->connects : nullptr),
      options_(std::move(options)) {}

// No QUIT: closing the socket (ClientConnection's destructor) is enough for
// the server, and in a forked child it must be all that happens.
Connection::~Connection() { OnClose(); }

void Connection::OnClose() {
  if (reader_ != nullptr) {
    redisReaderFree(reader_);
    reader_ = nullptr;
  }
}

Status Connection::OnConnected() {
  reader_ = NewReplyReader();
  if (reader_ == nullptr) {
    return Status::Internal(Where() + ": cannot create a reply reader");
  }
  // Keep the reader's buffer between replies: by default hiredis frees it
  // past 16 KiB and regrows it (realloc and copy, again and again) for the
  // next large session. It stays as large as the largest reply read.
  reader_->maxbuf = 0;
  return Status::OK();
}

Status Connection::ReceiveSome(Deadline deadline, bool first) {
  char buf[net::kReadChunk];
  size_t n = 0;
  SK_RETURN_IF_ERROR(socket_.Receive(buf, &n, deadline, first));
  redisReaderFeed(reader_, buf, n);
  return Status::OK();
}

Status Connection::Exchange(const std::string& wire, size_t count,
                            std::vector<Reply>* replies, Deadline deadline) {
  SK_RETURN_IF_ERROR(socket_.Send(wire, deadline));
  if (options_.stats != nullptr) {
    options_.stats->round_trips.fetch_add(1, std::memory_order_relaxed);
    options_.stats->commands.fetch_add(count, std::memory_order_relaxed);
  }
  const size_t want = replies->size() + count;
  bool first = true;
  while (replies->size() < want) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      return Status::Unavailable(
          Where() + ": protocol error in a reply: " + reader_->errstr);
    }
    if (raw == nullptr) {
      SK_RETURN_IF_ERROR(ReceiveSome(deadline, first));
      first = false;
      continue;
    }
    auto* r = static_cast<redisReply*>(raw);
    replies->push_back(ConvertReply(r));
    freeReplyObject(r);
  }
  return Status::OK();
}

size_t Connection::AppendHandshake(std::vector<Command>* out) const {
  size_t n = 0;
  if (options_.has_password || !options_.user.empty()) {
    if (options_.user.empty()) {
      out->push_back(Command{{"AUTH", options_.password}});
    } else {
      out->push_back(Command{{"AUTH", options_.user, options_.password}});
    }
    ++n;
  }
  return n;
}

Status Connection::CheckHandshakeReplies(std::span<const Reply> replies) const {
  for (size_t i = 0; i < replies.size(); ++i) {
    const Reply& r = replies[i];
    const bool is_select = options_.db != 0 && i + 1 == replies.size();
    if (!r.is_error()) {
      if (r.Is("OK")) continue;
      return Status::Unavailable(Where() + ": unexpected reply to " +
                                 (is_select ? "SELECT" : "AUTH") + ": " +
                                 ServerText(r.str));
    }
    if (is_select && !r.str.starts_with("NOAUTH")) {
      return Status::InvalidArgument(
          options_.store_name + ": database " + std::to_string(options_.db) +
          " does not exist on " + options_.endpoint.ToString() +
          " (the server says: " + ServerText(r.str) +
          "; redis-server has 16 databases, 0 to 15, unless its "
          "\"databases\" setting says otherwise)");
    }
    if (r.str.find("without any password configured") != std::string::npos ||
        r.str.find("no password is set") != std::string::npos) {
      return Status::InvalidArgument(
          options_.store_name + ": a password is given but the server at " +
          options_.endpoint.ToString() +
          " has none set (the server says: " + ServerText(r.str) + ")");
    }
    if (!r.str.starts_with("NOAUTH") && !r.str.starts_with("WRONGPASS") &&
        !r.str.starts_with("ERR invalid")) {
      return Status::InvalidArgument(
          options_.store_name + ": authentication to " +
          options_.endpoint.ToString() +
          " failed (the server says: " + ServerText(r.str) + ")");
    }
    return StatusFromErrorReply(options_.store_name, options_.endpoint,
                                is_select ? "SELECT" : "AUTH", r.str);
  }
  return Status::OK();
}

Status Connection::Execute(std::span<const Command> commands,
                           std::vector<Reply>* replies, bool read_only,
                           Duration blocking) {
  StartCall();
  blocking = std::max(blocking, Duration(0));
  socket_.SetReadAllowance(blocking, kBlockingCommand);
  replies->clear();
  if (commands.empty()) return Status::OK();
  SK_RETURN_IF_ERROR(Open());
  const Deadline deadline =
      SteadyClock::now() + options_.read_timeout + blocking;
  std::string wire;
  std::vector<Command> handshake;
  if (!handshake_done_) {
    AppendHandshake(&handshake);
    const std::string db = std::to_string(options_.db);
    if (options_.db != 0) handshake.push_back(Command{{"SELECT", db}});
    if (!handshake.empty()) {
      FormatCommands(handshake, &wire);
    }
    // Should SELECT fail, the commands after it run in database 0: only
    // commands that change nothing may share its write.
    if (!handshake.empty() && options_.db != 0 && !read_only) {
      std::vector<Reply> hs;
      Status st = Exchange(wire, handshake.size(), &hs, deadline);
      if (!st.ok()) return FailCall(std::move(st));
      st = CheckHandshakeReplies(hs);
      if (!st.ok()) return Fail(st);
      handshake.clear();
      wire.clear();
    }
  }
  FormatCommands(commands, &wire);
  MarkSent();
  Status st =
      Exchange(wire, handshake.size() + commands.size(), replies, deadline);
  if (!st.ok()) {
    replies->clear();
    return FailCall(std::move(st));
  }
  if (!handshake.empty()) {
    st = CheckHandshakeReplies(
        std::span<const Reply>(replies->data(), handshake.size()));
    if (!st.ok()) {
      replies->clear();
      return Fail(st);
    }
    replies->erase(replies->begin(),
                   replies->begin() + static_cast<ptrdiff_t>(handshake.size()));
  }
  handshake_done_ = true;
  CallDone();
  return Status::OK();
}

Status Connection::ReadPushed(std::vector<Reply>* pushed) {
  if (socket_.broken() || !socket_.connected()) {
    return Status::Unavailable(Where() + ": not connected");
  }
  while (true) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      return Fail(Status::Unavailable(
          Where() + ": protocol error in a message: " + reader_->errstr));
    }
    if (raw != nullptr) {
      auto* r = static_cast<redisReply*>(raw);
      pushed->push_back(ConvertReply(r));
      freeReplyObject(r);
      continue;
    }
    Result<bool> pending = socket_.InputPending();
    if (!pending.ok()) return Fail(pending.status());
    if (!*pending) return Status::OK();  // nothing more for now
    Status st = ReceiveSome(SteadyClock::now() + options_.read_timeout, false);
    if (!st.ok()) return Fail(st);
  }
}

}  // namespace sessionkit::redis
