// The distributed OnlineStore adapter on Redis (hiredis). Use OpenOnlineStore("redis://...") from
// factory.h; URI syntax in redis_connection.h:
//   redis://[[user]:password@]host[:port][/db][?prefix=ctml:&connect_timeout_ms=1000&timeout_ms=2000]
//
// Layout (P = prefix, default "ctml:"):
//   P fv:{<entity_key>}:<view>  a hash per subject and view: as_of_us, spec_hash, _order (a JSON
//                               array of the feature names in spec order) and one field
//                               "f:<name>" per feature (shortest round-trip decimal; "nan" for
//                               NaN). The {hash tag} keeps all views of a subject on one Redis
//                               Cluster slot; '%', '{', '}' in names are percent-encoded.
//   P idx:{<view>}              a set of the view's entity keys (Count = SCARD, Keys = SSCAN).
//                               It is one key, so on Redis Cluster a view's index lives on one
//                               slot (one node).
// Put replaces each vector (MULTI DEL HSET EXEC per key, pipelined: 500 vectors per round trip).
// One connection per handle, guarded by a mutex, reconnecting after errors; while Redis is down
// every call returns Unavailable (a refused connection at once, an unreachable host after
// connect_timeout_ms), and the next call after it is back succeeds. No retry loop inside: callers
// retry Unavailable with their own backoff.
//
//   CTML_ASSIGN_OR_RETURN(auto online, ctml::store::OpenOnlineStore("redis://127.0.0.1:16379"));
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/online_store.h"

namespace ctml::store {

Result<std::unique_ptr<OnlineStore>> OpenRedisOnlineStore(const std::string& uri);

}  // namespace ctml::store
