#include "ctml/ml/model_card.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "ctml/ml/plot.h"

namespace ctml::ml {

namespace {

double Get(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::nan("") : it->second;
}

bool Has(const std::map<std::string, double>& m, const std::string& key) {
  return m.count(key) > 0;
}

std::string Count(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(std::llround(v)));
  return buf;
}

std::string Percent(int64_t part, int64_t whole) {
  if (whole <= 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100.0 * static_cast<double>(part) / whole);
  return buf;
}

std::string Gain(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// Inline code for names; a table cell must not contain '|' or line breaks.
std::string Cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string Code(const std::string& s) { return s.empty() ? "n/a" : "`" + Cell(s) + "`"; }

// "[0.871, 0.945]" when both ends are known, "n/a" when they are NaN, "not computed" when absent.
std::string IntervalText(const std::map<std::string, double>& m, const std::string& key) {
  const std::string lo = key + "_ci_low", hi = key + "_ci_high";
  if (!Has(m, lo) || !Has(m, hi)) return "not computed";
  const double l = Get(m, lo), h = Get(m, hi);
  if (!std::isfinite(l) || !std::isfinite(h)) return "n/a";
  return "[" + FormatMetric(l) + ", " + FormatMetric(h) + "]";
}

void SplitRow(std::ostringstream& md, const char* name, const SplitCounts& s) {
  md << "| " << name << " | " << s.subjects << " | " << s.rows << " | " << s.positives << " | "
     << Percent(s.positives, s.rows) << " |\n";
}

}  // namespace

std::string FormatMetric(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

std::string DefaultIntendedUse(const std::string& label) {
  return "Research and clinical decision support only. The score estimates the probability that "
         "`" +
         label +
         "` occurs for a subject at the time of scoring, to help trial staff prioritise which "
         "subjects to review. It is not a diagnostic device, it must not be the sole basis of a "
         "treatment, dosing or trial-discontinuation decision, and a qualified clinician reviews "
         "every flagged subject.";
}

std::string DefaultLimitations() {
  return "- Trained on the dataset named under Data only (its studies, sites and period); "
         "performance on other populations, studies or sites is unknown.\n"
         "- Features are point-in-time: each example uses only events recorded up to its as-of "
         "time. Serving must feed the same kind of inputs; late or back-filled data changes "
         "scores.\n"
         "- The split is by subject, so the test metrics describe subjects unseen in training, "
         "but drawn from the same studies as the training subjects.\n"
         "- Small test sets (few subjects or positives) give wide intervals: read the 95% "
         "intervals, not only the point estimates.\n"
         "- Calibration may drift across studies, sites and over time; check it on new data "
         "before relying on the probabilities themselves.\n"
         "- Missing values are left to XGBoost; which tests were ordered can carry signal that "
         "does not transfer to another site's practice.";
}

std::string RenderModelCard(const ModelCardInput& in) {
  const auto& m = in.metrics;
  std::ostringstream md;
  md << "# Model card: " << in.name << " v" << in.version << "\n\n";
  md << "| | |\n|---|---|\n";
  md << "| Model | " << Code(in.name) << " version " << in.version << " (XGBoost " << in.booster
     << (in.booster_note.empty() ? "" : ", " + Cell(in.booster_note)) << "; compared with "
     << in.comparison << ") |\n";
  md << "| Label | " << Code(in.label);
  if (!in.label_description.empty()) md << ": " << Cell(in.label_description);
  md << " |\n";
  md << "| Test ROC-AUC | " << FormatMetric(Get(m, "roc_auc")) << " (95% CI "
     << IntervalText(m, "roc_auc") << ") |\n";
  md << "| Test PR-AUC | " << FormatMetric(Get(m, "pr_auc")) << " |\n";
  md << "| Decision threshold | " << FormatMetric(in.threshold) << " (target sensitivity "
     << FormatMetric(in.target_sensitivity) << " on validation) |\n";
  md << "| Alias | "
     << (in.alias.empty()
             ? std::string("decided after registration (see registry)")
             : Cell(in.alias) + (in.alias_reason.empty() ? "" : ": " + Cell(in.alias_reason)))
     << " |\n";
  md << "| Trained at | " << (in.trained_at.empty() ? "n/a" : Cell(in.trained_at)) << " |\n\n";

  md << "## Data\n\n";
  md << "- Dataset: " << Code(in.dataset_id);
  if (!in.dataset_path.empty()) md << " at " << Code(in.dataset_path);
  md << "\n";
  md << "- Label: " << Code(in.label);
  if (!in.label_description.empty()) md << ": " << in.label_description;
  md << " (looks strictly after each example's as-of time)\n";
  md << "- Example grid: " << (in.grid.empty() ? "n/a" : in.grid)
     << "; features use only events at or before the as-of time (point-in-time)\n";
  md << "- Feature spec hash: " << Code(in.spec_hash) << "\n\n";
  md << "| split | subjects | rows | positives | prevalence |\n|---|---:|---:|---:|---:|\n";
  SplitRow(md, "train", in.train);
  SplitRow(md, "validation", in.valid);
  SplitRow(md, "test", in.test);
  md << "\nThe split is by subject: each subject's rows are in exactly one split, so the test "
        "subjects were unseen in training, early stopping and threshold selection.\n\n";

  md << "## Metrics on the test split\n\n";
  md << "| metric | estimate | 95% bootstrap interval |\n|---|---:|---|\n";
  md << "| ROC-AUC | " << FormatMetric(Get(m, "roc_auc")) << " | " << IntervalText(m, "roc_auc")
     << " |\n";
  md << "| PR-AUC (average precision) | " << FormatMetric(Get(m, "pr_auc")) << " | "
     << IntervalText(m, "pr_auc") << " |\n";
  md << "| Brier score | " << FormatMetric(Get(m, "brier")) << " | " << IntervalText(m, "brier")
     << " |\n";
  md << "| Log loss | " << FormatMetric(Get(m, "logloss")) << " | " << IntervalText(m, "logloss")
     << " |\n";
  if (m.count("gbtree_roc_auc") && m.count("gblinear_roc_auc")) {
    for (const char* b : {"gbtree", "gblinear"}) {
      const std::string key = std::string(b) + "_roc_auc";
      md << "| ROC-AUC, " << b << (in.booster == b ? " (registered)" : "") << " | "
         << FormatMetric(Get(m, key)) << " | " << IntervalText(m, key) << " |\n";
    }
  } else {
    md << "| ROC-AUC, gblinear baseline | " << FormatMetric(Get(m, "baseline_roc_auc")) << " | "
       << IntervalText(m, "baseline_roc_auc") << " |\n";
  }
  md << "| ROC-AUC on validation | " << FormatMetric(Get(m, "valid_roc_auc")) << " | "
     << IntervalText(m, "valid_roc_auc") << " |\n\n";
  md << "Intervals are percentile bootstrap intervals over " << in.bootstrap_resamples
     << (in.bootstrap_by_subject
             ? " resamples of the test subjects (a drawn subject brings all its rows), so their "
               "width reflects the number of test subjects. "
             : " resamples of the test rows. Rows of one subject are correlated, so they are "
               "narrower than subject-level intervals would be. ")
     << "PR-AUC is to be read against the test prevalence ("
     << Percent(in.test.positives, in.test.rows)
     << "). Best boosting iteration: " << Count(Get(m, "best_iteration")) << ".\n\n";

  md << "## Decision threshold\n\n";
  md << "Threshold **" << FormatMetric(in.threshold)
     << "**: the highest score threshold that reaches sensitivity >= "
     << FormatMetric(in.target_sensitivity)
     << " on the validation split (a prediction is positive when the probability is >= the "
        "threshold). On the test split:\n\n";
  md << "| | actual positive | actual negative |\n|---|---:|---:|\n";
  md << "| predicted positive | " << Count(Get(m, "tp")) << " | " << Count(Get(m, "fp")) << " |\n";
  md << "| predicted negative | " << Count(Get(m, "fn")) << " | " << Count(Get(m, "tn"))
     << " |\n\n";
  md << "| sensitivity | specificity | PPV | NPV |\n|---:|---:|---:|---:|\n";
  md << "| " << FormatMetric(Get(m, "sensitivity")) << " | " << FormatMetric(Get(m, "specificity"))
     << " | " << FormatMetric(Get(m, "ppv")) << " | " << FormatMetric(Get(m, "npv")) << " |\n\n";

  md << "## Calibration\n\n";
  md << "Test rows in " << in.calibration.size() << " bins of about equal count; Brier score "
     << FormatMetric(Get(m, "brier")) << ".\n\n";
  md << "| bin | score range | mean predicted | observed rate | rows |\n"
        "|---:|---|---:|---:|---:|\n";
  for (size_t i = 0; i < in.calibration.size(); ++i) {
    const auto& b = in.calibration[i];
    md << "| " << i + 1 << " | " << FormatMetric(b.low) << " - " << FormatMetric(b.high) << " | "
       << FormatMetric(b.mean_predicted) << " | " << FormatMetric(b.observed_rate) << " | "
       << b.count << " |\n";
  }
  md << "\n![Calibration](" << kCalibrationPlotFile << ")\n\n";

  md << "## ROC\n\n";
  md << "ROC curve on the test split, with the " << in.comparison
     << " model and the chance diagonal.\n\n";
  md << "![ROC](" << kRocPlotFile << ")\n\n";

  md << "## Top features (" << in.importance_kind << ")\n\n";
  if (in.top_features.empty()) {
    md << "No importance available.\n\n";
  } else {
    md << "| rank | feature | " << in.importance_kind << " |\n|---:|---|---:|\n";
    for (size_t i = 0; i < in.top_features.size(); ++i) {
      md << "| " << i + 1 << " | " << Code(in.top_features[i].name) << " | "
         << Gain(in.top_features[i].gain) << " |\n";
    }
    md << "\nImportance shows what the model relies on, not causal effect; per-prediction "
          "contributions are available from serving with `\"explain\": true`.\n\n";
  }

  md << "## Intended use\n\n"
     << (in.intended_use.empty() ? DefaultIntendedUse(in.label) : in.intended_use) << "\n\n";
  md << "## Limitations\n\n"
     << (in.limitations.empty() ? DefaultLimitations() : in.limitations) << "\n\n";

  md << "## Provenance\n\n| | |\n|---|---|\n";
  md << "| Run id | " << Code(in.run_id) << " |\n";
  md << "| Model version | " << Code(in.name + "/" + std::to_string(in.version)) << " |\n";
  md << "| Artifact URI | " << Code(in.artifact_uri) << " |\n";
  md << "| Dataset id | " << Code(in.dataset_id) << " |\n";
  md << "| Feature spec hash | " << Code(in.spec_hash) << " |\n";
  md << "| Code version | " << Code(in.code_version) << " |\n";
  md << "| Trained at | " << (in.trained_at.empty() ? "n/a" : Cell(in.trained_at)) << " |\n";
  return md.str();
}

Result<std::vector<std::pair<std::string, std::string>>> RenderModelCardFiles(
    const ModelCardInput& in) {
  const std::string who = in.name + " v" + std::to_string(in.version);
  const auto& m = in.metrics;
  Interval ci{Get(m, "roc_auc_ci_low"), Get(m, "roc_auc_ci_high")};
  CTML_ASSIGN_OR_RETURN(
      std::string roc,
      RenderRocPng(in.roc, Get(m, "roc_auc"), ci,
                   in.baseline_roc.empty() ? nullptr : &in.baseline_roc,
                   m.count(in.comparison + "_roc_auc") ? Get(m, in.comparison + "_roc_auc")
                                                       : Get(m, "baseline_roc_auc"),
                   who + ": ROC on the test split", in.comparison));
  CTML_ASSIGN_OR_RETURN(
      std::string cal,
      RenderCalibrationPng(in.calibration, who + ": calibration on the test split"));
  std::vector<std::pair<std::string, std::string>> files;
  files.emplace_back(kCardFile, RenderModelCard(in));
  files.emplace_back(kRocPlotFile, std::move(roc));
  files.emplace_back(kCalibrationPlotFile, std::move(cal));
  return files;
}

std::vector<FeatureGain> TopFeaturesByGain(const std::vector<std::string>& names,
                                           const std::map<size_t, double>& gain_by_index,
                                           size_t n) {
  std::vector<FeatureGain> all;
  for (const auto& [idx, g] : gain_by_index) {
    if (idx < names.size()) all.push_back({names[idx], g});
  }
  std::sort(all.begin(), all.end(), [](const FeatureGain& a, const FeatureGain& b) {
    return a.gain != b.gain ? a.gain > b.gain : a.name < b.name;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace ctml::ml
