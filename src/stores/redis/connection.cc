#include "stores/redis/connection.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "stores/redis/connection_internal.h"

namespace sessionkit::redis {
namespace {

// A connection that finished an exchange this recently is reused without
// looking at its socket first: Redis sends nothing unasked, and a close
// in between fails the next Execute as stale, which Run retries.
constexpr std::chrono::milliseconds kRecentlyUsed{1000};

}  // namespace

// --- Connection -----------------------------------------------------------

Connection::Connection(ConnectionOptions options)
    : options_(std::move(options)) {}

Connection::~Connection() { Close(); }

void Connection::Close() {
  // No SSL_shutdown and no QUIT: closing the socket is enough for the
  // server, and in a forked child it must be all that happens.
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (reader_ != nullptr) {
    redisReaderFree(reader_);
    reader_ = nullptr;
  }
}

Status Connection::Fail(Status status) {
  broken_ = true;
  Close();
  return status;
}

std::string Connection::Where() const {
  return options_.store_name + ": " + options_.endpoint.ToString();
}

Status Connection::TimedOut(bool connecting) const {
  const std::string ep = options_.endpoint.ToString();
  if (connecting) {
    return Status::Unavailable(
        options_.store_name + ": timed out after " +
        std::to_string(options_.connect_timeout.count()) +
        " ms connecting to " + ep +
        (ssl_ != nullptr ? " (TLS handshake)" : "") + " (connect_timeout)");
  }
  if (blocking_.count() > 0) {
    return Status::Unavailable(
        options_.store_name + ": timed out after " +
        std::to_string((options_.read_timeout + blocking_).count()) +
        " ms waiting for a reply from " + ep + " (read_timeout plus " +
        std::to_string(blocking_.count()) +
        " ms allowed for a blocking command)");
  }
  return Status::Unavailable(options_.store_name + ": timed out after " +
                             std::to_string(options_.read_timeout.count()) +
                             " ms waiting for a reply from " + ep +
                             " (read_timeout)");
}

Status Connection::Wait(short events, Deadline deadline) {
  const bool connecting = connecting_;
  while (true) {
    auto left = deadline - SteadyClock::now();
    if (left <= SteadyClock::duration::zero()) return TimedOut(connecting);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left);
    timespec ts;
    ts.tv_sec = static_cast<time_t>(ns.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(ns.count() % 1000000000);
    pollfd p{fd_, events, 0};
    int rc = ppoll(&p, 1, &ts, nullptr);
    if (rc > 0)
      return Status::OK();  // the I/O call that follows reports
                            // POLLERR / POLLHUP
    if (rc == 0) return TimedOut(connecting);
    if (errno != EINTR) {
      int err = errno;
      return Status::Unavailable(Where() + ": poll failed: " + Errno(err));
    }
  }
}

Status Connection::RecvRaw(char* buf, size_t cap, size_t* n,
                           Deadline deadline) {
  while (true) {
    ssize_t r = recv(fd_, buf, cap, 0);
    if (r >= 0) {
      *n = static_cast<size_t>(r);
      return Status::OK();
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      SK_RETURN_IF_ERROR(Wait(POLLIN, deadline));
      continue;
    }
    if (err == ECONNRESET) return PeerClosed("the server reset the connection");
    return Status::Unavailable(Where() + ": read failed: " + Errno(err));
  }
}

Status Connection::Connect(Deadline deadline) {
  connecting_ = true;
  Status st = ConnectTcp(deadline);
  if (st.ok() && options_.tls != nullptr) st = TlsHandshake(deadline);
  connecting_ = false;
  SK_RETURN_IF_ERROR(st);
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

Status Connection::SendRaw(std::string_view data, Deadline deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t r = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (r >= 0) {
      sent += static_cast<size_t>(r);
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      SK_RETURN_IF_ERROR(Wait(POLLOUT, deadline));
      continue;
    }
    if (err == EPIPE || err == ECONNRESET) {
      return PeerClosed("the server closed the connection");
    }
    return Status::Unavailable(Where() + ": write failed: " + Errno(err));
  }
  return Status::OK();
}

Status Connection::SendAll(std::string_view data, Deadline deadline) {
  if (ssl_ != nullptr) {
    while (true) {
      ERR_clear_error();
      int rc = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
      if (rc > 0) break;
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ) {
        // A renegotiation or key update wants the server's answer first.
        SK_RETURN_IF_ERROR(PumpTlsInput(deadline));
        continue;
      }
      return Status::Unavailable(Where() +
                                 ": TLS write failed: " + OpenSslErrors());
    }
    return FlushTlsOutput(deadline);
  }
  return SendRaw(data, deadline);
}

Status Connection::PeerClosed(std::string_view what) {
  peer_closed_ = true;
  return Status::Unavailable(Where() + ": " + std::string(what));
}

