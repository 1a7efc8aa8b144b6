// LmdbOptions::FromUrl: the settings of an lmdb:// URL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "sessionkit/open.h"
#include "sessionkit/store.h"
#include "sessionkit/store_url.h"
#include "sessionkit/stores/lmdb.h"

namespace sessionkit {
namespace {

using ::testing::HasSubstr;

StoreUrl HandBuilt(std::string name, std::string value) {
  StoreUrl url;
  url.scheme = "lmdb";
  url.path = "/var/lib/sessionkit";
  url.params.emplace_back(std::move(name), std::move(value));
  return url;
}

TEST(LmdbOptionsFromUrl, DefaultsWhenNoParameters) {
  auto url = ParseStoreUrl("lmdb:///var/lib/sessionkit");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto options = LmdbOptions::FromUrl(*url);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->path, "/var/lib/sessionkit");
  EXPECT_EQ(options->map_size, 1ull << 30);
  EXPECT_EQ(options->map_max, 0u);  // what the disk can hold
  EXPECT_EQ(options->sync, LmdbSync::kOff);
  EXPECT_EQ(options->max_readers, 512u);
  EXPECT_EQ(options->file_mode, 0600u);
  EXPECT_FALSE(options->writemap);
}

TEST(LmdbOptionsFromUrl, ReadsWritemap) {
  for (const char* on : {"on", "1", "true", "yes"}) {
    auto options = LmdbOptions::FromUrl(HandBuilt("writemap", on));
    ASSERT_TRUE(options.ok()) << on << ": " << options.status().ToString();
    EXPECT_TRUE(options->writemap) << on;
  }
  auto url = ParseStoreUrl("lmdb:///srv/sess?writemap=off&sync=meta");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto options = LmdbOptions::FromUrl(*url);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_FALSE(options->writemap);
  EXPECT_EQ(options->sync, LmdbSync::kMeta);
}

TEST(LmdbOptionsFromUrl, ReadsEveryParameter) {
  auto url = ParseStoreUrl(
      "lmdb:///srv/sess?map_size=2GiB&map_max=8GiB&sync=full&max_readers=64&"
      "mode=0660");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto options = LmdbOptions::FromUrl(*url);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->path, "/srv/sess");
  EXPECT_EQ(options->map_size, 2ull << 30);
  EXPECT_EQ(options->map_max, 8ull << 30);
  EXPECT_EQ(options->sync, LmdbSync::kFull);
  EXPECT_EQ(options->max_readers, 64u);
  EXPECT_EQ(options->file_mode, 0660u);

  url = ParseStoreUrl("lmdb:///srv/sess?sync=meta&mode=640");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  options = LmdbOptions::FromUrl(*url);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->sync, LmdbSync::kMeta);
  EXPECT_EQ(options->file_mode, 0640u);
}

TEST(LmdbOptionsFromUrl, PercentDecodedPathIsUsed) {
  auto url = ParseStoreUrl("lmdb:///srv/my%20sessions");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  auto options = LmdbOptions::FromUrl(*url);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->path, "/srv/my sessions");
}

TEST(LmdbOptionsFromUrl, BadValuesNameTheParameter) {
  struct Case {
    const char* name;
    const char* value;
  } cases[] = {
      {"sync", "fast"},         {"sync", ""},         {"map_size", "12XB"},
      {"map_size", "4KiB"},     {"max_readers", "0"}, {"max_readers", "many"},
      {"max_readers", "70000"}, {"mode", "999"},      {"mode", "0400"},
      {"mode", "rw"},           {"writemap", "fast"}, {"writemap", ""},
  };
  for (const Case& c : cases) {
    auto options = LmdbOptions::FromUrl(HandBuilt(c.name, c.value));
    EXPECT_TRUE(options.status().IsInvalidArgument())
        << c.name << "=" << c.value << ": " << options.status().ToString();
    EXPECT_THAT(options.status().message(), HasSubstr(c.name))
        << c.name << "=" << c.value;
    EXPECT_THAT(options.status().message(), HasSubstr("/var/lib/sessionkit"))
        << c.name << "=" << c.value;
  }
}

