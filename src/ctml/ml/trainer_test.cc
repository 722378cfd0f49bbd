// TrainModel end to end on the embedded adapters: synthetic Silver vitals in a file:// lake, the
// SQLite meta store, the committed-style feature spec.
#include "ctml/ml/trainer.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "ctml/core/ids.h"
#include "ctml/core/time.h"
#include "ctml/features/spec.h"
#include "ctml/ml/booster.h"
#include "ctml/ml/metrics.h"
#include "ctml/ml/model_card.h"
#include "ctml/store/factory.h"

namespace ctml::ml {
namespace {

constexpr int64_t kT0 = 1709251200LL * kMicrosPerSecond;  // 2024-03-01T00:00:00Z

const char* kSpecYaml = R"(name: vitals
entity: subject
features:
  - {name: vs_spo2_last_24h, table: vitals, test: SPO2, agg: last, window: 24h}
  - {name: vs_spo2_mean_6h, table: vitals, test: SPO2, agg: mean, window: 6h}
  - {name: vs_spo2_min_6h, table: vitals, test: SPO2, agg: min, window: 6h}
  - {name: vs_spo2_slope_6h, table: vitals, test: SPO2, agg: slope, window: 6h}
  - {name: vs_resp_mean_6h, table: vitals, test: RESP, agg: mean, window: 6h}
  - {name: vs_resp_slope_6h, table: vitals, test: RESP, agg: slope, window: 6h}
  - {name: vs_pulse_mean_6h, table: vitals, test: PULSE, agg: mean, window: 6h}
labels:
  - {name: spo2_below_90_24h, table: vitals, test: SPO2, op: "<", threshold: 90, horizon: 24h}
)";

// 40 subjects, 96 hourly readings each; half deteriorate: RESP climbs, then SPO2 declines below
// 90 from a random onset on.
std::shared_ptr<arrow::Table> SilverVitals(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  std::uniform_int_distribution<int> onset_dist(30, 80);
  arrow::StringBuilder id, sk, src, tc, st;
  auto ts_type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  arrow::TimestampBuilder et(ts_type, arrow::default_memory_pool()),
      ra(ts_type, arrow::default_memory_pool());
  arrow::DoubleBuilder val;
  auto add = [&](const std::string& subject, const std::string& test, int h, double v) {
    const int64_t t = kT0 + h * kMicrosPerHour;
    EXPECT_TRUE(id.Append(subject + "-" + test + "-" + std::to_string(h)).ok());
    EXPECT_TRUE(sk.Append(subject).ok());
    EXPECT_TRUE(src.Append("generator").ok());
    EXPECT_TRUE(st.Append("STUDY-A").ok());
    EXPECT_TRUE(tc.Append(test).ok());
    EXPECT_TRUE(et.Append(t).ok());
    EXPECT_TRUE(ra.Append(t + 30 * kMicrosPerSecond).ok());
    EXPECT_TRUE(val.Append(v).ok());
  };
  for (int s = 0; s < 40; ++s) {
    const std::string subject = "SUBJ" + std::to_string(s);
    const bool sick = s % 2 == 0;
    const int onset = onset_dist(rng);
    for (int h = 0; h < 96; ++h) {
      double spo2 = 97 + noise(rng) * 0.8;
      double resp = 16 + noise(rng);
      if (sick && h >= onset - 12) {
        const double k = std::min(1.0, (h - (onset - 12)) / 12.0);
        resp += 10 * k;
        spo2 -= 9 * k;
      }
      add(subject, "SPO2", h, spo2);
      add(subject, "RESP", h, resp);
      add(subject, "PULSE", h, 75 + noise(rng) * 5 + (sick && h >= onset ? 15 : 0));
    }
  }
  std::shared_ptr<arrow::Array> a_id, a_sk, a_src, a_tc, a_et, a_ra, a_val, a_st;
  EXPECT_TRUE(id.Finish(&a_id).ok());
  EXPECT_TRUE(sk.Finish(&a_sk).ok());
  EXPECT_TRUE(src.Finish(&a_src).ok());
  EXPECT_TRUE(tc.Finish(&a_tc).ok());
  EXPECT_TRUE(et.Finish(&a_et).ok());
  EXPECT_TRUE(ra.Finish(&a_ra).ok());
  EXPECT_TRUE(val.Finish(&a_val).ok());
  EXPECT_TRUE(st.Finish(&a_st).ok());
  auto schema = arrow::schema(
      {arrow::field("event_id", arrow::utf8()), arrow::field("subject_key", arrow::utf8()),
       arrow::field("source", arrow::utf8()), arrow::field("test_code", arrow::utf8()),
       arrow::field("event_time", ts_type), arrow::field("received_at", ts_type),
       arrow::field("value", arrow::float64()), arrow::field("study_id", arrow::utf8())});
  return arrow::Table::Make(schema, {a_id, a_sk, a_src, a_tc, a_et, a_ra, a_val, a_st});
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ctml_ml_trainer_" + NewUuidV7());
    std::filesystem::create_directories(dir_);
    auto lake = store::OpenLake("file://" + (dir_ / "lake").string());
    ASSERT_TRUE(lake.ok()) << lake.status().ToString();
    lake_ = std::move(*lake);
    auto meta = store::OpenMetaStore("sqlite://" + (dir_ / "meta.db").string());
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta_ = std::move(*meta);
    auto spec = features::FeatureSpec::FromYaml(kSpecYaml, "test.yaml");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = std::make_unique<features::FeatureSpec>(std::move(*spec));
    opts_.model_name = "vitals_risk";
    opts_.label = "spo2_below_90_24h";
    opts_.spec = spec_.get();
    opts_.actor = "test";
    opts_.verbose = false;
    opts_.params.max_rounds = 120;
  }
  void TearDown() override {
    meta_.reset();
    lake_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void WriteSilver() {
    ASSERT_TRUE(
        lake_->WriteParquet("silver/vitals/date=2024-03-01/part-0.parquet", SilverVitals(11)).ok());
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Lake> lake_;
  std::unique_ptr<store::MetaStore> meta_;
  std::unique_ptr<features::FeatureSpec> spec_;
  TrainOptions opts_;
};

TEST_F(TrainerTest, TrainsRegistersAndPromotes) {
  WriteSilver();
  opts_.verbose = true;  // the progress lines, once
  auto r = TrainModel(opts_, *lake_, *meta_);
  opts_.verbose = false;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version, 1);
  EXPECT_EQ(r->alias, "production");
  EXPECT_EQ(r->artifact_uri, "models/vitals_risk/1");
  EXPECT_EQ(r->feature_names, spec_->names());
  EXPECT_GT(r->metrics.at("roc_auc"), 0.75);  // chance is 0.5
  EXPECT_LE(r->metrics.at("roc_auc_ci_low"), r->metrics.at("roc_auc"));
  EXPECT_GE(r->metrics.at("roc_auc_ci_high"), r->metrics.at("roc_auc"));
  EXPECT_FALSE(std::isnan(r->metrics.at("baseline_roc_auc")));
  const double n =
      r->metrics.at("tp") + r->metrics.at("fp") + r->metrics.at("tn") + r->metrics.at("fn");
  EXPECT_EQ(n, r->metrics.at("n_test"));
  EXPECT_GT(r->threshold, 0.0);
  EXPECT_LT(r->threshold, 1.0);

  // Artifacts: the manifest has what serving needs, and the model reproduces test predictions.
  auto manifest_bytes = lake_->GetBytes("models/vitals_risk/1/manifest.json");
  ASSERT_TRUE(manifest_bytes.ok()) << manifest_bytes.status().ToString();
  auto manifest = nlohmann::json::parse(*manifest_bytes);
  EXPECT_EQ(manifest["name"], "vitals_risk");
  EXPECT_EQ(manifest["version"], 1);
  EXPECT_EQ(manifest["run_id"], r->run_id);
  EXPECT_EQ(manifest["feature_names"].get<std::vector<std::string>>(), spec_->names());
  EXPECT_EQ(manifest["spec_hash"], spec_->spec_hash());
  EXPECT_EQ(manifest["label"], "spo2_below_90_24h");
  EXPECT_DOUBLE_EQ(manifest["threshold"].get<double>(), r->threshold);
  EXPECT_EQ(manifest["dataset_id"], r->dataset_id);
  EXPECT_EQ(manifest["booster"], "gbtree");
  EXPECT_TRUE(manifest["metrics"].contains("roc_auc"));
  EXPECT_TRUE(manifest.contains("trained_at"));
  EXPECT_TRUE(manifest.contains("code_version"));
  EXPECT_TRUE(manifest.contains("imputation"));
  auto model_bytes = lake_->GetBytes("models/vitals_risk/1/model.ubj");
  ASSERT_TRUE(model_bytes.ok());
  auto booster = Booster::Load(*model_bytes);
  ASSERT_TRUE(booster.ok()) << booster.status().ToString();
  std::vector<float> row(spec_->names().size(), std::nanf(""));
  auto p = (*booster)->Predict(row.data(), 1, row.size());
  ASSERT_TRUE(p.ok()) << p.status().ToString();

  // Registry, run and audit.
  auto mv = meta_->GetAlias("vitals_risk", "production");
  ASSERT_TRUE(mv.ok());
  EXPECT_EQ(mv->version, 1);
  EXPECT_EQ(mv->artifact_uri, "models/vitals_risk/1");
  EXPECT_EQ(nlohmann::json::parse(mv->manifest_json)["run_id"], r->run_id);
  EXPECT_NEAR(ManifestMetrics(mv->manifest_json).at("roc_auc"), r->metrics.at("roc_auc"), 1e-12);
  auto run = meta_->GetRun(r->run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, "FINISHED");
  EXPECT_EQ(run->experiment, "vitals_risk");
  EXPECT_NEAR(run->metrics.at("roc_auc"), r->metrics.at("roc_auc"), 1e-12);
  EXPECT_EQ(run->params.at("label"), "spo2_below_90_24h");
  EXPECT_EQ(run->tags.at("dataset_id"), r->dataset_id);
  auto audit = meta_->ListAudit(1, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].action, "model.register");
  EXPECT_EQ((*audit)[1].action, "model.promote");
  EXPECT_EQ((*audit)[1].object, "vitals_risk/1");
  EXPECT_EQ((*audit)[1].actor, "test");
  EXPECT_TRUE(store::VerifyAuditChain(*audit).ok());

