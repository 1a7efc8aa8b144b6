// KetamaRing against libmemcached itself, as php-memcached's session
// handler sets it up: for ~2,000 session ids, the server libmemcached picks
// must be the one KetamaRing picks (ketama_compat.php asks it).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "stores/memcached/ketama.h"
#include "support/test_server.h"
#include "support/test_status.h"

namespace sessionkit::memcached {
namespace {

using test::CommandResult;
using test::RunCommand;

// Session ids as PHP makes them (session.sid_bits_per_character=5: 26 or
// 32 characters of [0-9a-v]), plus a few of other lengths and characters.
std::vector<std::string> SessionIds(size_t count) {
  std::vector<std::string> ids;
  uint64_t state = 88172645463325252ULL;
  for (size_t i = 0; i < count; ++i) {
    const char* alphabet = i % 10 == 9
                               ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk,-"
                               : "0123456789abcdefghijklmnopqrstuv";
    const size_t alphabet_size = std::char_traits<char>::length(alphabet);
    const size_t length = i % 7 == 0 ? 32 : (i % 13 == 0 ? 48 : 26);
    std::string id;
    for (size_t c = 0; c < length; ++c) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      id += alphabet[state % alphabet_size];
    }
    ids.push_back(id);
  }
  return ids;
}

std::string SavePath(const std::vector<KetamaServer>& servers,
                     bool with_weights) {
  std::string path;
  for (const KetamaServer& server : servers) {
    if (!path.empty()) path += ',';
    path += server.host + ':' + std::to_string(server.port);
    if (with_weights) path += ':' + std::to_string(server.weight);
  }
  return path;
}

// The server index php-memcached reports for each id, one per line.
Result<std::vector<size_t>> AskPhp(const std::string& what,
                                   const std::vector<KetamaServer>& servers,
                                   KetamaMode mode,
                                   const std::vector<std::string>& ids) {
  Result<std::string> dir = test::MakeTempDir("ketama-compat");
  if (!dir.ok()) return dir.status();
  const std::string keys_file = *dir + "/keys";
  {
    std::ofstream out(keys_file);
    for (const std::string& id : ids) out << id << '\n';
  }
  const bool weighted = mode == KetamaMode::kKetamaWeighted;
  Result<CommandResult> run =
      RunCommand({SK_KETAMA_PHP, SK_KETAMA_COMPAT_PHP, what,
                  weighted ? "ketama_weighted" : "ketama",
                  SavePath(servers, weighted), keys_file},
                 Duration(60000));
  test::RemoveTempDirUnlessFailed(*dir);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return Status::Internal("php exited with " +
                            std::to_string(run->exit_code) + ": " +
                            run->output.substr(0, 2000));
  }
  std::vector<size_t> indices;
  std::istringstream lines(run->output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() ||
        line.find_first_not_of("-0123456789") != std::string::npos) {
      return Status::Internal("php printed \"" + line + "\"");
    }
    indices.push_back(static_cast<size_t>(std::stol(line)));
  }
  if (indices.size() != ids.size()) {
    return Status::Internal(
        "php answered for " + std::to_string(indices.size()) + " of " +
        std::to_string(ids.size()) + " ids: " + run->output.substr(0, 2000));
  }
  return indices;
}

// Every id's server from KetamaRing equals libmemcached's.
void ExpectSamePlacement(const std::string& what,
                         const std::vector<KetamaServer>& servers,
                         KetamaMode mode) {
  const std::vector<std::string> ids = SessionIds(2000);
  Result<std::vector<size_t>> theirs = AskPhp(what, servers, mode, ids);
  SK_ASSERT_OK(theirs);
  Result<KetamaRing> ring = KetamaRing::Create(servers, mode);
  SK_ASSERT_OK(ring);
  std::vector<int> per_server(servers.size());
  size_t differ = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    // The id alone: the prefix is a libmemcached namespace, not hashed.
    const size_t ours = ring->ServerFor(ids[i]);
    if (ours != (*theirs)[i] && ++differ <= 5) {
      ADD_FAILURE() << ids[i] << ": libmemcached " << (*theirs)[i]
                    << ", KetamaRing " << ours;
    }
    if (ours < servers.size()) ++per_server[ours];
  }
  EXPECT_EQ(differ, 0u) << "of " << ids.size() << " ids";
  // Every server got keys: the pool was really spread over.
  for (size_t s = 0; s < servers.size(); ++s) {
    EXPECT_GT(per_server[s], 0) << servers[s].host << ":" << servers[s].port;
  }
}

const std::vector<KetamaServer> kThree = {
    {"127.0.0.1", 11311, 1}, {"127.0.0.1", 11312, 1}, {"127.0.0.1", 11313, 1}};

// 11211 is named "host-i", the others "host:port-i"; one name, not an IP.
const std::vector<KetamaServer> kFive = {{"127.0.0.1", 11212, 1},
                                         {"127.0.0.1", 11211, 1},
                                         {"localhost", 11213, 1},
                                         {"127.0.0.1", 21211, 1},
                                         {"127.0.0.1", 11215, 1}};

TEST(KetamaCompatTest, KetamaThreeServers) {
  ExpectSamePlacement("lookup", kThree, KetamaMode::kKetama);
}

TEST(KetamaCompatTest, KetamaFiveServersWithDefaultPortAndHostName) {
  ExpectSamePlacement("lookup", kFive, KetamaMode::kKetama);
}

TEST(KetamaCompatTest, KetamaWeightedThreeServers) {
  ExpectSamePlacement("lookup", kThree, KetamaMode::kKetamaWeighted);
}

TEST(KetamaCompatTest, KetamaWeightedFiveServersWithWeights) {
  std::vector<KetamaServer> weighted = kFive;
  weighted[0].weight = 2;
  weighted[2].weight = 3;
  weighted[4].weight = 5;
  ExpectSamePlacement("lookup", weighted, KetamaMode::kKetamaWeighted);
}

// The session handler itself writes the sessions to three real servers,
// which are then asked who holds what: getServerByKey above is only as good
// as ketama_compat.php's copy of the handler's settings.
class KetamaCompatLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      Result<std::unique_ptr<test::TestServer>> server = test::StartMemcached();
      SK_ASSERT_OK(server);
      // One by name: libmemcached hashes the name, not the address.
      pool_.push_back({i == 1 ? "localhost" : "127.0.0.1", (*server)->port(),
                       static_cast<uint32_t>(i + 1)});
      servers_.push_back(std::move(server).value());
    }
  }

  std::vector<std::unique_ptr<test::TestServer>> servers_;
  std::vector<KetamaServer> pool_;
};

TEST_F(KetamaCompatLiveTest, SessionHandlerKetama) {
  std::vector<KetamaServer> unweighted = pool_;
  for (KetamaServer& server : unweighted) server.weight = 1;
  ExpectSamePlacement("session", unweighted, KetamaMode::kKetama);
}

TEST_F(KetamaCompatLiveTest, SessionHandlerKetamaWeighted) {
  ExpectSamePlacement("session", pool_, KetamaMode::kKetamaWeighted);
}

}  // namespace
}  // namespace sessionkit::memcached
