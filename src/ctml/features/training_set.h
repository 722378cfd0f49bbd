// Point-in-time training sets: one example per (subject, as_of) on a grid (visits, daily or a
// fixed step); features computed by the same engine as the online materializer from events with
// event_time <= as_of; the label looks strictly after as_of.
//
//   CTML_ASSIGN_OR_RETURN(auto spec, ctml::features::FeatureSpec::Load(cfg));
//   CTML_ASSIGN_OR_RETURN(auto ts, ctml::features::BuildTrainingSet(*lake, spec,
//   "ae_discontinuation_30d", {}));
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store {
class Lake;
}

namespace ctml::features {

class FeatureSpec;

enum class Grid {
  kStep,    // every grid_step_us from the first visit + 6 h warm-up to the last event (demo: 1h)
  kVisits,  // the end of each day with a vitals or labs row (a visit)
  kDaily,   // the end of each day from the subject's first visit to its last event
};

struct TrainingSetOptions {
  Grid grid = Grid::kStep;
  int64_t grid_step_us = 3600LL * 1000000;  // kStep: one example per subject per hour
  std::optional<int64_t> from_us;           // none: from each subject's first visit
  std::optional<int64_t> to_us;             // none: up to the data's end
  bool strict = false;                      // also require received_at <= as_of
  std::string study;                        // non-empty: only this study_id's Silver rows
  bool write = true;                        // write datasets/<label>/<id>/part-0.parquet
};

struct TrainingSet {
  std::string dataset_id;    // content hash; the lake folder name
  std::string dataset_path;  // lake path written ("" when not written)
  std::string label;
  std::string spec_hash;
  std::vector<std::string> feature_names;
  size_t rows = 0;
  size_t positives = 0;
  size_t subjects = 0;                    // subjects with at least one example
  size_t censored = 0;                    // grid points without an example: follow-up too short
  size_t after_terminal = 0;              // grid points after a terminal label's event
  std::vector<float> x;                   // rows x feature_names.size(), row-major, NaN = missing
  std::vector<float> y;                   // 0/1
  std::vector<std::string> subject_keys;  // per row (split by subject on this)
  std::vector<int64_t> as_of_us;          // per row
};

// `progress` (may be null) gets a line per table read and per 1,000 subjects.
// Parses "visits", "daily" or a step duration ("1h") into opts->grid (and grid_step_us).
Status ParseGrid(const std::string& text, TrainingSetOptions* opts);
// "visits", "daily" or "step".
const char* GridName(const TrainingSetOptions& opts);

Result<TrainingSet> BuildTrainingSet(store::Lake& lake, const FeatureSpec& spec,
                                     const std::string& label, const TrainingSetOptions& opts,
                                     const std::function<void(const std::string&)>& progress = {});

}  // namespace ctml::features
