#include "ctml/store/memory/memory_cache.h"

#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace ctml::store {
namespace {

class MemoryCache final : public Cache {
 public:
  explicit MemoryCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  Result<std::optional<std::string>> Get(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::optional<std::string>();
    auto entry = it->second;
    if (entry->expires != Clock::time_point::max() && Clock::now() >= entry->expires) {
      lru_.erase(entry);
      index_.erase(it);
      return std::optional<std::string>();
    }
    lru_.splice(lru_.begin(), lru_, entry);  // most recently used first
    return std::optional<std::string>(entry->value);
  }

  Status Put(const std::string& key, const std::string& value, std::chrono::seconds ttl) override {
    auto expires = ttl.count() > 0 ? Clock::now() + ttl : Clock::time_point::max();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->value = value;
      it->second->expires = expires;
      lru_.splice(lru_.begin(), lru_, it->second);
      return Status::OK();
    }
    lru_.push_front(Entry{key, value, expires});
    index_.emplace(key, lru_.begin());
    while (index_.size() > capacity_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    return Status::OK();
  }

  Status Ping() override { return Status::OK(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::string key;
    std::string value;
    Clock::time_point expires;
  };

  const size_t capacity_;
  std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace

std::unique_ptr<Cache> NewMemoryCache(size_t capacity) {
  return std::make_unique<MemoryCache>(capacity);
}

}  // namespace ctml::store
