// Puts arbitrary records into an LMDB store's database, as a damaged file,
// an earlier version or another program may have left them (session values
// whose 8-byte expiry header is short or odd, lock records, index entries,
// keys of no kind), and runs the store's operations on them: Read, Exists,
// Scan, LockAndRead (and the release that follows), Touch, Gc, Destroy.
// Checks: no crash and no undefined behaviour; Read returns exactly what the
// stored value's header and bytes say (a value shorter than its header is
// Corrupt, an expired one NotFound); Scan lists every session key once,
// with the bytes after the header; a session read under a lock is the one
// Read returned; a destroyed session is gone.
//
// Input: one byte of choices (see Choices), then records, each a key length
// (1 byte), the key, a value length (2 bytes, big-endian) and the value.
// The database is emptied and refilled with them for every input.
//
// The records go in through a second handle on the directory (plain LMDB),
// opened before the store's and never closed: LMDB must not be closed
// while another handle of the same process is open, which the fuzzer never
// does.
#include <lmdb.h>
#include <stdlib.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/lock.h"
#include "sessionkit/session_id.h"
#include "sessionkit/store.h"
#include "sessionkit/stores/lmdb.h"
#include "stores/lmdb/lmdb_layout.h"
#include "stores/lmdb/lmdb_lock_record.h"
#include "stores/lmdb/lmdb_records.h"
#include "stores/lmdb/lmdb_store.h"
#include "support/fake_env.h"

namespace sk = sessionkit;
namespace li = sessionkit::lmdb_internal;
using sk::test::FakeEnv;

namespace {

constexpr size_t kMaxIds = 4;  // sessions whose operations run per input
constexpr size_t kScanPage = 2;
constexpr size_t kMaxPages = 64;

void Check(bool condition) {
  if (!condition) abort();
}

// The choices byte.
struct Choices {
  explicit Choices(uint8_t b)
      : own_token((b & 1) != 0),
        release(static_cast<uint8_t>((b >> 1) & 3)),
        wait((b & 8) != 0),
        minutes_later(static_cast<int64_t>(b >> 4) * 15) {}
  bool own_token;   // lock as the owner named by the first lock record
  uint8_t release;  // 0 Unlock, 1 WriteAndUnlock, 2 TouchAndUnlock, 3 none
  bool wait;        // wait 50 ms for a held lock (on the fake clocks)
  int64_t minutes_later;  // the clocks move this far after the start
};

struct Record {
  std::string key;
  std::string value;
};

// The records of `in`; one cut short by the end of the input is left out.
std::vector<Record> Records(std::string_view in) {
  std::vector<Record> out;
  while (!in.empty()) {
    const size_t klen = static_cast<unsigned char>(in[0]);
    if (in.size() < 1 + klen + 2) break;
    Record r;
    r.key = in.substr(1, klen);
    const size_t vlen =
        static_cast<size_t>(static_cast<unsigned char>(in[1 + klen]) << 8 |
                            static_cast<unsigned char>(in[2 + klen]));
    in.remove_prefix(3 + klen);
    r.value = in.substr(0, vlen);
    in.remove_prefix(std::min(vlen, in.size()));
    if (!r.key.empty()) out.push_back(std::move(r));
  }
  return out;
}

struct Fixture {
  std::string dir;
  FakeEnv env;  // kAll: waits move its clocks
  MDB_env* raw = nullptr;
  MDB_dbi dbi = 0;
  std::unique_ptr<li::LmdbStore> store;
};

// The store's directory, removed at exit and before a planted abort (the
// handles stay open; the files go).
std::string* dir_to_remove = nullptr;

void RemoveDir() {
  if (dir_to_remove == nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(*dir_to_remove, ec);
}

Fixture* Get() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    const char* tmp = getenv("TMPDIR");
    std::string templ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
        "/sk-lmdb-store-fuzzer-XXXXXX";
    Check(mkdtemp(templ.data()) != nullptr);
    fx->dir = templ;
    dir_to_remove = new std::string(fx->dir);
    atexit(RemoveDir);
    // The plain handle first (see the top of the file), then the store's.
    Check(mdb_env_create(&fx->raw) == 0);
    Check(mdb_env_set_mapsize(fx->raw, 64ull << 20) == 0);
    Check(mdb_env_open(fx->raw, fx->dir.c_str(), MDB_NOTLS | MDB_NOSYNC,
                       0600) == 0);
    MDB_txn* txn;
    Check(mdb_txn_begin(fx->raw, nullptr, 0, &txn) == 0);
    Check(mdb_dbi_open(txn, nullptr, 0, &fx->dbi) == 0);
    Check(mdb_txn_commit(txn) == 0);
    fx->env.SetAlive(77, true);
    sk::LmdbOptions options;
    options.path = fx->dir;
    options.map_size = 64ull << 20;
    options.env = &fx->env;
    Check(li::ValidateLmdbOptions(options).ok());
    fx->store = std::make_unique<li::LmdbStore>(options);
    Check(fx->store->Health().ok());
    return fx;
  }();
  return f;
}

