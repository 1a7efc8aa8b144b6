// What every protocol's connection to one server shares (redis::Connection,
// memcached::Connection derive from it): a Socket, connected on the first
// call; the rule that any failure breaks the connection for good; and what
// a failed call tells its caller: whether the request may have run
// (request_sent) and whether a retry on a new connection is safe
// (last_failure_was_stale).
#ifndef SESSIONKIT_STORES_NET_CONNECTION_H_
#define SESSIONKIT_STORES_NET_CONNECTION_H_

#include <atomic>
#include <cstdint>

#include "sessionkit/status.h"
#include "stores/net/socket.h"

namespace sessionkit::net {

// The protocol-independent half of a connection. A derived class's call
// (Execute) runs StartCall, Open, MarkSent before it writes, then CallDone
// or FailCall.
//
// Thread safety: not thread-safe; one thread at a time (a pool hands a
// connection to one caller at a time).
class ClientConnection {
 public:
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // True while the connection may be handed to the next caller: connected
  // (or never tried) and not broken.
  bool usable() const { return !socket_.broken(); }
  bool connected() const { return socket_.connected(); }

  // True when the last failed call may be retried on a new connection
  // without risk: the connection had served earlier calls (it came from the
  // pool) and the server closed it before sending any byte of a reply, as
  // when it restarted while the connection sat idle.
  bool last_failure_was_stale() const { return stale_failure_; }

  // True when the last call wrote (some of) its requests to the server,
  // which may then have run them although the call failed (a reply that
  // timed out, a connection that broke). False when it failed before that,
  // e.g. connecting.
  bool request_sent() const { return request_sent_; }

  // Checks an idle connection without blocking: false when the server has
  // closed it (or sent something unasked), which also breaks it. A
  // connection used in the last second is not looked at (one syscall less
  // per call; a close since then shows as last_failure_was_stale()).
  bool CheckIdle();

  // The fork generation the connection was made in (see
  // stores/fork_generation.h and each store's pool).
  uint64_t generation() const { return generation_; }
  void set_generation(uint64_t g) { generation_ = g; }

 protected:
  // `connects` (optional) counts the TCP connections opened.
  ClientConnection(const ServerOptions& server, const ServerWords& words,
                   std::atomic<uint64_t>* connects);
  // Closes the socket without a goodbye: also right in a forked child that
  // must not talk on its parent's connection.
  virtual ~ClientConnection();

  // Starts a call: clears last_failure_was_stale() and request_sent().
  void StartCall();
  // Unavailable when the connection is broken; connects (within
  // connect_timeout, then OnConnected) when it is not connected yet, and
  // breaks it when that fails.
  Status Open();
  // Notes that the call's requests go out now.
  void MarkSent() { request_sent_ = true; }
  // A successful exchange of the call.
  void CallDone();
  // A failed exchange of the call: notes whether it was stale, adds what a
  // refusal after a TLS handshake most likely means (on a connection that
  // served no call yet), breaks the connection and returns the error.
  Status FailCall(Status status);
  // Breaks the connection (OnClose, then the socket is closed for good) and
  // returns `status`.
  Status Fail(Status status);

  // What the protocol keeps per connection and sets up once connected (a
  // reply reader), and drops when the connection closes (unread bytes).
  virtual Status OnConnected() { return Status::OK(); }
  virtual void OnClose() {}

  Socket socket_;

 private:
  bool served_ = false;  // an earlier call succeeded
  bool stale_failure_ = false;
  bool request_sent_ = false;
  uint64_t generation_ = 0;
};

}  // namespace sessionkit::net

#endif  // SESSIONKIT_STORES_NET_CONNECTION_H_
