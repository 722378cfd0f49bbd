// Exactly-once effect for the Level 2 writers when a replayed batch may not have the same
// boundaries as the attempt that crashed (a consumer polls "up to N" records).
//
// Before a batch writes anything, Begin() records in the lake (`_state/<service>/intent.json`)
// the files the batch will create and the group's committed offsets per topic. After the offsets
// are committed, Committed() deletes it. An intent found later means an attempt that may not
// have been committed: Recover() asks the EventLog; if the group's committed offsets moved since
// Begin(), the attempt was committed and only the intent is removed; otherwise the attempt's files
// are deleted, so the replay (whatever its boundaries) starts clean. Files derive from input
// offsets, so a replay with the same boundaries overwrites them anyway.
//
//   BatchIntent intent(lake, log, "process", "process");
//   CTML_ASSIGN_OR_RETURN(bool rolled_back, intent.Recover());   // at start and after a failure
//   CTML_RETURN_NOT_OK(intent.Begin(batch, files));
//   ... write files ...; consumer->Commit(batch); intent.Committed();
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/store/event_log.h"
#include "ctml/store/lake.h"

namespace ctml::process {

class BatchIntent {
 public:
  BatchIntent(store::Lake& lake, store::EventLog& log, std::string service, std::string group);
  // Resolves a left-over intent; returns true when an uncommitted attempt was rolled back (its
  // files deleted), so in-memory state derived from them must be dropped.
  Result<bool> Recover();
  Status Begin(const std::vector<store::LogRecord>& batch, const std::vector<std::string>& files);
  Status Committed();

 private:
  Result<std::map<std::string, int64_t>> CommittedOffsets(const std::vector<std::string>& topics);
  std::string path() const { return "_state/" + service_ + "/intent.json"; }

  store::Lake& lake_;
  store::EventLog& log_;
  std::string service_, group_;
  bool pending_ = true;  // unknown at start: Recover() checks the lake
};

// "part-<topic>-<partition>-<first offset>.parquet" of a batch's first record.
std::string PartName(const std::vector<store::LogRecord>& batch);

}  // namespace ctml::process
