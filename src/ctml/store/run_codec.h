// How every MetaStore adapter keeps a run's params, metrics and tags: one JSON text each. Metrics
// are numbers, NaN is null and +-infinity is "inf"/"-inf" (JSON has neither). Internal to
// store/: the SQLite and PostgreSQL adapters share it so a run reads back the same from both.
//
//   CTML_ASSIGN_OR_RETURN(auto text, run_codec::Encode(run));   // text.params, .metrics, .tags
//   CTML_RETURN_NOT_OK(run_codec::Decode(params, metrics, tags, &run));
#pragma once

#include <string>

#include "ctml/core/status.h"
#include "ctml/store/meta_store.h"

namespace ctml::store::run_codec {

struct EncodedRun {
  std::string params;
  std::string metrics;
  std::string tags;
};

// Invalid naming the field ("params", "metrics", "tags") when a key or value is not UTF-8.
Result<EncodedRun> Encode(const RunRecord& run);

// Fills run->params, metrics and tags; Internal when a column does not hold a JSON object.
Status Decode(const std::string& params, const std::string& metrics, const std::string& tags,
              RunRecord* run);

}  // namespace ctml::store::run_codec
