// Opens the adapter a URI names. The only place that knows which adapters exist.
//   sqlite:///abs/path.db   file:///abs/dir   memory://?capacity=10000   (embedded)
//   kafka://h:9092?partitions=4   s3://bucket/prefix?endpoint_override=h:p   redis://h:6379
//   postgresql://user:${file:/secret}@h:5432/db?schema=ctml   (distributed; docs/operations/)
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/cache.h"
#include "ctml/store/event_log.h"
#include "ctml/store/lake.h"
#include "ctml/store/meta_store.h"
#include "ctml/store/online_store.h"

namespace ctml::store {

Result<std::unique_ptr<EventLog>> OpenEventLog(const std::string& uri);
Result<std::unique_ptr<Lake>> OpenLake(const std::string& uri);
Result<std::unique_ptr<OnlineStore>> OpenOnlineStore(const std::string& uri);
Result<std::unique_ptr<MetaStore>> OpenMetaStore(const std::string& uri);
Result<std::unique_ptr<Cache>> OpenCache(const std::string& uri);

}  // namespace ctml::store
