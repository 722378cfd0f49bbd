// Binary-classification metrics on labels y (0/1) and predicted probabilities p.
//
//   double auc = ctml::ml::RocAuc(y, p);                       // NaN when one class is absent
//   auto ci = ctml::ml::BootstrapCi(ctml::ml::RocAuc, y, p);   // 95% percentile interval
//   double t = ctml::ml::ThresholdForSensitivity(y_valid, p_valid, 0.8);
//   ctml::ml::ConfusionMatrix c = ctml::ml::Confusion(y_test, p_test, t);  // positive: p >= t
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace ctml::ml {

using Labels = std::span<const float>;
using Scores = std::span<const float>;

// Area under the ROC curve (Mann-Whitney U; tied scores get average ranks, so a tie counts 1/2).
double RocAuc(Labels y, Scores p);
// Average precision: sum over distinct thresholds of (recall_n - recall_{n-1}) * precision_n.
// NaN without positives.
double PrAuc(Labels y, Scores p);
// One point of the ROC curve: predicted positive when p >= threshold.
struct RocPoint {
  double fpr = 0, tpr = 0;
  double threshold = 0;  // +inf for the leading (0, 0) point
};
// ROC curve: (0, 0) at threshold +inf, then one point per distinct score in descending order,
// the last (lowest score) being (1, 1). Tied scores move along a diagonal, so the trapezoid area
// under the points equals RocAuc. Empty when one class is absent.
std::vector<RocPoint> RocCurve(Labels y, Scores p);
// Mean squared error of the probability.
double Brier(Labels y, Scores p);
// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15].
double LogLoss(Labels y, Scores p);

struct ConfusionMatrix {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  double sensitivity = 0;  // tp / (tp + fn); NaN when no positives
  double specificity = 0;  // tn / (tn + fp); NaN when no negatives
  double ppv = 0;          // tp / (tp + fp); NaN when nothing is predicted positive
  double npv = 0;          // tn / (tn + fn); NaN when nothing is predicted negative
};
// Predicted positive when p >= threshold.
ConfusionMatrix Confusion(Labels y, Scores p, double threshold);

// The highest threshold t with sensitivity (p >= t) >= target: the ceil(target * positives)-th
// highest score among the positives. 0.5 when there are no positives.
double ThresholdForSensitivity(Labels y, Scores p, double target);

struct CalibrationBin {
  double low = 0, high = 0;  // score range of the bin
  double mean_predicted = 0;
  double observed_rate = 0;
  int64_t count = 0;
};
// `bins` bins of equal count (quantile = true) or equal width over [0, 1]; empty bins are omitted.
std::vector<CalibrationBin> CalibrationTable(Labels y, Scores p, int bins = 10,
                                             bool quantile = true);

struct Interval {
  double low = 0, high = 0;
};
using MetricFn = std::function<double(Labels, Scores)>;
// Percentile bootstrap 95% interval of `metric` over `n_resamples` resamples (with replacement)
// drawn with a deterministic generator seeded by `seed`. Resamples where the metric is NaN (e.g.
// AUC of a one-class resample) are skipped; {NaN, NaN} when none is defined.
Interval BootstrapCi(const MetricFn& metric, Labels y, Scores p, int n_resamples = 200,
                     uint64_t seed = 42);

// The same interval when rows are grouped by subject (several examples per subject are not
// independent): each resample draws subjects with replacement and keeps all their rows, so the
// interval reflects how many subjects were tested, not how many rows. Trainer's roc_auc CI.
Interval BootstrapCiBySubject(const MetricFn& metric, Labels y, Scores p,
                              std::span<const std::string> subjects, int n_resamples = 1000,
                              uint64_t seed = 42);

}  // namespace ctml::ml
