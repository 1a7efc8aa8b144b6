// Feeds arbitrary bytes, as the stored value of an LMDB lock record (a
// record of an earlier version, or a corrupted one), to its decoder
// (ParseLockRecord) and to what the store asks of the record it returns
// (StateOf, LeaseLeftMs), at the fake Env's clocks and around the record's
// own lease ends; and, as text, to ParseBootId. Checks: no crash and no
// undefined behaviour; the fields are those at their places in the value
// (lmdb_lock_record.h) and a record of the current form with lease ends in
// range encodes back to the same bytes; a lease is held exactly while
// milliseconds of it are left, and a record of another boot is gone; a
// boot id that parses prints back as its text.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "sessionkit/lock.h"
#include "sessionkit/store.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lmdb_lock_record.h"
#include "support/fake_env.h"

namespace sk = sessionkit;
namespace li = sessionkit::lmdb_internal;
using sk::test::FakeEnv;

namespace {

constexpr size_t kWallBytes = 8;
constexpr size_t kTailBytes = 1 + 8 + sizeof(li::BootId);

void Check(bool condition) {
  if (!condition) abort();
}

// The moment the store decides at on the fake Env.
const li::LockNow& FakeNow() {
  static const li::LockNow now = [] {
    li::LockNow n;
    n.wall_ms = FakeEnv::kStartWallMs;
    n.boot_ms = FakeEnv::kStartBootMs;
    Check(li::ParseBootId(FakeEnv::kBootId, &n.boot));
    return n;
  }();
  return now;
}

int64_t InRange(int64_t ms) {
  return ms < 0 ? 0 : ms > li::kMaxExpiryMs ? li::kMaxExpiryMs : ms;
}

void CheckFields(std::string_view value, const li::LockRecord& lock) {
  if (value.size() < kWallBytes) {
    Check(lock.legacy && lock.wall_lease_end_ms == 0 && lock.token.empty());
    return;
  }
  Check(lock.wall_lease_end_ms == li::GetBigEndian64(value.data()));
  const std::string_view rest = value.substr(kWallBytes);
  const bool tail =
      rest.size() > kTailBytes && rest[rest.size() - kTailBytes] == '\0';
  Check(lock.legacy == !tail);
  if (lock.legacy) {
    Check(lock.token == rest && lock.token.data() == rest.data());
    std::string again(kWallBytes, '\0');
    li::PutBigEndian64(again.data(),
                       static_cast<uint64_t>(lock.wall_lease_end_ms));
    Check(again + std::string(lock.token) == value);
    return;
  }
  Check(!lock.token.empty());
  Check(lock.token == rest.substr(0, rest.size() - kTailBytes));
  Check(lock.token.data() == rest.data());
  const char* after = value.data() + value.size() - kTailBytes + 1;
  Check(lock.boot_lease_end_ms == li::GetBigEndian64(after));
  Check(std::string_view(reinterpret_cast<const char*>(lock.boot.data()),
                         lock.boot.size()) ==
        std::string_view(after + 8, sizeof(li::BootId)));
  Check(li::LockRecordBytes(lock.token) == value.size());
  // Written at its own lease ends with a lease of 0, it is these bytes.
  if (lock.wall_lease_end_ms == InRange(lock.wall_lease_end_ms) &&
      lock.boot_lease_end_ms == InRange(lock.boot_lease_end_ms)) {
    li::LockNow at;
    at.wall_ms = lock.wall_lease_end_ms;
    at.boot_ms = lock.boot_lease_end_ms;
    at.boot = lock.boot;
    std::string again(value.size(), '?');
    li::EncodeLockRecord(again.data(), at, sk::Duration(0), lock.token);
    Check(again == value);
  }
}

void CheckAt(const li::LockRecord& lock, const li::LockNow& now) {
  const li::LockState state = li::StateOf(lock, now);
  const int64_t left = li::LeaseLeftMs(lock, now);
  Check(left >= 0);
  if (!lock.legacy && lock.boot != now.boot) {
    Check(state == li::LockState::kGone && left == 0);
    return;
  }
  const int64_t end =
      lock.legacy ? lock.wall_lease_end_ms : lock.boot_lease_end_ms;
  const int64_t at = lock.legacy ? now.wall_ms : now.boot_ms;
  Check((state == li::LockState::kHeld) == (left > 0));
  if (left > 0) Check(end > at && left == end - at);
  if (state == li::LockState::kEnded) Check(end <= at);
}

// Clocks of `base` moved to `ms` (in range) on the record's clock.
li::LockNow At(const li::LockRecord& lock, const li::LockNow& base,
               int64_t ms) {
  li::LockNow now = base;
  if (lock.legacy) {
    now.wall_ms = InRange(ms);
  } else {
    now.boot_ms = InRange(ms);
    now.boot = lock.boot;
  }
  return now;
}

void CheckClocks(const li::LockRecord& lock) {
  CheckAt(lock, FakeNow());
  const int64_t end =
      lock.legacy ? lock.wall_lease_end_ms : lock.boot_lease_end_ms;
  const int64_t retention = sk::kLockRecordRetention.count();
  const int64_t e = InRange(end);
  for (int64_t ms : {e - 1, e, e + 1, e + retention - 1, e + retention}) {
    CheckAt(lock, At(lock, FakeNow(), ms));
  }
  const int64_t plus = li::AddClamped(end, sk::kLockRecordRetention);
  Check(plus >= 0 && plus <= li::kMaxExpiryMs);
}

void CheckBootId(std::string_view text) {
  li::BootId id{};
  if (!li::ParseBootId(text, &id)) return;
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  char printed[40];
  snprintf(printed, sizeof printed,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
           "%02x",
           id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9],
           id[10], id[11], id[12], id[13], id[14], id[15]);
  std::string lower(text);
  for (char& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  Check(lower == printed);
}

#ifdef SK_FUZZ_PLANTED
// The planted "bug" (scripts/fuzz-planted): a record of the current form
// and of this boot, held by a process of this host, with more of its lease
// left than the default lease (LockLimits) at the fake Env's clocks.
void Planted(const li::LockRecord& lock) {
  if (lock.legacy || lock.boot != FakeNow().boot) return;
  if (li::StateOf(lock, FakeNow()) != li::LockState::kHeld) return;
  if (li::LeaseLeftMs(lock, FakeNow()) <= sk::LockLimits{}.lease.count()) {
    return;
  }
  const std::optional<sk::LockOwner::Parts> parts =
      sk::LockOwner::Parse(lock.token);
  if (parts && parts->host == FakeEnv::kHost) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: lmdb_lock_record_fuzzer\n");
    abort();
  }
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  const li::LockRecord lock = li::ParseLockRecord(value);
  CheckFields(value, lock);
  CheckClocks(lock);
  CheckBootId(value);
#ifdef SK_FUZZ_PLANTED
  Planted(lock);
#endif
  return 0;
}
