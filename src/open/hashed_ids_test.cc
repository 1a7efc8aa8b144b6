// Hashed session ids at rest (EngineOptions::hash_ids) on real stores: the
// engine keeps every session under its id's keyed hash, so neither the LMDB
// file nor a Redis dump nor KEYS holds a session id; encryption binds the
// stored key; bad settings open nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crypt/aead.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "sessionkit/keyring.h"
#include "sessionkit/open.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kHashLine = "hash " + std::string(64, '5') + "\n";
const std::string kKeyLine = "1 " + std::string(64, 'a') + "\n";
constexpr Duration kTtl{600000};
constexpr char kPayload[] = "cart|a:1:{s:4:\"item\";s:11:\"plain-words\";}";

std::shared_ptr<const KeyRing> Ring(const std::string& text) {
  auto ring = KeyRing::Parse(text, "/etc/sessionkit/keys");
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return ring.ok() ? *ring : nullptr;
}

std::string Id(int n) {
  return "hid" + std::to_string(n) + "-AbCdEfGhIjKlMnOpQrStUvWxYz";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// An LMDB directory of its own and engines over it.
//
// Thread safety: one test's.
class HashedIdsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("hashed-ids");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
  }
  void TearDown() override { test::RemoveTempDirUnlessFailed(dir_); }

  // An engine with key file text `keys` ("" for none) and hash_ids.
  Result<std::unique_ptr<SessionEngine>> Open(const std::string& keys,
                                              bool hash_ids = true) {
    EngineOptions options;
    if (!keys.empty()) options.keys = Ring(keys);
    options.hash_ids = hash_ids;
    options.log = [this](LogLevel, std::string_view m) {
      warnings_.emplace_back(m);
    };
    return OpenEngine("lmdb://" + dir_, std::move(options));
  }

  // A locked read and write of `id`, as a PHP request does.
  void Save(SessionEngine& engine, const std::string& id,
            const std::string& payload) {
    auto read = engine.ReadForUpdate(id, LockOptions{});
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    ASSERT_EQ(read->lock.state, LockState::kHeld);
    SK_ASSERT_OK(engine.Write(id, payload, kTtl, read->lock));
  }

  std::string dir_;
  std::vector<std::string> warnings_;
};

TEST_F(HashedIdsEngineTest, SessionsLiveUnderTheHashOfTheirId) {
  auto engine = Open(kHashLine + kKeyLine);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto ring = Ring(kHashLine);
  const std::string id = Id(1);
  const std::string key = *ring->HashSessionId(id);

  Save(**engine, id, kPayload);
  auto read = (*engine)->Read(id);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->found);
  EXPECT_EQ(read->payload, kPayload);
  Store& store = (*engine)->store();
  EXPECT_TRUE(store.Read(id).status().IsNotFound());
  ASSERT_TRUE(store.Read(key).ok());
  EXPECT_TRUE(*(*engine)->Exists(id));
  // A stored key given as an id is hashed again: it finds nothing.
  EXPECT_FALSE(*(*engine)->Exists(key));
  EXPECT_FALSE((*engine)->Read(key)->found);

  // Touch and Unlock reach the same key.
  SK_EXPECT_OK((*engine)->Touch(id, kTtl));
  auto locked = (*engine)->ReadForUpdate(id, LockOptions{});
  ASSERT_TRUE(locked.ok());
  SK_EXPECT_OK((*engine)->Unlock(id, locked->lock));
  // Unlocked: the next request gets the lock at once.
  LockOptions no_wait;
  no_wait.wait = Duration(0);
  no_wait.timeout_action = LockTimeoutAction::kFail;
  auto again = (*engine)->ReadForUpdate(id, no_wait);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  SK_EXPECT_OK((*engine)->Unlock(id, again->lock));

  SK_ASSERT_OK((*engine)->Destroy(id));
  EXPECT_FALSE(*(*engine)->Exists(id));
  EXPECT_FALSE((*engine)->Read(id)->found);
  EXPECT_TRUE(store.Read(key).status().IsNotFound());
  EXPECT_TRUE(warnings_.empty()) << warnings_.front();
}

