#include "stores/memcached/connection.h"

#include <chrono>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace sessionkit::memcached {
namespace {

// memcached in the connection layer's messages.
constexpr net::ServerWords kMemcachedWords{
    .name = "memcached",
    .tls_port_hint =
        "is this a TLS port? memcached speaks TLS only when started with -Z",
    .client_auth_setting = "-o ssl_verify_mode=2",
    .client_ca_setting = "ssl_ca_cert",
};

}  // namespace

// --- Pipeline ---------------------------------------------------------------

void Pipeline::Added(bool quiet) {
  ++requests_;
  if (!quiet) {
    expect_.push_back(Expect::kOne);
  } else if (!quiet_run_open_) {
    quiet_run_open_ = true;
    expect_.push_back(Expect::kUntilNoop);
  }
}

template <typename Encode>
Status Pipeline::Append(bool quiet, Encode encode) {
  if (!quiet && quiet_run_open_) {
    return Status::InvalidArgument(
        "a memcached request without q follows quiet ones before the mn "
        "that ends them");
  }
  SK_RETURN_IF_ERROR(encode());
  Added(quiet);
  return Status::OK();
}

Status Pipeline::Get(std::string_view key, const GetRequest& request) {
  return Append(request.quiet, [&] { return AppendGet(key, request, &wire_); });
}

Status Pipeline::Set(std::string_view key, std::string_view value,
                     const SetRequest& request) {
  SK_RETURN_IF_ERROR(Append(
      request.quiet, [&] { return AppendSet(key, value, request, &wire_); }));
  data_ends_.push_back(wire_.size());
  return Status::OK();
}

Status Pipeline::Delete(std::string_view key, const DeleteRequest& request) {
  return Append(request.quiet,
                [&] { return AppendDelete(key, request, &wire_); });
}

Status Pipeline::Arithmetic(std::string_view key,
                            const ArithmeticRequest& request) {
  return Append(request.quiet,
                [&] { return AppendArithmetic(key, request, &wire_); });
}

void Pipeline::Noop() {
  AppendNoop(&wire_);
  ++requests_;
  if (quiet_run_open_) {
    quiet_run_open_ = false;  // its kUntilNoop ends at this MN
  } else {
    expect_.push_back(Expect::kOne);
  }
}

// --- Connection -------------------------------------------------------------

Connection::Connection(ConnectionOptions options)
    : ClientConnection(
          options, kMemcachedWords,
          options.stats != nullptr ? &options.stats->connects : nullptr),
      options_(std::move(options)) {}

void Connection::OnClose() {
  in_.clear();
  parsed_ = 0;
}

Status Connection::NextReply(Deadline deadline, bool* first, Response* out) {
  while (true) {
    Result<size_t> used = ParseResponse(std::string_view(in_).substr(parsed_),
                                        options_.max_value_size, out);
    if (!used.ok()) {
      return Status(used.status().code(),
                    socket_.Where() + ": " + used.status().message());
    }
    if (*used > 0) {
      parsed_ += *used;
      return Status::OK();
    }
    // Cut short: what is parsed makes room, then more bytes are read.
    in_.erase(0, parsed_);
    parsed_ = 0;
    const size_t have = in_.size();
    in_.resize(have + net::kReadChunk);
    size_t n = 0;
    Status st =
        socket_.Receive(std::span<char>(in_.data() + have, net::kReadChunk), &n,
                        deadline, *first);
    in_.resize(have + (st.ok() ? n : 0));
    SK_RETURN_IF_ERROR(st);
    *first = false;
  }
}

Status Connection::ReadReplies(const Pipeline& pipeline, Deadline deadline,
                               std::vector<Response>* replies) {
  bool first = true;
  for (Pipeline::Expect expect : pipeline.expect_) {
    while (true) {
      Response& r = replies->emplace_back();
      SK_RETURN_IF_ERROR(NextReply(deadline, &first, &r));
      if (expect == Pipeline::Expect::kOne || r.code == ResponseCode::kNoop) {
        break;
      }
    }
  }
  if (parsed_ < in_.size()) {
    return Status::Unavailable(
        socket_.Where() +
        ": memcached protocol error: " + std::to_string(in_.size() - parsed_) +
        " bytes after the last reply (the replies no longer match the "
        "requests)");
  }
  in_.clear();
  parsed_ = 0;
  return Status::OK();
}

