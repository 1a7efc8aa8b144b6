// codec_bench: what each payload codec stores and costs, through the
// engine (compress, encrypt, frame; and back), on shop-shaped sessions of
// 1, 2, 4, 10 and 40 KB (tests/support/shop_session.h; several users per
// size). The dictionary is trained on other users' sessions than the ones
// measured. Prints a Markdown table and the dictionary target; run by
// `GROUP=codecs bench/run` (bench/codecs), or by hand:
// `build/bench/codec_bench`. Bounded: about a second per codec.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "codec/dictionary_train.h"
#include "core/fake_store.h"
#include "sessionkit/dictionaries.h"
#include "sessionkit/engine.h"
#include "sessionkit/keyring.h"
#include "support/shop_session.h"

namespace sessionkit {
namespace {

constexpr size_t kSizes[] = {1024, 2048, 4096, 10240, 40960};
constexpr int kUsersPerSize = 20;
// Each cell runs its users round after round for about this long.
constexpr auto kCellTime = std::chrono::milliseconds(80);
// zstd with a dictionary stores at most this fraction of zstd without one,
// on 1-4 KB sessions.
constexpr double kDictTarget = 0.5;
const std::string kId = "benchsession0123456789abcdefghij";

struct Row {
  const char* name;
  FrameCodec codec;
  bool dictionary;
  bool encrypted;
};
constexpr Row kRows[] = {
    {"none", FrameCodec::kNone, false, false},
    {"zstd", FrameCodec::kZstd, false, false},
    {"zstd+dict", FrameCodec::kZstd, true, false},
    {"lz4", FrameCodec::kLz4, false, false},
    {"snappy", FrameCodec::kSnappy, false, false},
    {"zlib", FrameCodec::kZlib, false, false},
    {"zstd+xchacha20", FrameCodec::kZstd, false, true},
    {"zstd+dict+xchacha20", FrameCodec::kZstd, true, true},
};

struct Cell {
  double bytes = 0;  // mean stored bytes
  double us = 0;     // mean encode+decode microseconds
};

Cell Measure(const Row& row, const std::vector<std::string>& users,
             std::shared_ptr<const Dictionaries> dicts,
             std::shared_ptr<const KeyRing> keys) {
  auto owned = std::make_unique<test::FakeStore>();
  test::FakeStore* store = owned.get();
  EngineOptions options;
  options.compression.codec = row.codec;
  options.compression.threshold = 1;  // what the codec does at every size
  if (row.dictionary) options.dictionaries = dicts;
  if (row.encrypted) options.keys = keys;
  SessionEngine engine(std::move(owned), options);
  Cell cell;
  for (const std::string& u : users) {
    if (!engine.Write(kId, u, Duration(60000)).ok()) std::abort();
    cell.bytes += store->data[kId].size();
  }
  cell.bytes /= users.size();
  size_t cycles = 0;
  const auto start = std::chrono::steady_clock::now();
  auto now = start;
  while (now - start < kCellTime) {
    for (const std::string& u : users) {
      if (!engine.Write(kId, u, Duration(60000)).ok()) std::abort();
      auto r = engine.Read(kId);
      if (!r.ok() || r->payload.size() != u.size()) std::abort();
      ++cycles;
    }
    store->calls.clear();
    now = std::chrono::steady_clock::now();
  }
  cell.us =
      std::chrono::duration<double, std::micro>(now - start).count() / cycles;
  return cell;
}

int Run() {
  // Trained on users 100000.. , measured on users 1..20 of each size.
  std::vector<std::string> training;
  for (uint32_t i = 0; i < 400; ++i) {
    training.push_back(
        test::ShopSession(kSizes[i % 3] + (i % 7) * 100, 100000 + i));
  }
  auto dict = TrainDictionary(training, kDefaultDictionarySize, 1);
  if (!dict.ok()) {
    std::fprintf(stderr, "codec_bench: %s\n", dict.status().message().c_str());
    return 1;
  }
  auto dicts = Dictionaries::Parse({{"trained", *dict}}, "(in memory)");
  auto keys = KeyRing::Parse("1 " + std::string(64, 'a') + "\n", "bench");
  if (!dicts.ok() || !keys.ok()) return 1;

  std::printf("| codec | %s |\n|---|", "1 KB | 2 KB | 4 KB | 10 KB | 40 KB");
  for (size_t i = 0; i < std::size(kSizes); ++i) std::printf("---|");
  std::printf("\n");
  std::vector<std::vector<Cell>> cells;
  for (const Row& row : kRows) {
    std::printf("| %s |", row.name);
    cells.emplace_back();
    for (size_t size : kSizes) {
      std::vector<std::string> users;
      for (int u = 1; u <= kUsersPerSize; ++u) {
        users.push_back(test::ShopSession(size, static_cast<uint32_t>(u)));
      }
      const Cell c = Measure(row, users, *dicts, *keys);
      cells.back().push_back(c);
      std::printf(" %.0f B, %.1f us |", c.bytes, c.us);
      std::fflush(stdout);
    }
    std::printf("\n");
  }
  std::printf(
      "\nMean stored bytes (frame included) and encode+decode microseconds "
      "per session; %d users per size, dictionary of %zu bytes trained on "
      "400 other users' sessions.\n\n",
      kUsersPerSize, dict->size());
  // Rows 1 and 2: zstd and zstd+dict.
  for (size_t i = 0; i < 3; ++i) {
    const double ratio = cells[2][i].bytes / cells[1][i].bytes;
    std::printf(
        "- zstd+dict / zstd bytes, %zu KB: %.2f (target: at most "
        "%.2f; %s)\n",
        kSizes[i] / 1024, ratio, kDictTarget,
        ratio <= kDictTarget ? "met" : "MISSED");
  }
  // Below the default threshold: what compressing the smallest sessions
  // (a customer, a token, an empty or one-line cart) stores.
  for (size_t size : {size_t{0}, size_t{600}}) {
    std::vector<std::string> users;
    for (int u = 1; u <= kUsersPerSize; ++u) {
      users.push_back(test::ShopSession(size, static_cast<uint32_t>(u)));
    }
    const Cell raw = Measure(kRows[0], users, *dicts, *keys);
    const Cell zstd = Measure(kRows[1], users, *dicts, *keys);
    const Cell with = Measure(kRows[2], users, *dicts, *keys);
    std::printf(
        "- sessions of %.0f B stored: raw %.0f B, zstd %.0f B, "
        "zstd+dict %.0f B\n",
        raw.bytes - kFrameHeaderSize, raw.bytes, zstd.bytes, with.bytes);
  }
  return 0;
}

}  // namespace
}  // namespace sessionkit

int main() { return sessionkit::Run(); }