// The parser checks the names; FromUrl reads and checks the values, and
// says what was expected.
TEST(LmdbOptionsFromUrl, BadValuesOfAParsedUrlAreNamed) {
  struct Case {
    const char* query;
    const char* message;
  } cases[] = {
      {"map_size=1XB", "map_size=1XB: expected a size like 512MiB or 1GiB"},
      {"map_size=512KiB",
       "map_size=512KiB is out of range; give 1MiB to "
       "64TiB"},
      {"map_size=99999999999TiB", "map_size=99999999999TiB: too large"},
      {"map_max=512MiB",
       "map_max=512MiB is out of range; give map_size (1GiB) to 64TiB, or 0 "
       "for what the disk can hold"},
      {"map_max=128TiB", "map_max=128TiB is out of range"},
      {"map_max=lots", "map_max=lots: expected a size"},
      {"sync=always", "sync=always: expected one of off, meta, full"},
      {"max_readers=0", "max_readers=0 is out of range; give 1 to 65535"},
      {"max_readers=65536", "max_readers=65536 is out of range"},
      {"max_readers=-1", "max_readers=-1: expected a whole number"},
      {"max_readers=99999999999", "max_readers="},
      {"mode=0800", "mode=0800: expected an octal file mode like 0600"},
      {"mode=01777", "mode=01777: expected an octal file mode like 0600"},
      {"mode=rw", "mode=rw: expected an octal file mode like 0600"},
      {"mode=", "mode=: expected an octal file mode like 0600"},
      {"mode=06000", "mode=06000: expected an octal file mode like 0600"},
      {"mode=1777", "mode=1777 is not usable"},
      {"writemap=maybe",
       "writemap=maybe: expected 1/0, true/false, on/off or yes/no"},
  };
  for (const Case& c : cases) {
    auto url = ParseStoreUrl(std::string("lmdb:///x?") + c.query);
    ASSERT_TRUE(url.ok()) << c.query << ": " << url.status().ToString();
    auto options = LmdbOptions::FromUrl(*url);
    EXPECT_TRUE(options.status().IsInvalidArgument()) << c.query;
    EXPECT_THAT(options.status().message(), HasSubstr(c.message)) << c.query;
  }
}

TEST(LmdbOptionsFromUrl, ParserRejectsBadValuesToo) {
  // Through the parser, a bad value is refused by the parser or by FromUrl.
  for (const char* text : {"lmdb:///x?sync=fast", "lmdb:///x?map_size=lots",
                           "lmdb:///x?max_readers=0", "lmdb:///x?mode=999"}) {
    auto url = ParseStoreUrl(text);
    if (!url.ok()) {
      EXPECT_TRUE(url.status().IsInvalidArgument()) << text;
      continue;
    }
    EXPECT_FALSE(LmdbOptions::FromUrl(*url).ok()) << text;
  }
}

TEST(LmdbOptionsFromUrl, OtherSchemesAndRelativePathsAreRefused) {
  StoreUrl url;
  url.scheme = "redis";
  url.path = "0";
  EXPECT_TRUE(LmdbOptions::FromUrl(url).status().IsInvalidArgument());
  url.scheme = "lmdb";
  url.path = "relative";
  auto options = LmdbOptions::FromUrl(url);
  EXPECT_TRUE(options.status().IsInvalidArgument());
  EXPECT_THAT(options.status().message(), HasSubstr("absolute"));
}

TEST(LmdbOptionsFromUrl, OpensThroughTheStoreFactory) {
  // Opening is lazy, so the directory is not created here.
  const char* base = std::getenv("SK_TEST_TMPDIR");
  const std::string path =
      std::string(base ? base : "/nonexistent") + "/lmdb-never-created";
  auto store = OpenStore("lmdb://" + path + "?map_size=16MiB");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->name(), "lmdb://" + path);
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace sessionkit