Status Connection::ReceiveSome(Deadline deadline, bool first) {
  char buf[kReadChunk];
  if (ssl_ == nullptr) {
    // Right after the request went out the reply is hardly ever there yet:
    // wait before reading instead of trying a read that fails.
    if (first) SK_RETURN_IF_ERROR(Wait(POLLIN, deadline));
    size_t n = 0;
    SK_RETURN_IF_ERROR(RecvRaw(buf, sizeof(buf), &n, deadline));
    if (n == 0) return PeerClosed("the server closed the connection");
    got_bytes_ = true;
    redisReaderFeed(reader_, buf, n);
    return Status::OK();
  }
  while (true) {
    ERR_clear_error();
    int rc = SSL_read(ssl_, buf, sizeof(buf));
    if (rc > 0) {
      got_bytes_ = true;
      redisReaderFeed(reader_, buf, static_cast<size_t>(rc));
      return Status::OK();
    }
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ) {
      // TLS 1.3 may send records (tickets, key updates) that need an answer.
      SK_RETURN_IF_ERROR(PumpTlsInput(deadline));
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      return PeerClosed("the server closed the TLS connection");
    }
    tls_failed_ = true;
    return Status::Unavailable(Where() +
                               ": TLS read failed: " + OpenSslErrors());
  }
}

Status Connection::Exchange(const std::string& wire, size_t count,
                            std::vector<Reply>* replies, Deadline deadline) {
  got_bytes_ = false;
  peer_closed_ = false;
  tls_failed_ = false;
  SK_RETURN_IF_ERROR(SendAll(wire, deadline));
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
  last_exchange_ = SteadyClock::now();
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
  stale_failure_ = false;
  request_sent_ = false;
  blocking_ = std::max(blocking, Duration(0));
  replies->clear();
  if (commands.empty()) return Status::OK();
  if (broken_) {
    return Status::Unavailable(Where() +
                               ": the connection was closed after an error");
  }
  if (fd_ < 0) {
    Status st = Connect(SteadyClock::now() + options_.connect_timeout);
    if (!st.ok()) return Fail(st);
  }
  const Deadline deadline =
      SteadyClock::now() + options_.read_timeout + blocking_;
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
      if (!st.ok()) return Fail(RefusedAfterHandshake(std::move(st)));
      st = CheckHandshakeReplies(hs);
      if (!st.ok()) return Fail(st);
      handshake.clear();
      wire.clear();
    }
  }
  FormatCommands(commands, &wire);
  request_sent_ = true;
  Status st =
      Exchange(wire, handshake.size() + commands.size(), replies, deadline);
  if (!st.ok()) {
    // A connection that served earlier calls and got no reply byte at all
    // was most likely closed by a server restart while it sat idle.
    stale_failure_ = served_ && !got_bytes_ && peer_closed_;
    replies->clear();
    return Fail(served_ ? st : RefusedAfterHandshake(std::move(st)));
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
  served_ = true;
  return Status::OK();
}

Status Connection::RefusedAfterHandshake(Status status) const {
  // With TLS 1.3 the server checks the client certificate after the
  // client's handshake is done: a refusal arrives as an alert, or as a
  // close, in reply to the first request.
  if (ssl_ == nullptr || !(peer_closed_ || tls_failed_)) return status;
  return ExplainTlsRefusal(std::move(status));
}

Status Connection::ReadPushed(std::vector<Reply>* pushed) {
  if (broken_ || fd_ < 0) {
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
    // Bytes OpenSSL holds already are read before the socket is asked.
    const bool buffered =
        ssl_ != nullptr &&
        (SSL_pending(ssl_) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl_)) > 0);
    if (!buffered) {
      pollfd p{fd_, POLLIN, 0};
      const int rc = poll(&p, 1, 0);
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) {
        const int err = errno;
        return Fail(
            Status::Unavailable(Where() + ": poll failed: " + Errno(err)));
      }
      if (rc == 0) return Status::OK();  // nothing more for now
    }
    Status st = ReceiveSome(SteadyClock::now() + options_.read_timeout, false);
    if (!st.ok()) return Fail(st);
  }
}

bool Connection::CheckIdle() {
  if (broken_) return false;
  if (fd_ < 0) return true;
  if (SteadyClock::now() - last_exchange_ < kRecentlyUsed) return true;
  pollfd p{fd_, POLLIN, 0};
  int rc = poll(&p, 1, 0);
  if (rc == 0) return true;
  if (rc > 0 && ssl_ != nullptr && (p.revents & (POLLERR | POLLHUP)) == 0) {
    // TLS control records (such as session tickets) are not a reply: let
    // OpenSSL consume them.
    char buf[kReadChunk];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      BIO_write(SSL_get_rbio(ssl_), buf, static_cast<int>(n));
      ERR_clear_error();
      int r = SSL_read(ssl_, buf, sizeof(buf));
      if (r <= 0 && SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) {
        return true;
      }
    }
  }
  broken_ = true;
  Close();
  return false;
}

}  // namespace sessionkit::redis
