// Trained zstd dictionaries: training, the dictionary directory, the codec
// with dictionaries, and the engine reading frames of every dictionary.
#include "sessionkit/dictionaries.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "codec/compress.h"
#include "codec/dictionary_train.h"
#include "core/fake_store.h"
#include "sessionkit/engine.h"
#include "sessionkit/frame.h"
#include "support/shop_session.h"
#include "support/test_server.h"

namespace sessionkit {
namespace {

using test::ShopSession;

// Sessions of users 1000 + first.. (never the ones a test then stores).
std::vector<std::string> Samples(uint32_t first, size_t count = 200) {
  std::vector<std::string> out;
  for (uint32_t i = 0; i < count; ++i) {
    out.push_back(ShopSession(1024 + (i % 4) * 1024, 1000 + first + i));
  }
  return out;
}

std::string Trained(uint32_t id, uint32_t first = 0) {
  auto dict = TrainDictionary(Samples(first), 16 * 1024, id);
  EXPECT_TRUE(dict.ok()) << dict.status().ToString();
  return dict.ok() ? *dict : "";
}

std::shared_ptr<const Dictionaries> Set(std::vector<uint32_t> ids) {
  std::vector<Dictionaries::Source> sources;
  for (uint32_t id : ids) {
    sources.push_back({"dict" + std::to_string(id), Trained(id, id * 1000)});
  }
  auto set = Dictionaries::Parse(std::move(sources), "test-dir");
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  return set.ok() ? *set : nullptr;
}

void ExpectError(const Status& s, const std::string& words) {
  EXPECT_FALSE(s.ok()) << words;
  EXPECT_NE(s.message().find(words), std::string::npos) << s.message();
}

TEST(TrainDictionaryTest, CarriesItsIdAndShrinksSmallSessions) {
  const std::string dict = Trained(7);
  EXPECT_EQ(DictionaryIdOf(dict), 7u);
  EXPECT_LE(dict.size(), 16u * 1024);
  auto set = Dictionaries::Parse({{"d", dict}}, "dir");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  // A user none of the samples is.
  const std::string in = ShopSession(2048, 424242);
  auto plain = CompressPayload(FrameCodec::kZstd, 0, in);
  auto with = CompressPayload(FrameCodec::kZstd, 0, in, set->get());
  ASSERT_TRUE(plain.ok() && with.ok());
  EXPECT_LT(with->size(), plain->size())
      << with->size() << " " << plain->size();
  EXPECT_EQ(ZstdDictionaryIdOf(*with), 7u);
  EXPECT_EQ(ZstdDictionaryIdOf(*plain), 0u);
  auto back = DecompressPayload(FrameCodec::kZstd, *with, kMaxDecompressedSize,
                                set->get());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, in);
}

TEST(TrainDictionaryTest, TooFewSamplesSaysHowMany) {
  auto dict = TrainDictionary(Samples(0, 5), 16 * 1024, 1);
  ExpectError(dict.status(), "found 5 non-empty sessions");
  ExpectError(dict.status(), "at least 20");
  ExpectError(TrainDictionary(Samples(0), 16 * 1024, 0).status(), "id 0");
  ExpectError(TrainDictionary(Samples(0), 10, 1).status(), "size 10");
}

TEST(DictionariesTest, HighestIdIsActiveAndEveryIdReads) {
  auto set = Set({1, 3, 2});
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->active_id(), 3u);
  EXPECT_EQ(set->ids(), (std::vector<uint32_t>{3, 2, 1}));
  EXPECT_TRUE(set->Has(1));
  EXPECT_FALSE(set->Has(4));
  const std::string in = ShopSession(3000, 99);
  auto packed = CompressPayload(FrameCodec::kZstd, 19, in, set.get());
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(ZstdDictionaryIdOf(*packed), 3u);
}

TEST(DictionariesTest, MissingDictionaryIsCorruptNamingIdAndDirectory) {
  auto one = Set({1});
  auto two = Set({2});
  const std::string in = ShopSession(3000, 5);
  auto packed = CompressPayload(FrameCodec::kZstd, 0, in, one.get());
  ASSERT_TRUE(packed.ok());
  auto r = DecompressPayload(FrameCodec::kZstd, *packed, kMaxDecompressedSize,
                             two.get());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorrupt());
  ExpectError(r.status(), "dictionary 1");
  ExpectError(r.status(), "test-dir");
  r = DecompressPayload(FrameCodec::kZstd, *packed);
  ASSERT_FALSE(r.ok());
  ExpectError(r.status(), "dictionary 1");
}

