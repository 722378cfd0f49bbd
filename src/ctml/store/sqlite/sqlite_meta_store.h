// The embedded MetaStore adapter: one SQLite file (WAL, synchronous=FULL) with runs, registered
// models, versions, aliases, the hash-chained audit trail and a small state table. Use
// OpenMetaStore("sqlite:///...") from factory.h.
//
//   CTML_ASSIGN_OR_RETURN(auto meta, ctml::store::OpenSqliteMetaStore("/abs/var/meta.db"));
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/meta_store.h"

namespace ctml::store {

// synchronous FULL (the default): every commit (an audit record, a promotion) survives a power
// loss; NORMAL (WAL): it survives the crash or kill of any process, and the last commits may be
// lost on a power loss - about 10x cheaper per commit (a /v1/predict audit record).
Result<std::unique_ptr<MetaStore>> OpenSqliteMetaStore(const std::string& path,
                                                       const std::string& synchronous = "FULL");

}  // namespace ctml::store
