// Helpers shared by the files of Connection (connection.cc, resp.cc,
// connection_tls.cc, tcp_connect.cc). Not part of the store's interface.
#ifndef SESSIONKIT_STORES_REDIS_CONNECTION_INTERNAL_H_
#define SESSIONKIT_STORES_REDIS_CONNECTION_INTERNAL_H_

#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

struct redisReply;

namespace sessionkit::redis {

struct Reply;

// The clock of socket deadlines (see Deadline in connection.h: not the Env).
using SteadyClock = std::chrono::steady_clock;

// Bytes read from (or moved through) a socket at a time.
inline constexpr size_t kReadChunk = 16384;

inline std::string Errno(int err) { return std::strerror(err); }

// The server's text, made printable and cut to a sane length.
std::string ServerText(std::string_view text);

// Drains OpenSSL's (thread-local) error queue into one line.
std::string OpenSslErrors();

// A copy of a reply parsed by hiredis's reader.
Reply ConvertReply(const redisReply* r);

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_CONNECTION_INTERNAL_H_
