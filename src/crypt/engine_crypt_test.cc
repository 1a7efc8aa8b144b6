// Encryption in the engine: what Write stores with a key ring, and that
// every frame reads back, or reads as an empty session with a warning.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/fake_store.h"
#include "crypt/aead.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "support/shop_session.h"

namespace sessionkit {
namespace engine_crypt_test {
namespace {

using test::FakeStore;
using test::ShopSession;

const std::string kRing31 =
    "3 " + std::string(64, 'c') + "\n1 " + std::string(64, 'a') + "\n";
const std::string kRing1 = "1 " + std::string(64, 'a') + "\n";
const std::string kOther1 = "1 " + std::string(64, 'b') + "\n";

std::shared_ptr<const KeyRing> RingOf(const std::string& text) {
  if (text.empty()) return nullptr;
  auto ring = KeyRing::Parse(text, "/etc/sessionkit/keys");
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return ring.ok() ? *ring : nullptr;
}

// What one site stores, read and written by an engine of the current
// settings: Engine() gives the next engine the previous one's data, as
// hosts deploying a key (or a codec) one after the other.
//
// Thread safety: one test's.
class EncryptedStore {
 public:
  // An engine with key file text `keys` ("" for none) over the data so far.
  SessionEngine& Engine(const std::string& keys,
                        FrameCodec codec = FrameCodec::kNone) {
    auto next = std::make_unique<FakeStore>();
    if (store != nullptr) next->data = store->data;
    store = next.get();
    EngineOptions options;
    options.keys = RingOf(keys);
    options.compression.codec = codec;
    options.log = [this](LogLevel, std::string_view message) {
      warnings.emplace_back(message);
    };
    engine_ = std::make_unique<SessionEngine>(std::move(next), options);
    return *engine_;
  }
  // Reads `id` with `engine`, expecting an unreadable value: one warning
  // containing `words`, and an empty read-only session.
  void ExpectUnreadable(SessionEngine& engine, const std::string& id,
                        const std::string& words) {
    auto r = engine.Read(id);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->found);
    EXPECT_TRUE(r->payload.empty());
    EXPECT_EQ(r->lock.state, LockState::kReadOnly);
    ASSERT_EQ(warnings.size(), 1u) << words;
    EXPECT_NE(warnings[0].find(words), std::string::npos) << warnings[0];
    EXPECT_EQ(warnings[0].find("cccc"), std::string::npos) << warnings[0];
    warnings.clear();
  }
  // Reads `id`, expecting `payload` and no warning.
  void ExpectPayload(SessionEngine& engine, const std::string& id,
                     const std::string& payload) {
    auto r = engine.Read(id);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->found);
    EXPECT_EQ(r->payload, payload);
    EXPECT_TRUE(warnings.empty()) << warnings.front();
    warnings.clear();
  }
  // The header of what the store holds for `id`.
  FrameHeader Stored(const std::string& id) {
    auto frame = DecodeFrame(store->data[id]);
    EXPECT_TRUE(frame.ok());
    return frame.ok() ? frame->header : FrameHeader{};
  }

  FakeStore* store = nullptr;
  std::vector<std::string> warnings;

