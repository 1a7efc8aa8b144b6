// The RESP side of a connection: the wire form of commands, replies copied
// out of hiredis's reader, and the Status for an error reply.
#include <hiredis/hiredis.h>

#include <charconv>
#include <string>
#include <string_view>

#include "stores/redis/connection.h"
#include "stores/redis/connection_internal.h"

namespace sessionkit::redis {
namespace {

// Server messages are quoted up to this length.
constexpr size_t kMaxQuotedReply = 200;

// hiredis's own createArray, which CappedArray calls within the cap.
void* (*g_default_create_array)(const redisReadTask*, int) = nullptr;

void* CappedArray(const redisReadTask* task, int elements) {
  // nullptr makes the reader fail the reply (its out-of-memory error).
  if (elements > kMaxReplyElements) return nullptr;
  return g_default_create_array(task, elements);
}

// hiredis's default reply functions with CappedArray; built once, from
// the functions of the first reader.
const redisReplyObjectFunctions* CappedFunctions(
    const redisReplyObjectFunctions* defaults) {
  static const redisReplyObjectFunctions capped = [defaults] {
    redisReplyObjectFunctions f = *defaults;
    g_default_create_array = f.createArray;
    f.createArray = CappedArray;
    return f;
  }();
  return &capped;
}

}  // namespace

redisReader* NewReplyReader() {
  redisReader* reader = redisReaderCreate();
  if (reader == nullptr) return nullptr;
  // The default functions are hiredis's file-static ones: the first
  // reader's are everyone's.
  reader->fn =
      const_cast<redisReplyObjectFunctions*>(CappedFunctions(reader->fn));
  return reader;
}

std::string ServerText(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxQuotedReply)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > kMaxQuotedReply) out += "...";
  return out;
}

Reply ConvertReply(const redisReply* r) {
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
        out.elements.push_back(ConvertReply(r->element[i]));
      }
      break;
    default:
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
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

std::string_view JudgedError(std::string_view error) {
  constexpr std::string_view kScriptFailed =
      "ERR Error running script (call to ";
  if (!error.starts_with(kScriptFailed)) return error;
  // The command's error follows the script's name and the line it stopped
  // on ("f_<sha>): @user_script:12: @user_script: 12: -").
  const size_t dash = error.find(": -", kScriptFailed.size());
  if (dash == std::string_view::npos) return error;
  const std::string_view refused = error.substr(dash + 3);
  for (std::string_view first_write : {"READONLY ", "OOM ", "MISCONF "}) {
    if (refused.starts_with(first_write)) return refused;
  }
  return error;
}

Status StatusFromErrorReply(std::string_view store_name,
                            const Endpoint& endpoint, std::string_view command,
                            std::string_view error) {
  const std::string where = std::string(store_name) + ": ";
  const std::string says = " (the server says: " + ServerText(error) + ")";
  const std::string ep = endpoint.ToString();
  const std::string_view judged = JudgedError(error);
  auto starts = [&](std::string_view p) { return judged.starts_with(p); };
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
}  // namespace sessionkit::redis
