// Unit tests of the CLI's formatting helpers and of the errors it reports
// before touching a store. cli_test.sh runs the binary against a real store.
#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "cli_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/test_status.h"

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

TEST(FormatFrameHeaderTest, OneLineAField) {
  FrameHeader header;
  header.session_version = 1'740'000'000'000'123;
  EXPECT_EQ(FormatFrameHeader(header, 97),
            "format version: 2\n"
            "codec: none\n"
            "key id: 0 (not encrypted)\n"
            "session version: 1740000000000123\n"
            "payload: 97 bytes\n");
  FrameHeader old;
  old.version = 1;
  old.key_id = 7;
  EXPECT_EQ(FormatFrameHeader(old, 0),
            "format version: 1\n"
            "codec: none\n"
            "key id: 7\n"
            "session version: 0\n"
            "payload: 0 bytes\n");
  FrameHeader pointer;
  pointer.flags = kFrameFlagPointer;
  EXPECT_EQ(FormatFrameHeader(pointer, 32),
            "format version: 2\n"
            "codec: none\n"
            "key id: 0 (not encrypted)\n"
            "session version: 0\n"
            "pointer: the id was replaced by a regenerate and leads to the "
            "new session for its grace\n"
            "payload: 32 bytes\n");
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
  ExpectUsageError(RunWith({"get", "lmdb:///tmp/x"}),
                   "sessionkit get: no session id given");
  ExpectUsageError(RunWith({"compact", "redis://127.0.0.1:1"}),
                   "compact is for lmdb:// stores; redis reclaims space "
                   "itself");
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
  for (const char* verb :
       {"stats", "ls", "get", "rm", "gc", "check", "compact"}) {
    EXPECT_THAT(help.out, HasSubstr(verb));
  }
  EXPECT_THAT(help.out, HasSubstr("Exit status"));
  CliRun get_help = RunWith({"get", "--help"});
  EXPECT_EQ(get_help.code, 0);
  EXPECT_THAT(get_help.out, HasSubstr("--raw"));
  EXPECT_THAT(get_help.out, HasSubstr("--frame"));
  EXPECT_THAT(get_help.out, Not(HasSubstr("--limit")));
}

TEST(ParseFpmPoolTest, ReadsThePoolsSessionSettings) {
  const char* kConf =
      "; a comment\n"
      "[global]\n"
      "php_value[session.save_path] = \"lmdb:///not/a/pool\"\n"
      "[www]\n"
      "user = www-data\n"
      "php_value[session.save_handler] = sessionkit\n"
      "php_value[session.save_path] = \"redis://:s3cret@h:6379/0?a=1&b=2\"\n"
      "[shop]\n"
      "php_admin_value[session.save_path] = lmdb:///srv/shop ; inline\n"
      "php_value[session.save_path] = lmdb:///ignored\n"
      "  php_admin_value[ session.save_handler ] = 'sessionkit'\n";
  auto www = ParseFpmPool(kConf, "www");
  ASSERT_TRUE(www.has_value());
  EXPECT_EQ(www->save_handler, "sessionkit");
  EXPECT_EQ(www->save_path, "redis://:s3cret@h:6379/0?a=1&b=2");
  // php_admin_value wins, whatever the order; comments and quotes go.
  auto shop = ParseFpmPool(kConf, "shop");
  ASSERT_TRUE(shop.has_value());
  EXPECT_EQ(shop->save_path, "lmdb:///srv/shop");
  EXPECT_EQ(shop->save_handler, "sessionkit");
  EXPECT_FALSE(ParseFpmPool(kConf, "nosuch").has_value());
  // A pool that sets nothing about sessions is found, with nothing set.
  auto bare = ParseFpmPool("[bare]\nuser = x\n", "bare");
  ASSERT_TRUE(bare.has_value());
  EXPECT_FALSE(bare->save_path.has_value());
  EXPECT_FALSE(bare->save_handler.has_value());
  EXPECT_EQ(FpmPoolNames(kConf), (std::vector<std::string>{"www", "shop"}));
}

// A system made of maps, for FindStoreUrl.
struct FakeSystem {
  std::map<std::string, std::string> env, files;
  PhpSessionSettings cli_ini, fpm_ini;
  std::vector<std::string> php_runs;  // "cli" or the php.ini given

  UrlSourceOs Os() {
    UrlSourceOs os;
    os.getenv = [this](const char* name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    os.list_conf_files =
        [this](const std::string& dir) -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      for (const auto& [path, text] : files) {
        if (path.starts_with(dir + "/") && path.ends_with(".conf")) {
          out.push_back(path);
        }
      }
      return out;
    };
    os.read_file = [this](const std::string& path) -> Result<std::string> {
      auto it = files.find(path);
      if (it == files.end()) return Status::Unavailable("no " + path);
      return it->second;
    };
    os.run_php = [this](const std::string& ini,
                        const std::string& scan) -> Result<PhpSessionSettings> {
      php_runs.push_back(ini.empty() ? "cli" : ini + " " + scan);
      return ini.empty() ? cli_ini : fpm_ini;
    };
    return os;
  }
};

