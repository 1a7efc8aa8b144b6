#include "stores/redis/connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace sessionkit::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 16384;
// A connection that finished an exchange this recently is reused without
// looking at its socket first: Redis sends nothing unasked, and a close
// in between fails the next Execute as stale, which Run retries.
constexpr std::chrono::milliseconds kRecentlyUsed{1000};
// Server messages are quoted up to this length.
constexpr size_t kMaxQuotedReply = 200;

std::string Errno(int err) { return std::strerror(err); }

// The server's text, made printable and cut to a sane length.
std::string ServerText(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxQuotedReply)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > kMaxQuotedReply) out += "...";
  return out;
}

// Drains OpenSSL's (thread-local) error queue into one line.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      text = buf;
    }
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? std::string("unknown TLS error") : out;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        out.elements.push_back(Convert(r->element[i]));
      }
      break;
    default:
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

// Checks that a readable file exists, for messages clearer than OpenSSL's.
Status CheckReadable(const std::string& store_name, std::string_view setting,
                     const std::string& path) {
  if (access(path.c_str(), R_OK) != 0) {
    int err = errno;
    return Status::InvalidArgument(store_name + ": " + std::string(setting) +
                                   "=" + path +
                                   ": cannot read the file: " + Errno(err));
  }
  return Status::OK();
}

}  // namespace

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

bool Reply::Is(std::string_view text) const {
  return (type == Type::kStatus || type == Type::kString) && str == text;
}