void Fill(Fixture* f, const std::vector<Record>& records) {
  MDB_txn* txn;
  Check(mdb_txn_begin(f->raw, nullptr, 0, &txn) == 0);
  Check(mdb_drop(txn, f->dbi, 0) == 0);
  for (const Record& r : records) {
    MDB_val k{r.key.size(), const_cast<char*>(r.key.data())};
    MDB_val v{r.value.size(), const_cast<char*>(r.value.data())};
    const int rc = mdb_put(txn, f->dbi, &k, &v, 0);
    Check(rc == 0 || rc == MDB_BAD_VALSIZE);  // a key over 511 bytes
  }
  Check(mdb_txn_commit(txn) == 0);
}

// The session ids the records name (their own keys, or after the 9 bytes of
// an index or lock key), as the engine would pass them.
std::vector<std::string> Ids(const std::vector<Record>& records) {
  std::set<std::string> ids;
  for (const Record& r : records) {
    std::string_view id = r.key;
    if (li::IsIndexKey(id)) {
      if (id.size() <= li::kIndexHeaderBytes) continue;
      id.remove_prefix(li::kIndexHeaderBytes);
    }
    if (sk::ValidateSessionId(id).ok()) ids.emplace(id);
  }
  std::vector<std::string> out(ids.begin(), ids.end());
  if (out.size() > kMaxIds) out.resize(kMaxIds);
  return out;
}

// What the database holds under each key (the last record of a key wins).
std::map<std::string, std::string> Stored(const std::vector<Record>& records) {
  std::map<std::string, std::string> out;
  for (const Record& r : records) {
    if (r.key.size() <= li::kMaxKeyBytes) out[r.key] = r.value;
  }
  return out;
}

int64_t NowMs(Fixture* f) { return sk::ToUnixMillis(f->env.WallNow()); }

// Read returns what the stored value says.
std::optional<sk::SessionRecord> CheckRead(
    Fixture* f, const std::string& id,
    const std::map<std::string, std::string>& stored) {
  sk::Result<sk::SessionRecord> got = f->store->Read(id);
  const auto it = stored.find(id);
  if (it == stored.end()) {
    Check(!got.ok() && got.status().IsNotFound());
    return std::nullopt;
  }
  const std::string& value = it->second;
  if (value.size() < li::kHeaderBytes) {
    Check(!got.ok() && got.status().code() == sk::StatusCode::kCorrupt);
    return std::nullopt;
  }
  const int64_t expiry = li::GetBigEndian64(value.data());
  if (expiry <= NowMs(f)) {
    Check(!got.ok() && got.status().IsNotFound());
    return std::nullopt;
  }
  Check(got.ok());
  Check(got->data == std::string_view(value).substr(li::kHeaderBytes));
  Check(got->expires_at == li::ExpiryTime(expiry));
  sk::Result<bool> exists = f->store->Exists(id);
  Check(exists.ok() && *exists);
  return *got;
}