 private:
  std::unique_ptr<SessionEngine> engine_;
};

const std::string kSid = "abcdefghijklmnopqrstuvwxyz012345";
const std::string kSid2 = "zyxwvutsrqponmlkjihgfedcba543210";
constexpr Duration kLife(60000);

TEST(EngineCryptTest, RoundTripUnderTheFirstKey) {
  EncryptedStore s;
  SessionEngine& e = s.Engine(kRing31);
  const std::string payload = "cart|a:1:{i:0;s:4:\"book\";}";
  ASSERT_TRUE(e.Write(kSid, payload, kLife).ok());
  EXPECT_EQ(s.Stored(kSid).key_id, 3);
  EXPECT_EQ(s.store->data[kSid].size(),
            kFrameHeaderSize + payload.size() + kEncryptionOverhead);
  EXPECT_EQ(s.store->data[kSid].find("book"), std::string::npos);
  s.ExpectPayload(e, kSid, payload);
}

TEST(EngineCryptTest, EveryKeyOfTheRingDecrypts) {
  EncryptedStore s;
  SessionEngine& old_key = s.Engine(kRing1);
  ASSERT_TRUE(old_key.Write(kSid, "old", kLife).ok());
  EXPECT_EQ(s.Stored(kSid).key_id, 1);
  // Rotated: key 3 added first; key 1's frames still read.
  SessionEngine& rotated = s.Engine(kRing31);
  s.ExpectPayload(rotated, kSid, "old");
  ASSERT_TRUE(rotated.Write(kSid, "new", kLife).ok());
  EXPECT_EQ(s.Stored(kSid).key_id, 3);
  s.ExpectPayload(rotated, kSid, "new");
}

TEST(EngineCryptTest, CompressedAndEncryptedRoundTrip) {
  EncryptedStore s;
  SessionEngine& e = s.Engine(kRing31, FrameCodec::kZstd);
  const std::string payload = ShopSession(8192, 3);
  ASSERT_TRUE(e.Write(kSid, payload, kLife).ok());
  EXPECT_EQ(s.Stored(kSid).codec, FrameCodec::kZstd);
  EXPECT_EQ(s.Stored(kSid).key_id, 3);
  EXPECT_LT(s.store->data[kSid].size(), payload.size() / 2);
  s.ExpectPayload(e, kSid, payload);
}

TEST(EngineCryptTest, ACopyUnderAnotherIdDoesNotDecrypt) {
  EncryptedStore s;
  SessionEngine& e = s.Engine(kRing31);
  ASSERT_TRUE(e.Write(kSid, "victim's session", kLife).ok());
  s.store->data[kSid2] = s.store->data[kSid];
  s.ExpectUnreadable(e, kSid2, "does not decrypt with key id 3");
  s.ExpectPayload(e, kSid, "victim's session");
}

TEST(EngineCryptTest, AlteredHeaderOrPayloadDoesNotDecrypt) {
  EncryptedStore s;
  SessionEngine& e = s.Engine(kRing31);
  ASSERT_TRUE(e.Write(kSid, "data", kLife).ok());
  const std::string good = s.store->data[kSid];
  // Session version (offset 8..15), the flags' neighbour reserved byte is
  // checked by DecodeFrame itself; the codec byte, and the payload.
  for (size_t at :
       {size_t{3}, size_t{9}, size_t{15}, kFrameHeaderSize, good.size() - 1}) {
    std::string bad = good;
    bad[at] ^= (at == 3 ? 0x01 : 0x20);
    s.store->data[kSid] = bad;
    auto r = e.Read(kSid);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->found) << at;
    EXPECT_TRUE(r->payload.empty()) << at;
    EXPECT_EQ(r->lock.state, LockState::kReadOnly);
    ASSERT_EQ(s.warnings.size(), 1u);
    s.warnings.clear();
  }
}

TEST(EngineCryptTest, TruncatedWrongKeyAndUnknownKeyIdGiveAClearWarning) {
  EncryptedStore s;
  SessionEngine& e = s.Engine(kRing1);
  ASSERT_TRUE(e.Write(kSid, "data", kLife).ok());
  const std::string good = s.store->data[kSid];
  s.store->data[kSid] = good.substr(0, good.size() - 1);
  s.ExpectUnreadable(e, kSid, "does not decrypt with key id 1");
  s.store->data[kSid] = good.substr(0, kFrameHeaderSize + 10);
  s.ExpectUnreadable(e, kSid, "is truncated");
  s.store->data[kSid] = good;
  SessionEngine& other = s.Engine(kOther1);
  s.ExpectUnreadable(other, kSid,
                     "does not decrypt with key id 1 of key file "
                     "/etc/sessionkit/keys");
  SessionEngine& rotated_away = s.Engine("3 " + std::string(64, 'c') + "\n");
  s.ExpectUnreadable(rotated_away, kSid,
                     "key id 1, which key file /etc/sessionkit/keys does "
                     "not hold (it holds 3)");
  // Read-only: the undecryptable value is never overwritten.
  auto r = rotated_away.ReadForUpdate(kSid, LockOptions{});
  ASSERT_TRUE(r.ok());
  s.warnings.clear();
  EXPECT_TRUE(rotated_away.Write(kSid, "overwrite", kLife, r->lock).ok());
  EXPECT_EQ(s.store->data[kSid], good);
}

TEST(EngineCryptTest, PlaintextFramesReadWithKeysAndBack) {
  EncryptedStore s;
  SessionEngine& plain = s.Engine("", FrameCodec::kZlib);
  const std::string big = ShopSession(4096, 9);
  ASSERT_TRUE(plain.Write(kSid, "before", kLife).ok());
  ASSERT_TRUE(plain.Write(kSid2, big, kLife).ok());
  EXPECT_EQ(s.Stored(kSid2).codec, FrameCodec::kZlib);
  SessionEngine& keyed = s.Engine(kRing31);
  s.ExpectPayload(keyed, kSid, "before");
  s.ExpectPayload(keyed, kSid2, big);
  ASSERT_TRUE(keyed.Write(kSid, "after", kLife).ok());
  EXPECT_EQ(s.Stored(kSid).key_id, 3);
  // Turned off again: encrypted frames need their key, and say so.
  SessionEngine& off = s.Engine("");
  s.ExpectUnreadable(off, kSid,
                     "encrypted with key id 3, but no key file is set (keys)");
  s.ExpectPayload(off, kSid2, big);
}

}  // namespace
}  // namespace engine_crypt_test
}  // namespace sessionkit
