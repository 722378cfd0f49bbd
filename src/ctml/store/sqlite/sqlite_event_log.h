// The embedded EventLog adapter: one SQLite file (WAL, synchronous=FULL) shared by every process
// of the pipeline. Offsets are dense per (topic, partition) and start at 0; appends from several
// processes are serialized by BEGIN IMMEDIATE transactions. Use OpenEventLog("sqlite:///...")
// from factory.h unless you need the options.
//
//   SqliteEventLogOptions opts;
//   opts.partitions = 4;  // for topics this log creates; a key always maps to one partition
//   CTML_ASSIGN_OR_RETURN(auto log, ctml::store::OpenSqliteEventLog("/abs/var/eventlog.db", opts));
#pragma once

#include <memory>
#include <string>

#include "ctml/core/status.h"
#include "ctml/store/event_log.h"

namespace ctml::store {

struct SqliteEventLogOptions {
  int32_t partitions = 1;  // partition count of topics created by this instance
  // FULL: an acknowledged append survives a power loss. NORMAL (WAL): it survives a crash of
  // any process, the last commits may be lost if the machine loses power; ~10x faster appends.
  std::string synchronous = "FULL";
  int poll_interval_ms = 25;  // how often Consumer::Poll re-reads the file while waiting
  int busy_timeout_ms = 5000;
};

Result<std::unique_ptr<EventLog>> OpenSqliteEventLog(const std::string& path,
                                                     const SqliteEventLogOptions& options = {});

}  // namespace ctml::store
