// `ctml train`: Level 4 training. Builds the point-in-time training set, trains XGBoost, registers
// the version and sets the "production" (or "staging") alias.
//   ctml train [--model vitals_risk] [--label spo2_below_90_24h] [--seed 42]
//              [--target-sensitivity 0.8] [--max-rounds 400] [--strict] [--grid visits|daily|1h]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>

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
  std::string actor;
};

std::string F(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
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
  o.dataset.strict = a.strict || cfg.GetBool("train.strict", false);
  if (!a.grid.empty()) {
    CTML_RETURN_NOT_OK(features::ParseGrid(a.grid, &o.dataset));
  }

  o.mlflow_uri = cfg.GetString("tracking.mlflow_uri", "");
  CTML_ASSIGN_OR_RETURN(auto r, ml::TrainModel(o, *lake, *meta));
  auto m = [&](const char* k) {
    auto it = r.metrics.find(k);
    return it == r.metrics.end() ? std::nan("") : it->second;
  };
  std::printf("model        %s version %lld -> alias %s\n", r.name.c_str(),
              static_cast<long long>(r.version), r.alias.c_str());
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
  cmd->add_option("--actor", args->actor, "Who is training, for the audit trail (default cli)");
  cmd->callback([&g, exit_code, args] {
    auto cfg = LoadConfig(g, "train");
    if (!cfg.ok()) {
      Fail("train", cfg.status());
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
