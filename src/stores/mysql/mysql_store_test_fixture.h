// The fixture of the MariaDB/MySQL store's own tests (mysql_store_test.cc,
// mysql_restart_test.cc): one mariadbd for the binary, started before the
// first test, and a table of its own for each test.
#ifndef SESSIONKIT_STORES_MYSQL_MYSQL_STORE_TEST_FIXTURE_H_
#define SESSIONKIT_STORES_MYSQL_MYSQL_STORE_TEST_FIXTURE_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "support/mariadb_server.h"

namespace sessionkit::mysql_test {

using SteadyClock = std::chrono::steady_clock;

inline constexpr char kPassword[] = "store-test-secret";
inline constexpr Duration kLong{600000};

// The server of this binary (defined in mysql_store_test.cc).
extern test::MariadbEnvironment* const kMariadb;

// The server, once a test's SetUp found it running.
inline test::MariadbServer* g_server = nullptr;

inline int64_t MsSince(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now() - t)
      .count();
}

// A table name no other test of this process (or of another) uses.
inline std::string NewTable() {
  static int n = 0;
  return "s_" + std::to_string(getpid()) + "_" + std::to_string(++n);
}

class MysqlStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_server = kMariadb->server();
    ASSERT_NE(g_server, nullptr) << "mariadbd did not start";
    table_ = NewTable();
  }
  Result<std::unique_ptr<Store>> Open(const std::string& extra = "") {
    return OpenStore(g_server->Url("table=" + table_ + extra));
  }
  std::string table_;
};

}  // namespace sessionkit::mysql_test

#endif  // SESSIONKIT_STORES_MYSQL_MYSQL_STORE_TEST_FIXTURE_H_
