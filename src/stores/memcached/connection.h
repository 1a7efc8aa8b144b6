// One connection to one memcached server (host:port), speaking the meta
// protocol (meta.h) over sessionkit's connection layer (stores/net/socket.h):
// a non-blocking connect bounded by connect_timeout, every exchange bounded
// by read_timeout, pipelining (several requests in one write, their replies
// read back), and TLS when the server has it (memcached -Z).
//
// A Pipeline holds the requests of one exchange, encoded as they are added;
// Connection::Execute sends it in one write and reads its replies. Requests
// with q (quiet) answer only on a miss or a failure, so a run of them must
// end with an mn (Noop), whose MN says that every reply of the run is in.
//
// TLS and memcached 1.6.18 (Debian 12): when a TLS record holds the end of
// an ms data block and the start of the next request, the server reads the
// data block's end and leaves the rest in its TLS buffer unread, waiting
// for the socket instead: the pipeline stalls until read_timeout (seen with
// any pipelined ms whose request passes 16 KiB, one TLS record). So over
// TLS every ms ends a TLS record (Pipeline::data_ends; still one write to
// the socket), which the server then reads whole.
//
// Which server a key goes to is not decided here: see ketama.h.
#ifndef SESSIONKIT_STORES_MEMCACHED_CONNECTION_H_
#define SESSIONKIT_STORES_MEMCACHED_CONNECTION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/clock.h"
#include "sessionkit/status.h"
#include "stores/memcached/meta.h"
#include "stores/net/connection.h"
#include "stores/net/socket.h"

namespace sessionkit::memcached {

using net::Deadline;
using net::Endpoint;
using net::TlsContext;

// The requests of one exchange, in the order they go out, and what their
// replies will be.
//
// Thread safety: a plain value; not thread-safe.
class Pipeline {
 public:
  // Each appends one request, encoded with meta.h (see there for the
  // fields); on an error (InvalidArgument naming the key, the opaque, the
  // TTL or the value size) the pipeline is left as it was. A request
  // without q after a quiet one that no Noop has closed yet is
  // InvalidArgument too: its reply could not be told from theirs.
  Status Get(std::string_view key, const GetRequest& request);
  Status Set(std::string_view key, std::string_view value,
             const SetRequest& request);
  Status Delete(std::string_view key, const DeleteRequest& request);
  Status Arithmetic(std::string_view key, const ArithmeticRequest& request);
  // mn. After quiet requests: closes their run (their replies, if any, come
  // before its MN). Otherwise a request of its own that answers MN.
  void Noop();

  // The encoded requests.
  const std::string& wire() const { return wire_; }
  // How many requests wire() holds.
  size_t requests() const { return requests_; }
  bool empty() const { return requests_ == 0; }
  // True while a quiet request waits for the Noop that closes its run.
  bool quiet_run_open() const { return quiet_run_open_; }
  // Where in wire() each request with a data block (ms) ends.
  const std::vector<size_t>& data_ends() const { return data_ends_; }

 private:
  friend class Connection;
  // What the replies to the requests are, in order: one reply (a request
  // without q), or the replies of a quiet run up to and with its MN.
  enum class Expect : uint8_t { kOne, kUntilNoop };

  // Appends a request with `encode` (a meta.h encoder writing to wire_)
  // unless it would follow an open quiet run without q.
  template <typename Encode>
  Status Append(bool quiet, Encode encode);
  // Counts a request just appended (`quiet`: sent with q).
  void Added(bool quiet);

