// The in-process Cache adapter: a thread-safe LRU with a per-entry TTL. Use
// OpenCache("memory://?capacity=10000") from factory.h.
//
//   auto cache = ctml::store::NewMemoryCache(10000);
//   CTML_RETURN_NOT_OK(cache->Put("k", "v", std::chrono::seconds(3600)));  // ttl <= 0: no expiry
#pragma once

#include <cstddef>
#include <memory>

#include "ctml/store/cache.h"

namespace ctml::store {

constexpr size_t kDefaultMemoryCacheCapacity = 10000;

std::unique_ptr<Cache> NewMemoryCache(size_t capacity = kDefaultMemoryCacheCapacity);

}  // namespace ctml::store
