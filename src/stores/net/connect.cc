// Opening a socket's TCP connection: resolving the endpoint, then a
// staggered race over its addresses (ConnectToAny).
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "stores/net/net_internal.h"
#include "stores/net/socket.h"

namespace sessionkit::net {

Status Socket::ConnectTcp(Deadline deadline) {
  const Endpoint& ep = options_.endpoint;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  const std::string port = std::to_string(ep.port);
  addrinfo* list = nullptr;
  int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &list);
  if (rc == EAI_NONAME) {
    // A name, not an address: a resolver lookup (not bounded by
    // connect_timeout; use addresses where that matters).
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &list);
  }
  if (rc != 0) {
    return Status::Unavailable(options_.store_name + ": cannot resolve the " +
                               std::string(options_.words.name) + " host \"" +
                               ep.host + "\": " + gai_strerror(rc));
  }
  std::vector<SocketAddress> addresses;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress& a = addresses.emplace_back();
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.size = static_cast<socklen_t>(ai->ai_addrlen);
  }
  freeaddrinfo(list);
  ConnectOutcome outcome = ConnectToAny(addresses, deadline);
  if (outcome.fd >= 0) {
    fd_ = outcome.fd;
    if (options_.connects != nullptr) {
      options_.connects->fetch_add(1, std::memory_order_relaxed);
    }
    return Status::OK();
  }
  if (outcome.timed_out) {
    Status st = TimedOut(/*connecting=*/true);
    if (addresses.size() < 2) return st;
    return Status::Unavailable(st.message() + " (tried " +
                               std::to_string(addresses.size()) +
                               " addresses: " + outcome.error + ")");
  }
  return Status::Unavailable(options_.store_name + ": cannot connect to " +
                             ep.ToString() + ": " + outcome.error);
}

namespace {

// One ConnectToAny: the attempts under way and what became of the others.
class ConnectRace {
 public:
  ConnectRace(std::span<const SocketAddress> addresses, Deadline deadline)
      : addresses_(addresses), deadline_(deadline) {
    out_.error = addresses.empty() ? "no address" : "";
  }

  ConnectOutcome Run() {
    while (true) {
      const SteadyClock::time_point now = SteadyClock::now();
      if (StartDue(now)) return std::move(out_);
      if (pending_.empty()) return std::move(out_);  // every address failed
      if (now >= deadline_) {
        ClosePending();
        out_.timed_out = true;
        return std::move(out_);
      }
      if (PollPending(now)) return std::move(out_);
    }
  }

 private:
  void ClosePending() {
    for (auto& [fd, at] : pending_) close(fd);
    pending_.clear();
  }

  // Adds address `at`'s failure to the error text.
  void Note(size_t at, int err) {
    char host[INET6_ADDRSTRLEN] = "?";
    const auto& ss = addresses_[at].storage;
    const void* raw =
        ss.ss_family == AF_INET6
            ? static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr);
    inet_ntop(ss.ss_family, raw, host, sizeof host);
    if (!out_.error.empty()) out_.error += "; ";
    out_.error += addresses_.size() > 1 ? std::string(host) + ": " + Errno(err)
                                        : Errno(err);
  }

  // Starts the next address when the last one's share ran out (or at once
  // when nothing is under way). True when one connected at once (the
  // others are then closed).
  bool StartDue(SteadyClock::time_point now) {
    while (next_ < addresses_.size() &&
           (pending_.empty() || now >= next_start_)) {
      const SocketAddress& a = addresses_[next_];
      const size_t at = next_++;
      int fd = socket(a.storage.ss_family,
                      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        Note(at, errno);
        continue;
      }
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
      if (connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.size) ==
          0) {
        ClosePending();
        out_.fd = fd;
        return true;
      }
      const int err = errno;
      if (err != EINPROGRESS) {
        Note(at, err);
        close(fd);
        continue;
      }
      pending_.emplace_back(fd, at);
      // This one's share: the time left, split over it and those not yet
      // started.
      const auto left = deadline_ - now;
      next_start_ = now + left / static_cast<int64_t>(addresses_.size() - at);
    }
    return false;
  }

  // Waits for the attempts under way until the next start or the deadline.
  // True when the race is over: one connected (the others are closed), or
  // polling failed.
  bool PollPending(SteadyClock::time_point now) {
    const SteadyClock::time_point until = next_ < addresses_.size()
                                              ? std::min(next_start_, deadline_)
                                              : deadline_;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::max(until - now, SteadyClock::duration::zero()));
    timespec ts;
    ts.tv_sec = static_cast<time_t>(ns.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(ns.count() % 1000000000);
    std::vector<pollfd> polls;
    for (auto& [fd, at] : pending_) polls.push_back({fd, POLLOUT, 0});
    const int rc = ppoll(polls.data(), polls.size(), &ts, nullptr);
    if (rc < 0 && errno != EINTR) {
      Note(pending_.front().second, errno);
      ClosePending();
      return true;
    }
    if (rc <= 0) return false;
    std::vector<std::pair<int, size_t>> still;
    for (size_t i = 0; i < polls.size(); ++i) {
      const auto [fd, at] = pending_[i];
      if (polls[i].revents == 0) {
        still.emplace_back(fd, at);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0 && out_.fd < 0) {
        out_.fd = fd;
        continue;
      }
      if (err != 0) Note(at, err);
      close(fd);
    }
    pending_ = std::move(still);
    if (out_.fd >= 0) {
      ClosePending();
      return true;
    }
    // A refusal frees the way for the next address at once.
    next_start_ = SteadyClock::now();
    return false;
  }

  const std::span<const SocketAddress> addresses_;
  const Deadline deadline_;
  ConnectOutcome out_;
  // Attempts under way: socket, and the address's index.
  std::vector<std::pair<int, size_t>> pending_;
  size_t next_ = 0;  // the next address to start
  SteadyClock::time_point next_start_ = SteadyClock::now();
};

}  // namespace

ConnectOutcome ConnectToAny(std::span<const SocketAddress> addresses,
                            Deadline deadline) {
  return ConnectRace(addresses, deadline).Run();
}

}  // namespace sessionkit::net
