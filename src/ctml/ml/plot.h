// PNG plots for model cards (640 x 480, white background), rendered with cairo.
//
//   auto roc = ctml::ml::RocCurve(y_test, p_test);
//   auto base = ctml::ml::RocCurve(y_test, p_baseline);
//   CTML_ASSIGN_OR_RETURN(std::string png,
//                         ctml::ml::RenderRocPng(roc, auc, ci, &base, base_auc, "vitals_risk v3"));
//   CTML_ASSIGN_OR_RETURN(std::string cal,
//                         ctml::ml::RenderCalibrationPng(CalibrationTable(y, p), "vitals_risk
//                         v3"));
#pragma once

#include <string>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/ml/metrics.h"

namespace ctml::ml {

inline constexpr int kPlotWidth = 640;
inline constexpr int kPlotHeight = 480;

// ROC curve of the model (legend "model  AUC 0.83 [0.78, 0.88]"), the chance diagonal and, when
// `baseline` is not null, the baseline's curve ("baseline (gblinear)  AUC 0.71"). An empty model
// curve (one class in the test split) draws the axes and says so.
// `baseline_label` names the comparison curve in the legend (e.g. "gblinear").
Result<std::string> RenderRocPng(const std::vector<RocPoint>& model, double auc, Interval ci,
                                 const std::vector<RocPoint>* baseline, double baseline_auc,
                                 const std::string& title,
                                 const std::string& baseline_label = "gblinear");

// Reliability diagram: observed rate against mean predicted probability per bin, joined by lines,
// point area proportional to the bin's row count, and the perfect-calibration diagonal. Both axes
// span [0, r] with r the smallest of 0.05, 0.1, 0.2, 0.5, 1 that holds every bin, so rare-event
// models are not squeezed into a corner.
Result<std::string> RenderCalibrationPng(const std::vector<CalibrationBin>& bins,
                                         const std::string& title);

}  // namespace ctml::ml
