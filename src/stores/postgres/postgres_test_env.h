// The postgres of the PostgreSQL store tests: one server per test binary,
// started by a gtest Environment (postgres_store_test.cc).
#ifndef SESSIONKIT_STORES_POSTGRES_POSTGRES_TEST_ENV_H_
#define SESSIONKIT_STORES_POSTGRES_POSTGRES_TEST_ENV_H_

#include <memory>
#include <string>

#include "sessionkit/status.h"
#include "sessionkit/store.h"
#include "support/postgres_server.h"

namespace sessionkit::postgres_test {

inline constexpr char kPassword[] = "store-test-secret-pw";

// The server; nullptr when it did not start (the Environment failed).
test::PostgresServer* Server();

// A table name not used before in this process.
std::string FreshTable();

// OpenStore on the server with `query` (e.g. "table=t1&timeout=1s").
Result<std::unique_ptr<Store>> Open(const std::string& query);

}  // namespace sessionkit::postgres_test

#endif  // SESSIONKIT_STORES_POSTGRES_POSTGRES_TEST_ENV_H_
