#include "tiered/drainer.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "stores/fork_generation.h"

namespace sessionkit::tiered {

struct Drainer::Loop {
  const uint64_t generation;
  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::thread thread;

  explicit Loop(uint64_t g) : generation(g) {}

  void Run(const std::function<bool()>& step, Duration idle) {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) return;
      }
      if (step()) continue;
      std::unique_lock<std::mutex> lock(mu);
      wake.wait_for(lock, idle, [&] { return stopping; });
    }
  }
};

Drainer::Drainer(std::function<bool()> step, Duration idle)
    : step_(std::move(step)), idle_(idle) {}

Drainer::~Drainer() {
  Loop* loop = loop_.load();
  // An ancestor's loop has no thread here: left as it is.
  if (loop == nullptr || loop->generation != ForkGeneration()) return;
  {
    std::lock_guard<std::mutex> lock(loop->mu);
    loop->stopping = true;
  }
  loop->wake.notify_all();
  if (loop->thread.joinable()) loop->thread.join();
  delete loop;
}

Drainer::Loop* Drainer::ForThisProcess(bool start) {
  const uint64_t generation = ForkGeneration();
  Loop* current = loop_.load();
  if (current != nullptr && current->generation == generation) return current;
  if (!start) return nullptr;
  auto* fresh = new Loop(generation);
  if (!loop_.compare_exchange_strong(current, fresh)) {
    delete fresh;  // another thread of this process made it first
    return loop_.load();
  }
  fresh->thread = std::thread([this, fresh] { fresh->Run(step_, idle_); });
  return fresh;
}

void Drainer::Start() { ForThisProcess(true); }

}  // namespace sessionkit::tiered