  // Same data and seed: same metrics, and >= production's AUC -> the new version is production.
  auto r2 = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->version, 2);
  EXPECT_EQ(r2->alias, "production");
  EXPECT_DOUBLE_EQ(r2->metrics.at("roc_auc"), r->metrics.at("roc_auc"));
  EXPECT_EQ(r2->dataset_id, r->dataset_id);
}

// The gate re-scores production on the new version's test split; a version that does not beat it
// (here: the same model, with a required improvement) is registered but not promoted.
TEST_F(TrainerTest, GateRequiresBeatingProductionOnTheSameTestSplit) {
  WriteSilver();
  auto r1 = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  ASSERT_TRUE(r1->gate_passed);
  EXPECT_NE(r1->gate_reason.find("no production version yet"), std::string::npos);

  opts_.gate.min_improvement = 0.01;
  auto r2 = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->version, 2);
  EXPECT_FALSE(r2->gate_passed);
  EXPECT_EQ(r2->alias, "");
  EXPECT_NE(r2->gate_reason.find("does not beat production v1"), std::string::npos)
      << r2->gate_reason;
  // Same data and seed: production re-scored on v2's test split has v1's own test AUC.
  EXPECT_NEAR(r2->metrics.at("production_roc_auc_same_test"), r1->metrics.at("roc_auc"), 1e-9);
  EXPECT_EQ(meta_->GetAlias("vitals_risk", "production")->version, 1);
  auto manifest = nlohmann::json::parse(*lake_->GetBytes("models/vitals_risk/2/manifest.json"));
  EXPECT_EQ(manifest["promotion"]["passed"], false);
  EXPECT_EQ(manifest["promotion"]["alias"], "");
  EXPECT_EQ(manifest["promotion"]["reason"], r2->gate_reason);
  EXPECT_EQ(manifest["promotion"]["production_version"], 1);
  auto audit = meta_->ListAudit(1, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_FALSE(audit->empty());
  EXPECT_EQ(audit->back().action, "model.gate");
  EXPECT_EQ(audit->back().object, "vitals_risk/2");
  EXPECT_NE(audit->back().detail.find("does not beat"), std::string::npos);

  // Another seed: another split. Production is compared only on test subjects it neither
  // trained nor validated on (fewer than the whole test split).
  opts_.seed = 7;
  opts_.gate.min_improvement = 0.9;  // cannot pass: production stays v1
  auto r4 = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(r4.ok()) << r4.status().ToString();
  EXPECT_NE(r4->gate_reason.find("test subjects neither version trained on"), std::string::npos)
      << r4->gate_reason;
  const size_t pos = r4->gate_reason.find(" on the ");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_LT(std::stoi(r4->gate_reason.substr(pos + 8)), 8) << r4->gate_reason;  // 8 test subjects
  EXPECT_FALSE(r4->gate_passed);
  opts_.seed = 42;

  // Without the improvement margin the equal model passes and moves production.
  opts_.gate.min_improvement = 0;
  auto r3 = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(r3.ok()) << r3.status().ToString();
  EXPECT_TRUE(r3->gate_passed) << r3->gate_reason;
  EXPECT_EQ(meta_->GetAlias("vitals_risk", "production")->version, 4);
}

