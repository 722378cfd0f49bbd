// Private to src/ctml/features: Silver tables -> per-subject engine state, and feature rows ->
// Arrow tables. Arrow types stay forward-declared here.
//
//   CTML_ASSIGN_OR_RETURN(SubjectStates states, ReadSubjects(lake, spec.source(), &stats));
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/features/engine.h"

namespace arrow {
class Table;
}  // namespace arrow

namespace ctml::store {
class Lake;
}  // namespace ctml::store

namespace ctml::features {

// Per subject_key, ordered (so every pass over subjects is deterministic).
using SubjectStates = std::map<std::string, SubjectState>;

struct ReadStats {
  size_t rows = 0;        // rows read
  size_t added = 0;       // observations added
  size_t duplicates = 0;  // rows whose event_id was already present
  size_t skipped = 0;     // rows missing a required column value (null)
};

// Adds the rows of a Silver table (columns event_id, subject_key, test_code, value, event_time,
// received_at; other columns ignored) to `states`. Invalid when a required column is missing
// or has an unsupported type.
Status AddTable(const arrow::Table& table, SubjectStates* states, ReadStats* stats);

// Reads every Parquet file under `dir` of the lake; an absent or empty dir gives no subjects.
Result<SubjectStates> ReadSubjects(store::Lake& lake, const std::string& dir, ReadStats* stats);

// Rows of feature values for Parquet output. `values` is row-major (rows x names.size()); NaN is
// written as null. Columns: subject_key, as_of (timestamp[us, UTC]), then spec_hash (when
// `spec_hash` is non-empty), label int32 (when `labels` is non-null), then one double column per
// feature name.
Result<std::shared_ptr<arrow::Table>> MakeFeatureTable(const std::vector<std::string>& names,
                                                       const std::vector<std::string>& subject_keys,
                                                       const std::vector<int64_t>& as_of_us,
                                                       const std::string& spec_hash,
                                                       const std::vector<int>* labels,
                                                       const std::vector<double>& values);

}  // namespace ctml::features