namespace {

// "<kind><n>\r\n": a RESP array or bulk string header.
void AppendHeader(char kind, size_t n, std::string* out) {
  char buf[32];
  buf[0] = kind;
  char* end = std::to_chars(buf + 1, buf + sizeof buf - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out->append(buf, static_cast<size_t>(end - buf));
}

}  // namespace

void FormatCommands(std::span<const Command> commands, std::string* out) {
  size_t size = out->size();
  for (const Command& command : commands) {
    size += 16;
    for (std::string_view arg : command.args) size += arg.size() + 24;
  }
  out->reserve(size);
  for (const Command& command : commands) {
    AppendHeader('*', command.args.size(), out);
    for (std::string_view arg : command.args) {
      AppendHeader('$', arg.size(), out);
      out->append(arg);
      out->append("\r\n", 2);
    }
  }
}

Status StatusFromErrorReply(std::string_view store_name,
                            const Endpoint& endpoint, std::string_view command,
                            std::string_view error) {
  const std::string where = std::string(store_name) + ": ";
  const std::string says = " (the server says: " + ServerText(error) + ")";
  const std::string ep = endpoint.ToString();
  auto starts = [&](std::string_view p) { return error.starts_with(p); };
  if (starts("NOAUTH")) {
    return Status::InvalidArgument(
        where + "the server at " + ep +
        " requires a password: give it in the URL, as in "
        "redis://:password@host or redis://user:password@host" +
        says);
  }
  if (starts("WRONGPASS") || starts("ERR invalid password") ||
      starts("ERR invalid username-password")) {
    return Status::InvalidArgument(where + "wrong password or user for " + ep +
                                   says);
  }
  if (starts("NOPERM")) {
    return Status::InvalidArgument(where + "the Redis user may not run " +
                                   std::string(command) + " on " + ep + says);
  }
  for (std::string_view transient :
       {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY",
        "OOM", "MOVED", "ASK", "MISCONF"}) {
    if (starts(transient)) {
      return Status::Unavailable(where + std::string(command) + " on " + ep +
                                 " failed" + says);
    }
  }
  return Status::Internal(where + std::string(command) + " on " + ep +
                          " failed" + says);
}

// --- TlsContext -----------------------------------------------------------

Result<std::shared_ptr<TlsContext>> TlsContext::Create(
    const RedisTlsOptions& options, const std::string& store_name) {
  if (!options.key_file.empty() && options.cert_file.empty()) {
    return Status::InvalidArgument(
        store_name +
        ": tls_key is given without tls_cert: give the client certificate "
        "too");
  }
  if (!options.ca_file.empty()) {
    SK_RETURN_IF_ERROR(CheckReadable(store_name, "tls_ca", options.ca_file));
  }
  if (!options.cert_file.empty()) {
    SK_RETURN_IF_ERROR(
        CheckReadable(store_name, "tls_cert", options.cert_file));
  }
  if (!options.key_file.empty()) {
    SK_RETURN_IF_ERROR(CheckReadable(store_name, "tls_key", options.key_file));
  }
  ERR_clear_error();
  std::shared_ptr<TlsContext> out(new TlsContext());
  out->ctx_ = SSL_CTX_new(TLS_client_method());
  if (out->ctx_ == nullptr) {
    return Status::Internal(
        store_name + ": cannot create a TLS context: " + OpenSslErrors());
  }
  SSL_CTX_set_min_proto_version(out->ctx_, TLS1_2_VERSION);
  out->verify_ = !options.insecure;
  out->has_ca_file_ = !options.ca_file.empty();
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(out->ctx_, options.ca_file.c_str(),
                                      nullptr) != 1) {
      return Status::InvalidArgument(
          store_name + ": tls_ca=" + options.ca_file +
          ": not a PEM CA certificate file: " + OpenSslErrors());
    }
  } else if (out->verify_ && SSL_CTX_set_default_verify_paths(out->ctx_) != 1) {
    return Status::InvalidArgument(
        store_name + ": cannot load the system's CA certificates (" +
        OpenSslErrors() + "): give the CA with tls_ca=/path/to/ca.pem");
  }
  SSL_CTX_set_verify(out->ctx_,
                     out->verify_ ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(out->ctx_,
                                           options.cert_file.c_str()) != 1) {
      return Status::InvalidArgument(
          store_name + ": tls_cert=" + options.cert_file +
          ": not a PEM certificate file: " + OpenSslErrors());
    }
    const std::string& key =
        options.key_file.empty() ? options.cert_file : options.key_file;
    if (SSL_CTX_use_PrivateKey_file(out->ctx_, key.c_str(), SSL_FILETYPE_PEM) !=
        1) {
      return Status::InvalidArgument(
          store_name + ": " +
          (options.key_file.empty() ? "tls_cert=" : "tls_key=") + key +
          ": no PEM private key in the file: " + OpenSslErrors());
    }
    if (SSL_CTX_check_private_key(out->ctx_) != 1) {
      return Status::InvalidArgument(
          store_name + ": tls_key does not match the certificate of tls_cert=" +
          options.cert_file + ": " + OpenSslErrors());
    }
  }
  return out;
}

TlsContext::~TlsContext() {
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

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

Status Connection::ConnectTcp(Deadline deadline) {
  const Endpoint& ep = options_.endpoint;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  const std::string port = std::to_string(ep.port);
  addrinfo* list = nullptr;
  int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &list);
  if (rc == EAI_NONAME) {
    // A name, not an address: a resolver lookup (not bounded by
    // connect_timeout; use addresses where that matters).
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &list);
  }
  if (rc != 0) {
    return Status::Unavailable(options_.store_name +
                               ": cannot resolve the Redis host \"" + ep.host +
                               "\": " + gai_strerror(rc));
  }
  std::vector<SocketAddress> addresses;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress& a = addresses.emplace_back();
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.size = static_cast<socklen_t>(ai->ai_addrlen);
  }
  freeaddrinfo(list);
  ConnectOutcome outcome = ConnectToAny(addresses, deadline);
  if (outcome.fd >= 0) {
    fd_ = outcome.fd;
    if (options_.stats != nullptr) {
      options_.stats->connects.fetch_add(1, std::memory_order_relaxed);
    }
    return Status::OK();
  }
  if (outcome.timed_out) {
    Status st = TimedOut(/*connecting=*/true);
    if (addresses.size() < 2) return st;
    return Status::Unavailable(st.message() + " (tried " +
                               std::to_string(addresses.size()) +
                               " addresses: " + outcome.error + ")");
  }
  return Status::Unavailable(options_.store_name + ": cannot connect to " +
                             ep.ToString() + ": " + outcome.error);
}