TEST_F(TrainerTest, GateMinimumRocAucBlocksPromotion) {
  WriteSilver();
  opts_.gate.min_test_roc_auc = 1.0;  // the fixture's test AUC is below 1 (checked below)
  auto r = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_LT(r->metrics.at("roc_auc"), 1.0);
  EXPECT_FALSE(r->gate_passed);
  EXPECT_NE(r->gate_reason.find("< gate minimum 1.0000"), std::string::npos) << r->gate_reason;
  EXPECT_EQ(meta_->GetAlias("vitals_risk", "production").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(meta_->GetModelVersion("vitals_risk", 1).ok());  // registered all the same
}

TEST_F(TrainerTest, UnreadableProductionFailsTheGateSafely) {
  WriteSilver();
  // A production version whose model file is missing cannot be re-scored: no silent promotion.
  auto fake = meta_->CreateModelVersion("vitals_risk", "run-x", "models/vitals_risk/1",
                                        R"({"feature_names":["vs_spo2_last_24h"]})");
  ASSERT_TRUE(fake.ok());
  ASSERT_TRUE(meta_->SetAlias("vitals_risk", "production", fake->version).ok());
  auto r = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version, 2);
  EXPECT_FALSE(r->gate_passed);
  EXPECT_NE(r->gate_reason.find("could not be re-scored"), std::string::npos) << r->gate_reason;
  EXPECT_EQ(meta_->GetAlias("vitals_risk", "production")->version, 1);
  EXPECT_TRUE(lake_->GetBytes("models/vitals_risk/2/model.ubj").ok());
}

