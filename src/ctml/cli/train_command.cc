// `ctml train`: Level 4 training. Builds the point-in-time training set, trains XGBoost, registers
// the version and, when the promotion gate passes, points the "production" alias at it.
//   ctml train [--model vitals_risk] [--label spo2_below_90_24h] [--config train.yaml] [--seed 42]
//              [--target-sensitivity 0.8] [--max-rounds 400] [--strict] [--grid visits|daily|1h]
//              [--study STUDYID]
// Settings: the `train:` section of ctml.yaml, overridden key by key by --config FILE (a YAML
// file with the same keys as that section, e.g. config/train/ae-discontinuation-30d.yaml),
// overridden by the flags.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "ctml/cli/commands.h"
#include "ctml/features/spec.h"
#include "ctml/features/training_set.h"
#include "ctml/ml/trainer.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

struct TrainArgs {
  std::string model;
  std::string label;
  int64_t seed = -1;
  double target_sensitivity = -1;
  int max_rounds = 0;
  bool strict = false;
  std::string grid;
  std::string study;
  std::string config;
  std::string actor;
};

std::string F(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
}

// Applies a train.yaml (keys of the train: section) on top of ctml.yaml's train.* keys.
Status OverlayTrainConfig(const std::string& path, Config* cfg) {
  if (path.empty()) return Status::OK();
  std::ifstream in(path);
  if (!in) return Status::Invalid("cannot read --config " + path, "config");
  std::stringstream text;
  text << in.rdbuf();
  const std::string dir = std::filesystem::absolute(path).parent_path().string();
  CTML_ASSIGN_OR_RETURN(Config file, Config::FromYaml(text.str(), dir, /*apply_env=*/false));
  for (const auto& [k, v] : file.values()) {
    if (k.rfind("train.", 0) == 0) {
      return Status::Invalid(path +
                                 ": keys are those of the train: section without the 'train.' "
                                 "prefix (found '" +
                                 k + "')",
                             "config");
    }
    cfg->Set("train." + k, v);
  }
  return Status::OK();
}

// The environment wins over both files (CTML_TRAIN_GATE_MIN_TEST_ROC_AUC=0.9 ctml train ...),
// also for train keys ctml.yaml does not list.
void ApplyTrainEnv(Config* cfg) {
  static const char* const kKeys[] = {"model",
                                      "label",
                                      "study",
                                      "grid",
                                      "booster",
                                      "seed",
                                      "target_sensitivity",
                                      "max_rounds",
                                      "early_stopping_rounds",
                                      "max_depth",
                                      "eta",
                                      "nthread",
                                      "min_child_weight",
                                      "subsample",
                                      "colsample_bytree",
                                      "strict",
                                      "gate.min_test_roc_auc",
                                      "gate.must_beat_production",
                                      "gate.min_improvement",
                                      "card.intended_use",
                                      "card.limitations"};
  for (const char* k : kKeys) {
    const std::string key = std::string("train.") + k;
    if (const char* v = std::getenv(Config::EnvName(key).c_str())) cfg->Set(key, v);
  }
}