ConnectOutcome ConnectToAny(std::span<const SocketAddress> addresses,
                            Deadline deadline) {
  ConnectOutcome out;
  out.error = addresses.empty() ? "no address" : "";
  // Attempts under way: socket, and the address's index.
  std::vector<std::pair<int, size_t>> pending;
  auto close_pending = [&] {
    for (auto& [fd, at] : pending) close(fd);
    pending.clear();
  };
  auto note = [&](size_t at, int err) {
    char host[INET6_ADDRSTRLEN] = "?";
    const auto& ss = addresses[at].storage;
    const void* raw =
        ss.ss_family == AF_INET6
            ? static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr);
    inet_ntop(ss.ss_family, raw, host, sizeof host);
    if (!out.error.empty()) out.error += "; ";
    out.error += addresses.size() > 1 ? std::string(host) + ": " + Errno(err)
                                      : Errno(err);
  };
  size_t next = 0;
  SteadyClock::time_point next_start = SteadyClock::now();
  while (true) {
    const SteadyClock::time_point now = SteadyClock::now();
    // Start the next address when the last one's share ran out (or at once
    // when nothing is under way).
    while (next < addresses.size() && (pending.empty() || now >= next_start)) {
      const SocketAddress& a = addresses[next];
      const size_t at = next++;
      int fd = socket(a.storage.ss_family,
                      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        note(at, errno);
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
      if (connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.size) ==
          0) {
        close_pending();
        out.fd = fd;
        return out;
      }
      const int err = errno;
      if (err != EINPROGRESS) {
        note(at, err);
        close(fd);
        continue;
      }
      pending.emplace_back(fd, at);
      // This one's share: the time left, split over it and those not yet
      // started.
      const auto left = deadline - now;
      next_start = now + left / static_cast<int64_t>(addresses.size() - at);
    }
    if (pending.empty()) return out;  // every address failed at once
    if (now >= deadline) {
      close_pending();
      out.timed_out = true;
      return out;
    }
    const SteadyClock::time_point until =
        next < addresses.size() ? std::min(next_start, deadline) : deadline;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::max(until - now, SteadyClock::duration::zero()));
    timespec ts;
    ts.tv_sec = static_cast<time_t>(ns.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(ns.count() % 1000000000);
    std::vector<pollfd> polls;
    for (auto& [fd, at] : pending) polls.push_back({fd, POLLOUT, 0});
    const int rc = ppoll(polls.data(), polls.size(), &ts, nullptr);
    if (rc < 0 && errno != EINTR) {
      note(pending.front().second, errno);
      close_pending();
      return out;
    }
    if (rc <= 0) continue;
    std::vector<std::pair<int, size_t>> still;
    for (size_t i = 0; i < polls.size(); ++i) {
      const auto [fd, at] = pending[i];
      if (polls[i].revents == 0) {
        still.emplace_back(fd, at);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0 && out.fd < 0) {
        out.fd = fd;
        continue;
      }
      if (err != 0) note(at, err);
      close(fd);
    }
    pending = std::move(still);
    if (out.fd >= 0) {
      close_pending();
      return out;
    }
    // A refusal frees the way for the next address at once.
    next_start = SteadyClock::now();
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

Status Connection::FlushTlsOutput(Deadline deadline) {
  BIO* wbio = SSL_get_wbio(ssl_);
  char buf[kReadChunk];
  while (BIO_ctrl_pending(wbio) > 0) {
    int n = BIO_read(wbio, buf, sizeof(buf));
    if (n <= 0) break;
    SK_RETURN_IF_ERROR(
        SendRaw(std::string_view(buf, static_cast<size_t>(n)), deadline));
  }
  return Status::OK();
}

Status Connection::TlsHandshake(Deadline deadline) {
  ERR_clear_error();
  ssl_ = SSL_new(options_.tls->ctx());
  if (ssl_ == nullptr) {
    return Status::Internal(Where() + ": cannot start TLS: " + OpenSslErrors());
  }
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    return Status::Internal(Where() + ": cannot start TLS: out of memory");
  }
  // An empty input buffer means "wait for more", not end of stream.
  BIO_set_mem_eof_return(rbio, -1);
  SSL_set_bio(ssl_, rbio, wbio);
  SSL_set_connect_state(ssl_);
  const std::string& host = options_.endpoint.host;
  const bool ip = IsIpAddress(host);
  if (!ip) SSL_set_tlsext_host_name(ssl_, host.c_str());
  if (options_.tls->verify()) {
    // Checks that the certificate names the host we dialled.
    int ok =
        ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str())
           : SSL_set1_host(ssl_, host.c_str());
    if (ok != 1) {
      return Status::Internal(
          Where() + ": cannot set the TLS host name: " + OpenSslErrors());
    }
  }
  char buf[kReadChunk];
  while (true) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
    std::string errors = err == SSL_ERROR_SSL ? OpenSslErrors() : "";
    // Whatever the handshake produced (including an alert) goes out.
    SK_RETURN_IF_ERROR(FlushTlsOutput(deadline));
    if (rc == 1) return Status::OK();
    if (err == SSL_ERROR_WANT_READ) {
      size_t n = 0;
      SK_RETURN_IF_ERROR(RecvRaw(buf, sizeof(buf), &n, deadline));
      if (n == 0) {
        return Status::Unavailable(
            Where() +
            ": the server closed the connection during the TLS handshake (is "
            "this a TLS port? plain Redis is redis://)");
      }
      BIO_write(rbio, buf, static_cast<int>(n));
      continue;
    }
    if (err == SSL_ERROR_WANT_WRITE) continue;
    std::string reason =
        errors.empty() ? "TLS error " + std::to_string(err) : errors;
    long verify = SSL_get_verify_result(ssl_);
    std::string hint;
    if (verify != X509_V_OK) {
      reason += ": ";
      reason += X509_verify_cert_error_string(verify);
      hint = options_.tls->has_ca_file()
                 ? " (check that tls_ca holds the CA that signed the server "
                   "certificate and that the certificate names the host)"
                 : " (give the CA that signed the server certificate with "
                   "tls_ca=/path/to/ca.pem; tls_insecure=1 skips the check, "
                   "for tests only)";
    } else if (reason.find("wrong version number") != std::string::npos ||
               reason.find("packet length too long") != std::string::npos) {
      hint = " (is this a TLS port? plain Redis is redis://)";
    }
    return Status::Unavailable(options_.store_name + ": TLS handshake with " +
                               options_.endpoint.ToString() +
                               " failed: " + reason + hint);
  }
}

Status Connection::Connect(Deadline deadline) {
  connecting_ = true;
  Status st = ConnectTcp(deadline);
  if (st.ok() && options_.tls != nullptr) st = TlsHandshake(deadline);
  connecting_ = false;
  SK_RETURN_IF_ERROR(st);
  reader_ = redisReaderCreate();
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

Status Connection::PumpTlsInput(Deadline deadline) {
  SK_RETURN_IF_ERROR(FlushTlsOutput(deadline));
  char buf[kReadChunk];
  size_t n = 0;
  SK_RETURN_IF_ERROR(RecvRaw(buf, sizeof(buf), &n, deadline));
  if (n == 0) return PeerClosed("the server closed the connection");
  BIO_write(SSL_get_rbio(ssl_), buf, static_cast<int>(n));
  return Status::OK();
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
    return Status::Unavailable(Where() +
                               ": TLS read failed: " + OpenSslErrors());
  }
}

Status Connection::Exchange(const std::string& wire, size_t count,
                            std::vector<Reply>* replies, Deadline deadline) {
  got_bytes_ = false;
  peer_closed_ = false;
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
    replies->push_back(Convert(r));
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
      if (!st.ok()) return Fail(st);
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
    return Fail(st);
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
