// Model card Markdown: sections, numbers and defaults from a fixed input (not a golden file).
#include "ctml/ml/model_card.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace ctml::ml {
namespace {

ModelCardInput FixedInput() {
  ModelCardInput in;
  in.name = "vitals_risk";
  in.version = 3;
  in.label = "spo2_below_90_24h";
  in.label_description = "SpO2 below 90% within 24 hours";
  in.run_id = "run-123";
  in.artifact_uri = "models/vitals_risk/3";
  in.dataset_id = "ds-abc";
  in.dataset_path = "datasets/spo2_below_90_24h/ds-abc/part-0.parquet";
  in.spec_hash = "0123456789abcdef";
  in.grid = "step 1h";
  in.code_version = "0.1.0";
  in.trained_at = "2026-11-29T01:00:00Z";
  in.train = {1200, 24, 300};
  in.valid = {400, 8, 90};
  in.test = {400, 8, 100};
  in.threshold = 0.23456;
  in.target_sensitivity = 0.8;
  in.metrics = {{"roc_auc", 0.91234},
                {"roc_auc_ci_low", 0.8712},
                {"roc_auc_ci_high", 0.9456},
                {"pr_auc", 0.7771},
                {"brier", 0.0987},
                {"logloss", 0.3012},
                {"sensitivity", 0.81},
                {"specificity", 0.875},
                {"ppv", 0.684},
                {"npv", std::nan("")},
                {"tp", 81},
                {"fp", 37},
                {"tn", 263},
                {"fn", 19},
                {"baseline_roc_auc", 0.7012},
                {"valid_roc_auc", 0.9},
                {"best_iteration", 57}};
  in.calibration = {{0.01, 0.1, 0.05, 0.04, 200}, {0.1, 0.9, 0.45, 0.46, 200}};
  in.top_features = {{"vs_spo2_min_6h", 123.5}, {"vs_resp_mean_6h", 45.25}};
  return in;
}

bool Contains(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

TEST(ModelCard, SectionsAndNumbers) {
  const std::string md = RenderModelCard(FixedInput());
  for (const char* section :
       {"# Model card: vitals_risk v3", "## Data", "## Metrics on the test split",
        "## Decision threshold", "## Calibration", "## ROC", "## Top features (total gain)",
        "## Intended use", "## Limitations", "## Provenance"}) {
    EXPECT_TRUE(Contains(md, std::string("\n") + section) || md.rfind(section, 0) == 0) << section;
  }
  // Summary and metrics with intervals; NaN as n/a; absent interval as "not computed".
  EXPECT_TRUE(Contains(md, "| Test ROC-AUC | 0.912 (95% CI [0.871, 0.946]) |"));
  EXPECT_TRUE(Contains(md, "| ROC-AUC | 0.912 | [0.871, 0.946] |"));
  EXPECT_TRUE(Contains(md, "| PR-AUC (average precision) | 0.777 | not computed |"));
  EXPECT_TRUE(Contains(md, "| ROC-AUC, gblinear baseline | 0.701 |"));
  EXPECT_TRUE(Contains(md, "| 0.810 | 0.875 | 0.684 | n/a |"));
  EXPECT_TRUE(Contains(md, "| predicted positive | 81 | 37 |"));
  EXPECT_TRUE(Contains(md, "| predicted negative | 19 | 263 |"));
  EXPECT_TRUE(Contains(md, "Threshold **0.235**"));
  EXPECT_TRUE(Contains(md, "Best boosting iteration: 57."));
  // Data: label definition, splits, unseen test subjects.
  EXPECT_TRUE(Contains(md, "`spo2_below_90_24h`: SpO2 below 90% within 24 hours"));
  EXPECT_TRUE(Contains(md, "| train | 24 | 1200 | 300 | 25.0% |"));
  EXPECT_TRUE(Contains(md, "| test | 8 | 400 | 100 | 25.0% |"));
  EXPECT_TRUE(Contains(md, "test subjects were unseen in training"));
  EXPECT_TRUE(Contains(md, "step 1h"));
  // Calibration table and plots.
  EXPECT_TRUE(Contains(md, "| 2 | 0.100 - 0.900 | 0.450 | 0.460 | 200 |"));
  EXPECT_TRUE(Contains(md, "![Calibration](calibration.png)"));
  EXPECT_TRUE(Contains(md, "![ROC](roc.png)"));
  // Features, defaults, provenance.
  EXPECT_TRUE(Contains(md, "| 1 | `vs_spo2_min_6h` | 123.5 |"));
  EXPECT_TRUE(Contains(md, "| 2 | `vs_resp_mean_6h` | 45.25 |"));
  EXPECT_TRUE(Contains(md, DefaultIntendedUse("spo2_below_90_24h")));
  EXPECT_TRUE(Contains(md, DefaultLimitations()));
  EXPECT_TRUE(Contains(md, "not a diagnostic device"));
  EXPECT_TRUE(Contains(md, "decided after registration (see registry)"));
  EXPECT_TRUE(Contains(md, "| Run id | `run-123` |"));
  EXPECT_TRUE(Contains(md, "| Feature spec hash | `0123456789abcdef` |"));
  EXPECT_TRUE(Contains(md, "| Artifact URI | `models/vitals_risk/3` |"));
  EXPECT_TRUE(Contains(md, "| Code version | `0.1.0` |"));
}

TEST(ModelCard, ConfiguredTextAliasAndMissingValues) {
  ModelCardInput in = FixedInput();
  in.intended_use = "Only for the demo.";
  in.limitations = "- Synthetic data.";
  in.alias = "staging";
  in.alias_reason = "test roc_auc < production's";
  in.metrics["roc_auc"] = std::nan("");
  in.metrics["pr_auc_ci_low"] = 0.7;
  in.metrics["pr_auc_ci_high"] = 0.8;
  in.label_description = "a | b";
  const std::string md = RenderModelCard(in);
  EXPECT_TRUE(Contains(md, "## Intended use\n\nOnly for the demo.\n"));
  EXPECT_TRUE(Contains(md, "## Limitations\n\n- Synthetic data.\n"));
  EXPECT_FALSE(Contains(md, "not a diagnostic device"));
  EXPECT_TRUE(Contains(md, "| Alias | staging: test roc_auc < production's |"));
  EXPECT_TRUE(Contains(md, "| ROC-AUC | n/a | [0.871, 0.946] |"));
  EXPECT_TRUE(Contains(md, "| PR-AUC (average precision) | 0.777 | [0.700, 0.800] |"));
  EXPECT_TRUE(Contains(md, "a \\| b"));  // a '|' cannot break the summary table
  EXPECT_TRUE(Contains(md, "200 resamples of the test rows"));
  in.bootstrap_by_subject = true;
  in.bootstrap_resamples = 1000;
  EXPECT_TRUE(Contains(RenderModelCard(in), "1000 resamples of the test subjects"));
}

TEST(ModelCard, FilesAndTopFeatures) {
  ModelCardInput in = FixedInput();
  in.roc = {{0, 0, INFINITY}, {0.1, 0.7, 0.6}, {1, 1, 0.01}};
  in.baseline_roc = {{0, 0, INFINITY}, {0.4, 0.6, 0.5}, {1, 1, 0.02}};
  auto files = RenderModelCardFiles(in);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].first, "card.md");
  EXPECT_EQ((*files)[0].second, RenderModelCard(in));
  EXPECT_EQ((*files)[1].first, "roc.png");
  EXPECT_EQ((*files)[2].first, "calibration.png");
  EXPECT_EQ((*files)[1].second.substr(1, 3), "PNG");
  EXPECT_EQ((*files)[2].second.substr(1, 3), "PNG");

  auto top = TopFeaturesByGain({"a", "b", "c", "d"}, {{0, 1.0}, {1, 5.0}, {3, 5.0}, {9, 99.0}}, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].name, "b");  // ties by name; index 9 is out of range and ignored
  EXPECT_EQ(top[1].name, "d");
  EXPECT_EQ(FormatMetric(std::nan("")), "n/a");
  EXPECT_EQ(FormatMetric(0.91249), "0.912");
}

}  // namespace
}  // namespace ctml::ml
