#include "tiered/fanout.h"

#include <utility>

#include "stores/fork_generation.h"

namespace sessionkit::tiered {

struct Fanout::Pool {
  const uint64_t generation;
  std::mutex mu;
  std::condition_variable work;
  std::deque<std::function<void()>> queue;
  bool stopping = false;
  std::vector<std::thread> threads;

  Pool(uint64_t g, size_t n) : generation(g) {
    for (size_t i = 0; i < n; ++i) threads.emplace_back([this] { Loop(); });
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    work.notify_all();
    for (std::thread& t : threads) t.join();
  }

  void Loop() {
    for (;;) {
      std::function<void()> call;
      {
        std::unique_lock<std::mutex> lock(mu);
        work.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping, nothing left
        call = std::move(queue.front());
        queue.pop_front();
      }
      call();
    }
  }

  void Push(std::function<void()> call) {
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(std::move(call));
    }
    work.notify_one();
  }
};

Fanout::Fanout(size_t threads, bool on_caller_thread)
    : threads_(threads == 0 ? 1 : threads),
      on_caller_thread_(on_caller_thread) {}

Fanout::~Fanout() {
  Pool* pool = pool_.load();
  // An ancestor's pool has no threads here: left as it is.
  if (pool != nullptr && pool->generation == ForkGeneration()) delete pool;
}

Fanout::Pool& Fanout::ForThisProcess() {
  const uint64_t generation = ForkGeneration();
  Pool* current = pool_.load();
  if (current != nullptr && current->generation == generation) return *current;
  auto* fresh = new Pool(generation, threads_);
  if (!pool_.compare_exchange_strong(current, fresh)) {
    delete fresh;  // another thread of this process made it first
    return *pool_.load();
  }
  return *fresh;
}

void Fanout::RunAll(const std::vector<std::function<void()>>& calls) {
  if (calls.empty()) return;
  if (calls.size() == 1 || on_caller_thread_) {
    for (const std::function<void()>& call : calls) call();
    return;
  }
  struct Latch {
    std::mutex mu;
    std::condition_variable done;
    size_t left;
  };
  auto latch = std::make_shared<Latch>();
  latch->left = calls.size() - 1;
  Pool& pool = ForThisProcess();
  for (size_t i = 1; i < calls.size(); ++i) {
    pool.Push([latch, &call = calls[i]] {
      call();
      std::lock_guard<std::mutex> lock(latch->mu);
      if (--latch->left == 0) latch->done.notify_one();
    });
  }
  calls.front()();
  std::unique_lock<std::mutex> lock(latch->mu);
  latch->done.wait(lock, [&] { return latch->left == 0; });
}

}  // namespace sessionkit::tiered
