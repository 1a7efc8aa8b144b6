// Test helper for cli_test.sh: writes one session through the C++ API, so
// the CLI test does not depend on PHP.
//
//   cli_test_seed URL ID TTL_MS [--unframed] < payload
//
// Writes stdin as the session payload through SessionEngine (framed, as PHP
// would store it), or with --unframed straight into the store (to plant
// corrupt data). A TTL of a few milliseconds makes an expired session.
//
//   cli_test_seed --corrupt-lmdb DIR NEEDLE
//
// Overwrites with garbage the pages of DIR/data.mdb that hold NEEDLE (a
// session id), as an OS crash under sync=off may leave them.
//
//   cli_test_seed --dead-reader DIR
//
// Opens the LMDB environment in DIR, begins a read transaction and exits
// without ending it, as a PHP worker killed mid-read: its reader slot stays
// taken.
//
//   cli_test_seed --fill URL PREFIX N BYTES KEEP_EVERY
//
// Writes N sessions PREFIX0, PREFIX1, ... of BYTES bytes, then deletes all
// but every KEEP_EVERY-th: a store whose space is mostly free.
//
//   cli_test_seed --writer URL PREFIX STOPFILE
//
// Writes sessions PREFIX0, PREFIX1, ... one after the other until STOPFILE
// exists (creating STOPFILE.started after the first 100), then prints how
// many writes were acknowledged. Exit 1 at the first failed write.
//
//   cli_test_seed --verify URL PREFIX COUNT
//
// Reads PREFIX0 .. PREFIX<COUNT-1>; exit 1 (and how many) if any is missing.
//
//   cli_test_seed --shop URL PREFIX N
//
// Writes N shop-shaped sessions PREFIX0, PREFIX1, ... (1 to 5 KB, each a
// different user: tests/support/shop_session.h) through the engine with
// zstd compression, so the larger ones are stored compressed.
#include <lmdb.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>

#include "sessionkit/engine.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "stores/lmdb/lmdb_corrupt_for_testing.h"
#include "support/shop_session.h"

namespace {

constexpr sessionkit::Duration kHour = std::chrono::hours(1);

int Fail(const sessionkit::Status& s) {
  std::cerr << "cli_test_seed: " << s.ToString() << "\n";
  return 1;
}

// --fill, --writer and --verify (see the top of the file).
int RunMode(std::string_view mode, char** argv) {
  if (mode == "--shop") {
    sessionkit::EngineOptions options;
    options.compression.codec = sessionkit::FrameCodec::kZstd;
    auto engine = sessionkit::OpenEngine(argv[2], options);
    if (!engine.ok()) return Fail(engine.status());
    const long n = std::strtol(argv[4], nullptr, 10);
    for (long i = 0; i < n; ++i) {
      const std::string payload = sessionkit::test::ShopSession(
          1024 + static_cast<size_t>(i % 9) * 512, 5000 + i);
      sessionkit::Status s =
          (*engine)->Write(argv[3] + std::to_string(i), payload, kHour);
      if (!s.ok()) return Fail(s);
    }
    return 0;
  }
  auto store = sessionkit::OpenStore(argv[2]);
  if (!store.ok()) return Fail(store.status());
  const std::string prefix = argv[3];
  if (mode == "--fill") {
    const long n = std::strtol(argv[4], nullptr, 10);
    const std::string value(std::strtoul(argv[5], nullptr, 10), 'f');
    const long keep_every = std::strtol(argv[6], nullptr, 10);
    for (long i = 0; i < n; ++i) {
      sessionkit::Status s =
          (*store)->Write(prefix + std::to_string(i), value, kHour);
      if (!s.ok()) return Fail(s);
    }
    for (long i = 0; i < n; ++i) {
      if (i % keep_every == 0) continue;
      sessionkit::Status s = (*store)->Destroy(prefix + std::to_string(i));
      if (!s.ok()) return Fail(s);
    }
    return 0;
  }
  if (mode == "--writer") {
    const std::string stop = argv[4];
    const std::string value(1000, 'w');
    long n = 0;
    for (; access(stop.c_str(), F_OK) != 0; ++n) {
      sessionkit::Status s =
          (*store)->Write(prefix + std::to_string(n), value, kHour);
      if (!s.ok()) {
        std::cout << n << "\n";
        return Fail(s);
      }
      if (n == 100) std::ofstream(stop + ".started");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::cout << n << "\n";
    return 0;
  }
  const long count = std::strtol(argv[4], nullptr, 10);
  long missing = 0;
  for (long i = 0; i < count; ++i) {
    if (!(*store)->Read(prefix + std::to_string(i)).ok()) ++missing;
  }
  if (missing == 0) return 0;
  std::cerr << "cli_test_seed: " << missing << " of " << count
            << " sessions missing\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == "--dead-reader") {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    if (mdb_env_create(&env) != 0 ||
        mdb_env_open(env, argv[2], MDB_NOTLS, 0600) != 0 ||
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0) {
      std::cerr << "cli_test_seed: cannot open a reader in " << argv[2] << "\n";
      return 1;
    }
    _exit(0);  // no abort, no close: the slot stays taken
  }
  if (argc >= 2) {
    const std::string_view mode = argv[1];
    if ((mode == "--fill" && argc == 7) || (mode == "--writer" && argc == 5) ||
        (mode == "--verify" && argc == 5) || (mode == "--shop" && argc == 5)) {
      return RunMode(mode, argv);
    }
  }
  if (argc == 4 && std::string_view(argv[1]) == "--corrupt-lmdb") {
    const int pages = sessionkit::lmdb_internal::CorruptPagesContaining(
        std::string(argv[2]) + "/data.mdb", argv[3]);
    if (pages > 0) return 0;
    std::cerr << "cli_test_seed: no page of " << argv[2] << "/data.mdb holds "
              << argv[3] << "\n";
    return 1;
  }
  if (argc < 4 || argc > 5 ||
      (argc == 5 && std::string_view(argv[4]) != "--unframed")) {
    std::cerr << "usage: cli_test_seed URL ID TTL_MS [--unframed] < payload\n";
    return 2;
  }
  const std::string payload((std::istreambuf_iterator<char>(std::cin)),
                            std::istreambuf_iterator<char>());
  const sessionkit::Duration ttl(std::strtoll(argv[3], nullptr, 10));
  auto engine = sessionkit::OpenEngine(argv[1]);
  if (!engine.ok()) {
    std::cerr << "cli_test_seed: " << engine.status().ToString() << "\n";
    return 1;
  }
  sessionkit::Status s = argc == 5
                             ? (*engine)->store().Write(argv[2], payload, ttl)
                             : (*engine)->Write(argv[2], payload, ttl);
  if (!s.ok()) {
    std::cerr << "cli_test_seed: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}