  std::string wire_;
  size_t requests_ = 0;
  std::vector<Expect> expect_;
  std::vector<size_t> data_ends_;
  bool quiet_run_open_ = false;
};

// Counters shared by the connections of one pool, for tests and metrics.
struct ConnectionStats {
  std::atomic<uint64_t> connects{0};     // TCP connections opened
  std::atomic<uint64_t> round_trips{0};  // writes followed by a read
  std::atomic<uint64_t> requests{0};     // requests sent, mn included
  // The round_trips already handed to metrics (Store::TakeRoundTrips).
  mutable std::atomic<uint64_t> round_trips_taken{0};
};

// memcached's largest item size max (-I 1024m): no value above it can come.
inline constexpr size_t kDefaultMaxValueSize = size_t{1} << 30;

// endpoint, store_name (the prefix of messages), connect_timeout,
// read_timeout and tls are net::ServerOptions'.
struct ConnectionOptions : net::ServerOptions {
  // The largest value a reply may announce (ParseResponse's limit); a larger
  // one is a protocol error before its bytes are read. Set it to the
  // server's item size max to buffer no more than that.
  size_t max_value_size = kDefaultMaxValueSize;
  ConnectionStats* stats = nullptr;  // optional; must outlive the connection
};

// One TCP (or TLS) connection to one server. Connects on the first Execute.
// Once any call fails with an I/O error, a timeout or a malformed reply, the
// connection is broken: it is closed and never used again (usable() turns
// false; the pool discards it). usable(), connected(),
// last_failure_was_stale(), request_sent(), CheckIdle() and the fork
// generation are net::ClientConnection's.
//
// Thread safety: not thread-safe; one thread at a time (the pool hands a
// connection to one caller at a time).
class Connection : public net::ClientConnection {
 public:
  // Closes the socket without a "quit" when destroyed: also right in a
  // forked child that must not talk on its parent's connection.
  explicit Connection(ConnectionOptions options);

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends the requests of `pipeline` in one write and reads their replies,
  // in order, into `replies`: one per request without q, and for each run
  // of quiet requests the replies they sent (a miss, a failure) followed by
  // the MN of the Noop that closes it. All within read_timeout (plus
  // connect_timeout when it has to connect first). An error reply (ERROR,
  // CLIENT_ERROR, SERVER_ERROR: see Response::is_error and ErrorStatus) is
  // a reply, not a failed Status; the connection stays usable unless the
  // server closes it. Errors (the connection is then broken): Unavailable
  // naming the store and the server and what happened (refused, timed out
  // after N ms, TLS handshake failed, closed by the server, protocol
  // error, bytes after the last reply). InvalidArgument, without sending
  // and without breaking the connection, for a pipeline whose quiet run no
  // Noop closes. An empty pipeline: OK at once, without connecting.
  Status Execute(const Pipeline& pipeline, std::vector<Response>* replies);

  // Execute in two halves, so that pipelines to several servers go out
  // before any reply is read (one round trip for all): Send writes the
  // pipeline, Receive reads its replies; their errors are Execute's, and
  // read_timeout runs from Send. Receive only after a Send that succeeded.
  Status Send(const Pipeline& pipeline);
  Status Receive(const Pipeline& pipeline, std::vector<Response>* replies);

  // Sends the text command `command` ("lru_crawler metadump all", "stats
  // settings") and reads its answer up to and without the line "END" into
  // `out`, within
  // read_timeout. Unavailable as Execute, and for an answer over
  // `max_bytes`; an "ERROR", "CLIENT_ERROR" or "SERVER_ERROR" line (or
  // "BUSY", a crawler already at work) is Unavailable quoting it, the
  // connection still usable.
  Status Dump(std::string_view command, size_t max_bytes, std::string* out);

  const Endpoint& endpoint() const { return options_.endpoint; }
  const ConnectionOptions& options() const { return options_; }

 private:
  // Reads the replies `pipeline` asks for.
  Status ReadReplies(const Pipeline& pipeline, Deadline deadline,
                     std::vector<Response>* replies);
  // Parses the next reply, reading from the server as long as it is cut
  // short. `first`: no byte was read since the request went out.
  Status NextReply(Deadline deadline, bool* first, Response* out);
  // Drops the bytes read and not parsed.
  void OnClose() override;

  ConnectionOptions options_;
  // When the replies of the pipeline sent are due (Send to Receive).
  Deadline deadline_{};
  // Bytes read from the server; in_[0, parsed_) are parsed already.
  std::string in_;
  size_t parsed_ = 0;
};

}  // namespace sessionkit::memcached

#endif  // SESSIONKIT_STORES_MEMCACHED_CONNECTION_H_
