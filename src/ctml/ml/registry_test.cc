// Registry operations on the SQLite MetaStore with hand-written manifests.
#include "ctml/ml/registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ctml/core/ids.h"
#include "ctml/core/json.h"
#include "ctml/store/factory.h"

namespace ctml::ml::registry {
namespace {

std::string Manifest(double auc, double lo, double hi, const std::string& dataset,
                     const std::vector<std::string>& features, const Json& promotion) {
  Json gain = Json::object();
  double g = 100;
  for (const auto& f : features) gain[f] = g--;
  Json m = {{"name", "vitals_risk"},
            {"feature_names", features},
            {"spec_hash", "spec1"},
            {"label", "spo2_below_90_24h"},
            {"threshold", 0.25},
            {"dataset_id", dataset},
            {"metrics",
             {{"roc_auc", auc},
              {"roc_auc_ci_low", lo},
              {"roc_auc_ci_high", hi},
              {"pr_auc", 0.5},
              {"brier", 0.1},
              {"sensitivity", 0.8},
              {"specificity", nullptr},
              {"ppv", 0.4},
              {"npv", 0.9},
              {"baseline_roc_auc", 0.7}}},
            {"feature_importance_gain", gain}};
  if (!promotion.is_null()) m["promotion"] = promotion;
  return m.dump();
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ctml_ml_registry_" + NewUuidV7());
    std::filesystem::create_directories(dir_);
    auto meta = store::OpenMetaStore("sqlite://" + (dir_ / "meta.db").string());
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta_ = std::move(*meta);
    // v1: production, dataset d1; v2: staging (gate failed), dataset d1; v3: dataset d2,
    // registered without an alias and without a recorded decision.
    Register(Manifest(0.80, 0.75, 0.85, "d1", {"a", "b", "c"},
                      {{"alias", "production"}, {"passed", true}, {"reason", "first"}}));
    Register(Manifest(0.78, 0.72, 0.84, "d1", {"a", "b", "d"},
                      {{"alias", "staging"}, {"passed", false}, {"reason", "below production"}}));
    Register(Manifest(0.95, 0.90, 0.99, "d2", {"a"}, nullptr));
    ASSERT_TRUE(meta_->SetAlias("vitals_risk", "production", 1).ok());
    ASSERT_TRUE(meta_->SetAlias("vitals_risk", "staging", 2).ok());
  }
  void TearDown() override {
    meta_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Register(const std::string& manifest) {
    auto run_id = "run-" + std::to_string(++runs_);
    store::RunRecord run;
    run.run_id = run_id;
    run.experiment = "vitals_risk";
    run.status = "FINISHED";
    run.start_us = 1000 * runs_;
    run.metrics["roc_auc"] = 0.8;
    run.tags["dataset_id"] = "d1";
    ASSERT_TRUE(meta_->CreateRun(run).ok());
    auto mv = meta_->CreateModelVersion("vitals_risk", run_id, "models/vitals_risk/x", manifest);
    ASSERT_TRUE(mv.ok()) << mv.status().ToString();
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::MetaStore> meta_;
  int runs_ = 0;
};

TEST_F(RegistryTest, ListModelsSummarizesVersions) {
  auto models = ListModels(*meta_);
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  ASSERT_EQ(models->size(), 1u);
  const auto& m = models->front();
  EXPECT_EQ(m.name, "vitals_risk");
  EXPECT_EQ(m.aliases.at("production"), 1);
  ASSERT_EQ(m.versions.size(), 3u);
  EXPECT_EQ(m.versions[0].aliases, std::vector<std::string>{"production"});
  EXPECT_DOUBLE_EQ(m.versions[0].metrics.at("roc_auc"), 0.80);
  EXPECT_TRUE(std::isnan(m.versions[0].metrics.at("specificity")));
  EXPECT_DOUBLE_EQ(m.versions[0].threshold, 0.25);
  EXPECT_EQ(m.versions[0].dataset_id, "d1");
  EXPECT_TRUE(m.versions[1].promotion.recorded);
  EXPECT_FALSE(m.versions[1].promotion.passed);
  EXPECT_EQ(m.versions[1].promotion.reason, "below production");
  EXPECT_FALSE(m.versions[2].promotion.recorded);
  EXPECT_TRUE(m.versions[2].aliases.empty());

  auto doc = ParseJson(ModelsJson(*models));
  ASSERT_TRUE(doc.ok());
  const Json& v0 = (*doc)["models"][0]["versions"][0];
  EXPECT_EQ(v0["metrics"]["roc_auc_ci_low"], 0.75);
  EXPECT_TRUE(v0["metrics"]["specificity"].is_null());
  EXPECT_EQ(v0["promotion"]["alias"], "production");
  EXPECT_TRUE((*doc)["models"][0]["versions"][2]["promotion"].is_null());
}

TEST_F(RegistryTest, GetVersionByNumberAliasAndDefault) {
  auto by_number = GetVersion(*meta_, "vitals_risk", "2");
  ASSERT_TRUE(by_number.ok());
  EXPECT_EQ(by_number->version, 2);
  auto by_alias = GetVersion(*meta_, "vitals_risk", "staging");
  ASSERT_TRUE(by_alias.ok());
  EXPECT_EQ(by_alias->version, 2);
  auto def = GetVersion(*meta_, "vitals_risk");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->version, 1);  // production
  EXPECT_EQ(GetVersion(*meta_, "vitals_risk", "9").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(GetVersion(*meta_, "vitals_risk", "canary").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(GetVersion(*meta_, "vitals_risk", "Bad Alias").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(GetVersion(*meta_, "nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(GetModel(*meta_, "nope").status().code(), StatusCode::kNotFound);

  // Without production the default is the latest version.
  auto other = meta_->CreateModelVersion("other", "r", "models/other/1", "{}");
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(meta_->CreateModelVersion("other", "r", "models/other/2", "{}").ok());
  auto latest = GetVersion(*meta_, "other");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 2);
}

TEST_F(RegistryTest, PromoteMovesAliasAndAudits) {
  auto p = Promote(*meta_, "vitals_risk", 3, "production", "alice", "reviewed by the board");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->previous_version, 1);
  auto prod = meta_->GetAlias("vitals_risk", "production");
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(prod->version, 3);
  auto audit = meta_->ListAudit(1, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  const auto& rec = audit->back();
  EXPECT_EQ(rec.seq, p->audit_seq);
  EXPECT_EQ(rec.action, "model.promote");
  EXPECT_EQ(rec.actor, "alice");
  EXPECT_EQ(rec.object, "vitals_risk/3");
  auto detail = ParseJson(rec.detail);
  ASSERT_TRUE(detail.ok());
  EXPECT_EQ((*detail)["alias"], "production");
  EXPECT_EQ((*detail)["previous_version"], 1);
  EXPECT_EQ((*detail)["reason"], "reviewed by the board");
  EXPECT_EQ((*detail)["actor"], "alice");

  // A new alias starts unset.
  auto canary = Promote(*meta_, "vitals_risk", 2, "canary_1", "bob", "");
  ASSERT_TRUE(canary.ok());
  EXPECT_EQ(canary->previous_version, 0);

  EXPECT_EQ(Promote(*meta_, "vitals_risk", 9, "production", "a", "").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Promote(*meta_, "nope", 1, "production", "a", "").status().code(),
            StatusCode::kNotFound);
  auto bad = Promote(*meta_, "vitals_risk", 1, "Prod!", "a", "");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(bad.status().field(), "alias");
  EXPECT_EQ(Promote(*meta_, "vitals_risk", 1, std::string(33, 'a'), "a", "").status().code(),
            StatusCode::kInvalid);
  EXPECT_EQ(Promote(*meta_, "vitals_risk", 1, "", "a", "").status().code(), StatusCode::kInvalid);
  // Refusals write no audit record and leave the alias alone.
  EXPECT_EQ(meta_->ListAudit(1, 100)->size(), 2u);
  EXPECT_EQ(meta_->GetAlias("vitals_risk", "production")->version, 3);
  EXPECT_TRUE(store::VerifyAuditChain(*meta_->ListAudit(1, 100)).ok());
}

TEST_F(RegistryTest, CompareSameDataset) {
  auto c = Compare(*meta_, "vitals_risk", "1", "staging");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->a.version, 1);
  EXPECT_EQ(c->b.version, 2);
  ASSERT_FALSE(c->metrics.empty());
  EXPECT_EQ(c->metrics.front().metric, "roc_auc");
  EXPECT_NEAR(c->metrics.front().diff, -0.02, 1e-12);
  EXPECT_EQ(c->metrics.back().metric, "threshold");
  EXPECT_DOUBLE_EQ(c->metrics.back().diff, 0.0);
  bool saw_specificity = false;
  for (const auto& d : c->metrics) {
    if (d.metric == "specificity") {
      saw_specificity = true;
      EXPECT_TRUE(std::isnan(d.diff));
    }
  }
  EXPECT_TRUE(saw_specificity);
  EXPECT_TRUE(c->roc_auc_ci_known);
  EXPECT_TRUE(c->roc_auc_ci_overlap);
  EXPECT_TRUE(c->same_dataset);
  EXPECT_TRUE(c->same_spec_hash);
  EXPECT_EQ(c->features_only_a, std::vector<std::string>{"c"});
  EXPECT_EQ(c->features_only_b, std::vector<std::string>{"d"});
  ASSERT_EQ(c->top_gain_a.size(), 3u);
  EXPECT_EQ(c->top_gain_a.front().first, "a");
  EXPECT_FALSE(c->a.promotion.recorded && !c->a.promotion.passed);
  EXPECT_FALSE(c->b.promotion.passed);
  for (const auto& n : c->notes) EXPECT_EQ(n.find("not strictly comparable"), std::string::npos);
}

TEST_F(RegistryTest, CompareDifferentDatasetsSaysSo) {
  auto c = Compare(*meta_, "vitals_risk", "production", "3");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->same_dataset);
  EXPECT_FALSE(c->roc_auc_ci_overlap);  // [0.75,0.85] vs [0.90,0.99]
  bool warned = false;
  for (const auto& n : c->notes) warned |= n.find("not strictly comparable") != std::string::npos;
  EXPECT_TRUE(warned);
  auto doc = ParseJson(CompareJson(*c));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["roc_auc_ci_overlap"], false);
  EXPECT_EQ((*doc)["a"]["version"]["version"], 1);
  EXPECT_EQ((*doc)["b"]["ref"], "3");
  EXPECT_TRUE((*doc)["b"]["version"]["promotion"].is_null());

  EXPECT_EQ(Compare(*meta_, "vitals_risk", "1", "9").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Compare(*meta_, "vitals_risk", "", "1").status().code(), StatusCode::kInvalid);
}

TEST_F(RegistryTest, Runs) {
  auto runs = ListRuns(*meta_, "vitals_risk");
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 3u);
  auto all = ListRuns(*meta_, "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  auto run = GetRun(*meta_, "run-2");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->experiment, "vitals_risk");
  auto doc = ParseJson(RunJson(*run));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["tags"]["dataset_id"], "d1");
  EXPECT_EQ(GetRun(*meta_, "run-x").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(GetRun(*meta_, "").status().code(), StatusCode::kInvalid);
}

TEST(RegistryAlias, Names) {
  EXPECT_TRUE(ValidAliasName("production"));
  EXPECT_TRUE(ValidAliasName("a_b-1"));
  EXPECT_FALSE(ValidAliasName(""));
  EXPECT_FALSE(ValidAliasName("Production"));
  EXPECT_FALSE(ValidAliasName("a b"));
  EXPECT_FALSE(ValidAliasName("a/b"));
  EXPECT_TRUE(ValidAliasName(std::string(32, 'x')));
  EXPECT_FALSE(ValidAliasName(std::string(33, 'x')));
}

}  // namespace
}  // namespace ctml::ml::registry
