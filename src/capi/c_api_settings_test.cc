// Engine settings through the C ABI (sk_engine_get_with): a key file makes
// an engine that encrypts, each settings pair is its own cached engine, and
// an unusable key file is refused naming the setting.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "capi/c_api_internal.h"
#include "capi/c_api_test_support.h"
#include "metrics/metrics_read.h"
#include "sessionkit/c_api.h"
#include "sessionkit/frame.h"
#include "sessionkit/keyring.h"

namespace sessionkit {
namespace {

using test::CApiTest;
using test::kId;
using test::ScopedResult;
using test::StoredHeader;

class CApiSettingsTest : public CApiTest {
 protected:
  // Writes a key file of one key of id `id` with `mode`; returns its path.
  std::string KeyFile(const std::string& name, uint16_t id, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    auto line = GenerateKeyLine(id);
    EXPECT_TRUE(line.ok());
    std::ofstream(path) << "# test ring\n" << *line;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  sk_engine_settings Keys(const std::string& path) {
    sk_engine_settings s = SK_ENGINE_SETTINGS_INIT;
    s.keys_path = path.data();
    s.keys_path_len = path.size();
    return s;
  }
};

TEST_F(CApiSettingsTest, AKeyFileMakesAnEngineThatEncrypts) {
  const std::string path = KeyFile("keys", 7, 0600);
  const sk_engine_settings settings = Keys(path);
  ScopedResult r;
  sk_engine* keyed =
      sk_engine_get_with(spec_.data(), spec_.size(), &settings, r.get());
  ASSERT_NE(keyed, nullptr) << r.message();
  const std::string payload = "cart|a:1:{i:0;s:4:\"shoe\";}";
  ASSERT_EQ(sk_write(keyed, kId.data(), kId.size(), payload.data(),
                     payload.size(), 60000, nullptr, r.reset()),
            SK_OK)
      << r.message();
  EXPECT_EQ(StoredHeader(keyed).key_id, 7);
  auto stored = EngineOf(keyed)->store().Read(kId);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->data.find("shoe"), std::string::npos);
  ASSERT_EQ(sk_read(keyed, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r.data(), payload);

  // The same store without the key file is another engine, which reads the
  // encrypted value as empty, with a warning naming the setting.
  sk_engine* plain = Engine();
  ASSERT_NE(plain, nullptr);
  EXPECT_NE(plain, keyed);
  ASSERT_EQ(sk_read(plain, kId.data(), kId.size(), nullptr, r.reset()), SK_OK);
  EXPECT_EQ(r->found, 0);
  EXPECT_EQ(r->data_len, 0u);
  ASSERT_GE(r->log_count, 1u);
  const std::string warning = r->log[0].message;
  EXPECT_NE(warning.find("sessionkit.keys"), std::string::npos) << warning;

  // Asking again with the same settings hands out the same engine.
  sk_engine* again =
      sk_engine_get_with(spec_.data(), spec_.size(), &settings, r.reset());
  EXPECT_EQ(again, keyed);
  // NULL settings and empty ones are sk_engine_get.
  const sk_engine_settings none = SK_ENGINE_SETTINGS_INIT;
  EXPECT_EQ(sk_engine_get_with(spec_.data(), spec_.size(), &none, r.reset()),
            plain);
  EXPECT_EQ(sk_engine_get_with(spec_.data(), spec_.size(), nullptr, r.reset()),
            plain);
  for (int i = 0; i < 3; ++i) sk_engine_release(plain);
  sk_engine_release(keyed);
  sk_engine_release(again);
}

TEST_F(CApiSettingsTest, AnUnsafeOrMissingKeyFileIsRefusedNamingIt) {
  const std::string loose = KeyFile("loose", 1, 0644);
  const std::string missing = dir_ + "/no-such-keys";
  for (const std::string& path : {loose, missing}) {
    const sk_engine_settings settings = Keys(path);
    ScopedResult r;
    EXPECT_EQ(
        sk_engine_get_with(spec_.data(), spec_.size(), &settings, r.get()),
        nullptr);
    EXPECT_EQ(r->code, SK_INVALID_ARGUMENT);
    EXPECT_NE(r.message().find("sessionkit.keys"), std::string::npos)
        << r.message();
    EXPECT_NE(r.message().find(path), std::string::npos) << r.message();
    EXPECT_FALSE(IsEngineCached(spec_));
  }
}

TEST_F(CApiSettingsTest, ADictionaryDirectoryIsItsOwnEngineAndAFaultIsNamed) {
  const std::string dicts = dir_ + "/dicts";
  ASSERT_EQ(mkdir(dicts.c_str(), 0755), 0);
  sk_engine_settings settings = SK_ENGINE_SETTINGS_INIT;
  settings.dictionaries_path = dicts.data();
  settings.dictionaries_path_len = dicts.size();
  // An empty directory, then one with a damaged file: refused, named.
  std::ofstream(dicts + "/1.dict") << "not a dictionary";
  for (const std::string& words : {dicts + "/1.dict", dicts}) {
    ScopedResult r;
    EXPECT_EQ(
        sk_engine_get_with(spec_.data(), spec_.size(), &settings, r.get()),
        nullptr);
    EXPECT_EQ(r->code, SK_INVALID_ARGUMENT);
    EXPECT_NE(r.message().find("sessionkit.dictionaries: "), std::string::npos)
        << r.message();
    EXPECT_NE(r.message().find(words), std::string::npos) << r.message();
    EXPECT_FALSE(IsEngineCached(spec_));
    unlink((dicts + "/1.dict").c_str());
  }
}

TEST_F(CApiSettingsTest, AMetricsFileIsCountedIntoAndABadOneOnlyWarns) {
  const std::string file = dir_ + "/metrics";
  sk_engine_settings settings = SK_ENGINE_SETTINGS_INIT;
  settings.metrics_path = file.data();
  settings.metrics_path_len = file.size();
  ScopedResult r;
  sk_engine* counted =
      sk_engine_get_with(spec_.data(), spec_.size(), &settings, r.get());
  ASSERT_NE(counted, nullptr) << r.message();
  EXPECT_EQ(r->log_count, 0u);
  ASSERT_EQ(sk_write(counted, kId.data(), kId.size(), "a|i:1;", 6, 60000,
                     nullptr, r.reset()),
            SK_OK);
  auto snapshot = metrics_internal::ReadMetricsFile(file);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(metrics_internal::TotalOperations(*snapshot, MetricOp::kWrite), 1u);
  sk_engine_release(counted);

  // A file that is not a metrics file: the engine opens all the same, with
  // a warning naming the setting and the file, and the file is left alone.
  const std::string foreign = dir_ + "/foreign";
  std::ofstream(foreign) << "mine";
  settings.metrics_path = foreign.data();
  settings.metrics_path_len = foreign.size();
  sk_engine* uncounted =
      sk_engine_get_with(spec_.data(), spec_.size(), &settings, r.reset());
  ASSERT_NE(uncounted, nullptr) << r.message();
  EXPECT_NE(uncounted, counted);
  ASSERT_EQ(r->log_count, 1u);
  const std::string warning = r->log[0].message;
  EXPECT_NE(warning.find("sessionkit.metrics: metrics file " + foreign),
            std::string::npos)
      << warning;
  ASSERT_EQ(sk_write(uncounted, kId.data(), kId.size(), "a|i:2;", 6, 60000,
                     nullptr, r.reset()),
            SK_OK);
  std::ifstream in(foreign);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "mine");
  sk_engine_release(uncounted);
}

}  // namespace
}  // namespace sessionkit
