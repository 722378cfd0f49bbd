#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "ctml/core/crypto.h"
#include "ctml/privacy/pseudonymizer.h"

namespace ctml::privacy {
namespace {
namespace fs = std::filesystem;

TEST(Pseudonymizer, DeterministicKeyedAndShaped) {
  Pseudonymizer a(std::string(64, 'a')), b(std::string(64, 'b'));
  std::string k = a.SubjectKey("PT12345678");
  EXPECT_EQ(k.size(), 26u);
  EXPECT_EQ(k, a.SubjectKey("PT12345678"));
  EXPECT_NE(k, a.SubjectKey("PT12345679"));
  EXPECT_NE(k, b.SubjectKey("PT12345678"));
  EXPECT_EQ(k, Base32Encode(HmacSha256(std::string(64, 'a'), "PT12345678")).substr(0, 26));
  EXPECT_EQ(k.find("PT12345678"), std::string::npos);
}

TEST(Pseudonymizer, KeyFileIsCreatedPrivateAndReused) {
  fs::path dir = fs::path(::testing::TempDir()) / ("ctml-key-" + HexEncode(RandomBytes(4)));
  std::string path = (dir / "secrets" / "privacy.key").string();
  auto k1 = LoadOrCreateKey(path);
  ASSERT_TRUE(k1.ok()) << k1.status().ToString();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto k2 = LoadOrCreateKey(path);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(*k1, *k2);
  chmod(path.c_str(), 0644);
  auto k3 = LoadOrCreateKey(path);
  ASSERT_FALSE(k3.ok());
  EXPECT_NE(k3.status().message().find("chmod 600"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Pseudonymizer, ConcurrentFirstStartsAgreeOnOneKey) {
  fs::path dir = fs::path(::testing::TempDir()) / ("ctml-key-" + HexEncode(RandomBytes(4)));
  std::string path = (dir / "secrets" / "privacy.key").string();
  std::vector<std::string> keys(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < keys.size(); ++i) {
    threads.emplace_back([&, i] {
      auto k = LoadOrCreateKey(path);
      keys[i] = k.ok() ? *k : "error: " + k.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& k : keys) EXPECT_EQ(k, keys[0]);
  EXPECT_EQ(keys[0].size(), 64u);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir / "secrets")) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);  // no temporary file left behind
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ctml::privacy
