// Declarative feature view: window aggregates over one Silver table, plus labels (see
// config/features/vitals.yaml for the format).
//
//   CTML_ASSIGN_OR_RETURN(auto spec, ctml::features::FeatureSpec::Load(cfg));  // "features.spec"
//   spec.names();      // feature names in spec order (the vector layout everywhere)
//   spec.spec_hash();  // 16 hex chars identifying the canonical spec
//   const LabelDef* l = spec.FindLabel("spo2_below_90_24h");
//
// A bad spec gives Status::Invalid "vitals.yaml:12: unknown aggregation 'avg'".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ctml/core/config.h"
#include "ctml/core/status.h"

namespace ctml::features {

enum class Agg { kLast, kMean, kMin, kMax, kStd, kCount, kSlope, kDelta };

const char* AggName(Agg agg);
// Parses "mean", "slope", ...; Invalid for anything else.
Result<Agg> ParseAgg(const std::string& text);
// Parses "30m", "6h", "3d", "1w" into microseconds (> 0).
Result<int64_t> ParseDuration(const std::string& text);

enum class CompareOp { kLt, kLe, kGt, kGe };
const char* CompareOpName(CompareOp op);
bool Compare(CompareOp op, double value, double threshold);

struct FeatureDef {
  std::string name;
  std::string test_code;
  Agg agg = Agg::kLast;
  int64_t window_us = 0;
};

struct LabelDef {
  std::string name;
  std::string test_code;
  CompareOp op = CompareOp::kLt;
  double threshold = 0;
  int64_t horizon_us = 0;
};

class FeatureSpec {
 public:
  // Reads the file named by cfg "features.spec" (relative paths resolve against cfg.dir()).
  static Result<FeatureSpec> Load(const Config& cfg);
  static Result<FeatureSpec> LoadFile(const std::string& path);
  // `source_name` prefixes error messages ("vitals.yaml:12: ...").
  static Result<FeatureSpec> FromYaml(const std::string& text, const std::string& source_name);

  const std::string& view() const { return view_; }
  const std::string& entity() const { return entity_; }
  const std::string& source() const { return source_; }  // lake dir, e.g. "silver/vitals"
  const std::vector<FeatureDef>& features() const { return features_; }
  const std::vector<LabelDef>& labels() const { return labels_; }
  const std::vector<std::string>& names() const { return names_; }
  // nullptr when there is no such label.
  const LabelDef* FindLabel(const std::string& name) const;
  // The canonical text of what defines the feature vector (view, entity, source, features in
  // order), stable across YAML formatting. Labels are left out on purpose: adding or editing a
  // label must not invalidate online vectors and models built on the same features.
  std::string Canonical() const;
  static std::string CanonicalLabel(const LabelDef& label);
  // First 16 hex chars of SHA-256(Canonical()); stored with every vector, snapshot and model.
  const std::string& spec_hash() const { return spec_hash_; }
  int64_t max_window_us() const { return max_window_us_; }

 private:
  std::string view_, entity_, source_;
  std::vector<FeatureDef> features_;
  std::vector<LabelDef> labels_;
  std::vector<std::string> names_;
  std::string spec_hash_;
  int64_t max_window_us_ = 0;
};

}  // namespace ctml::features
