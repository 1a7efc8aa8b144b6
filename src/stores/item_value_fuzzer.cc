// Feeds arbitrary bytes, as the values that stores keeping a session as
// items of their own read back (a damaged item, or another program's under
// the same prefix), to their decoders: Memcached's session and tombstone
// values (memcached/record.h), the lock record Memcached and the callback
// store share (lock_value.h), and the callback store's session value.
// Checks: no crash and no undefined behaviour; a refused value is Corrupt
// naming what was read; an accepted one points into the bytes given and
// encodes back to them (the lock record: to the same lease and token).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sessionkit/status.h"
#include "stores/callback/callback_store.h"
#include "stores/lock_value.h"
#include "stores/memcached/record.h"

namespace sk = sessionkit;

namespace {

constexpr std::string_view kWhat = "read of session fuzz";

void Check(bool condition) {
  if (!condition) abort();
}

// `part` lies within `whole`.
bool Within(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() &&
          part.data() + part.size() <= whole.data() + whole.size());
}

void CheckRefusal(const sk::Status& status) {
  Check(status.IsCorrupt());
  Check(status.message().find(kWhat) != std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  sk::Result<sk::memcached::StoredValue> item =
      sk::memcached::DecodeValue(in, kWhat);
  if (item.ok()) {
    Check(Within(item->id, in) && Within(item->frame, in));
    const std::string again =
        item->tombstone
            ? sk::memcached::EncodeTombstone(item->at_ms)
            : sk::memcached::EncodeData(item->id, item->frame, item->at_ms);
    Check(again == in);
#ifdef SK_FUZZ_PLANTED
    // The planted "bug" (scripts/fuzz-planted): a session value whose id
    // holds a 'z' (the seed's id: digits and a to f).
    if (!item->tombstone && item->id.find('z') != std::string_view::npos) {
      fprintf(stderr, "SK_FUZZ_PLANTED reached: item_value_fuzzer\n");
      abort();
    }
#endif
  } else {
    CheckRefusal(item.status());
  }

  sk::Result<sk::LockValue> lock = sk::DecodeLock(in, kWhat);
  if (lock.ok()) {
    Check(Within(lock->token, in) && !lock->token.empty());
    // Leading zeros or a sign may differ; the lease and token may not.
    const std::string encoded =
        sk::EncodeLock(lock->lease_until_ms, lock->token);
    sk::Result<sk::LockValue> again = sk::DecodeLock(encoded, kWhat);
    Check(again.ok() && again->lease_until_ms == lock->lease_until_ms &&
          again->token == lock->token);
  } else {
    CheckRefusal(lock.status());
  }

  sk::Result<sk::callback::StoredSession> session =
      sk::callback::DecodeSession(in, kWhat);
  if (session.ok()) {
    Check(Within(session->frame, in));
    Check(sk::callback::EncodeSession(session->frame, session->expires_ms) ==
          in);
  } else {
    CheckRefusal(session.status());
  }
  return 0;
}
