// Cache port: the prediction cache. Adapters: memory:// (in-process LRU), redis:// (with TTL).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "ctml/core/status.h"

namespace ctml::store {

class Cache {
 public:
  virtual ~Cache() = default;
  virtual Result<std::optional<std::string>> Get(const std::string& key) = 0;
  virtual Status Put(const std::string& key, const std::string& value,
                     std::chrono::seconds ttl) = 0;
  virtual Status Ping() = 0;
};

}  // namespace ctml::store
