// The process and socket helpers of the test servers (test_server.cc,
// cache_servers.cc): not for tests, which use test_server.h.
#ifndef SESSIONKIT_TESTS_SUPPORT_TEST_PROCESS_H_
#define SESSIONKIT_TESTS_SUPPORT_TEST_PROCESS_H_

#include <netinet/in.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "sessionkit/status.h"

namespace sessionkit::test::internal {

using SteadyClock = std::chrono::steady_clock;

// strerror(err).
std::string Errno(int err);
void SleepMs(int ms);
// Milliseconds until `deadline`, 0 when it has passed.
int RemainingMs(SteadyClock::time_point deadline);
// 127.0.0.1:port.
sockaddr_in Loopback(int port);
// A socket bound to 127.0.0.1:0 (not listening); fills *port.
Result<int> BindEphemeral(int* port);
// `count` distinct free ports of 127.0.0.1.
Result<std::vector<int>> PickFreePorts(int count);
// Connects to 127.0.0.1:port within `timeout_ms`; the socket or -errno.
int ConnectLoopback(int port, int timeout_ms);
// The first `max` bytes quoted, the unprintable ones escaped.
std::string Quote(std::string_view bytes, size_t max = 200);
// How a child ended, from its wait status ("exited with code 1").
std::string DescribeExit(int status);
// argv joined by spaces, an empty argument as "".
std::string JoinArgs(const std::vector<std::string>& argv);
// Forks and execs `program` with `argv` (argv[0] included) in `cwd`, stdin
// from /dev/null and stdout+stderr on `out_fd`. The child leads a new process
// group and gets SIGKILL when this thread exits. Returns once exec succeeded.
Result<pid_t> SpawnProcess(const std::string& program,
                           const std::vector<std::string>& argv,
                           const std::string& cwd, int out_fd);
// Writes `content` to `path`, replacing it.
Status WriteFile(const std::string& path, const std::string& content);

}  // namespace sessionkit::test::internal

#endif  // SESSIONKIT_TESTS_SUPPORT_TEST_PROCESS_H_
