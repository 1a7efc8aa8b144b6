// One connection to one Redis server (host:port): sessionkit's socket layer
// around hiredis's protocol code.
//
// hiredis 0.14 is used for the wire format only: a redisReader parses
// replies (commands are formatted here, see FormatCommands). Everything 0.14
// lacks is here: a non-blocking connect bounded by connect_timeout, every
// exchange bounded by read_timeout, pipelining (N commands in one write, N
// replies read back), TLS through OpenSSL memory BIOs (so that all socket I/O,
// including the handshake, runs through the same poll loop and the same
// deadline), and AUTH / SELECT right after connecting, pipelined with the
// first command where that is safe.
//
// Which server to talk to is not decided here: see topology.h.
#ifndef SESSIONKIT_STORES_REDIS_CONNECTION_H_
#define SESSIONKIT_STORES_REDIS_CONNECTION_H_

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "sessionkit/stores/redis.h"

struct redisReader;
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace sessionkit::redis {

// Connections keep time on the steady clock itself, not on a store's Env
// (env.h): their deadlines bound kernel waits (ppoll, connect) that pass in
// real time, which a fake clock would not follow, and a pooled connection
// serves every store of the same options, whatever Env each was given.
// (Reading the clock through an Env would cost a virtual call, nothing
// measurable per command: the reasons are these, not speed.)
using Deadline = std::chrono::steady_clock::time_point;

// A server address.
struct Endpoint {
  std::string host;  // name, IPv4, or IPv6 without brackets
  uint16_t port = 0;

  // "host:port", "[v6]:port".
  std::string ToString() const;
  bool operator==(const Endpoint&) const = default;
};

// One command: its arguments, borrowed from the caller for the duration of
// the call that sends it.
struct Command {
  std::vector<std::string_view> args;
};

// One reply, copied out of hiredis's reader.
struct Reply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<Reply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
  // True for a status or string reply equal to `text`.
  bool Is(std::string_view text) const;
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
      const RedisTlsOptions& options, const std::string& store_name);
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

// Counters shared by the connections of one pool, for tests and metrics.
struct ConnectionStats {
  std::atomic<uint64_t> connects{0};     // TCP connections opened
  std::atomic<uint64_t> round_trips{0};  // writes followed by a read
  std::atomic<uint64_t> commands{0};     // commands sent, handshake included
};

struct ConnectionOptions {
  Endpoint endpoint;
  // Prefixes every message: the store's redacted URL.
  std::string store_name;
  Duration connect_timeout{100};
  Duration read_timeout{250};
  std::shared_ptr<TlsContext> tls;  // null: plain TCP
  std::string user;
  std::string password;
  bool has_password = false;
  int64_t db = 0;
  ConnectionStats* stats = nullptr;  // optional; must outlive the connection
};

// One TCP (or TLS) connection to one server. Connects on the first Execute.
// Once any call fails with an I/O error, a timeout or a bad handshake, or
// leaves replies unread, the connection is broken: it is closed and never
// used again (usable() turns false; the pool discards it).
//
// Thread safety: not thread-safe; one thread at a time (the pool hands a
// connection to one caller at a time).
class Connection {
 public:
  explicit Connection(ConnectionOptions options);
  // Closes the socket without a QUIT: also right in a forked child that
  // must not talk on its parent's connection.
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `commands` in one write and reads one reply per command, all
  // within read_timeout (plus connect_timeout when it has to connect
  // first). A Redis error reply is a reply (Reply::Type::kError), not a
  // failed Status. On a new connection AUTH and SELECT go first, in the
  // same write when that is safe: when there is no SELECT, or when
  // `read_only` says that running `commands` in database 0 (should SELECT
  // fail) would change nothing; otherwise they take a round trip of their
  // own. Errors (the connection is then broken): Unavailable naming the
  // server and what happened (refused, timed out after N ms, TLS handshake
  // failed, closed by the server, protocol error); InvalidArgument for a
  // wrong password or user (WRONGPASS) and for a database the server does
  // not have. No commands: OK at once, without connecting. `blocking`
  // extends read_timeout for a command the server holds on purpose (BLPOP
  // with a timeout): the reply may take that much longer.
  Status Execute(std::span<const Command> commands, std::vector<Reply>* replies,
                 bool read_only = false, Duration blocking = Duration(0));

  // True while the connection may be handed to the next caller: connected
  // (or never tried) and not broken.
  bool usable() const { return !broken_; }
  bool connected() const { return fd_ >= 0; }

  // True when the last failed Execute may be retried on a new connection
  // without risk: the connection had served earlier calls (it came from the
  // pool) and the server closed it before sending any byte of a reply, as
  // when it restarted while the connection sat idle.
  bool last_failure_was_stale() const { return stale_failure_; }

  // True when the last Execute wrote (some of) its commands to the server,
  // which may then have run them although the call failed (a reply that
  // timed out, a connection that broke). False when it failed before that,
  // e.g. connecting.
  bool request_sent() const { return request_sent_; }

  // Checks an idle connection without blocking: false when the server has
  // closed it (or sent something unasked), which also breaks it. A
  // connection used in the last second is not looked at (one syscall less
  // per call; a close since then shows as last_failure_was_stale()).
  bool CheckIdle();

  const Endpoint& endpoint() const { return options_.endpoint; }
  const ConnectionOptions& options() const { return options_; }

  // For a subscription (SUBSCRIBE sent with Execute): appends the messages
  // the server has pushed since, without waiting for more than the bytes
  // already on their way (a message cut in two is read to its end, within
  // read_timeout). Unavailable when the connection failed or was closed
  // (it is then broken). Never on a connection that serves commands.
  Status ReadPushed(std::vector<Reply>* pushed);

