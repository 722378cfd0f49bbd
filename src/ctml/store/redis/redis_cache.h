// The distributed Cache adapter on Redis: SET <prefix>cache:<key> value EX ttl, GET. Entries
// expire in Redis (ttl <= 0: no expiry, as in memory://); there is no capacity limit here: bound
// memory with the server's maxmemory and an eviction policy (allkeys-lru or volatile-ttl). Use
// OpenCache("redis://...") from factory.h; URI syntax and connection behaviour as in
// redis_connection.h and redis_online_store.h.
//
//   CTML_ASSIGN_OR_RETURN(auto cache,
//   ctml::store::OpenCache("redis://127.0.0.1:16379?prefix=ctml:"));
//   CTML_RETURN_NOT_OK(cache->Put(key, body, std::chrono::seconds(300)));
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/cache.h"

namespace ctml::store {

Result<std::unique_ptr<Cache>> OpenRedisCache(const std::string& uri);

}  // namespace ctml::store
