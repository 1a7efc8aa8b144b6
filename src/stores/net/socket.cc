// A socket's plain I/O: connecting, sending and receiving within a
// deadline, the messages for timeouts and closes, the idle check.
#include "stores/net/socket.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>

#include "stores/net/net_internal.h"

namespace sessionkit::net {
namespace {

// A connection that finished an exchange this recently is reused without
// looking at its socket first: the servers sessionkit talks to send nothing
// unasked, and a close in between fails the next exchange as stale, which
// the store retries.
constexpr std::chrono::milliseconds kRecentlyUsed{1000};

}  // namespace

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

Socket::Socket(SocketOptions options) : options_(std::move(options)) {}

Socket::~Socket() { Close(); }

void Socket::Close() {
  // No SSL_shutdown and no goodbye: closing the socket is enough for the
  // server, and in a forked child it must be all that happens.
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

void Socket::Break() {
  broken_ = true;
  Close();
}

Status Socket::Fail(Status status) {
  Break();
  return status;
}

std::string Socket::Where() const {
  return options_.store_name + ": " + options_.endpoint.ToString();
}

void Socket::SetReadAllowance(Duration extra, std::string_view why) {
  allowance_ = std::max(extra, Duration(0));
  allowance_why_ = why;
}

Status Socket::TimedOut(bool connecting) const {
  const std::string ep = options_.endpoint.ToString();
  if (connecting) {
    return Status::Unavailable(
        options_.store_name + ": timed out after " +
        std::to_string(options_.connect_timeout.count()) +
        " ms connecting to " + ep +
        (ssl_ != nullptr ? " (TLS handshake)" : "") + " (connect_timeout)");
  }
  if (allowance_.count() > 0) {
    return Status::Unavailable(
        options_.store_name + ": timed out after " +
        std::to_string((options_.read_timeout + allowance_).count()) +
        " ms waiting for a reply from " + ep + " (read_timeout plus " +
        std::to_string(allowance_.count()) + " ms allowed for " +
        std::string(allowance_why_) + ")");
  }
  return Status::Unavailable(options_.store_name + ": timed out after " +
                             std::to_string(options_.read_timeout.count()) +
                             " ms waiting for a reply from " + ep +
                             " (read_timeout)");
}

Status Socket::Wait(short events, Deadline deadline) {
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

Status Socket::RecvRaw(char* buf, size_t cap, size_t* n, Deadline deadline) {
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

Status Socket::Connect(Deadline deadline) {
  connecting_ = true;
  Status st = ConnectTcp(deadline);
  if (st.ok() && options_.tls != nullptr) st = TlsHandshake(deadline);
  connecting_ = false;
  return st;
}

Status Socket::SendRaw(std::string_view data, Deadline deadline) {
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

Status Socket::Send(std::string_view data, Deadline deadline,
                    std::span<const size_t> record_ends) {
  got_bytes_ = false;
  peer_closed_ = false;
  tls_failed_ = false;
  if (ssl_ == nullptr) return SendRaw(data, deadline);
  size_t start = 0;
  for (size_t end : record_ends) {
    if (end <= start || end >= data.size()) continue;
    SK_RETURN_IF_ERROR(WriteTls(data.substr(start, end - start), deadline));
    start = end;
  }
  SK_RETURN_IF_ERROR(WriteTls(data.substr(start), deadline));
  // Every record in one write.
  return FlushTlsOutput(deadline);
}

Status Socket::WriteTls(std::string_view data, Deadline deadline) {
  while (true) {
    ERR_clear_error();
    int rc = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
    if (rc > 0) return Status::OK();
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ) {
      // A renegotiation or key update wants the server's answer first.
      SK_RETURN_IF_ERROR(PumpTlsInput(deadline));
      continue;
    }
    return Status::Unavailable(Where() +
                               ": TLS write failed: " + OpenSslErrors());
  }
}

Status Socket::PeerClosed(std::string_view what) {
  peer_closed_ = true;
  return Status::Unavailable(Where() + ": " + std::string(what));
}

Status Socket::Receive(std::span<char> buf, size_t* n, Deadline deadline,
                       bool wait_first) {
  if (ssl_ == nullptr) {
    // Right after the request went out the reply is hardly ever there yet:
    // wait before reading instead of trying a read that fails.
    if (wait_first) SK_RETURN_IF_ERROR(Wait(POLLIN, deadline));
    SK_RETURN_IF_ERROR(RecvRaw(buf.data(), buf.size(), n, deadline));
    if (*n == 0) return PeerClosed("the server closed the connection");
    got_bytes_ = true;
    return Status::OK();
  }
  const int cap =
      static_cast<int>(std::min(buf.size(), static_cast<size_t>(1) << 30));
  while (true) {
    ERR_clear_error();
    int rc = SSL_read(ssl_, buf.data(), cap);
    if (rc > 0) {
      got_bytes_ = true;
      *n = static_cast<size_t>(rc);
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

Status Socket::ExplainRefusal(Status status) const {
  // With TLS 1.3 the server checks the client certificate after the
  // client's handshake is done: a refusal arrives as an alert, or as a
  // close, in reply to the first request.
  if (ssl_ == nullptr || !(peer_closed_ || tls_failed_)) return status;
  return ExplainTlsRefusal(std::move(status));
}

Result<bool> Socket::InputPending() {
  // Bytes OpenSSL holds already are read before the socket is asked.
  if (ssl_ != nullptr &&
      (SSL_pending(ssl_) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl_)) > 0)) {
    return true;
  }
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    const int rc = poll(&p, 1, 0);
    if (rc >= 0) return rc > 0;
    if (errno == EINTR) continue;
    const int err = errno;
    return Status::Unavailable(Where() + ": poll failed: " + Errno(err));
  }
}

void Socket::NoteExchangeDone() { last_exchange_ = SteadyClock::now(); }

bool Socket::IdleCheck() {
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
  return false;
}

}  // namespace sessionkit::net