  // The fork generation the connection was made in (see pool.h).
  uint64_t generation() const { return generation_; }
  void set_generation(uint64_t g) { generation_ = g; }

  // WATCH bookkeeping, kept by the caller that sends WATCH, UNWATCH and
  // EXEC (RedisStore's locking). watching(): a WATCH may be in force.
  // watched_lock(): the lock that WATCH is for, the lock key and the owner
  // token that took it in the same pipeline; empty when none. The server
  // drops WATCHes with the connection, and a broken connection is never
  // reused, so the marks never outlive what they describe.
  struct WatchedLock {
    std::string key;
    std::string token;
    bool operator==(const WatchedLock&) const = default;
  };
  bool watching() const { return watching_; }
  const WatchedLock& watched_lock() const { return watched_lock_; }
  void set_watch_state(bool watching, WatchedLock lock) {
    watching_ = watching;
    watched_lock_ = std::move(lock);
  }

  // The server's version as the locking code learnt it on this connection
  // (INFO server, sent once with the first lock; see redis_lock.cc), e.g.
  // "7.0.15", or "?" when the server would not say; empty until then.
  const std::string& server_version() const { return server_version_; }
  void set_server_version(std::string version) {
    server_version_ = std::move(version);
  }

  // The online replicas the server listed in its ROLE reply when a durable
  // write first asked on this connection (redis_durable.cc); -1 until then.
  int replicas() const { return replicas_; }
  void set_replicas(int replicas) { replicas_ = replicas; }

 private:
  Status Connect(Deadline deadline);
  Status ConnectTcp(Deadline deadline);
  Status TlsHandshake(Deadline deadline);
  // Appends the AUTH / SELECT commands to `out`; returns how many.
  size_t AppendHandshake(std::vector<Command>* out) const;
  Status CheckHandshakeReplies(std::span<const Reply> replies) const;

  // One round trip: writes `wire`, then reads `count` replies.
  Status Exchange(const std::string& wire, size_t count,
                  std::vector<Reply>* replies, Deadline deadline);
  Status SendAll(std::string_view data, Deadline deadline);
  // Writes `data` to the socket as it is (TLS records or plain commands).
  Status SendRaw(std::string_view data, Deadline deadline);
  // Reads more bytes from the server into the reply reader. `got_bytes` is
  // set once any byte of a reply arrived.
  // `first`: the first read after a request went out.
  Status ReceiveSome(Deadline deadline, bool first);
  Status RecvRaw(char* buf, size_t cap, size_t* n, Deadline deadline);
  Status FlushTlsOutput(Deadline deadline);
  // When OpenSSL wants input (SSL_ERROR_WANT_READ): sends what it has
  // queued, then feeds the next bytes from the socket into it.
  Status PumpTlsInput(Deadline deadline);
  // `status`, a failed TLS handshake or a refusal right after it, with what
  // it most likely means when the server asked for a client certificate in
  // the handshake and sent no reply byte: that it requires one and none was
  // given, or that it does not accept the one given. `status` unchanged
  // otherwise.
  Status ExplainTlsRefusal(Status status) const;
  // `status`, the failure of a new connection's first exchange, explained
  // as above when it ended on a close or a TLS error.
  Status RefusedAfterHandshake(Status status) const;
  // Marks the connection closed by the server; returns the error to report.
  Status PeerClosed(std::string_view what);
  // Waits until the socket is ready for `events` (POLLIN / POLLOUT).
  Status Wait(short events, Deadline deadline);

  // Marks the connection broken, closes it and returns `status`.
  Status Fail(Status status);
  void Close();

  std::string Where() const;  // "<store>: <host:port>"
  Status TimedOut(bool connecting) const;

  ConnectionOptions options_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  redisReader* reader_ = nullptr;
  bool broken_ = false;
  bool handshake_done_ = false;
  bool served_ = false;  // an earlier Execute succeeded
  bool stale_failure_ = false;
  bool request_sent_ = false;
  bool got_bytes_ = false;    // some reply byte arrived in this exchange
  bool peer_closed_ = false;  // the exchange failed on EOF or a reset
  bool tls_failed_ = false;   // ... or on a TLS error (an alert) in a read
  // The server sent a CertificateRequest in the TLS handshake.
  bool tls_cert_requested_ = false;
  bool connecting_ = false;  // in Connect: timeouts are connect_timeout's
  Duration blocking_{0};     // the current Execute's `blocking`
  uint64_t generation_ = 0;
  bool watching_ = false;
  WatchedLock watched_lock_;
  std::string server_version_;
  int replicas_ = -1;
  // When the last exchange ended (see CheckIdle).
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

// Appends the wire form of `commands` (RESP arrays of bulk strings) to
// `out`. (Not hiredis's redisFormatCommandArgv: that formats each length
// with sprintf and copies every argument through a buffer of its own.)
void FormatCommands(std::span<const Command> commands, std::string* out);

// The Status for an error reply `error` to `command` (e.g. "GET") from
// `endpoint`: InvalidArgument for NOAUTH, WRONGPASS and NOPERM (a setting is
// wrong), Unavailable for states a retry or failover may cure (LOADING,
// BUSY, READONLY, OOM, MOVED, ...), Internal otherwise. Quotes the server's
// text.
Status StatusFromErrorReply(std::string_view store_name,
                            const Endpoint& endpoint, std::string_view command,
                            std::string_view error);

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_CONNECTION_H_
