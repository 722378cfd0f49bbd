// The distributed MetaStore adapter: runs, registered models, versions, aliases, the hash-chained
// audit trail and the state table in one PostgreSQL schema (libpqxx). Every process that opens
// the same database and schema shares one store. Use OpenMetaStore("postgresql://...") from
// factory.h; scripts/services/postgres.sh starts a local server (its `uri` command prints the
// URI).
//
//   CTML_ASSIGN_OR_RETURN(auto meta, ctml::store::OpenPostgresMetaStore(
//       "postgresql://ctml:secret@127.0.0.1:15432/ctml?schema=ctml"));
//
// URI: postgresql://[user[:password]@]host[:port][/database][?schema=S&<libpq parameters>]
// (postgres:// too). The password may instead come from PGPASSWORD or ~/.pgpass, and anything
// missing from libpq's other environment variables (PGHOST, PGUSER ...). schema (default `ctml`;
// letters, digits and '_', not starting with a digit, at most 63 characters) holds every table
// and is created when missing, so several installs or tests can share one database. The other
// query parameters go to libpq unchanged (sslmode, application_name ...); connect_timeout
// defaults to 2 s.
//
// Opening applies the schema migrations (table schema_migrations) in one transaction under an
// advisory lock, so processes that open a fresh schema at the same time are safe. Each handle
// holds one connection, shared by its callers under a mutex. When the server is unreachable,
// calls fail with Unavailable and the next call reconnects (after a back-off of up to 1 s). A
// transaction cut off before COMMIT is retried once on a new connection; one cut off during
// COMMIT is first looked up, so an audit record or model version is never written twice.
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/meta_store.h"

namespace ctml::store {

// Opens (and migrates) the store the URI names; Invalid for a malformed URI (the message never
// shows the password), Unavailable when the server cannot be reached.
Result<std::unique_ptr<MetaStore>> OpenPostgresMetaStore(const std::string& uri);

// Drops the schema the URI names, with all its tables and records (tests, uninstalls). The URI
// must name the schema explicitly (?schema=S): the default one is never dropped by accident.
Status DropPostgresMetaSchema(const std::string& uri);

}  // namespace ctml::store
