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
//   // r.version, r.alias ("production" or "staging"), r.metrics["roc_auc"] ...
//
// Promotion rule: the new version becomes "production" when there is none yet or its test
// ROC-AUC is >= the production version's; otherwise it becomes "staging".
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

struct TrainOptions {
  std::string model_name = "vitals_risk";
  std::string label = "spo2_below_90_24h";
  const ctml::features::FeatureSpec* spec = nullptr;
  double target_sensitivity = 0.8;
  uint64_t seed = 42;
  TrainParams params;
  features::TrainingSetOptions dataset;
  std::string actor = "cli";
  bool verbose = true;  // progress lines on stderr
  // When set (tracking.mlflow_uri, "http://host:port"), the run and the model version (+ alias)
  // are also logged to that MLflow server; a failure there only warns (tag mlflow_error).
  std::string mlflow_uri;
  // Model card text (config); empty: DefaultIntendedUse(label) / DefaultLimitations().
  std::string intended_use, limitations;
};

struct TrainResult {
  std::string name;
  int64_t version = 0;
  std::string run_id;
  std::string alias;         // "production" or "staging"
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