TEST_F(HashedIdsEngineTest, StrictModeKnowsOnlyLiveSessions) {
  auto engine = Open(kHashLine + kKeyLine);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto created = (*engine)->CreateId();
  ASSERT_TRUE(created.ok());
  EXPECT_FALSE(*(*engine)->Exists(*created));
  EXPECT_FALSE(*(*engine)->Exists("an-unknown-id-from-a-cookie"));
  EXPECT_FALSE(*(*engine)->Exists("bad id!"));
  Save(**engine, *created, kPayload);
  EXPECT_TRUE(*(*engine)->Exists(*created));
  // Another engine over the same store without hash_ids does not see it.
  engine->reset();
  auto plain = Open(kHashLine + kKeyLine, /*hash_ids=*/false);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(*(*plain)->Exists(*created));
}

TEST_F(HashedIdsEngineTest, TheLmdbFileHoldsNoSessionId) {
  std::vector<std::string> keys;
  {
    auto engine = Open(kHashLine + kKeyLine);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    auto ring = Ring(kHashLine);
    for (int n = 0; n < 20; ++n) {
      Save(**engine, Id(n), kPayload);
      keys.push_back(*ring->HashSessionId(Id(n)));
    }
    SK_ASSERT_OK((*engine)->Touch(Id(3), kTtl));
    SK_ASSERT_OK((*engine)->Destroy(Id(4)));
    auto held = (*engine)->ReadForUpdate(Id(5), LockOptions{});
    ASSERT_TRUE(held.ok());  // a lock record is on disk while held
    const std::string bytes = ReadFile(dir_ + "/data.mdb");
    ASSERT_GT(bytes.size(), 0u);
    for (int n = 0; n < 20; ++n) {
      EXPECT_EQ(bytes.find(Id(n)), std::string::npos) << Id(n);
      // The search would find what is there: the stored keys.
      if (n != 4) {
        EXPECT_NE(bytes.find(keys[n]), std::string::npos) << n;
      }
    }
    EXPECT_EQ(bytes.find("plain-words"), std::string::npos);
    SK_ASSERT_OK((*engine)->Unlock(Id(5), held->lock));
  }
}

TEST_F(HashedIdsEngineTest, AValueCopiedToAnotherKeyDoesNotDecrypt) {
  auto engine = Open(kHashLine + kKeyLine);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto ring = Ring(kHashLine + kKeyLine);
  Save(**engine, Id(1), "victim|s:5:\"admin\";");
  Save(**engine, Id(2), "attacker|s:4:\"user\";");
  Store& store = (*engine)->store();
  const std::string victim_key = *ring->HashSessionId(Id(1));
  const std::string attacker_key = *ring->HashSessionId(Id(2));
  auto stolen = store.Read(victim_key);
  ASSERT_TRUE(stolen.ok());
  SK_ASSERT_OK(store.Write(attacker_key, stolen->data, kTtl));

  auto read = (*engine)->Read(Id(2));
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->found);
  EXPECT_TRUE(read->payload.empty());
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("does not decrypt"));
  EXPECT_EQ(warnings_[0].find(Id(2)), std::string::npos) << warnings_[0];

  // The value is bound to the key it is stored under, which a tool that
  // sees only stored keys (Scan) knows: it decrypts with that key.
  auto frame = DecodeFrame(stolen->data);
  ASSERT_TRUE(frame.ok());
  const std::string_view header =
      std::string_view(stolen->data)
          .substr(0, stolen->data.size() - frame->payload.size());
  auto plain = DecryptPayload(*ring, frame->header.key_id, header, victim_key,
                              frame->payload);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain, "victim|s:5:\"admin\";");
  EXPECT_FALSE(
      DecryptPayload(*ring, frame->header.key_id, header, Id(1), frame->payload)
          .ok());
}

TEST_F(HashedIdsEngineTest, AHashOnlyKeyFileHashesWithoutEncrypting) {
  auto engine = Open(kHashLine);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Save(**engine, Id(7), kPayload);
  auto stored = (*engine)->store().Read(*Ring(kHashLine)->HashSessionId(Id(7)));
  ASSERT_TRUE(stored.ok());
  auto frame = DecodeFrame(stored->data);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->header.key_id, 0);
  EXPECT_EQ(frame->payload, kPayload);
  EXPECT_EQ((*engine)->Read(Id(7))->payload, kPayload);
}