TEST(DictionariesTest, RefusesWhatIsNotAUsableDictionary) {
  const std::string good = Trained(4);
  ExpectError(Dictionaries::Parse({}, "empty-dir").status(), "empty-dir");
  ExpectError(Dictionaries::Parse({{"f1", "hello"}}, "d").status(),
              "f1 is not a zstd dictionary");
  ExpectError(Dictionaries::Parse({{"a", good}, {"b", good}}, "d").status(),
              "b has id 4, which another file already has");
  // The header is intact, the entropy tables are cut off.
  ExpectError(Dictionaries::Parse({{"cut", good.substr(0, 40)}}, "d").status(),
              "cut (id 4) is damaged");
}

// A dictionary directory for one test.
class DictionaryDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::MakeTempDir("dicts");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
  }
  void TearDown() override { test::RemoveTempDirUnlessFailed(dir_); }
  // Writes dictionary `dict` as a dictionary file (or `raw` bytes as is).
  std::string Put(const std::string& name, const std::string& dict,
                  bool raw = false) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary)
        << (raw ? dict : DictionaryFileBytes(dict));
    return path;
  }
  std::string dir_;
};

TEST_F(DictionaryDirTest, LoadsEveryDictFileAndIgnoresOthers) {
  Put(DictionaryFileName(1), Trained(1));
  Put(DictionaryFileName(12), Trained(12));
  Put(".train-123.tmp", "partial", true);
  Put("README", "not a dictionary", true);
  auto set = Dictionaries::Load(dir_);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ((*set)->ids(), (std::vector<uint32_t>{12, 1}));
  EXPECT_EQ((*set)->directory(), dir_);
}

TEST_F(DictionaryDirTest, CorruptFileIsAnErrorNamingTheFile) {
  Put(DictionaryFileName(1), Trained(1));
  const std::string file = DictionaryFileBytes(Trained(2));
  const std::string path = dir_ + "/" + DictionaryFileName(2);
  // Truncated (a half-finished copy), one byte flipped, a bare zstd
  // dictionary, and a file with a good trailer around damaged tables.
  std::string flipped = file;
  flipped[flipped.size() / 2] ^= 1;
  const std::pair<std::string, std::string> cases[] = {
      {file.substr(0, file.size() / 2), "SKD1 trailer"},
      {flipped, "CRC-32 does not match"},
      {Trained(2), "SKD1 trailer"},
      {DictionaryFileBytes(Trained(2).substr(0, 40)), "is damaged"}};
  for (const auto& [bytes, words] : cases) {
    Put(DictionaryFileName(2), bytes, true);
    auto set = Dictionaries::Load(dir_);
    ASSERT_FALSE(set.ok()) << words;
    EXPECT_TRUE(set.status().IsInvalidArgument());
    ExpectError(set.status(), path);
    ExpectError(set.status(), words);
  }
}

TEST_F(DictionaryDirTest, NameAndHeaderMustAgree) {
  const std::string path = Put(DictionaryFileName(5), Trained(6));
  ExpectError(Dictionaries::Load(dir_).status(),
              path + " holds dictionary id 6, not the 5");
  unlink(path.c_str());
  const std::string odd = Put("05.dict", Trained(5));
  ExpectError(Dictionaries::Load(dir_).status(), odd + " is not named <id>");
  unlink(odd.c_str());
  ExpectError(Dictionaries::Load(dir_).status(), "holds no dictionary file");
  ExpectError(Dictionaries::Load(dir_ + "/absent").status(),
              "cannot open dictionary directory " + dir_ + "/absent");
}

const std::string kId = "abcdefghijklmnopqrstuvwxyz012345";
constexpr Duration kTtl(60000);

