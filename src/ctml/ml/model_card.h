// Model card: a Markdown page per model version (data, label, splits, test metrics with bootstrap
// intervals, threshold, calibration, top features, intended use, limitations, provenance) and the
// ROC and calibration plots it embeds, written beside model.ubj in the version's artifact folder.
//
//   ctml::ml::ModelCardInput in;
//   in.name = "vitals_risk"; in.version = 3; in.label = "spo2_below_90_24h";
//   in.metrics = result.metrics;  // the manifest's metrics (roc_auc, roc_auc_ci_low, ...)
//   in.roc = RocCurve(y_test, p_test); in.calibration = CalibrationTable(y_test, p_test);
//   std::string md = ctml::ml::RenderModelCard(in);
//   CTML_ASSIGN_OR_RETURN(auto files, ctml::ml::RenderModelCardFiles(in));  // card.md + PNGs
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/ml/metrics.h"

namespace ctml::ml {

// File names inside models/<name>/<version>/ (the manifest's "card" and "plots").
inline constexpr const char* kCardFile = "card.md";
inline constexpr const char* kRocPlotFile = "roc.png";
inline constexpr const char* kCalibrationPlotFile = "calibration.png";

struct SplitCounts {
  int64_t rows = 0, subjects = 0, positives = 0;
};

struct FeatureGain {
  std::string name;
  double gain = 0;
};

struct ModelCardInput {
  std::string name;
  int64_t version = 0;
  std::string label;
  std::string label_description;  // the label spec's description; may be empty
  std::string alias;              // empty: "decided after registration (see registry)"
  std::string alias_reason;
  std::string run_id, artifact_uri;
  std::string dataset_id, dataset_path, spec_hash, grid, code_version, trained_at;
  SplitCounts train, valid, test;
  double threshold = 0.5;
  double target_sensitivity = 0.8;
  int bootstrap_resamples = 200;      // for the metric intervals
  bool bootstrap_by_subject = false;  // resampled subjects (all their rows), else rows
  // As in the manifest: roc_auc (+ _ci_low/_ci_high), pr_auc (+ CI when present), brier, logloss,
  // sensitivity, specificity, ppv, npv, tp/fp/tn/fn, baseline_roc_auc, valid_roc_auc,
  // best_iteration. NaN or absent values print as "n/a".
  std::map<std::string, double> metrics;
  std::vector<CalibrationBin> calibration;  // on the test split
  std::vector<FeatureGain> top_features;    // by gain, descending
  std::string intended_use, limitations;    // empty: the defaults below
  // For the plots (RenderModelCardFiles): test-split ROC of the model and of the baseline.
  std::vector<RocPoint> roc, baseline_roc;
  std::string booster = "gbtree";       // the registered one
  std::string comparison = "gblinear";  // the other booster: baseline_roc, metric <name>_roc_auc
  std::string importance_kind = "total gain";  // what top_features[i].gain holds
  std::string booster_note;  // how it was chosen (e.g. "higher validation ROC-AUC")
};

std::string DefaultIntendedUse(const std::string& label);
std::string DefaultLimitations();

// Metric formatting used throughout the card: 3 decimals, "n/a" for NaN/inf.
std::string FormatMetric(double v);

std::string RenderModelCard(const ModelCardInput& in);

// card.md, roc.png and calibration.png as (file name, bytes), in that order.
Result<std::vector<std::pair<std::string, std::string>>> RenderModelCardFiles(
    const ModelCardInput& in);

// The `n` features with the highest gain (ties by name), for ModelCardInput::top_features.
std::vector<FeatureGain> TopFeaturesByGain(const std::vector<std::string>& names,
                                           const std::map<size_t, double>& gain_by_index,
                                           size_t n = 15);

}  // namespace ctml::ml
