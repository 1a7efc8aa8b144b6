// The fixture of the journal's tests (journal.h): a fresh directory per
// test, journals opened on it (closed at the end) on a FakeEnv's clocks
// (its randomness is seeded too), and helpers that build entries and plant
// raw records.
#ifndef SESSIONKIT_TIERED_JOURNAL_TEST_FIXTURE_H_
#define SESSIONKIT_TIERED_JOURNAL_TEST_FIXTURE_H_

#include <gtest/gtest.h>
#include <lmdb.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "stores/lmdb/lmdb_test_fixture.h"
#include "support/fake_env.h"
#include "support/test_server.h"
#include "support/test_status.h"
#include "tiered/journal.h"

namespace sessionkit::tiered {

// A valid session id (26 characters).
inline std::string Id(int n) {
  char buf[32];
  snprintf(buf, sizeof buf, "sess%022d", n);
  return buf;
}

inline JournalEntry Write(uint32_t tier, const std::string& id,
                          uint64_t version, std::string data = "") {
  JournalEntry e;
  e.tier = tier;
  e.id = id;
  e.version = version;
  e.data = data.empty() ? "v" + std::to_string(version) : std::move(data);
  e.expires_at = FromUnixMillis(test::FakeEnv::kStartWallMs + 3'600'000);
  return e;
}

// In a child, with the plain LMDB API (a second environment must not be
// opened in this process): stores `value` under `key` in the journal at
// `dir`, as a damaged file or another release might hold it.
inline int PutRawInChild(const std::string& dir, const std::string& key,
                         const std::string& value) {
  return lmdb_internal::RunInChild([&] {
    MDB_env* env;
    MDB_txn* txn;
    MDB_dbi db;
    if (mdb_env_create(&env) != 0) return 2;
    mdb_env_set_maxreaders(env, 1024);
    if (mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0600) != 0) return 3;
    if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) return 4;
    if (mdb_dbi_open(txn, nullptr, 0, &db) != 0) return 5;
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    if (mdb_put(txn, db, &k, &v, 0) != 0) return 6;
    return mdb_txn_commit(txn) == 0 ? 0 : 7;
  });
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> dir = test::MakeTempDir("journal");
    SK_ASSERT_OK(dir);
    dir_ = *dir;
    path_ = dir_ + "/j";
  }
  void TearDown() override {
    journals_.clear();
    test::RemoveTempDirUnlessFailed(dir_);
  }

  JournalOptions Options() {
    JournalOptions o;
    o.path = path_;
    o.map_size = 16ull << 20;
    o.env = &env_;
    return o;
  }
  Journal* Open(JournalOptions options) {
    auto j = Journal::Open(options);
    if (!j.ok()) {
      ADD_FAILURE() << j.status().ToString();
      return nullptr;
    }
    journals_.push_back(std::move(j).value());
    return journals_.back().get();
  }
  Journal* Open() { return Open(Options()); }

  TimePoint Now() { return env_.WallNow(); }
  void Advance(int64_t ms) { env_.Advance(std::chrono::milliseconds(ms)); }

  // The ids Claim returned, in order.
  static std::vector<std::string> Ids(
      const Result<std::vector<JournalEntry>>& r) {
    std::vector<std::string> ids;
    if (r.ok()) {
      for (const JournalEntry& e : *r) ids.push_back(e.id);
    }
    return ids;
  }

  std::string dir_;
  std::string path_;
  test::FakeEnv env_;
  std::vector<std::unique_ptr<Journal>> journals_;
};

// How long the tests' claims last.
inline constexpr Duration kClaim{10'000};

}  // namespace sessionkit::tiered

#endif  // SESSIONKIT_TIERED_JOURNAL_TEST_FIXTURE_H_
