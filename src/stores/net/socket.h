// sessionkit's connection layer, below every store that speaks a protocol
// of its own over TCP (Redis, Memcached): one byte stream to one server with
// a non-blocking connect bounded by connect_timeout, staggered over the
// server's addresses (ConnectToAny), every send and receive bounded by a
// deadline, and TLS through OpenSSL memory BIOs, so that all socket I/O,
// including the handshake, runs through the same poll loop and the same
// deadline. Messages name the store and the server and say what happened
// (refused, timed out after N ms, TLS handshake failed, closed by the
// server).
//
// What goes over the stream, and how replies are parsed, is the protocol's
// business (stores/redis/connection.h, stores/memcached/connection.h): this
// layer knows no protocol.
#ifndef SESSIONKIT_STORES_NET_SOCKET_H_
#define SESSIONKIT_STORES_NET_SOCKET_H_

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "sessionkit/stores/tls.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace sessionkit::net {

// Sockets keep time on the steady clock itself, not on a store's Env
// (env.h): their deadlines bound kernel waits (ppoll, connect) that pass in
// real time, which a fake clock would not follow, and a pooled connection
// serves every store of the same options, whatever Env each was given.
// (Reading the clock through an Env would cost a virtual call, nothing
// measurable per request: the reasons are these, not speed.)
using Deadline = std::chrono::steady_clock::time_point;

// Bytes read from (or moved through) a socket at a time.
inline constexpr size_t kReadChunk = 16384;

// A server address.
struct Endpoint {
  std::string host;  // name, IPv4, or IPv6 without brackets
  uint16_t port = 0;

  // "host:port", "[v6]:port".
  std::string ToString() const;
  bool operator==(const Endpoint&) const = default;
};

// An OpenSSL client context shared by every connection of a pool: CA store,
// client certificate, verification mode. Built once, when the store opens.
//
// Thread safety: immutable after Create; SSL objects may be made from it
// concurrently.
class TlsContext {
 public:
  // Loads the CA, certificate and key files of `options`. InvalidArgument
  // naming the setting (tls_ca, tls_cert, tls_key) and the file when one
  // cannot be read. `store_name` prefixes messages.
  static Result<std::shared_ptr<TlsContext>> Create(
      const TlsOptions& options, const std::string& store_name);
  ~TlsContext();

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  bool verify() const { return verify_; }
  bool has_ca_file() const { return has_ca_file_; }
  // The tls_cert file; empty when no client certificate is given.
  const std::string& cert_file() const { return cert_file_; }

 private:
  TlsContext() = default;
  SSL_CTX* ctx_ = nullptr;
  bool verify_ = true;
  bool has_ca_file_ = false;
  std::string cert_file_;
};

// The protocol's words in the socket's messages. Each is a whole phrase,
// static text (string literals), never empty.
struct ServerWords {
  // Names the server in "cannot resolve the <name> host": "Redis".
  std::string_view name;
  // Follows a handshake that found no TLS on the other side: "is this a
  // TLS port? plain Redis is redis://".
  std::string_view tls_port_hint;
  // How the server is told to require client certificates, and where it
  // keeps the CA it checks them with: "tls-auth-clients yes",
  // "tls-ca-cert-file".
  std::string_view client_auth_setting;
  std::string_view client_ca_setting;
};

// Which server, how long to wait for it, and TLS: what the connection
// options of every protocol begin with.
struct ServerOptions {
  Endpoint endpoint;
  // Prefixes every message: the store's redacted URL.
  std::string store_name;
  Duration connect_timeout{100};
  Duration read_timeout{250};
  std::shared_ptr<TlsContext> tls;  // null: plain TCP
};

struct SocketOptions : ServerOptions {
  ServerWords words;
  // Counts the TCP connections opened; optional, must outlive the socket.
  std::atomic<uint64_t>* connects = nullptr;
};

// One TCP (or TLS) byte stream to one server. Once an I/O call fails the
// caller calls Fail: the socket is closed and broken, never used again.
//
// Thread safety: not thread-safe; one thread at a time.
class Socket {
 public:
  explicit Socket(SocketOptions options);
  // Closes the socket without a goodbye: also right in a forked child that
  // must not talk on its parent's connection.
  ~Socket();

  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Resolves the endpoint, connects (ConnectToAny) and, with a TlsContext,
  // does the TLS handshake, all by `deadline` (timeouts are reported as
  // connect_timeout's). Unavailable naming the server: cannot resolve,
  // refused, timed out, TLS handshake failed (with what it most likely
  // means). Call once, on a socket not yet connected.
  Status Connect(Deadline deadline);

  // Writes all of `data` (through TLS when on), in one write to the socket.
  // Starts an exchange: clears got_bytes() and peer_closed(). With TLS, a
  // record ends at each offset of `record_ends` (ascending), for a server
  // that would otherwise leave bytes after them unread in its TLS buffer
  // (see stores/memcached/connection.h); without TLS they change nothing.
  Status Send(std::string_view data, Deadline deadline,
              std::span<const size_t> record_ends = {});