// Scan lists every session key once, with the bytes after its header.
void CheckScan(Fixture* f, const std::map<std::string, std::string>& stored) {
  size_t sessions = 0;
  for (const auto& [key, value] : stored) {
    if (!li::IsIndexKey(key)) ++sessions;
  }
  sk::ScanOptions options;
  options.include_expired = true;
  options.limit = kScanPage;
  size_t listed = 0;
  for (size_t page = 0; page < kMaxPages; ++page) {
    sk::Result<sk::ScanPage> got = f->store->Scan(options);
    Check(got.ok());
    for (const sk::SessionInfo& s : got->sessions) {
      const auto it = stored.find(s.id);
      Check(it != stored.end() && !li::IsIndexKey(s.id));
      const size_t size = it->second.size();
      Check(s.bytes ==
            (size < li::kHeaderBytes ? size : size - li::kHeaderBytes));
      ++listed;
    }
    if (got->next_cursor.empty()) break;
    options.cursor = got->next_cursor;
  }
  if (sessions <= kScanPage * kMaxPages) Check(listed == sessions);
}

// The token of the first lock record, as the store reads it.
std::string FirstLockToken(const std::vector<Record>& records) {
  for (const Record& r : records) {
    if (li::IsLockKey(r.key)) {
      return std::string(li::ParseLockRecord(r.value).token);
    }
  }
  return "";
}

#ifdef SK_FUZZ_PLANTED
// The planted "bug" (scripts/fuzz-planted): a lock over a session that
// expires between a day and 400 days later (the seeds' sessions: within
// the hour, or at the ends of the clock). Locks live in the lock table,
// not in the database, so the records put in make no holder to take over.
void Planted(Fixture* f, const sk::LockedRead& got) {
  if (!got.acquired() || !got.found) return;
  const auto left = got.record.expires_at - f->env.WallNow();
  if (left > std::chrono::hours(24) && left < std::chrono::hours(24 * 400)) {
    fprintf(stderr, "SK_FUZZ_PLANTED reached: lmdb_store_fuzzer\n");
    RemoveDir();
    abort();
  }
}
#endif

void LockAndRelease(Fixture* f, const std::string& id, const Choices& c,
                    const std::string& first_token,
                    const std::optional<sk::SessionRecord>& read) {
  sk::LockRequest request;
  request.owner = c.own_token && !first_token.empty()
                      ? sk::LockOwner{first_token}
                      : sk::LockOwner::Generate(&f->env);
  request.wait = sk::Duration(c.wait ? 50 : 0);
  sk::Result<sk::LockedRead> got = f->store->LockAndRead(id, request);
  if (!got.ok() || !got->acquired()) return;
  // The lock reads the session as Read did, at the same clocks.
  Check(got->found == read.has_value());
  if (read) Check(got->record.data == read->data);
#ifdef SK_FUZZ_PLANTED
  Planted(f, *got);
#endif
  switch (c.release) {
    case 0:
      Check(f->store->Unlock(id, request.owner).ok());
      break;
    case 1:
      Check(
          f->store
              ->WriteAndUnlock(id, "x|i:1;", sk::Duration(60000), request.owner)
              .ok());
      break;
    case 2:
      (void)f->store->TouchAndUnlock(id, sk::Duration(60000), request.owner);
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Fixture* f = Get();
  const Choices choices(data[0]);
  const std::vector<Record> records = Records(
      std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  Fill(f, records);
  f->env.SetWallNow(sk::FromUnixMillis(FakeEnv::kStartWallMs +
                                       choices.minutes_later * 60000));
  f->env.SetBootClockMs(FakeEnv::kStartBootMs + choices.minutes_later * 60000);

  const std::map<std::string, std::string> stored = Stored(records);
  const std::vector<std::string> ids = Ids(records);
  const std::string first_token = FirstLockToken(records);
  std::vector<std::optional<sk::SessionRecord>> reads;
  for (const std::string& id : ids) reads.push_back(CheckRead(f, id, stored));
  CheckScan(f, stored);
  for (size_t i = 0; i < ids.size(); ++i) {
    LockAndRelease(f, ids[i], choices, first_token, reads[i]);
    (void)f->store->Touch(ids[i], sk::Duration(120000));
  }
  (void)f->store->Gc(f->env.WallNow());
  (void)f->store->CheckIndexForTesting();
  (void)f->store->LockRecordsForTesting();
  for (const std::string& id : ids) {
    if (f->store->Destroy(id).ok()) {
      sk::Result<bool> exists = f->store->Exists(id);
      Check(exists.ok() && !*exists);
    }
  }
  return 0;
}
