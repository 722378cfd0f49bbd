// Training pipeline: point-in-time training set -> subject split -> XGBoost (gbtree with early
// stopping, gblinear baseline) -> decision threshold on validation -> test metrics with bootstrap
// CIs -> artifacts in the lake (models/<name>/<version>/{model.ubj,manifest.json}) -> run,
// model version, alias and audit records in the MetaStore.
//
//   ctml::ml::TrainOptions opts;
//   opts.model_name = "vitals_risk";
//   opts.label = "spo2_below_90_24h";
//   opts.spec = &spec;  // ctml::features::FeatureSpec, must outlive the call
//   CTML_ASSIGN_OR_RETURN(auto r, ctml::ml::TrainModel(opts, *lake, *meta));
//   // r.version, r.alias ("production", or "" when the gate failed: r.gate_reason), r.metrics...
//
// Promotion gate (TrainOptions::gate, from config train.gate.*): the new version is always
// registered; it becomes "production" only when its test ROC-AUC is defined, >= min_test_roc_auc,
// and (must_beat_production) >= the current production version's ROC-AUC + min_improvement, the
// production model being re-scored on the NEW version's test subjects that it neither trained nor
// validated on (its split_subjects.json), the new version scored on the same rows, so the two
// numbers are comparable. Otherwise it gets no alias and the reason is in the manifest
// ("promotion"), the result and the audit trail ("model.gate").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/features/training_set.h"
#include "ctml/ml/booster.h"

namespace ctml::store {
class Lake;
class MetaStore;
}  // namespace ctml::store

namespace ctml::features {
class FeatureSpec;
}

namespace ctml::ml {

struct PromotionGate {
  double min_test_roc_auc = 0.0;  // 0: no minimum
  bool must_beat_production = true;
  double min_improvement = 0.0;  // over production's ROC-AUC on the same rows
};

struct TrainOptions {
  std::string model_name = "vitals_risk";
  std::string label = "spo2_below_90_24h";
  const ctml::features::FeatureSpec* spec = nullptr;
  double target_sensitivity = 0.8;
  uint64_t seed = 42;
  TrainParams params;
  features::TrainingSetOptions dataset;
  PromotionGate gate;
  // "gbtree" (default), "gblinear", or "auto": the one with the higher validation ROC-AUC.
  std::string booster = "gbtree";
  std::string actor = "cli";
  bool verbose = true;  // progress lines on stderr
  // Model card text (config); empty: DefaultIntendedUse(label) / DefaultLimitations().
  std::string intended_use, limitations;
  // When set (tracking.mlflow_uri, "http://host:port"), the run and the model version (+ alias)
  // are also logged to that MLflow server; a failure there only warns (tag mlflow_error).
  std::string mlflow_uri;
};

struct TrainResult {
  std::string name;
  int64_t version = 0;
  std::string run_id;
  std::string alias;  // "production" when the gate passed, else "" (registered only)
  bool gate_passed = false;
  std::string gate_reason;   // why it was (not) promoted
  std::string artifact_uri;  // models/<name>/<version>
  std::string dataset_id;
  double threshold = 0.5;
  int best_iteration = 0;
  std::map<std::string, double> metrics;
  std::string manifest_json;
  std::vector<std::string> feature_names;
};

Result<TrainResult> TrainModel(const TrainOptions& options, store::Lake& lake,
                               store::MetaStore& meta);

// Parses a manifest's metrics object (used by the registry CLI and promotion); empty on error.
std::map<std::string, double> ManifestMetrics(const std::string& manifest_json);

}  // namespace ctml::ml
