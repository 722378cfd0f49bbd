// `ctml lake compact --date D`: merges the small files of each date partition (one per
// micro-batch) into one, without changing content (same rows, same schema).
//
// Crash-safe: `_state/compact/intent.json` names the output and its inputs before anything is
// written; a run that finds one finishes it (inputs deleted if the output exists, else dropped).
// Partitions whose files have different schemas are skipped and reported, never half-merged;
// so are partitions holding a file of a streaming batch in flight (named in its intent), and
// partitions whose files changed while they were merged (sizes compared before the inputs are
// deleted). Best run on dates the stream no longer writes.
//
//   CTML_ASSIGN_OR_RETURN(auto r, CompactDate(lake, "2024-03-01", progress));
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/store/lake.h"

namespace ctml::process {

struct CompactResult {
  int partitions_compacted = 0;
  int files_before = 0, files_after = 0;
  int64_t rows = 0;
  std::vector<std::string> skipped;  // "dir: reason"
};

// Every date with a partition in any of those areas, sorted (for `ctml lake compact --all`).
Result<std::vector<std::string>> CompactableDates(store::Lake& lake);

// Areas: bronze/<type>, silver/<table>, quarantine/<table|envelopes>, duplicates/<table>.
Result<CompactResult> CompactDate(store::Lake& lake, const std::string& date,
                                  const std::function<void(const std::string&)>& progress);

}  // namespace ctml::process