// An engine over a FakeStore holding `data`, with `dicts`, compressing
// with zstd from 256 bytes up.
struct DictEngine {
  DictEngine(std::shared_ptr<const Dictionaries> dicts,
             std::map<std::string, std::string> data = {}) {
    auto owned = std::make_unique<test::FakeStore>();
    store = owned.get();
    store->data = std::move(data);
    EngineOptions options;
    options.compression.codec = FrameCodec::kZstd;
    options.compression.threshold = 256;
    options.dictionaries = std::move(dicts);
    options.log = [this](LogLevel, std::string_view m) {
      warnings.emplace_back(m);
    };
    engine = std::make_unique<SessionEngine>(std::move(owned), options);
  }
  uint32_t DictOf(const std::string& id) {
    auto frame = DecodeFrame(store->data[id]);
    EXPECT_TRUE(frame.ok());
    if (!frame.ok()) return 0;
    EXPECT_EQ(frame->header.codec, FrameCodec::kZstd);
    return ZstdDictionaryIdOf(frame->payload);
  }
  test::FakeStore* store;
  std::unique_ptr<SessionEngine> engine;
  std::vector<std::string> warnings;
};

std::string IdOf(int n) { return kId.substr(0, 30) + std::to_string(n + 10); }

TEST(EngineDictionaryTest, RoundTripUsesTheActiveDictionary) {
  DictEngine e(Set({1}));
  const std::string payload = ShopSession(1500, 77);
  ASSERT_TRUE(e.engine->Write(kId, payload, kTtl).ok());
  EXPECT_EQ(e.DictOf(kId), 1u);
  auto r = e.engine->Read(kId);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->found);
  EXPECT_EQ(r->payload, payload);
  EXPECT_TRUE(e.warnings.empty());
}

TEST(EngineDictionaryTest, OtherCodecsIgnoreTheDictionaries) {
  DictEngine e(Set({1}));
  const std::string payload = ShopSession(3000, 78);
  CompressionOptions lz4;
  lz4.codec = FrameCodec::kLz4;
  lz4.threshold = 256;
  ASSERT_TRUE(e.engine->Write(kId, payload, kTtl, {}, lz4).ok());
  auto frame = DecodeFrame(e.store->data[kId]);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->header.codec, FrameCodec::kLz4);
  auto r = e.engine->Read(kId);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->payload, payload);
}

TEST(EngineDictionaryTest, OldFramesReadAfterANewDictionaryIsAdded) {
  auto d1 = Set({1});
  auto d12 = Set({1, 2});
  std::map<std::string, std::string> payloads;
  std::map<std::string, std::string> data;
  int n = 0;
  for (auto dicts : {std::shared_ptr<const Dictionaries>(), d1, d12}) {
    DictEngine writer(dicts, data);
    const std::string id = IdOf(n);
    payloads[id] = ShopSession(2000 + n, 500 + n);
    ASSERT_TRUE(writer.engine->Write(id, payloads[id], kTtl).ok());
    EXPECT_EQ(writer.DictOf(id), static_cast<uint32_t>(n)) << n;
    data = writer.store->data;
    ++n;
  }
  DictEngine reader(d12, data);
  for (const auto& [id, payload] : payloads) {
    auto r = reader.engine->Read(id);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->found) << id;
    EXPECT_EQ(r->payload, payload) << id;
  }
  EXPECT_TRUE(reader.warnings.empty());
}

TEST(EngineDictionaryTest, MissingDictionaryReadsEmptyReadOnlyAndIsKept) {
  DictEngine writer(Set({3}));
  const std::string payload = ShopSession(2500, 31);
  ASSERT_TRUE(writer.engine->Write(kId, payload, kTtl).ok());
  const std::string stored = writer.store->data[kId];
  for (bool with_other : {true, false}) {
    DictEngine reader(with_other ? Set({1}) : nullptr, writer.store->data);
    LockOptions lock;
    auto r = reader.engine->ReadForUpdate(kId, lock);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->found);
    EXPECT_TRUE(r->payload.empty());
    EXPECT_EQ(r->lock.state, LockState::kReadOnly);
    ASSERT_EQ(reader.warnings.size(), 1u);
    EXPECT_NE(reader.warnings[0].find("dictionary 3"), std::string::npos)
        << reader.warnings[0];
    EXPECT_NE(reader.warnings[0].find(with_other ? "test-dir" : "dictionaries"),
              std::string::npos)
        << reader.warnings[0];
    // The request's write is skipped: the stored value stays for a host
    // that has the dictionary.
    ASSERT_TRUE(reader.engine->Write(kId, "x|i:1;", kTtl, r->lock).ok());
    EXPECT_EQ(reader.store->data[kId], stored);
  }
}

}  // namespace
}  // namespace sessionkit