TEST(FindStoreUrlTest, ArgumentThenEnvironmentThenPoolThenPhpIni) {
  FakeSystem sys;
  sys.env["SESSIONKIT_URL"] = "lmdb:///from/env";
  sys.files["/etc/php/8.2/fpm/pool.d/www.conf"] =
      "[www]\nphp_admin_value[session.save_path] = lmdb:///from/pool\n";
  sys.fpm_ini = {"sessionkit", "lmdb:///from/fpm-ini"};
  sys.cli_ini = {"sessionkit", "lmdb:///from/cli-ini"};
  UrlRequest request;
  request.url = "lmdb:///from/arg";
  request.fpm_pool = "www";
  auto found = FindStoreUrl(request, sys.Os());
  SK_ASSERT_OK(found.status());
  EXPECT_EQ(found->url, "lmdb:///from/arg");
  EXPECT_EQ(found->warning, "");

  request.url.clear();
  found = FindStoreUrl(request, sys.Os());
  SK_ASSERT_OK(found.status());
  EXPECT_EQ(found->url, "lmdb:///from/env");
  EXPECT_THAT(found->source, HasSubstr("SESSIONKIT_URL"));

  sys.env.clear();
  found = FindStoreUrl(request, sys.Os());
  SK_ASSERT_OK(found.status());
  // The pool's save_path; its save_handler from php-fpm's php.ini.
  EXPECT_EQ(found->url, "lmdb:///from/pool");
  EXPECT_THAT(found->source, HasSubstr("/etc/php/8.2/fpm/pool.d/www.conf"));
  EXPECT_EQ(sys.php_runs,
            (std::vector<std::string>{"/etc/php/8.2/fpm/php.ini "
                                      "/etc/php/8.2/fpm/conf.d"}));

  request.fpm_pool.clear();
  found = FindStoreUrl(request, sys.Os());
  SK_ASSERT_OK(found.status());
  EXPECT_EQ(found->url, "lmdb:///from/cli-ini");
  EXPECT_EQ(sys.php_runs.back(), "cli");
}

TEST(FindStoreUrlTest, PoolFallsBackToFpmPhpIni) {
  FakeSystem sys;
  sys.files["/x/fpm/pool.d/a.conf"] = "[a]\nuser = a\n";
  sys.files["/x/fpm/pool.d/b.conf"] = "[b]\nuser = b\n";
  sys.fpm_ini = {"sessionkit", "lmdb:///from/fpm-ini"};
  UrlRequest request;
  request.fpm_pool = "b";
  request.fpm_dir = "/x/fpm";
  auto found = FindStoreUrl(request, sys.Os());
  SK_ASSERT_OK(found.status());
  EXPECT_EQ(found->url, "lmdb:///from/fpm-ini");

  request.fpm_pool = "c";
  found = FindStoreUrl(request, sys.Os());
  EXPECT_TRUE(found.status().IsInvalidArgument());
  EXPECT_THAT(found.status().message(),
              HasSubstr("no php-fpm pool 'c' in /x/fpm/pool.d/*.conf"));
  EXPECT_THAT(found.status().message(), HasSubstr("pools there: a, b"));
}

TEST(FindStoreUrlTest, RefusesAnotherSaveHandlerAndNamesTheWays) {
  FakeSystem sys;
  sys.cli_ini = {"files", "/var/lib/php/sessions"};
  auto found = FindStoreUrl(UrlRequest{}, sys.Os());
  EXPECT_TRUE(found.status().IsInvalidArgument());
  const std::string message = found.status().message();
  EXPECT_THAT(message, HasSubstr("session.save_handler = files"));
  for (const char* way : {"argument", "SESSIONKIT_URL", "--fpm-pool"}) {
    EXPECT_THAT(message, HasSubstr(way));
  }
  sys.cli_ini = {"sessionkit", ""};
  found = FindStoreUrl(UrlRequest{}, sys.Os());
  EXPECT_THAT(found.status().message(), HasSubstr("sets no session.save_path"));
  // PHP's default handler is files.
  sys.cli_ini = {std::nullopt, "lmdb:///x"};
  EXPECT_FALSE(FindStoreUrl(UrlRequest{}, sys.Os()).ok());
}

TEST(FindStoreUrlTest, WarnsAboutAPasswordOnTheCommandLine) {
  FakeSystem sys;
  UrlRequest request;
  request.url = "redis://:s3cret@127.0.0.1:6379/0";
  auto found = FindStoreUrl(request, sys.Os());
  SK_ASSERT_OK(found.status());
  EXPECT_EQ(found->url, request.url);  // it still works
  EXPECT_THAT(found->warning, HasSubstr("password"));
  EXPECT_THAT(found->warning, HasSubstr("SESSIONKIT_URL"));
  EXPECT_THAT(found->warning, HasSubstr("--fpm-pool"));
  EXPECT_THAT(found->warning, Not(HasSubstr("s3cret")));
  // The same URL from the environment: no warning.
  sys.env["SESSIONKIT_URL"] = request.url;
  found = FindStoreUrl(UrlRequest{}, sys.Os());
  SK_ASSERT_OK(found.status());
  EXPECT_EQ(found->warning, "");
}

}  // namespace
}  // namespace sessionkit::cli
