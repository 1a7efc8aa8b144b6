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
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "sessionkit/engine.h"
#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "stores/lmdb/lmdb_corrupt_for_testing.h"

int main(int argc, char** argv) {
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
