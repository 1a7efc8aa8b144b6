// RedisStore's runner: sends a request to the server its key lives on (or
// to one server, RunAt), following redirects, failovers and stale pooled
// connections, and turns error replies into a Status.
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "stores/redis/redis_lock.h"
#include "stores/redis/redis_store.h"

namespace sessionkit::redis {

namespace {

// Attempts after a pooled connection turned out closed by the server.
constexpr int kMaxStaleRetries = 3;
// Attempts after the topology says the route changed.
constexpr int kMaxRouteRetries = 1;
// Cluster answers TRYAGAIN to a multi-key command (the locking scripts)
// while the keys' slot is half migrated; the move usually completes within
// milliseconds. Retried after a pause for up to this long.
constexpr std::chrono::milliseconds kTryAgainPause{20};
constexpr std::chrono::milliseconds kTryAgainBudget{1000};

// One call of Run: where its next attempt goes, what the last one sent, and
// how many retries it has used.
struct RunCall {
  RunCall(const RunRequest& r, Env* e) : request(r), env(e), sent(r.commands) {}

  const RunRequest& request;
  Env* const env;               // the store's: the TRYAGAIN pauses
  std::optional<Endpoint> ask;  // the next attempt goes there, with ASKING
  std::vector<Command> with_asking;
  // What this attempt sends (before ASKING is added): the request's
  // commands, or what the hook picked for the connection.
  std::span<const Command> sent;
  // A durable request's attempt: what it sends with WAIT appended, WAIT's
  // count, how many replicas it waited for (0: no WAIT sent), and WAIT's
  // reply, taken out of the replies.
  std::vector<Command> with_wait;
  std::string wait_count;
  int waited_for = 0;
  Reply wait_reply;
  int stale_retries = 0;
  int route_retries = 0;
  int redirects = 0;
  std::optional<SteadyTime> first_tryagain;
};

// One attempt on a pooled connection to `endpoint`. *stale: it failed on a
// connection the server had closed while it sat in the pool.
Status Attempt(ConnectionPool* pool, const Durability& durability,
               const Endpoint& endpoint, RunCall* call,
               std::vector<Reply>* replies, bool* stale) {
  const RunRequest& request = call->request;
  ConnectionHook* hook = request.hook;
  const bool asking = call->ask.has_value();
  PooledConnection conn(pool, endpoint);
  int replicas = 0;
  if (request.durable && durability.on()) {
    Result<int> wanted = durability.ReplicasFor(*conn);
    if (!wanted.ok()) {
      *stale = conn->last_failure_was_stale();
      return WithWhat(wanted.status(), request.what);
    }
    replicas = *wanted;
  }
  call->sent = hook != nullptr ? hook->Pick(*conn, asking, request.commands)
                               : request.commands;
  std::span<const Command> send = call->sent;
  if (asking) {
    // ASKING and the commands in one write: one round trip. ASKING
    // lets only the command right after it in, so each gets its own.
    call->with_asking.clear();
    for (const Command& command : call->sent) {
      call->with_asking.push_back(Command{{"ASKING"}});
      call->with_asking.push_back(command);
    }
    send = call->with_asking;
  }
  call->waited_for = 0;
  Duration blocking = request.blocking;
  if (replicas > 0 && !send.empty()) {
    // After everything else, ASKING included: it waits for all of it.
    call->with_wait.assign(send.begin(), send.end());
    durability.AppendWait(replicas, &call->wait_count, &call->with_wait);
    send = call->with_wait;
    call->waited_for = replicas;
    blocking += durability.blocking();
  }
  Status st = conn->Execute(send, replies, request.read_only, blocking);
  if (call->waited_for > 0 && st.ok() && replies->size() == send.size()) {
    call->wait_reply = std::move(replies->back());
    replies->pop_back();
  }
  *stale = !st.ok() && conn->last_failure_was_stale();
  if (!st.ok() && request.unanswered != nullptr && conn->request_sent()) {
    *request.unanswered = true;
  }
  if (hook != nullptr) hook->Done(*conn, asking, st, replies);
  return st;
}

// Drops the replies to the ASKING commands of an attempt after ASK.
Status DropAskingReplies(const std::string& store_name,
                         const Endpoint& endpoint, std::string_view what,
                         std::vector<Reply>* replies) {
  std::vector<Reply> own;
  own.reserve(replies->size() / 2);
  for (size_t i = 0; i < replies->size(); i += 2) {
    const Reply& asking = (*replies)[i];
    if (asking.is_error()) {
      return WithWhat(
          StatusFromErrorReply(store_name, endpoint, "ASKING", asking.str),
          what);
    }
    own.push_back(std::move((*replies)[i + 1]));
  }
  *replies = std::move(own);
  return Status::OK();
}

// Judges the error replies of an attempt on `endpoint`: true when the call
// is to start over (TRYAGAIN, a redirect; an ASK sets call->ask), false
// when the replies are the answer, or the error they make.
Result<bool> RetryAfterErrorReplies(Topology* topology,
                                    const std::string& store_name,
                                    const Endpoint& endpoint,
                                    const std::vector<Reply>& replies,
                                    RunCall* call) {
  const RunRequest& request = call->request;
  for (size_t i = 0; i < replies.size(); ++i) {
    const Reply& r = replies[i];
    if (!r.is_error()) continue;
    if (!request.keep_error.empty() && r.str.starts_with(request.keep_error)) {
      continue;
    }
    if (r.str.starts_with("TRYAGAIN")) {
      const SteadyTime now = call->env->SteadyNow();
      if (!call->first_tryagain) call->first_tryagain = now;
      if (now - *call->first_tryagain < kTryAgainBudget) {
        // From the start: the owner may have changed meanwhile. The
        // budget bounds the ASK -> TRYAGAIN rounds, not MaxRedirects.
        call->env->SleepFor(kTryAgainPause);
        call->redirects = 0;
        return true;
      }
    }
    Redirect redirect = topology->OnErrorReply(endpoint, r.str);
    const std::string_view command = call->sent[i].args[0];
    if (redirect.kind == Redirect::Kind::kNone) {
      return WithWhat(
          StatusFromErrorReply(store_name, endpoint, command, r.str),
          request.what);
    }
    if (call->redirects >= topology->MaxRedirects()) {
      const int redirects = call->redirects;
      return Status::Unavailable(
          store_name + ": " + std::string(command) + " on " +
          endpoint.ToString() + " still redirected after " +
          std::to_string(redirects) + (redirects == 1 ? " retry" : " retries") +
          " (the server says: " + r.str.substr(0, 120) + ") (" +
          std::string(request.what) + ")");
    }
    ++call->redirects;
    if (redirect.kind == Redirect::Kind::kAsk) call->ask = redirect.to;
    return true;
  }
  return false;
}

}  // namespace

Status WithWhat(const Status& st, std::string_view what) {
  if (st.ok()) return st;
  return Status(st.code(), st.message() + " (" + std::string(what) + ")");
}

Status RedisStore::Run(const RunRequest& request, std::vector<Reply>* replies) {
  RunCall call(request, env_);
  while (true) {
    Endpoint endpoint;
    if (call.ask) {
      endpoint = *call.ask;
    } else {
      Result<Endpoint> routed = topology_->Route(request.key);
      if (!routed.ok()) return WithWhat(routed.status(), request.what);
      endpoint = std::move(*routed);
    }
    bool stale = false;
    Status st =
        Attempt(pool_.get(), durability_, endpoint, &call, replies, &stale);
    if (!st.ok()) {
      if (stale && call.stale_retries++ < kMaxStaleRetries) continue;
      call.ask.reset();
      if (call.route_retries < kMaxRouteRetries &&
          topology_->OnConnectionError(endpoint, st)) {
        ++call.route_retries;
        continue;
      }
      return WithWhat(st, request.what);
    }
    if (call.ask) {
      call.ask.reset();
      SK_RETURN_IF_ERROR(
          DropAskingReplies(name(), endpoint, request.what, replies));
    }
    Result<bool> retry = RetryAfterErrorReplies(topology_.get(), name(),
                                                endpoint, *replies, &call);
    if (!retry.ok()) return retry.status();
    if (*retry) continue;
    if (call.waited_for == 0) return Status::OK();
    return durability_.Check(endpoint, call.waited_for, call.wait_reply,
                             request.what);
  }
}

Status RedisStore::RunAt(const Endpoint& endpoint,
                         std::span<const Command> commands,
                         std::vector<Reply>* replies, bool keep_error_replies,
                         const std::string& what) {
  int stale_retries = 0;
  while (true) {
    Status st;
    bool stale = false;
    {
      PooledConnection conn(pool_.get(), endpoint);
      st = conn->Execute(commands, replies, /*read_only=*/true);
      stale = !st.ok() && conn->last_failure_was_stale();
    }
    if (!st.ok()) {
      if (stale && stale_retries++ < kMaxStaleRetries) continue;
      topology_->OnConnectionError(endpoint, st);
      return WithWhat(st, what);
    }
    if (keep_error_replies) return Status::OK();
    for (size_t i = 0; i < replies->size(); ++i) {
      const Reply& r = (*replies)[i];
      if (!r.is_error()) continue;
      topology_->OnErrorReply(endpoint, r.str);
      return WithWhat(
          StatusFromErrorReply(name(), endpoint, commands[i].args[0], r.str),
          what);
    }
    return Status::OK();
  }
}

}  // namespace sessionkit::redis
