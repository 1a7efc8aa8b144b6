// Runs a request's calls to several tiers at once, so that the request waits
// for the slowest tier, not for the sum of them.
#ifndef SESSIONKIT_TIERED_FANOUT_H_
#define SESSIONKIT_TIERED_FANOUT_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sessionkit::tiered {

// A small pool of threads, made on first use in each process: a pool made
// before fork() (PHP-FPM forks its workers from a master) has no threads in
// the child, which makes its own. Finding the pool takes no lock, so a
// fork() while another thread is here cannot leave the child a lock it
// never gets.
//
// Thread safety: RunAll may be called from any number of threads at once.
class Fanout {
 public:
  // `threads`: the most calls that run beside the caller's own.
  // `on_caller_thread`: every call runs on the caller's thread, in turn
  // (for stores that may be called on their caller's thread only).
  explicit Fanout(size_t threads, bool on_caller_thread = false);
  ~Fanout();

  Fanout(const Fanout&) = delete;
  Fanout& operator=(const Fanout&) = delete;

  // Runs every call, the first on the calling thread and the others on the
  // pool (or all on the calling thread, in turn, with on_caller_thread), and
  // returns when all have returned. The calls must not throw.
  void RunAll(const std::vector<std::function<void()>>& calls);

 private:
  struct Pool;  // the threads and queue of one process

  Pool& ForThisProcess();

  const size_t threads_;
  const bool on_caller_thread_;
  // The pool of this process, found without a lock; pools of an ancestor
  // process are abandoned (their threads do not exist here, their mutexes
  // may be held forever).
  std::atomic<Pool*> pool_{nullptr};
};

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_FANOUT_H_