  // Reads the next bytes from the server into `buf` (at least one; `*n`
  // says how many). `wait_first`: right after a request went out, when the
  // reply is hardly ever there yet, waits before trying to read. The server
  // closing the stream is Unavailable ("closed by the server").
  Status Receive(std::span<char> buf, size_t* n, Deadline deadline,
                 bool wait_first);

  // Without blocking: true when bytes from the server are waiting (in the
  // socket, or already in OpenSSL's buffers).
  Result<bool> InputPending();

  // Checks an idle connection without blocking: false when the server has
  // closed it (or sent something unasked); the caller then fails it. A
  // connection whose last exchange (NoteExchangeDone) ended less than a
  // second ago is not looked at (one syscall less per request; a close
  // since then shows as a failed exchange with peer_closed() and no
  // got_bytes()). True when not connected.
  bool IdleCheck();
  // Marks the end of a successful exchange (see IdleCheck).
  void NoteExchangeDone();

  // Says that the caller's read deadlines are `extra` past read_timeout
  // until the next call (for a request the server holds on purpose): a
  // timeout then says "read_timeout plus N ms allowed for <why>". `why`:
  // static text.
  void SetReadAllowance(Duration extra, std::string_view why);

  // `status`, the failure of a TLS connection's first exchange, with what
  // it most likely means when it ended on a close or a TLS error and the
  // server asked for a client certificate in the handshake and sent no
  // reply byte: that it requires one and none was given, or that it does
  // not accept the one given. `status` unchanged otherwise.
  Status ExplainRefusal(Status status) const;

  // Marks the socket broken (never used again) and closes it.
  void Break();
  // Break, then returns `status`.
  Status Fail(Status status);
  // Closes the socket (connected() turns false) without breaking it.
  void Close();

  bool connected() const { return fd_ >= 0; }
  bool broken() const { return broken_; }
  // Some byte of a reply arrived in this exchange (since Send).
  bool got_bytes() const { return got_bytes_; }
  // The exchange failed on EOF or a reset.
  bool peer_closed() const { return peer_closed_; }
  // "<store>: <host:port>", the prefix of messages about this server.
  std::string Where() const;
  const SocketOptions& options() const { return options_; }

 private:
  // The status for a timeout: after connect_timeout (with "TLS handshake"
  // when it was under way) or after read_timeout (with the extra time of
  // SetReadAllowance).
  Status TimedOut(bool connecting) const;
  Status ConnectTcp(Deadline deadline);
  Status TlsHandshake(Deadline deadline);
  // Encrypts `data` into OpenSSL's output buffer (a record of its own, or
  // several when it is larger than one may be).
  Status WriteTls(std::string_view data, Deadline deadline);
  // Writes `data` to the socket as it is (TLS records or plain requests).
  Status SendRaw(std::string_view data, Deadline deadline);
  Status RecvRaw(char* buf, size_t cap, size_t* n, Deadline deadline);
  Status FlushTlsOutput(Deadline deadline);
  // When OpenSSL wants input (SSL_ERROR_WANT_READ): sends what it has
  // queued, then feeds the next bytes from the socket into it.
  Status PumpTlsInput(Deadline deadline);
  // The handshake's failure explained as in ExplainRefusal.
  Status ExplainTlsRefusal(Status status) const;
  // Marks the connection closed by the server; returns the error to report.
  Status PeerClosed(std::string_view what);
  // Waits until the socket is ready for `events` (POLLIN / POLLOUT).
  Status Wait(short events, Deadline deadline);

  SocketOptions options_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool broken_ = false;
  bool got_bytes_ = false;    // some reply byte arrived in this exchange
  bool peer_closed_ = false;  // the exchange failed on EOF or a reset
  bool tls_failed_ = false;   // ... or on a TLS error (an alert) in a read
  // The server sent a CertificateRequest in the TLS handshake.
  bool tls_cert_requested_ = false;
  bool connecting_ = false;  // in Connect: timeouts are connect_timeout's
  Duration allowance_{0};    // see SetReadAllowance
  std::string_view allowance_why_;
  // When the last exchange ended (see IdleCheck).
  std::chrono::steady_clock::time_point last_exchange_;
};

// One address of a server, as the resolver gave it.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t size = 0;
};

// What ConnectToAny did: a connected socket (fd >= 0), or why not.
struct ConnectOutcome {
  int fd = -1;
  bool timed_out = false;  // some address was still trying at the deadline
  std::string error;       // each address's failure, "; "-separated
};

// Connects a non-blocking TCP socket (TCP_NODELAY, SO_KEEPALIVE, CLOEXEC)
// to one of `addresses`, all by `deadline`. They are tried in order: one
// that fails (refused, unreachable) gives way to the next at once, and one
// that does not answer within its share of the time left (split evenly
// over it and the addresses not yet tried) stays in the race while the
// next one starts (staggered attempts as in RFC 8305); the first to connect
// wins and the others are closed.
ConnectOutcome ConnectToAny(std::span<const SocketAddress> addresses,
                            Deadline deadline);

}  // namespace sessionkit::net

#endif  // SESSIONKIT_STORES_NET_SOCKET_H_