Status Connection::Execute(const Pipeline& pipeline,
                           std::vector<Response>* replies) {
  SK_RETURN_IF_ERROR(Send(pipeline));
  return Receive(pipeline, replies);
}

Status Connection::Send(const Pipeline& pipeline) {
  StartCall();
  if (pipeline.empty()) return Status::OK();
  if (pipeline.quiet_run_open()) {
    return Status::InvalidArgument(
        options_.store_name +
        ": a memcached pipeline ends with quiet requests and no mn: their "
        "replies could not be told apart from the next request's");
  }
  SK_RETURN_IF_ERROR(Open());
  deadline_ = std::chrono::steady_clock::now() + options_.read_timeout;
  MarkSent();
  Status st = socket_.Send(pipeline.wire(), deadline_, pipeline.data_ends());
  if (!st.ok()) return FailCall(std::move(st));
  if (options_.stats != nullptr) {
    options_.stats->round_trips.fetch_add(1, std::memory_order_relaxed);
    options_.stats->requests.fetch_add(pipeline.requests(),
                                       std::memory_order_relaxed);
  }
  return Status::OK();
}

Status Connection::Receive(const Pipeline& pipeline,
                           std::vector<Response>* replies) {
  replies->clear();
  if (pipeline.empty()) return Status::OK();
  Status st = ReadReplies(pipeline, deadline_, replies);
  if (!st.ok()) {
    replies->clear();
    return FailCall(std::move(st));
  }
  CallDone();
  return Status::OK();
}

Status Connection::Dump(std::string_view command, size_t max_bytes,
                        std::string* out) {
  StartCall();
  out->clear();
  SK_RETURN_IF_ERROR(Open());
  const Deadline deadline =
      std::chrono::steady_clock::now() + options_.read_timeout;
  MarkSent();
  std::string wire(command);
  wire += "\r\n";
  Status st = socket_.Send(wire, deadline, {});
  bool first = true;
  static constexpr std::string_view kEnd = "END\r\n";
  while (st.ok()) {
    // The answer ends with a line "END" (metadump's key lines end with
    // "\n" alone, stats' "STAT" lines with "\r\n"); an error, or BUSY (a
    // crawler already at work), is one line of its own.
    if (in_ == kEnd || in_.ends_with("\nEND\r\n")) break;
    const size_t eol = in_.find("\r\n");
    if (eol != std::string::npos &&
        (in_.starts_with("ERROR") || in_.starts_with("CLIENT_ERROR") ||
         in_.starts_with("SERVER_ERROR") || in_.starts_with("BUSY"))) {
      std::string text = in_.substr(0, std::min<size_t>(eol, 200));
      for (char& c : text) {
        if (c < 0x20 || c > 0x7e) c = '?';
      }
      in_.clear();
      CallDone();
      return Status::Unavailable(socket_.Where() + ": " + std::string(command) +
                                 ": " + text);
    }
    if (in_.size() > max_bytes) {
      st = Status::Unavailable(socket_.Where() + ": " + std::string(command) +
                               ": the answer is larger than " +
                               std::to_string(max_bytes) + " bytes");
      break;
    }
    const size_t have = in_.size();
    in_.resize(have + net::kReadChunk);
    size_t n = 0;
    st = socket_.Receive(std::span<char>(in_.data() + have, net::kReadChunk),
                         &n, deadline, first);
    in_.resize(have + (st.ok() ? n : 0));
    first = false;
  }
  if (!st.ok()) return FailCall(std::move(st));
  out->assign(in_, 0, in_.size() - kEnd.size());
  in_.clear();
  parsed_ = 0;
  CallDone();
  return Status::OK();
}

}  // namespace sessionkit::memcached