TEST_F(TrainerTest, StudyFilterKeepsOneStudy) {
  WriteSilver();  // every row is STUDY-A
  auto all = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  opts_.dataset.study = "STUDY-B";
  auto none = TrainModel(opts_, *lake_, *meta_);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("STUDY-B"), std::string::npos);
  opts_.dataset.study = "STUDY-A";
  auto a = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto rows = [](const TrainResult& r) {
    return r.metrics.at("n_train") + r.metrics.at("n_valid") + r.metrics.at("n_test");
  };
  EXPECT_EQ(rows(*a), rows(*all));
  EXPECT_NE(a->dataset_id, all->dataset_id);  // the filter is part of the dataset's identity
}

// booster gblinear/auto: the registered model is the linear one or the better one on validation;
// the manifest records the choice and the split's subjects (disjoint).
TEST_F(TrainerTest, BoosterChoiceAndSplitSubjectsAreRecorded) {
  WriteSilver();
  opts_.booster = "gblinear";
  auto lin = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(lin.ok()) << lin.status().ToString();
  EXPECT_DOUBLE_EQ(lin->metrics.at("roc_auc"), lin->metrics.at("gblinear_roc_auc"));
  EXPECT_FALSE(lin->metrics.count("best_iteration"));  // a gbtree figure
  auto m1 = nlohmann::json::parse(*lake_->GetBytes("models/vitals_risk/1/manifest.json"));
  EXPECT_EQ(m1["booster"], "gblinear");
  EXPECT_EQ(m1["feature_importance_kind"], "mean_abs_contribution_valid");
  EXPECT_FALSE(m1["feature_importance_gain"].empty());
  auto card = *lake_->GetBytes("models/vitals_risk/1/card.md");
  EXPECT_NE(card.find("compared with gbtree"), std::string::npos);
  EXPECT_NE(card.find("| ROC-AUC, gblinear (registered) |"), std::string::npos);
  opts_.booster = "auto";
  auto best = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(best.ok()) << best.status().ToString();
  auto m2 = nlohmann::json::parse(*lake_->GetBytes("models/vitals_risk/2/manifest.json"));
  const auto& sel = m2["booster_selection"];
  const bool linear_better =
      sel["gblinear_valid_roc_auc"].get<double>() > sel["gbtree_valid_roc_auc"].get<double>();
  EXPECT_EQ(m2["booster"], linear_better ? "gblinear" : "gbtree");
  std::set<std::string> seen;
  size_t total = 0;
  auto splits = nlohmann::json::parse(
      *lake_->GetBytes("models/vitals_risk/2/" + m2["split_subjects"].get<std::string>()));
  for (const char* split : {"train", "valid", "test"}) {
    for (const auto& k : splits[split]) {
      seen.insert(k.get<std::string>());
      ++total;
    }
  }
  EXPECT_EQ(total, 40u);  // every subject once
  EXPECT_EQ(seen.size(), 40u);
  opts_.booster = "xgb";
  EXPECT_EQ(TrainModel(opts_, *lake_, *meta_).status().code(), StatusCode::kInvalid);
}