Status RunTrain(const Config& cfg, const features::FeatureSpec& spec, const TrainArgs& a) {
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(cfg.GetString("lake.uri")));
  CTML_ASSIGN_OR_RETURN(auto meta, store::OpenMetaStore(cfg.GetString("meta.uri")));

  ml::TrainOptions o;
  o.model_name = a.model.empty() ? cfg.GetString("train.model", "vitals_risk") : a.model;
  o.label = a.label.empty() ? cfg.GetString("train.label", "spo2_below_90_24h") : a.label;
  o.seed = static_cast<uint64_t>(a.seed >= 0 ? a.seed : cfg.GetInt("train.seed", 42));
  o.target_sensitivity = a.target_sensitivity > 0 ? a.target_sensitivity
                                                  : cfg.GetDouble("train.target_sensitivity", 0.8);
  o.spec = &spec;
  o.actor = a.actor.empty() ? "cli" : a.actor;
  if (spec.FindLabel(o.label) == nullptr) {
    return Status::Invalid("label '" + o.label + "' is not defined in the feature spec", "label");
  }
  ml::TrainParams& p = o.params;
  p.max_rounds = static_cast<int>(cfg.GetInt("train.max_rounds", p.max_rounds));
  if (a.max_rounds > 0) p.max_rounds = a.max_rounds;
  p.early_stopping_rounds =
      static_cast<int>(cfg.GetInt("train.early_stopping_rounds", p.early_stopping_rounds));
  p.max_depth = static_cast<int>(cfg.GetInt("train.max_depth", p.max_depth));
  p.eta = cfg.GetDouble("train.eta", p.eta);
  p.nthread = static_cast<int>(cfg.GetInt("train.nthread", p.nthread));
  p.min_child_weight = cfg.GetDouble("train.min_child_weight", p.min_child_weight);
  p.subsample = cfg.GetDouble("train.subsample", p.subsample);
  p.colsample_bytree = cfg.GetDouble("train.colsample_bytree", p.colsample_bytree);
  o.dataset.strict = a.strict || cfg.GetBool("train.strict", false);
  const std::string grid = a.grid.empty() ? cfg.GetString("train.grid", "") : a.grid;
  if (!grid.empty()) {
    CTML_RETURN_NOT_OK(features::ParseGrid(grid, &o.dataset));
  }
  o.dataset.study = a.study.empty() ? cfg.GetString("train.study", "") : a.study;
  o.booster = cfg.GetString("train.booster", "gbtree");
  o.intended_use = cfg.GetString("train.card.intended_use", "");
  o.limitations = cfg.GetString("train.card.limitations", "");
  o.gate.min_test_roc_auc = cfg.GetDouble("train.gate.min_test_roc_auc", 0.0);
  o.gate.must_beat_production = cfg.GetBool("train.gate.must_beat_production", true);
  o.gate.min_improvement = cfg.GetDouble("train.gate.min_improvement", 0.0);
  if (!(o.gate.min_test_roc_auc >= 0 && o.gate.min_test_roc_auc <= 1)) {
    return Status::Invalid("train.gate.min_test_roc_auc must be in [0, 1]",
                           "train.gate.min_test_roc_auc");
  }

  o.mlflow_uri = cfg.GetString("tracking.mlflow_uri", "");
  CTML_ASSIGN_OR_RETURN(auto r, ml::TrainModel(o, *lake, *meta));
  auto m = [&](const char* k) {
    auto it = r.metrics.find(k);
    return it == r.metrics.end() ? std::nan("") : it->second;
  };
  if (r.gate_passed) {
    std::printf("model        %s version %lld -> production\n", r.name.c_str(),
                static_cast<long long>(r.version));
    std::printf("gate         passed: %s\n", r.gate_reason.c_str());
  } else {
    std::printf("model        %s version %lld registered, NOT promoted\n", r.name.c_str(),
                static_cast<long long>(r.version));
    std::printf("gate         failed: %s\n", r.gate_reason.c_str());
  }
  std::printf("run_id       %s\n", r.run_id.c_str());
  std::printf("dataset      %s (%s)\n", r.dataset_id.c_str(), o.label.c_str());
  std::printf("rows         train %.0f / valid %.0f / test %.0f, positives %.0f\n", m("n_train"),
              m("n_valid"), m("n_test"), m("positives"));
  std::printf("ROC-AUC      %s  95%% CI [%s, %s]  (gblinear baseline %s)\n",
              F(m("roc_auc")).c_str(), F(m("roc_auc_ci_low")).c_str(),
              F(m("roc_auc_ci_high")).c_str(), F(m("baseline_roc_auc")).c_str());
  std::printf("PR-AUC       %s   Brier %s\n", F(m("pr_auc")).c_str(), F(m("brier")).c_str());
  std::printf("threshold    %s  (target sensitivity %.2f on validation)\n", F(r.threshold).c_str(),
              o.target_sensitivity);
  std::printf("test         sensitivity %s  specificity %s  PPV %s  NPV %s\n",
              F(m("sensitivity")).c_str(), F(m("specificity")).c_str(), F(m("ppv")).c_str(),
              F(m("npv")).c_str());
  std::printf("confusion    TP %.0f  FP %.0f  TN %.0f  FN %.0f\n", m("tp"), m("fp"), m("tn"),
              m("fn"));
  std::printf("artifacts    %s/{model.ubj,manifest.json}\n", r.artifact_uri.c_str());
  return Status::OK();
}

}  // namespace

void RegisterTrainCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Level 4: train an XGBoost model on a point-in-time training set and register it");
  cmd->add_option("--model", args->model, "Registered model name (default: train.model)");
  cmd->add_option("--label", args->label, "Label from the feature spec (default: train.label)");
  cmd->add_option("--seed", args->seed, "Random seed for split and boosting (default: train.seed)");
  cmd->add_option("--target-sensitivity", args->target_sensitivity,
                  "Sensitivity the decision threshold aims for on validation (default 0.8)");
  cmd->add_option("--max-rounds", args->max_rounds, "Maximum boosting rounds (default 400)");
  cmd->add_flag("--strict", args->strict, "Features also require received_at <= as_of");
  cmd->add_option("--grid", args->grid,
                  "Example times per subject: visits, daily or a step such as 1h (default 1h)");
  cmd->add_option("--study", args->study,
                  "Train on this study_id's Silver rows only (default: train.study, else all)");
  cmd->add_option("--config", args->config,
                  "YAML file with keys of ctml.yaml's train: section (model, label, grid, study, "
                  "gate.*, ...) overriding it");
  cmd->add_option("--actor", args->actor, "Who is training, for the audit trail (default cli)");
  cmd->callback([&g, exit_code, args] {
    auto cfg = LoadConfig(g, "train");
    Status overlay = cfg.ok() ? OverlayTrainConfig(args->config, &*cfg) : Status::OK();
    if (cfg.ok() && overlay.ok()) ApplyTrainEnv(&*cfg);
    if (!cfg.ok() || !overlay.ok()) {
      Fail("train", cfg.ok() ? overlay : cfg.status());
      *exit_code = kExitConfig;
      return;
    }
    auto spec = features::FeatureSpec::Load(*cfg);
    if (!spec.ok()) {
      Fail("train", spec.status());
      *exit_code = kExitConfig;
      return;
    }
    Status st = RunTrain(*cfg, *spec, *args);
    *exit_code = st.ok() ? kExitOk : Fail("train", st);
  });
}

}  // namespace ctml::cli
