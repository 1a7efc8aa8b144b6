// Helpers shared by the files of the connection layer (socket.cc, tls.cc,
// connect.cc). Not part of its interface.
#ifndef SESSIONKIT_STORES_NET_NET_INTERNAL_H_
#define SESSIONKIT_STORES_NET_NET_INTERNAL_H_

#include <chrono>
#include <cstring>
#include <string>

namespace sessionkit::net {

// The clock of socket deadlines (see Deadline in socket.h: not the Env).
using SteadyClock = std::chrono::steady_clock;

inline std::string Errno(int err) { return std::strerror(err); }

// Drains OpenSSL's (thread-local) error queue into one line.
std::string OpenSslErrors();

}  // namespace sessionkit::net

#endif  // SESSIONKIT_STORES_NET_NET_INTERNAL_H_
