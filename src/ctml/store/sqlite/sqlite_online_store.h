// The embedded OnlineStore adapter: one SQLite file (WAL), one row per (view, entity_key) holding
// as_of, spec_hash and the values as JSON ([[name, value|null], ...]; null is NaN). Use
// OpenOnlineStore("sqlite:///...") from factory.h.
//
//   CTML_ASSIGN_OR_RETURN(auto online, ctml::store::OpenSqliteOnlineStore("/abs/var/online.db"));
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/online_store.h"

namespace ctml::store {

Result<std::unique_ptr<OnlineStore>> OpenSqliteOnlineStore(const std::string& path);

}  // namespace ctml::store
