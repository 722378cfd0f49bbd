// Private to src/ctml/features: Silver tables -> per-subject engine state, and feature rows ->
// Arrow tables. Arrow types stay forward-declared here.
//
//   CTML_ASSIGN_OR_RETURN(SubjectStates states, ReadSubjects(lake, spec, &stats));
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/features/engine.h"

namespace arrow {
class Table;
}  // namespace arrow

#include "ctml/store/lake.h"

namespace ctml::features {

// Per subject_key, ordered (so every pass over subjects is deterministic).
using SubjectStates = std::map<std::string, SubjectState>;

struct ReadStats {
  size_t rows = 0;         // rows read
  size_t applied = 0;      // rows that changed a subject's state
  size_t duplicates = 0;   // rows Silver's dedupe rules dropped (already present or superseded)
  size_t skipped = 0;      // rows missing event_id, subject_key or event_time
  size_t other_study = 0;  // rows left out by a study filter
};

// Applies the rows of one Silver table (`table_index` into spec.tables(); columns event_id,
// subject_key, event_time, received_at, dedupe_key and the spec's columns of that table; absent
// optional columns read as null) to `states`. A non-empty `study` keeps only rows whose study_id
// equals it (the table then needs a study_id column).
Status AddTable(const FeatureSpec& spec, int table_index, const arrow::Table& table,
                SubjectStates* states, ReadStats* stats, const std::string& study = "");

// The Parquet files of every Silver table the spec reads (what a training set is built from).
Result<std::vector<store::LakeFile>> SilverFiles(store::Lake& lake, const FeatureSpec& spec);

// Reads every table the spec reads from silver/<table>/; absent tables give no rows.
// `progress` (may be null) gets one line per table. A non-empty `study` keeps that study's rows.
Result<SubjectStates> ReadSubjects(store::Lake& lake, const FeatureSpec& spec, ReadStats* stats,
                                   const std::function<void(const std::string&)>& progress = {},
                                   const std::string& study = "");

// One record of a silver.<table> topic (JSON: every column, plus event_time_us and
// received_at_us) as a Row of `table_index`.
Result<Row> RowFromJson(const FeatureSpec& spec, int table_index, const std::string& json);

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

// The columns of a feature table written by MakeFeatureTable (spec_hash empty when absent).
struct FeatureColumns {
  std::vector<std::string> names;
  std::vector<std::string> subject_keys;
  std::vector<int64_t> as_of_us;
  std::vector<std::string> spec_hashes;
  std::vector<double> values;  // rows x names, row-major; null -> NaN
};
Result<FeatureColumns> ReadFeatureColumns(const arrow::Table& table);

}  // namespace ctml::features
