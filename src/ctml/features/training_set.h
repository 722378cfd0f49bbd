// Point-in-time training sets: one example per (subject, as_of) on a grid; features computed by
// the same engine as the online materializer from events with event_time <= as_of; the label
// looks strictly after as_of.
//
//   CTML_ASSIGN_OR_RETURN(auto spec, ctml::features::FeatureSpec::Load(cfg));
//   CTML_ASSIGN_OR_RETURN(auto ts, ctml::features::BuildTrainingSet(*lake, spec,
//   "spo2_below_90_24h", {}));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store {
class Lake;
}

namespace ctml::features {

class FeatureSpec;

struct TrainingSetOptions {
  int64_t grid_step_us = 3600LL * 1000000;  // one example per subject per hour
  int64_t from_us = 0;                      // 0 = from each subject's first event
  int64_t to_us = 0;                        // 0 = up to the data's end
  bool strict = false;                      // also require received_at <= as_of
  bool write = true;                        // write datasets/<label>/<id>/part-0.parquet
};

struct TrainingSet {
  std::string dataset_id;    // content hash; the lake folder name
  std::string dataset_path;  // lake path written ("" when not written)
  std::string label;
  std::string spec_hash;
  std::vector<std::string> feature_names;
  size_t rows = 0;
  std::vector<float> x;                   // rows x feature_names.size(), row-major, NaN = missing
  std::vector<float> y;                   // 0/1
  std::vector<std::string> subject_keys;  // per row (split by subject on this)
  std::vector<int64_t> as_of_us;          // per row
};

Result<TrainingSet> BuildTrainingSet(store::Lake& lake, const FeatureSpec& spec,
                                     const std::string& label, const TrainingSetOptions& opts);

}  // namespace ctml::features
