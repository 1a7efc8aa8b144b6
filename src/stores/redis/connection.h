// One connection to one Redis server (host:port): sessionkit's connection
// layer (stores/net/socket.h) around hiredis's protocol code.
//
// hiredis 0.14 is used for the wire format only: a redisReader parses
// replies (commands are formatted here, see FormatCommands). Everything 0.14
// lacks is here or in the connection layer: a non-blocking connect bounded
// by connect_timeout, every exchange bounded by read_timeout, pipelining (N
// commands in one write, N replies read back), TLS through OpenSSL memory
// BIOs (so that all socket I/O, including the handshake, runs through the
// same poll loop and the same deadline), and AUTH / SELECT right after
// connecting, pipelined with the first command where that is safe.
//
// Which server to talk to is not decided here: see topology.h.
#ifndef SESSIONKIT_STORES_REDIS_CONNECTION_H_
#define SESSIONKIT_STORES_REDIS_CONNECTION_H_

#include <atomic>
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
#include "stores/net/connection.h"
#include "stores/net/socket.h"

struct redisReader;

namespace sessionkit::redis {

// The connection layer's types, by their names in the Redis store.
using net::ConnectOutcome;
using net::ConnectToAny;
using net::Deadline;
using net::Endpoint;
using net::SocketAddress;
using net::TlsContext;

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

// Counters shared by the connections of one pool, for tests and metrics.
struct ConnectionStats {
  std::atomic<uint64_t> connects{0};     // TCP connections opened
  std::atomic<uint64_t> round_trips{0};  // writes followed by a read
  std::atomic<uint64_t> commands{0};     // commands sent, handshake included
  // The round_trips already handed to metrics (Store::TakeRoundTrips).
  mutable std::atomic<uint64_t> round_trips_taken{0};
};

// endpoint, store_name (the prefix of messages), connect_timeout,
// read_timeout and tls are net::ServerOptions'.
struct ConnectionOptions : net::ServerOptions {
  std::string user;
  std::string password;
  bool has_password = false;
  int64_t db = 0;
  ConnectionStats* stats = nullptr;  // optional; must outlive the connection
};

// One TCP (or TLS) connection to one server. Connects on the first Execute.
// Once any call fails with an I/O error, a timeout or a bad handshake, or
// leaves replies unread, the connection is broken: it is closed and never
// used again (usable() turns false; the pool discards it). usable(),
// connected(), last_failure_was_stale(), request_sent(), CheckIdle() and
// the fork generation (see pool.h) are net::ClientConnection's.
//
// Thread safety: not thread-safe; one thread at a time (the pool hands a
// connection to one caller at a time).
class Connection : public net::ClientConnection {
 public:
  explicit Connection(ConnectionOptions options);
  // Closes the socket without a QUIT: also right in a forked child that
  // must not talk on its parent's connection.
  ~Connection() override;

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

  const Endpoint& endpoint() const { return options_.endpoint; }
  const ConnectionOptions& options() const { return options_; }

  // For a subscription (SUBSCRIBE sent with Execute): appends the messages
  // the server has pushed since, without waiting for more than the bytes
  // already on their way (a message cut in two is read to its end, within
  // read_timeout). Unavailable when the connection failed or was closed
  // (it is then broken). Never on a connection that serves commands.
  Status ReadPushed(std::vector<Reply>* pushed);

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
  // Creates the reply reader of a new connection.
  Status OnConnected() override;
  // Frees the reply reader (and what it holds unread).
  void OnClose() override;
  // Appends the AUTH / SELECT commands to `out`; returns how many.
  size_t AppendHandshake(std::vector<Command>* out) const;
  Status CheckHandshakeReplies(std::span<const Reply> replies) const;

  // One round trip: writes `wire`, then reads `count` replies.
  Status Exchange(const std::string& wire, size_t count,
                  std::vector<Reply>* replies, Deadline deadline);
  // Reads more bytes from the server into the reply reader. `first`: the
  // first read after a request went out.
  Status ReceiveSome(Deadline deadline, bool first);

  std::string Where() const { return socket_.Where(); }

  ConnectionOptions options_;
  redisReader* reader_ = nullptr;
  bool handshake_done_ = false;
  bool watching_ = false;
  WatchedLock watched_lock_;
  std::string server_version_;
  int replicas_ = -1;
};

// Appends the wire form of `commands` (RESP arrays of bulk strings) to
// `out`. (Not hiredis's redisFormatCommandArgv: that formats each length
// with sprintf and copies every argument through a buffer of its own.)
void FormatCommands(std::span<const Command> commands, std::string* out);

// The error reply `error` as the store judges it (StatusFromErrorReply, the
// topologies). Redis 6 reports a command refused inside a Lua script in the
// script's failure, "ERR Error running script (call to f_<sha>):
// @user_script:12: @user_script: 12: -READONLY You can't write against a
// read only replica.", where Redis 7 leads with the command's error
// ("READONLY ... script: <sha>, on @user_script:12."). For READONLY, OOM and
// MISCONF, which Redis 6 raises only at a script's first write (the script
// wrote nothing, and may run again elsewhere or later), this is the
// command's error ("READONLY You can't ..."). Otherwise `error` itself: a
// script stopped by another error may have written, and is not run again.
std::string_view JudgedError(std::string_view error);

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
