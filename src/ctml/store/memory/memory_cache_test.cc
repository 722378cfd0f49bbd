// Runs the Cache contract suite on the in-process LRU, plus its capacity behaviour.
#include "ctml/store/memory/memory_cache.h"

#include "ctml/store/cache_contract.h"
#include "ctml/store/factory.h"

namespace ctml::store::testing {
namespace {

using std::chrono::seconds;

INSTANTIATE_TEST_SUITE_P(Memory, CacheContract,
                         ::testing::Values(CacheFactory{
                             "memory", [](const std::string&) { return OpenCache("memory://"); }}),
                         AdapterName());

TEST(MemoryCache, EvictsTheLeastRecentlyUsedEntry) {
  CTML_TEST_ASSIGN(auto cache, OpenCache("memory://?capacity=3"));
  CTML_TEST_OK(cache->Put("a", "1", seconds(60)));
  CTML_TEST_OK(cache->Put("b", "2", seconds(60)));
  CTML_TEST_OK(cache->Put("c", "3", seconds(60)));
  CTML_TEST_ASSIGN(auto a, cache->Get("a"));  // "a" becomes the most recently used
  ASSERT_TRUE(a.has_value());
  CTML_TEST_OK(cache->Put("d", "4", seconds(60)));  // evicts "b"
  CTML_TEST_ASSIGN(auto b, cache->Get("b"));
  EXPECT_FALSE(b.has_value());
  for (const char* k : {"a", "c", "d"}) {
    CTML_TEST_ASSIGN(auto v, cache->Get(k));
    EXPECT_TRUE(v.has_value()) << k;
  }
  CTML_TEST_OK(cache->Put("c", "33", seconds(60)));  // overwrite refreshes, no eviction
  CTML_TEST_ASSIGN(auto d, cache->Get("d"));
  EXPECT_TRUE(d.has_value());
  CTML_TEST_ASSIGN(auto c, cache->Get("c"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(*c, "33");
}

TEST(MemoryCache, ZeroTtlMeansNoExpiry) {
  auto cache = NewMemoryCache(2);
  CTML_TEST_OK(cache->Put("k", "v", seconds(0)));
  CTML_TEST_ASSIGN(auto v, cache->Get("k"));
  EXPECT_TRUE(v.has_value());
}

}  // namespace
}  // namespace ctml::store::testing
