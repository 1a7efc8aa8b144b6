#include "stores/fork_generation.h"

#include <pthread.h>

#include <atomic>
#include <mutex>

namespace sessionkit {
namespace {

std::atomic<uint64_t> g_generation{0};

void CountFork() { g_generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

uint64_t ForkGeneration() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, CountFork); });
  return g_generation.load(std::memory_order_relaxed);
}

}  // namespace sessionkit
