// The Cache contract (see cache_contract.h). Capacity-driven eviction is adapter specific and
// tested beside each adapter.
#include "ctml/store/cache_contract.h"

#include <thread>

namespace ctml::store::testing {
namespace {

using std::chrono::seconds;

TEST_P(CacheContract, MissThenHit) {
  CTML_TEST_ASSIGN(auto cache, Open());
  std::string key = Unique("pred");
  CTML_TEST_ASSIGN(auto miss, cache->Get(key));
  EXPECT_FALSE(miss.has_value());
  CTML_TEST_OK(cache->Put(key, "{\"probability\":0.25}", seconds(60)));
  CTML_TEST_ASSIGN(auto hit, cache->Get(key));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, "{\"probability\":0.25}");
  CTML_TEST_OK(cache->Ping());
}

TEST_P(CacheContract, PutOverwrites) {
  CTML_TEST_ASSIGN(auto cache, Open());
  std::string key = Unique("k");
  CTML_TEST_OK(cache->Put(key, "one", seconds(60)));
  CTML_TEST_OK(cache->Put(key, std::string("t\0o", 3), seconds(60)));
  CTML_TEST_ASSIGN(auto hit, cache->Get(key));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, std::string("t\0o", 3));
}

TEST_P(CacheContract, EntriesExpireAfterTheirTtl) {
  CTML_TEST_ASSIGN(auto cache, Open());
  std::string short_key = Unique("short");
  std::string long_key = Unique("long");
  CTML_TEST_OK(cache->Put(short_key, "v", seconds(1)));
  CTML_TEST_OK(cache->Put(long_key, "v", seconds(3600)));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  CTML_TEST_ASSIGN(auto expired, cache->Get(short_key));
  EXPECT_FALSE(expired.has_value());
  CTML_TEST_ASSIGN(auto alive, cache->Get(long_key));
  EXPECT_TRUE(alive.has_value());
}

TEST_P(CacheContract, ConcurrentUseIsSafe) {
  CTML_TEST_ASSIGN(auto cache, Open());
  std::string prefix = Unique("c");
  auto work = [&](int t) {
    for (int i = 0; i < 200; ++i) {
      std::string key = prefix + std::to_string(i % 20);
      EXPECT_TRUE(cache->Put(key, std::to_string(t), seconds(60)).ok());
      auto got = cache->Get(key);
      EXPECT_TRUE(got.ok());
    }
  };
  std::thread a(work, 1);
  std::thread b(work, 2);
  a.join();
  b.join();
  CTML_TEST_ASSIGN(auto v, cache->Get(prefix + "0"));
  std::string last = v.value_or("<missing>");
  EXPECT_TRUE(last == "1" || last == "2") << last;
}

}  // namespace
}  // namespace ctml::store::testing
