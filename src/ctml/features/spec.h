// Declarative feature set: window aggregates over the Silver tables, context and AE-history
// features, and labels, per subject (format and meaning: docs/features/spec.md; the default:
// config/features/clinical.yaml).
//
//   CTML_ASSIGN_OR_RETURN(auto spec, ctml::features::FeatureSpec::Load(cfg));  // "features.spec"
//   spec.names();      // feature names in spec order (the vector layout everywhere)
//   spec.spec_hash();  // 16 hex chars identifying the canonical spec
//   const LabelDef* l = spec.FindLabel("ae_discontinuation_30d");
//
// A bad spec gives Status::Invalid "clinical.yaml:12: unknown aggregation 'avg' (...)".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ctml/core/config.h"
#include "ctml/core/status.h"

namespace ctml::process {
class Standards;
}

namespace ctml::features {

enum class Agg {
  kLast,
  kMean,
  kMin,
  kMax,
  kStd,
  kCount,
  kSum,
  kSlope,
  kDelta,           // last - first in the window
  kDeltaBaseline,   // last - the subject's baseline value
  kDaysSinceLast,   // days from the latest observation to as_of
  kDaysSinceFirst,  // days from the first observation to as_of
  kDoseTotal,       // sum of value x days of [event_time, end] up to as_of (daily doses)
};

const char* AggName(Agg agg);
// Parses "mean", "slope", ...; Invalid for anything else.
Result<Agg> ParseAgg(const std::string& text);
// Parses "30m", "6h", "3d", "1w" into microseconds (> 0).
Result<int64_t> ParseDuration(const std::string& text);

enum class CompareOp { kLt, kLe, kGt, kGe };
const char* CompareOpName(CompareOp op);
bool Compare(CompareOp op, double value, double threshold);

// A Silver table the spec reads and the columns it needs from it (beyond the common ones:
// event_id, dedupe_key, subject_key, event_time, received_at).
struct TableDef {
  std::string name;                  // "vitals": lake dir silver/vitals, topic silver.vitals
  std::vector<std::string> columns;  // in first-use order; rows carry values in this order
  bool features = false;             // read by a feature or the baseline (not only by labels)
};

// `column` (index into the table's columns) has one of `values` (compared as text: strings as
// they are, booleans "true"/"false", integral numbers without a fraction).
struct Condition {
  int column = -1;
  std::vector<std::string> values;
};

// A selection of one table's rows (the `where` filters) and the value each contributes.
struct SeriesDef {
  int table = -1;
  std::vector<std::vector<Condition>> any_of;  // OR of ANDs; empty = every row of the table
  int value_column = -1;                       // -1: each row contributes 1 (an occurrence)
  std::string indicator;                       // value = (value_column == indicator) ? 1 : 0
  int end_column = -1;                         // ISO end date (dose_total)
  std::string canonical;                       // identity, for hashing and sharing
};

enum class WindowKind { kDuration, kBaseline, kAll };

struct FeatureDef {
  std::string name;
  int series = -1;
  Agg agg = Agg::kLast;
  WindowKind window = WindowKind::kDuration;
  int64_t window_us = 0;  // kDuration only
};

struct LabelDef {
  std::string name;
  int series = -1;
  int64_t horizon_us = 0;
  bool has_threshold = false;  // value op threshold must hold (else any occurrence counts)
  CompareOp op = CompareOp::kLt;
  double threshold = 0;
  // An occurrence at or before as_of ends the subject's examples (e.g. discontinuation).
  bool terminal = false;
  std::string description;
};

class FeatureSpec {
 public:
  // Reads the file named by cfg "features.spec" (relative paths resolve against cfg.dir()) and
  // checks its test codes against the standards tables of "process.standards_dir".
  static Result<FeatureSpec> Load(const Config& cfg);
  // `standards` (may be null: codes unchecked) validates test codes.
  static Result<FeatureSpec> LoadFile(const std::string& path,
                                      const process::Standards* standards = nullptr);
  // `source_name` prefixes error messages ("clinical.yaml:12: ...").
  static Result<FeatureSpec> FromYaml(const std::string& text, const std::string& source_name,
                                      const process::Standards* standards = nullptr);

  // The feature set's name: online-store view, features/offline/<name>/, model manifests.
  const std::string& view() const { return view_; }
  const std::string& entity() const { return entity_; }
  const std::vector<TableDef>& tables() const { return tables_; }
  const std::vector<SeriesDef>& series() const { return series_; }
  const std::vector<FeatureDef>& features() const { return features_; }
  const std::vector<LabelDef>& labels() const { return labels_; }
  const std::vector<std::string>& names() const { return names_; }
  // The series whose first occurrence is the subject's baseline (first dose); -1 = none, the
  // subject's first event is the baseline.
  int baseline_series() const { return baseline_series_; }
  // Index of `table` in tables(), -1 when the spec does not read it.
  int TableIndex(const std::string& table) const;
  // nullptr when there is no such label.
  const LabelDef* FindLabel(const std::string& name) const;
  // The canonical text of what defines the feature vector (name, entity, baseline, series and
  // features in order), stable across YAML formatting. Labels are left out on purpose: adding or
  // editing a label must not invalidate online vectors and models built on the same features.
  std::string Canonical() const;
  std::string CanonicalLabel(const LabelDef& label) const;
  // First 16 hex chars of SHA-256(Canonical()); stored with every vector, snapshot and model.
  const std::string& spec_hash() const { return spec_hash_; }

 private:
  std::string view_, entity_;
  std::vector<TableDef> tables_;
  std::vector<SeriesDef> series_;
  std::vector<FeatureDef> features_;
  std::vector<LabelDef> labels_;
  std::vector<std::string> names_;
  int baseline_series_ = -1;
  std::string spec_hash_;

  friend class SpecParser;
};

}  // namespace ctml::features
