#include "stores/lmdb/lmdb_lock_record.h"

#include <algorithm>
#include <cstring>

#include "sessionkit/env.h"
#include "sessionkit/store.h"
#include "stores/lmdb/lmdb_layout.h"

namespace sessionkit::lmdb_internal {
namespace {

constexpr size_t kWallBytes = 8;
// After the token: the zero byte, the boot lease end, the boot id.
constexpr size_t kTailBytes = 1 + 8 + sizeof(BootId);

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool ParseBootId(std::string_view text, BootId* out) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (text.size() != 36) return false;
  BootId id{};
  size_t n = 0;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
      ++i;
      continue;
    }
    const int hi = HexDigit(text[i]), lo = HexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    id[n++] = static_cast<unsigned char>(hi << 4 | lo);
    i += 2;
  }
  *out = id;
  return true;
}

const BootId& CurrentBootId() {
  static const BootId id = [] {
    BootId parsed{};
    if (!ParseBootId(sessionkit::Env::Default()->BootId(), &parsed)) {
      parsed = BootId{};
    }
    return parsed;
  }();
  return id;
}

int64_t AddClamped(int64_t x, Duration d) {
  const int64_t t = d.count();
  if (t > 0 && x > kMaxExpiryMs - t) return kMaxExpiryMs;
  if (t < 0 && x < -kMaxExpiryMs - t) return 0;
  return std::clamp<int64_t>(x + t, 0, kMaxExpiryMs);
}

LockRecord ParseLockRecord(std::string_view value) {
  LockRecord lock;
  if (value.size() < kWallBytes) return lock;  // legacy, lease ended
  lock.wall_lease_end_ms = GetBigEndian64(value.data());
  std::string_view rest = value.substr(kWallBytes);
  if (rest.size() > kTailBytes && rest[rest.size() - kTailBytes] == '\0') {
    const char* tail = rest.data() + rest.size() - kTailBytes + 1;
    lock.legacy = false;
    lock.boot_lease_end_ms = GetBigEndian64(tail);
    std::memcpy(lock.boot.data(), tail + 8, sizeof(BootId));
    rest.remove_suffix(kTailBytes);
  }
  lock.token = rest;
  return lock;
}

size_t LockRecordBytes(std::string_view token) {
  return kWallBytes + token.size() + kTailBytes;
}

void EncodeLockRecord(char* out, const LockNow& now, Duration lease,
                      std::string_view token) {
  PutBigEndian64(out, static_cast<uint64_t>(AddClamped(now.wall_ms, lease)));
  out += kWallBytes;
  std::memcpy(out, token.data(), token.size());
  out += token.size();
  *out++ = '\0';
  PutBigEndian64(out, static_cast<uint64_t>(AddClamped(now.boot_ms, lease)));
  std::memcpy(out + 8, now.boot.data(), sizeof(BootId));
}

LockState StateOf(const LockRecord& lock, const LockNow& now) {
  int64_t end, at;
  if (lock.legacy) {
    end = lock.wall_lease_end_ms;
    at = now.wall_ms;
  } else {
    if (lock.boot != now.boot) return LockState::kGone;
    end = lock.boot_lease_end_ms;
    at = now.boot_ms;
  }
  if (end > at) return LockState::kHeld;
  if (AddClamped(end, kLockRecordRetention) > at) return LockState::kEnded;
  return LockState::kGone;
}

int64_t LeaseLeftMs(const LockRecord& lock, const LockNow& now) {
  if (!lock.legacy && lock.boot != now.boot) return 0;
  const int64_t end =
      lock.legacy ? lock.wall_lease_end_ms : lock.boot_lease_end_ms;
  const int64_t at = lock.legacy ? now.wall_ms : now.boot_ms;
  // A damaged record may hold any end, so compare before subtracting (the
  // clocks are never negative: a difference past the end cannot overflow).
  return end > at ? end - at : 0;
}

}  // namespace sessionkit::lmdb_internal
