// A thread of this process that drains the journal of the tiers written
// behind: it runs a step again at once while the step says more is due,
// and otherwise after an idle pause (writes do not wake it, so that those
// of one pause coalesce: TieredOptions::drain_every).
#ifndef SESSIONKIT_TIERED_DRAINER_H_
#define SESSIONKIT_TIERED_DRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "sessionkit/clock.h"

namespace sessionkit::tiered {

// The thread is made on the first Start() in each process: one made before
// fork() (PHP-FPM forks its workers from a master) does not exist in the
// child, which makes its own. Finding the running one takes no lock, so a
// fork() while another thread is in here cannot leave the child a lock it
// never gets.
//
// Thread safety: Start may be called from any thread at once.
class Drainer {
 public:
  // `step` returns whether more is due at once; it must not throw.
  Drainer(std::function<bool()> step, Duration idle);
  // Stops and joins this process's thread (a step under way ends first).
  ~Drainer();

  Drainer(const Drainer&) = delete;
  Drainer& operator=(const Drainer&) = delete;

  // Starts this process's thread unless it runs.
  void Start();

 private:
  struct Loop;  // the thread of one process and what stops it

  Loop* ForThisProcess(bool start);

  const std::function<bool()> step_;
  const Duration idle_;
  std::atomic<Loop*> loop_{nullptr};
};

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_DRAINER_H_
