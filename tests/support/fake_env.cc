#include "support/fake_env.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace sessionkit::test {

using std::chrono::nanoseconds;

FakeEnv::FakeEnv(Scope scope)
    : scope_(scope),
      wall_ns_(kStartWallMs * 1'000'000),
      boot_ns_(kStartBootMs * 1'000'000) {}

TimePoint FakeEnv::WallNow() {
  std::lock_guard<std::mutex> lock(mu_);
  return TimePoint(
      std::chrono::duration_cast<Clock::duration>(nanoseconds(wall_ns_)));
}

SteadyTime FakeEnv::SteadyNow() {
  if (scope_ == Scope::kRecordClocks) return Default()->SteadyNow();
  std::lock_guard<std::mutex> lock(mu_);
  return SteadyTime(steady_);
}

int64_t FakeEnv::BootClockMs() {
  std::lock_guard<std::mutex> lock(mu_);
  return boot_ns_ / 1'000'000;
}

std::string_view FakeEnv::BootId() {
  std::lock_guard<std::mutex> lock(mu_);
  if (scope_ == Scope::kRecordClocks && !boot_id_set_) {
    return Default()->BootId();
  }
  return boot_ids_.back();
}

void FakeEnv::SleepFor(nanoseconds d) {
  if (scope_ == Scope::kRecordClocks) return Default()->SleepFor(d);
  std::lock_guard<std::mutex> lock(mu_);
  sleeps_.push_back(d);
  AdvanceLocked(d);
}

void FakeEnv::WaitFor(nanoseconds timeout,
                      const std::function<void(nanoseconds)>& wait) {
  if (scope_ == Scope::kRecordClocks) return Default()->WaitFor(timeout, wait);
  wait(nanoseconds(0));  // a poll: whatever woke it meanwhile still counts
  std::lock_guard<std::mutex> lock(mu_);
  sleeps_.push_back(timeout);
  AdvanceLocked(timeout);
}

Status FakeEnv::RandomBytes(void* buf, size_t len) {
  if (scope_ == Scope::kRecordClocks) return Default()->RandomBytes(buf, len);
  std::lock_guard<std::mutex> lock(mu_);
  unsigned char* out = static_cast<unsigned char*>(buf);
  for (size_t i = 0; i < len; i += sizeof(uint64_t)) {
    uint64_t z = (random_state_ += 0x9e3779b97f4a7c15ULL);  // splitmix64
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(out + i, &z, std::min(sizeof z, len - i));
  }
  return Status::OK();
}

std::string_view FakeEnv::HostName() {
  if (scope_ == Scope::kRecordClocks) return Default()->HostName();
  std::lock_guard<std::mutex> lock(mu_);
  return hosts_.back();
}

pid_t FakeEnv::Pid() {
  if (scope_ == Scope::kRecordClocks) return Default()->Pid();
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

bool FakeEnv::ProcessExists(pid_t pid) {
  if (scope_ == Scope::kRecordClocks) return Default()->ProcessExists(pid);
  std::lock_guard<std::mutex> lock(mu_);
  return pid <= 0 || pid == pid_ || alive_.count(pid) > 0;
}

void FakeEnv::Advance(nanoseconds d) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(d);
}

void FakeEnv::AdvanceLocked(nanoseconds d) {
  if (d.count() <= 0) return;
  wall_ns_ += d.count();
  steady_ += d;
  boot_ns_ += d.count();
}

void FakeEnv::SetWallNow(TimePoint t) {
  std::lock_guard<std::mutex> lock(mu_);
  wall_ns_ =
      std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

void FakeEnv::SetBootClockMs(int64_t ms) {
  std::lock_guard<std::mutex> lock(mu_);
  boot_ns_ = ms * 1'000'000;
}

void FakeEnv::SetBootId(std::string id) {
  std::lock_guard<std::mutex> lock(mu_);
  boot_ids_.push_back(std::move(id));
  boot_id_set_ = true;
}

void FakeEnv::SetHostName(std::string host) {
  std::lock_guard<std::mutex> lock(mu_);
  hosts_.push_back(std::move(host));
}

void FakeEnv::SetPid(pid_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  pid_ = pid;
}

void FakeEnv::SetAlive(pid_t pid, bool alive) {
  std::lock_guard<std::mutex> lock(mu_);
  if (alive) {
    alive_.insert(pid);
  } else {
    alive_.erase(pid);
  }
}

std::vector<nanoseconds> FakeEnv::Sleeps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sleeps_;
}

}  // namespace sessionkit::test