TEST_F(HashedIdsEngineTest, BadSettingsOpenNothing) {
  auto none = Open("");
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsInvalidArgument());
  EXPECT_THAT(none.status().message(),
              AllOf(HasSubstr("hash_ids"), HasSubstr("keys"),
                    HasSubstr("sessionkit keys generate")));
  auto no_hash = Open(kKeyLine);
  ASSERT_FALSE(no_hash.ok());
  EXPECT_TRUE(no_hash.status().IsInvalidArgument());
  EXPECT_THAT(no_hash.status().message(),
              AllOf(HasSubstr("hash_ids"), HasSubstr("/etc/sessionkit/keys"),
                    HasSubstr("has no hash line"),
                    HasSubstr("sessionkit keys add --hash")));
  // Nothing was opened: no database was created.
  EXPECT_TRUE(ReadFile(dir_ + "/data.mdb").empty());

  // An engine built directly with such options stores nothing.
  auto store = OpenStore("lmdb://" + dir_);
  ASSERT_TRUE(store.ok());
  EngineOptions options;
  options.keys = Ring(kKeyLine);
  options.hash_ids = true;
  options.setting_name = [](std::string_view s) {
    return "sessionkit." + std::string(s);
  };
  SessionEngine engine(std::move(store).value(), options);
  const std::string id = Id(9);
  Status w = engine.Write(id, kPayload, kTtl);
  EXPECT_TRUE(w.IsInvalidArgument());
  EXPECT_THAT(w.message(), AllOf(HasSubstr("sessionkit.hash_ids"),
                                 HasSubstr("sessionkit.keys")));
  EXPECT_TRUE(engine.Read(id).status().IsInvalidArgument());
  EXPECT_TRUE(
      engine.ReadForUpdate(id, LockOptions{}).status().IsInvalidArgument());
  EXPECT_TRUE(engine.Exists(id).status().IsInvalidArgument());
  EXPECT_TRUE(engine.Destroy(id).IsInvalidArgument());
  EXPECT_TRUE(engine.Touch(id, kTtl).IsInvalidArgument());
  EXPECT_TRUE(engine.CreateId().status().IsInvalidArgument());
  EXPECT_TRUE(engine.store().Read(id).status().IsNotFound());
}

// Redis: through a real redis-server, neither KEYS nor a dump (SAVE) holds
// a session id.
TEST(HashedIdsRedisEngineTest, NeitherKeysNorTheDumpHoldASessionId) {
  // Strings uncompressed in the dump, so that searching it finds what is
  // there (the stored keys, checked below).
  test::RedisServerOptions redis;
  redis.extra_config = {"rdbcompression no"};
  auto server = test::StartRedis(redis);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EngineOptions options;
  options.keys = Ring(kKeyLine + kHashLine);
  options.hash_ids = true;
  auto engine = OpenEngine(
      "redis://127.0.0.1:" + std::to_string((*server)->port()) + "/0",
      std::move(options));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto ring = Ring(kHashLine);
  for (int n = 0; n < 10; ++n) {
    auto read = (*engine)->ReadForUpdate(Id(n), LockOptions{});
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    SK_ASSERT_OK((*engine)->Write(Id(n), kPayload, kTtl, read->lock));
  }
  SK_ASSERT_OK((*engine)->Destroy(Id(0)));
  auto held = (*engine)->ReadForUpdate(Id(1), LockOptions{});
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->payload, kPayload);

  auto keys = (*server)->Cli({"KEYS", "*"});
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  auto saved = (*server)->Cli({"SAVE"});
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  const std::string dump = ReadFile((*server)->dir() + "/dump.rdb");
  ASSERT_GT(dump.size(), 0u);
  for (int n = 0; n < 10; ++n) {
    EXPECT_EQ(keys->find(Id(n)), std::string::npos) << *keys;
    EXPECT_EQ(dump.find(Id(n)), std::string::npos) << Id(n);
    const std::string key = *ring->HashSessionId(Id(n));
    if (n != 0) {
      EXPECT_NE(keys->find(key), std::string::npos) << *keys;
      EXPECT_NE(dump.find(key), std::string::npos) << key;
    }
  }
  EXPECT_EQ(dump.find("plain-words"), std::string::npos);
  SK_ASSERT_OK((*engine)->Unlock(Id(1), held->lock));
  EXPECT_FALSE(*(*engine)->Exists(Id(0)));
  EXPECT_TRUE(*(*engine)->Exists(Id(9)));
}

}  // namespace
}  // namespace sessionkit
