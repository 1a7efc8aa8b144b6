#include "stores/net/connection.h"

#include <chrono>
#include <utility>

namespace sessionkit::net {

namespace {

SocketOptions SocketOptionsOf(const ServerOptions& server,
                              const ServerWords& words,
                              std::atomic<uint64_t>* connects) {
  SocketOptions out;
  static_cast<ServerOptions&>(out) = server;
  out.words = words;
  out.connects = connects;
  return out;
}

}  // namespace

ClientConnection::ClientConnection(const ServerOptions& server,
                                   const ServerWords& words,
                                   std::atomic<uint64_t>* connects)
    : socket_(SocketOptionsOf(server, words, connects)) {}

ClientConnection::~ClientConnection() = default;

void ClientConnection::StartCall() {
  stale_failure_ = false;
  request_sent_ = false;
}

Status ClientConnection::Open() {
  if (socket_.broken()) {
    return Status::Unavailable(socket_.Where() +
                               ": the connection was closed after an error");
  }
  if (socket_.connected()) return Status::OK();
  Status st = socket_.Connect(std::chrono::steady_clock::now() +
                              socket_.options().connect_timeout);
  if (st.ok()) st = OnConnected();
  if (!st.ok()) return Fail(std::move(st));
  return Status::OK();
}

void ClientConnection::CallDone() {
  socket_.NoteExchangeDone();
  served_ = true;
}

Status ClientConnection::FailCall(Status status) {
  // A connection that served earlier calls and got no reply byte at all
  // was most likely closed by a server restart while it sat idle.
  stale_failure_ = served_ && !socket_.got_bytes() && socket_.peer_closed();
  return Fail(served_ ? std::move(status)
                      : socket_.ExplainRefusal(std::move(status)));
}

Status ClientConnection::Fail(Status status) {
  OnClose();
  return socket_.Fail(std::move(status));
}

bool ClientConnection::CheckIdle() {
  if (socket_.broken()) return false;
  if (socket_.IdleCheck()) return true;
  OnClose();
  socket_.Break();
  return false;
}

}  // namespace sessionkit::net
