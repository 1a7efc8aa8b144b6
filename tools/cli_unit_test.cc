// Unit tests of the CLI's formatting helpers and of the errors it reports
// before touching a store. cli_test.sh runs the binary against a real store.
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sessionkit::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(FormatIso8601UtcTest, FormatsUtcWithSeconds) {
  EXPECT_EQ(FormatIso8601Utc(FromUnixMillis(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatIso8601Utc(FromUnixMillis(1714564800999)),
            "2024-05-01T12:00:00Z");
  EXPECT_EQ(FormatIso8601Utc(FromUnixMillis(-1)), "1969-12-31T23:59:59Z");
}

TEST(FormatSizeTest, UsesBinaryUnits) {
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(1023), "1023 B");
  EXPECT_EQ(FormatSize(1024), "1 KiB");
  EXPECT_EQ(FormatSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatSize(uint64_t{3} << 20), "3 MiB");
  EXPECT_EQ(FormatSize(uint64_t{1} << 63), "8 EiB");
}

TEST(SizeHistogramTest, BucketsArePowersOfTwo) {
  EXPECT_EQ(SizeHistogram::BucketOf(0), 0);
  EXPECT_EQ(SizeHistogram::BucketOf(1), 1);
  EXPECT_EQ(SizeHistogram::BucketOf(2), 2);
  EXPECT_EQ(SizeHistogram::BucketOf(3), 2);
  EXPECT_EQ(SizeHistogram::BucketOf(1023), 10);
  EXPECT_EQ(SizeHistogram::BucketOf(1024), 11);
  EXPECT_EQ(SizeHistogram::BucketOf(UINT64_MAX), 64);
}

TEST(SizeHistogramTest, FormatsAnAlignedTable) {
  SizeHistogram h;
  EXPECT_EQ(h.Format(), "");
  h.Add(100, false);
  h.Add(120, true);
  h.Add(2048, false);
  h.Add(2049, false);
  EXPECT_EQ(h.live(7), 1u);
  EXPECT_EQ(h.expired(7), 1u);
  EXPECT_EQ(h.live(12), 2u);
  // Rows from the first to the last non-empty bucket, empty ones included;
  // the largest bucket gets the full bar.
  EXPECT_EQ(h.Format(),
            "      from     below      live   expired\n"
            "      64 B     128 B         1         1  " +
                std::string(40, '#') +
                "\n"
                "     128 B     256 B         0         0\n"
                "     256 B     512 B         0         0\n"
                "     512 B     1 KiB         0         0\n"
                "     1 KiB     2 KiB         0         0\n"
                "     2 KiB     4 KiB         2         0  " +
                std::string(40, '#') + "\n");
}

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun RunWith(std::vector<const char*> args) {
  args.insert(args.begin(), "sessionkit");
  std::ostringstream out, err;
  const int code = RunCli(static_cast<int>(args.size()), args.data(), out, err);
  return {code, out.str(), err.str()};
}

// Every usage error is one line on stderr and exit code 2.
void ExpectUsageError(const CliRun& r, const std::string& needle) {
  EXPECT_EQ(r.code, kExitUsage) << r.err;
  EXPECT_THAT(r.err, HasSubstr(needle));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(FormatUsageTest, SaysHowFullAndWhatSetsTheLimit) {
  StoreUsage usage;
  usage.used_bytes = 3 << 20;
  usage.limit_bytes = 4 << 20;
  usage.file_bytes = 7 << 19;
  usage.limit_from = "map_max=4MiB";
  EXPECT_EQ(FormatUsage(usage),
            "space: 3 MiB in use, 75.0% of its limit of 4 MiB "
            "(map_max=4MiB); 3.5 MiB on disk\n");
  EXPECT_EQ(FormatUsage(StoreUsage{}), "space: 0 B in use\n");
}

TEST(RunCliTest, UsageErrors) {
  ExpectUsageError(RunWith({}), "no command given");
  ExpectUsageError(RunWith({"frobnicate", "x"}),
                   "unknown command 'frobnicate'");
  ExpectUsageError(RunWith({"ls"}), "sessionkit ls: URL is required");
  ExpectUsageError(RunWith({"get", "lmdb:///tmp/x"}),
                   "sessionkit get: ID is required");
  ExpectUsageError(RunWith({"ls", "--bogus", "lmdb:///tmp/x"}), "--bogus");
  ExpectUsageError(RunWith({"ls", "--limit", "0", "lmdb:///tmp/x"}), "--limit");
  ExpectUsageError(RunWith({"ls", "--limit", "ten", "lmdb:///tmp/x"}),
                   "--limit");
  ExpectUsageError(RunWith({"gc", "lmdb:///tmp/x", "extra"}), "extra");
  ExpectUsageError(RunWith({"stats", "nosuch://x"}), "bad store URL");
  // Unknown bytes in what the user typed are escaped, not echoed raw.
  ExpectUsageError(RunWith({"bad\x1b[2Jverb"}), "'bad\\x1b[2Jverb'");
}

TEST(RunCliTest, SessionIdIsCheckedBeforeTheStore) {
  // The store path does not exist: the id error must come first.
  const char* kMissing = "lmdb:///nonexistent/sessionkit-cli-test";
  for (const char* verb : {"get", "rm"}) {
    CliRun r = RunWith({verb, kMissing, "../../etc/passwd-xxxxxxxxxxxxxxxx"});
    ExpectUsageError(r, "bad session id");
    EXPECT_THAT(r.err, Not(HasSubstr("passwd")));
    // 1 to 256 characters, as PHP accepts.
    const std::string too_long(257, 'a');
    ExpectUsageError(RunWith({verb, kMissing, too_long.c_str()}), "too long");
  }
}

TEST(RunCliTest, MissingLmdbDirectoryIsAnOperationalError) {
  CliRun r = RunWith({"ls", "lmdb:///nonexistent/sessionkit-cli-test"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("no LMDB store at '/nonexistent/"));
}

TEST(RunCliTest, CheckIsForLmdbStoresOnly) {
  ExpectUsageError(RunWith({"check", "redis://127.0.0.1:1"}),
                   "not supported for redis");
  CliRun r = RunWith({"check", "lmdb:///nonexistent/sessionkit-cli-test"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("the directory does not exist"));
}

TEST(RunCliTest, HelpAndVersion) {
  CliRun version = RunWith({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_THAT(version.out, HasSubstr("sessionkit "));
  CliRun help = RunWith({"--help"});
  EXPECT_EQ(help.code, 0);
  for (const char* verb : {"stats", "ls", "get", "rm", "gc", "check"}) {
    EXPECT_THAT(help.out, HasSubstr(verb));
  }
  EXPECT_THAT(help.out, HasSubstr("Exit status"));
  CliRun get_help = RunWith({"get", "--help"});
  EXPECT_EQ(get_help.code, 0);
  EXPECT_THAT(get_help.out, HasSubstr("--raw"));
  EXPECT_THAT(get_help.out, Not(HasSubstr("--limit")));
}

}  // namespace
}  // namespace sessionkit::cli