TEST_F(TrainerTest, EmptyLakeFailsTheRun) {
  auto r = TrainModel(opts_, *lake_, *meta_);
  ASSERT_FALSE(r.ok());
  auto runs = meta_->ListRuns("vitals_risk");
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].status, "FAILED");
  EXPECT_TRUE((*runs)[0].tags.count("error"));
  auto models = meta_->ListModels();
  ASSERT_TRUE(models.ok());
  EXPECT_TRUE(models->empty());
}

TEST_F(TrainerTest, RejectsBadOptions) {
  TrainOptions o = opts_;
  o.spec = nullptr;
  EXPECT_EQ(TrainModel(o, *lake_, *meta_).status().code(), StatusCode::kInvalid);
  o = opts_;
  o.model_name = "../escape";
  EXPECT_EQ(TrainModel(o, *lake_, *meta_).status().code(), StatusCode::kInvalid);
  o = opts_;
  o.target_sensitivity = 1.5;
  EXPECT_EQ(TrainModel(o, *lake_, *meta_).status().code(), StatusCode::kInvalid);
}

TEST_F(TrainerTest, WritesModelCardAndPlots) {
  WriteSilver();
  auto r = TrainModel(opts_, *lake_, *meta_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto card = lake_->GetBytes(r->artifact_uri + "/card.md");
  ASSERT_TRUE(card.ok()) << card.status().ToString();
  EXPECT_NE(card->find("# Model card: vitals_risk v1"), std::string::npos);
  EXPECT_NE(card->find("| ROC-AUC | " + FormatMetric(r->metrics.at("roc_auc")) + " | [" +
                       FormatMetric(r->metrics.at("roc_auc_ci_low")) + ", " +
                       FormatMetric(r->metrics.at("roc_auc_ci_high")) + "] |"),
            std::string::npos)
      << *card;
  EXPECT_NE(card->find("| test | "), std::string::npos);
  EXPECT_NE(card->find("![ROC](roc.png)"), std::string::npos);
  EXPECT_NE(card->find(r->run_id), std::string::npos);
  EXPECT_EQ(card->find("SUBJ"), std::string::npos);  // no subject keys in the card
  for (const char* png : {"/roc.png", "/calibration.png"}) {
    auto bytes = lake_->GetBytes(r->artifact_uri + png);
    ASSERT_TRUE(bytes.ok()) << png << ": " << bytes.status().ToString();
    EXPECT_EQ(bytes->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << png;
  }
  auto manifest = nlohmann::json::parse(*lake_->GetBytes(r->artifact_uri + "/manifest.json"));
  EXPECT_EQ(manifest["card"], "card.md");
  EXPECT_EQ(manifest["plots"], nlohmann::json::array({"roc.png", "calibration.png"}));
  if (const char* dir = std::getenv("CTML_CARD_DUMP_DIR")) {  // to look at a real card
    for (const char* f : {"card.md", "roc.png", "calibration.png"}) {
      std::ofstream(std::string(dir) + "/" + f, std::ios::binary)
          << *lake_->GetBytes(r->artifact_uri + "/" + f);
    }
  }
}

}  // namespace
}  // namespace ctml::ml
