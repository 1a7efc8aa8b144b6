// Helpers shared by the files of Connection (connection.cc, resp.cc). Not
// part of the store's interface.
#ifndef SESSIONKIT_STORES_REDIS_CONNECTION_INTERNAL_H_
#define SESSIONKIT_STORES_REDIS_CONNECTION_INTERNAL_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

struct redisReply;
struct redisReader;

namespace sessionkit::redis {

struct Reply;

// The clock of socket deadlines (see Deadline in stores/net/socket.h: not
// the Env).
using SteadyClock = std::chrono::steady_clock;

// The server's text, made printable and cut to a sane length.
std::string ServerText(std::string_view text);

// A copy of a reply parsed by hiredis's reader.
Reply ConvertReply(const redisReply* r);

// The most elements one array reply may announce. hiredis allocates an
// array's element table when it reads the header ("*<n>"), before any
// element arrives: without a cap, "*1000000000" from a broken or hostile
// server costs 8 GB at once. Far above any reply sessionkit asks for (a
// SCAN page, CLUSTER SLOTS' at most 16384 ranges, an EXEC).
inline constexpr int kMaxReplyElements = 1 << 20;

// A hiredis reply reader that refuses an array header above
// kMaxReplyElements (a protocol error: "Out of memory", as hiredis names
// any refused allocation). nullptr when hiredis cannot allocate one. Free
// with redisReaderFree.
redisReader* NewReplyReader();

}  // namespace sessionkit::redis

#endif  // SESSIONKIT_STORES_REDIS_CONNECTION_INTERNAL_H_
