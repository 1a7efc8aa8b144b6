// A program built against an installed sessionkit (tests/packaging): opens
// an LMDB store under the directory given through the public API, then
// writes a session, reads it for update (taking its lock), finds the lock
// held by a second reader, writes under the lock and reads the session
// back. Prints each step; exits non-zero, naming the step, on the first
// one that fails.
//
// Usage: consumer DIR
#include <chrono>
#include <cstdio>
#include <string>

#include "sessionkit/engine.h"
#include "sessionkit/open.h"

namespace {

int Fail(const char* step, const std::string& why) {
  std::fprintf(stderr, "FAIL: %s: %s\n", step, why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer DIR\n");
    return 2;
  }
  using sessionkit::Duration;
  using sessionkit::LockState;
  auto engine = sessionkit::OpenEngine(std::string("lmdb://") + argv[1]);
  if (!engine.ok()) return Fail("open", engine.status().ToString());
  sessionkit::SessionEngine& sessions = *engine.value();

  auto id = sessions.CreateId();
  if (!id.ok()) return Fail("create id", id.status().ToString());
  const Duration ttl = std::chrono::minutes(5);
  sessionkit::Status written = sessions.Write(id.value(), "n|i:1;", ttl);
  if (!written.ok()) return Fail("write", written.ToString());

  sessionkit::LockOptions lock;
  lock.wait = Duration(200);
  auto locked = sessions.ReadForUpdate(id.value(), lock);
  if (!locked.ok()) return Fail("lock", locked.status().ToString());
  if (locked.value().lock.state != LockState::kHeld) {
    return Fail("lock", "the lock is not held");
  }
  if (locked.value().payload != "n|i:1;") {
    return Fail("lock", "read '" + locked.value().payload + "'");
  }
  // A second reader waits out lock.wait and reads without the lock.
  auto second = sessions.ReadForUpdate(id.value(), lock);
  if (!second.ok()) return Fail("second lock", second.status().ToString());
  if (second.value().lock.state != LockState::kReadOnly) {
    return Fail("second lock", "a second reader got the held lock");
  }
  written = sessions.Write(id.value(), "n|i:2;", ttl, locked.value().lock);
  if (!written.ok()) return Fail("write under the lock", written.ToString());

  auto read = sessions.Read(id.value());
  if (!read.ok()) return Fail("read", read.status().ToString());
  if (!read.value().found || read.value().payload != "n|i:2;") {
    return Fail("read", "read '" + read.value().payload + "'");
  }
  std::printf("PASS: wrote, locked and read session %s\n",
              sessionkit::SessionIdPrefix(id.value()).c_str());
  return 0;
}
