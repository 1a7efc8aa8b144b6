// The race of a destroy and a lock, for the SQL stores' tests: a third
// transaction holds the session's row, so that the destroy (of a session
// nobody has locked) is under way when the lock is taken.
#ifndef SESSIONKIT_TESTS_SUPPORT_DESTROY_RACE_H_
#define SESSIONKIT_TESTS_SUPPORT_DESTROY_RACE_H_

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "sessionkit/lock.h"
#include "sessionkit/store.h"

namespace sessionkit::test {

struct DestroyRace {
  Status destroyed = Status::Internal("not run");
  Result<LockedRead> locked = Status::Internal("not run");
  LockOwner owner;  // the lock's, when it was acquired
};

// Writes session `id` through `destroyer`, starts `hold_row` (which holds
// the session's row for about a second, in a transaction of its own), then
// `destroyer`'s Destroy of `id` while the row is held, and takes the lock
// of `id` through `locker` meanwhile. Returns when all three are done.
inline DestroyRace RaceADestroyAndALock(Store& destroyer, Store& locker,
                                        const std::string& id,
                                        const std::function<void()>& hold_row) {
  DestroyRace race;
  race.destroyed = destroyer.Write(id, "logged-in", Duration(60000));
  if (!race.destroyed.ok()) return race;
  std::thread blocker(hold_row);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::thread destroying([&] { race.destroyed = destroyer.Destroy(id); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  LockRequest request;
  request.owner = LockOwner::Generate();
  request.wait = Duration(5000);
  race.owner = request.owner;
  race.locked = locker.LockAndRead(id, request);
  blocker.join();
  destroying.join();
  return race;
}

}  // namespace sessionkit::test

#endif  // SESSIONKIT_TESTS_SUPPORT_DESTROY_RACE_H_
