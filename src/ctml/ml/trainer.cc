#include "ctml/ml/trainer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <limits>
#include <set>
#include <string_view>

#include "ctml/core/ids.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/features/spec.h"
#include "ctml/features/training_set.h"
#include "ctml/ml/metrics.h"
#include "ctml/ml/mlflow.h"
#include "ctml/ml/model_card.h"
#include "ctml/ml/split.h"
#include "ctml/store/lake.h"
#include "ctml/store/meta_store.h"

namespace ctml::ml {

namespace {

struct Matrix {
  std::vector<float> x, y;
  std::vector<std::string> subjects;  // per row
  size_t rows = 0, cols = 0;
  DMatrixView view() const { return {x.data(), rows, cols, y.data()}; }
};

Matrix Gather(const features::TrainingSet& ts, const std::vector<size_t>& rows) {
  Matrix m;
  m.cols = ts.feature_names.size();
  m.rows = rows.size();
  m.x.reserve(m.rows * m.cols);
  m.y.reserve(m.rows);
  for (size_t r : rows) {
    m.x.insert(m.x.end(), ts.x.begin() + static_cast<ptrdiff_t>(r * m.cols),
               ts.x.begin() + static_cast<ptrdiff_t>((r + 1) * m.cols));
    m.y.push_back(ts.y[r]);
    m.subjects.push_back(ts.subject_keys[r]);
  }
  return m;
}

// The distinct subject keys (pseudonyms) of each split, sorted: the record that no subject is in
// two splits, of which subjects the test metrics are about, and what a later gate must not test
// this version on. Kept beside model.ubj (the manifest names the file), not in the registry.
constexpr const char* kSplitFile = "split_subjects.json";
Json SplitSubjects(const Matrix& train, const Matrix& valid, const Matrix& test) {
  auto keys = [](const Matrix& m) {
    std::set<std::string> s(m.subjects.begin(), m.subjects.end());
    return Json(std::vector<std::string>(s.begin(), s.end()));
  };
  return {{"train", keys(train)}, {"valid", keys(valid)}, {"test", keys(test)}};
}

size_t Positives(const std::vector<float>& y) {
  return static_cast<size_t>(std::count_if(y.begin(), y.end(), [](float v) { return v > 0.5f; }));
}

// JSON number, or null for NaN/inf (JSON has no NaN).
Json Num(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

std::string Fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
}

std::map<std::string, std::string> ParamsOf(const TrainOptions& o) {
  const TrainParams& p = o.params;
  return {{"label", o.label},
          {"booster_rule", o.booster},
          {"max_rounds", std::to_string(p.max_rounds)},
          {"early_stopping_rounds", std::to_string(p.early_stopping_rounds)},
          {"max_depth", std::to_string(p.max_depth)},
          {"eta", Fmt(p.eta)},
          {"subsample", Fmt(p.subsample)},
          {"colsample_bytree", Fmt(p.colsample_bytree)},
          {"min_child_weight", Fmt(p.min_child_weight)},
          {"lambda", Fmt(p.lambda)},
          {"balance_classes", p.balance_classes ? "true" : "false"},
          {"seed", std::to_string(o.seed)},
          {"nthread", std::to_string(p.nthread)},
          {"target_sensitivity", Fmt(o.target_sensitivity)},
          {"grid", features::GridName(o.dataset)},
          {"grid_step_us", o.dataset.grid == features::Grid::kStep
                               ? std::to_string(o.dataset.grid_step_us)
                               : std::string()},
          {"strict", o.dataset.strict ? "true" : "false"},
          {"study", o.dataset.study},
          {"gate_min_test_roc_auc", Fmt(o.gate.min_test_roc_auc)},
          {"gate_must_beat_production", o.gate.must_beat_production ? "true" : "false"},
          {"gate_min_improvement", Fmt(o.gate.min_improvement)}};
}

// Resamples of the subject-level bootstrap behind every metric interval.
constexpr int kBootstrapResamples = 1000;

// --- model card (issue 6 item 3; see ml/model_card.h)
SplitCounts CountSplit(const features::TrainingSet& ts, const std::vector<size_t>& rows) {
  SplitCounts c;
  std::set<std::string_view> subjects;
  for (size_t r : rows) {
    subjects.insert(ts.subject_keys[r]);
    c.positives += ts.y[r] > 0.5f ? 1 : 0;
  }
  c.rows = static_cast<int64_t>(rows.size());
  c.subjects = static_cast<int64_t>(subjects.size());
  return c;
}

// Everything the card needs that the trainer knows before registration; version, artifact_uri
// and trained_at are filled in once the version is registered.
ModelCardInput CardInput(const TrainOptions& o, const features::TrainingSet& ts, const Split& split,
                         const std::map<std::string, double>& metrics, double threshold,
                         const std::map<size_t, double>& gain) {
  ModelCardInput c;
  c.name = o.model_name;
  c.label = o.label;
  if (const auto* def = o.spec->FindLabel(o.label)) c.label_description = def->description;
  c.dataset_id = ts.dataset_id;
  c.dataset_path = ts.dataset_path;
  c.spec_hash = ts.spec_hash;
  c.grid = features::GridName(o.dataset);
  if (o.dataset.grid == features::Grid::kStep) {
    const int64_t min = o.dataset.grid_step_us / (60 * kMicrosPerSecond);
    c.grid +=
        min % 60 == 0 ? " " + std::to_string(min / 60) + "h" : " " + std::to_string(min) + "m";
  }
  if (o.dataset.strict) c.grid += ", strict (received_at <= as_of)";
  c.code_version = CTML_VERSION;
  c.train = CountSplit(ts, split.train);
  c.valid = CountSplit(ts, split.valid);
  c.test = CountSplit(ts, split.test);
  c.threshold = threshold;
  c.target_sensitivity = o.target_sensitivity;
  c.metrics = metrics;
  c.top_features = TopFeaturesByGain(ts.feature_names, gain, 15);
  c.intended_use = o.intended_use;
  c.limitations = o.limitations;
  c.bootstrap_resamples = kBootstrapResamples;
  c.bootstrap_by_subject = true;
  if (!o.dataset.study.empty()) c.dataset_id += " (study " + o.dataset.study + ")";
  return c;
}
// --- end model card

class Trainer {
 public:
  Trainer(const TrainOptions& o, store::Lake& lake, store::MetaStore& meta)
      : o_(o), lake_(lake), meta_(meta) {}

  Result<TrainResult> Run() {
    store::RunRecord run;
    run.run_id = NewUuidV7();
    run.experiment = o_.model_name;
    run.status = "RUNNING";
    run.start_us = NowMicros();
    run.params = ParamsOf(o_);
    run.tags = {{"actor", o_.actor}, {"code_version", CTML_VERSION}};
    CTML_RETURN_NOT_OK(meta_.CreateRun(run).WithContext("create run"));
    result_.run_id = run.run_id;
    Status st = Train(run);
    run.end_us = NowMicros();
    if (!st.ok()) {
      run.status = "FAILED";
      run.tags["error"] = st.message().substr(0, 500);
      Status up = meta_.UpdateRun(run);
      (void)up;  // the training error is the one to report
      return st;
    }
    if (!o_.mlflow_uri.empty()) LogToMlflow(run);
    return std::move(result_);
  }

 private:
  void Progress(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (!o_.verbose) return;
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "[train] ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
    va_end(ap);
  }

  // --- MLflow mirror (issue 6 item 2; see ml/mlflow.h). Not a training failure when it fails:
  // a warning and the tag mlflow_error on our run; on success the tag mlflow_run_id.
  void LogToMlflow(store::RunRecord& run) {
    auto auc = result_.metrics.find("roc_auc");
    std::string description = "ctml " + result_.name + " v" + std::to_string(result_.version) +
                              ", dataset " + result_.dataset_id + ", test roc_auc " +
                              (auc == result_.metrics.end() ? "n/a" : Fmt(auc->second));
    Status st = LogTrainingToMlflow(o_.mlflow_uri, &run, result_.name, result_.version,
                                    result_.artifact_uri, result_.alias, description);
    if (st.ok()) {
      Progress("logged run and %s v%lld to MLflow (run %s)", result_.name.c_str(),
               static_cast<long long>(result_.version), run.tags["mlflow_run_id"].c_str());
    } else {
      std::fprintf(stderr, "[train] warning: MLflow logging failed: %s\n", st.ToString().c_str());
      run.tags["mlflow_error"] = st.message().substr(0, 500);
    }
    Status up = meta_.UpdateRun(run);
    if (!up.ok()) {
      std::fprintf(stderr, "[train] warning: cannot tag run with MLflow result: %s\n",
                   up.ToString().c_str());
    }
  }
  // --- end MLflow mirror

  Status Train(store::RunRecord& run) {
    const std::string& name = o_.model_name;
    // 1. Point-in-time training set.
    CTML_ASSIGN_OR_RETURN(auto ts,
                          features::BuildTrainingSet(lake_, *o_.spec, o_.label, o_.dataset));
    const size_t cols = ts.feature_names.size();
    if (ts.rows == 0 || cols == 0) {
      return Status::FailedPrecondition("training set for label '" + o_.label +
                                        "' is empty: process and materialize data first");
    }
    if (ts.x.size() != ts.rows * cols || ts.y.size() != ts.rows ||
        ts.subject_keys.size() != ts.rows) {
      return Status::Internal("training set arrays have inconsistent sizes");
    }
    size_t positives = Positives(ts.y);
    Progress("dataset %s: %zu rows, %zu features, %zu positives (%.1f%%)", ts.dataset_id.c_str(),
             ts.rows, cols, positives, 100.0 * static_cast<double>(positives) / ts.rows);
    if (positives == 0 || positives == ts.rows) {
      return Status::FailedPrecondition("label '" + o_.label +
                                        "' has a single class in the training set");
    }
    result_.dataset_id = ts.dataset_id;
    result_.feature_names = ts.feature_names;
    run.tags["dataset_id"] = ts.dataset_id;
    run.tags["spec_hash"] = ts.spec_hash;

    // 2. Split by subject.
    Split split = SplitBySubject(ts.subject_keys, {}, o_.seed);
    Matrix train = Gather(ts, split.train), valid = Gather(ts, split.valid),
           test = Gather(ts, split.test);
    Progress("split by subject: train %zu rows (%zu pos), valid %zu (%zu pos), test %zu (%zu pos)",
             train.rows, Positives(train.y), valid.rows, Positives(valid.y), test.rows,
             Positives(test.y));
    if (train.rows == 0 || valid.rows == 0 || test.rows == 0) {
      return Status::FailedPrecondition("too few subjects to split into train/valid/test");
    }
    if (Positives(valid.y) == 0) {
      Progress("warning: validation split has no positives; threshold falls back to 0.5");
    }
    if (Positives(test.y) == 0 || Positives(test.y) == test.rows) {
      Progress("warning: test split has a single class; ROC-AUC is undefined");
    }

    // 3. gbtree with early stopping.
    TrainParams params = o_.params;
    params.booster = "gbtree";
    params.seed = o_.seed;
    TrainReport report;
    CTML_ASSIGN_OR_RETURN(auto booster,
                          Booster::Train(train.view(), valid.view(), params, &report));
    for (size_t i = 0; i < report.valid_logloss.size(); ++i) {
      if (i % 25 == 0 || i + 1 == report.valid_logloss.size()) {
        Progress("round %zu valid-logloss %.5f", i, report.valid_logloss[i]);
      }
    }
    Progress("gbtree: %zu rounds, best iteration %d (valid-logloss %.5f), scale_pos_weight %.3f",
             report.valid_logloss.size(), report.best_iteration, report.best_valid_logloss,
             report.scale_pos_weight);
    result_.best_iteration = report.best_iteration;

    // 4. gblinear baseline.
    TrainParams lin = params;
    lin.booster = "gblinear";
    lin.eta = 0.5;
    lin.lambda = 0.0;
    CTML_ASSIGN_OR_RETURN(auto baseline, Booster::Train(train.view(), valid.view(), lin));
    CTML_ASSIGN_OR_RETURN(auto p_base, baseline->Predict(test.x.data(), test.rows, cols));
    double baseline_auc = RocAuc(test.y, p_base);

    // 4b. The registered booster: gbtree, or with booster "auto" the one with the higher
    // validation ROC-AUC (small studies: the linear model often generalizes better). The test
    // split plays no part in the choice.
    CTML_ASSIGN_OR_RETURN(auto p_valid_tree, booster->Predict(valid.x.data(), valid.rows, cols));
    CTML_ASSIGN_OR_RETURN(auto p_valid_lin, baseline->Predict(valid.x.data(), valid.rows, cols));
    const double tree_valid_auc = RocAuc(valid.y, p_valid_tree);
    const double lin_valid_auc = RocAuc(valid.y, p_valid_lin);
    CTML_ASSIGN_OR_RETURN(auto p_tree_test, booster->Predict(test.x.data(), test.rows, cols));
    const double tree_test_auc = RocAuc(test.y, p_tree_test);
    bool use_linear =
        o_.booster == "gblinear" || (o_.booster == "auto" && lin_valid_auc > tree_valid_auc);
    if (use_linear) booster.swap(baseline);  // `baseline` now holds the gbtree for comparison
    chosen_booster_ = use_linear ? "gblinear" : "gbtree";
    run.params["booster"] = chosen_booster_;
    Progress("registered booster: %s (validation ROC-AUC gbtree %.4f, gblinear %.4f; rule: %s)",
             chosen_booster_.c_str(), tree_valid_auc, lin_valid_auc, o_.booster.c_str());

    // 5. Threshold on validation, metrics on test.
    CTML_ASSIGN_OR_RETURN(auto p_valid, booster->Predict(valid.x.data(), valid.rows, cols));
    CTML_ASSIGN_OR_RETURN(auto p_test, booster->Predict(test.x.data(), test.rows, cols));
    double threshold = Positives(valid.y) == 0
                           ? 0.5
                           : ThresholdForSensitivity(valid.y, p_valid, o_.target_sensitivity);
    result_.threshold = threshold;
    ConfusionMatrix cm = Confusion(test.y, p_test, threshold);
    // Resampling subjects, not rows: a subject's examples are correlated.
    Interval ci =
        BootstrapCiBySubject(RocAuc, test.y, p_test, test.subjects, kBootstrapResamples, o_.seed);
    auto& m = result_.metrics;
    m["roc_auc"] = RocAuc(test.y, p_test);
    m["roc_auc_ci_low"] = ci.low;
    m["roc_auc_ci_high"] = ci.high;
    m["pr_auc"] = PrAuc(test.y, p_test);
    Interval pr_ci =
        BootstrapCiBySubject(PrAuc, test.y, p_test, test.subjects, kBootstrapResamples, o_.seed);
    m["pr_auc_ci_low"] = pr_ci.low;
    m["pr_auc_ci_high"] = pr_ci.high;
    m["brier"] = Brier(test.y, p_test);
    m["logloss"] = LogLoss(test.y, p_test);
    m["sensitivity"] = cm.sensitivity;
    m["specificity"] = cm.specificity;
    m["ppv"] = cm.ppv;
    m["npv"] = cm.npv;
    m["tp"] = static_cast<double>(cm.tp);
    m["fp"] = static_cast<double>(cm.fp);
    m["tn"] = static_cast<double>(cm.tn);
    m["fn"] = static_cast<double>(cm.fn);
    m["baseline_roc_auc"] = baseline_auc;  // the gblinear baseline
    m["gblinear_roc_auc"] = baseline_auc;
    m["gbtree_roc_auc"] = tree_test_auc;
    m["valid_roc_auc"] = RocAuc(valid.y, p_valid);
    if (!use_linear) m["best_iteration"] = report.best_iteration;
    m["n_train"] = static_cast<double>(train.rows);
    m["n_valid"] = static_cast<double>(valid.rows);
    m["n_test"] = static_cast<double>(test.rows);
    m["positives"] = static_cast<double>(positives);
    Progress("test: roc_auc %.4f [%.4f, %.4f] (baseline gblinear %.4f), pr_auc %.4f, brier %.4f",
             m["roc_auc"], ci.low, ci.high, baseline_auc, m["pr_auc"], m["brier"]);
    Progress(
        "threshold %.4f (target sensitivity %.2f on valid): sensitivity %.3f, "
        "specificity %.3f, ppv %.3f, npv %.3f",
        threshold, o_.target_sensitivity, cm.sensitivity, cm.specificity, cm.ppv, cm.npv);

    Json metrics_json = Json::object();
    for (const auto& [k, v] : m) metrics_json[k] = Num(v);
    Json calibration = Json::array();
    for (const auto& b : CalibrationTable(test.y, p_test, 10, true)) {
      calibration.push_back({{"low", b.low},
                             {"high", b.high},
                             {"mean_predicted", b.mean_predicted},
                             {"observed_rate", b.observed_rate},
                             {"count", b.count}});
    }
    Json importance = Json::object();
    // gbtree: total gain per feature; gblinear (no splits): mean |SHAP contribution| on the
    // validation split, so the card still says what the model relies on.
    std::map<size_t, double> gain;
    if (use_linear) {
      CTML_ASSIGN_OR_RETURN(auto contrib, booster->Contributions(valid.x.data(), valid.rows, cols));
      for (size_t r = 0; r < valid.rows; ++r) {
        for (size_t j = 0; j < cols; ++j) {
          gain[j] += std::fabs(contrib[r * (cols + 1) + j]) / static_cast<double>(valid.rows);
        }
      }
    } else {
      CTML_ASSIGN_OR_RETURN(gain, booster->GainImportance());
    }
    for (const auto& [idx, g] : gain) {
      if (idx < cols) importance[ts.feature_names[idx]] = g;
    }
    Json params_json = Json::object();
    for (const auto& [k, v] : run.params) params_json[k] = v;
    // Model card inputs (card.md and the plots are written with the artifacts, step 7).
    ModelCardInput card = CardInput(o_, ts, split, m, threshold, gain);
    card.run_id = result_.run_id;
    card.calibration = CalibrationTable(test.y, p_test, 10, true);
    card.roc = RocCurve(test.y, p_test);
    card.baseline_roc = RocCurve(test.y, use_linear ? p_tree_test : p_base);
    card.comparison = use_linear ? "gbtree" : "gblinear";
    card.importance_kind = use_linear ? "mean abs. contribution on validation" : "total gain";
    card.booster = chosen_booster_;
    if (o_.booster == "auto") {
      card.booster_note = "chosen over " +
                          std::string(chosen_booster_ == "gbtree" ? "gblinear" : "gbtree") +
                          " by validation ROC-AUC (" + Fmt(tree_valid_auc) + " gbtree, " +
                          Fmt(lin_valid_auc) + " gblinear)";
    }

    // 6a. Promotion gate, decided before registration so the manifest records it.
    GateDecision gate = DecideGate(test, ts.feature_names, p_test, m["roc_auc"]);
    if (!std::isnan(gate.production_auc)) m["production_roc_auc_same_test"] = gate.production_auc;
    card.alias = gate.passed ? "production" : "none (registered, not promoted)";
    card.alias_reason = gate.reason;
    Json promotion = {{"passed", gate.passed},
                      {"alias", gate.passed ? "production" : ""},
                      {"reason", gate.reason},
                      {"production_version", gate.production_version},
                      {"production_roc_auc_same_test", Num(gate.production_auc)},
                      {"gate",
                       {{"min_test_roc_auc", o_.gate.min_test_roc_auc},
                        {"must_beat_production", o_.gate.must_beat_production},
                        {"min_improvement", o_.gate.min_improvement}}}};
    metrics_json = Json::object();
    for (const auto& [k, v] : m) metrics_json[k] = Num(v);

    // 6. Register: the version number is known only after CreateModelVersion; predict it so the
    // manifest handed to the registry names the same version and artifact folder.
    int64_t next_version = 1;
    auto versions = meta_.ListModelVersions(name);
    if (versions.ok()) {
      for (const auto& v : *versions) next_version = std::max(next_version, v.version + 1);
    } else if (versions.status().code() != StatusCode::kNotFound) {
      return versions.status().WithContext("list model versions");
    }
    auto artifact_uri = [&](int64_t v) { return "models/" + name + "/" + std::to_string(v); };
    Json manifest = {
        {"name", name},
        {"version", next_version},
        {"run_id", result_.run_id},
        {"feature_names", ts.feature_names},
        {"spec_hash", ts.spec_hash},
        {"label", o_.label},
        {"threshold", threshold},
        {"target_sensitivity", o_.target_sensitivity},
        {"dataset_id", ts.dataset_id},
        {"dataset_path", ts.dataset_path},
        {"metrics", metrics_json},
        {"calibration", calibration},
        {"feature_importance_gain", importance},
        {"feature_importance_kind", use_linear ? "mean_abs_contribution_valid" : "total_gain"},
        {"params", params_json},
        {"best_iteration", use_linear ? Json(nullptr) : Json(report.best_iteration)},
        {"trained_at", FormatIso8601(NowMicros())},
        {"code_version", CTML_VERSION},
        {"booster", chosen_booster_},
        {"booster_selection",
         {{"rule", o_.booster},
          {"gbtree_valid_roc_auc", Num(tree_valid_auc)},
          {"gblinear_valid_roc_auc", Num(lin_valid_auc)}}},
        {"artifact_uri", artifact_uri(next_version)},
        {"imputation", use_linear ? "missing values are NaN: gblinear gives them no contribution"
                                  : "missing values are NaN: each gbtree split sends them to its "
                                    "learned default direction"},
        {"promotion", promotion},
        {"split_subjects", kSplitFile}};
    manifest["card"] = kCardFile;
    manifest["plots"] = {kRocPlotFile, kCalibrationPlotFile};
    CTML_ASSIGN_OR_RETURN(auto mv,
                          meta_.CreateModelVersion(name, result_.run_id, artifact_uri(next_version),
                                                   manifest.dump()));
    if (mv.version != next_version) {
      // A concurrent registration took the predicted number: the artifacts follow the real one.
      Progress("warning: registry assigned version %lld (expected %lld)",
               static_cast<long long>(mv.version), static_cast<long long>(next_version));
      manifest["version"] = mv.version;
      manifest["artifact_uri"] = artifact_uri(mv.version);
    }
    result_.name = name;
    result_.version = mv.version;
    result_.artifact_uri = artifact_uri(mv.version);
    result_.manifest_json = manifest.dump(2);

    // 7. Artifacts.
    CTML_ASSIGN_OR_RETURN(std::string model_bytes, booster->Save());
    CTML_RETURN_NOT_OK(lake_.PutBytes(result_.artifact_uri + "/model.ubj", model_bytes));
    CTML_RETURN_NOT_OK(
        lake_.PutBytes(result_.artifact_uri + "/manifest.json", result_.manifest_json + "\n"));
    CTML_RETURN_NOT_OK(lake_.PutBytes(result_.artifact_uri + "/" + kSplitFile,
                                      SplitSubjects(train, valid, test).dump() + "\n"));
    Progress("wrote %s/{model.ubj,manifest.json} (%zu bytes model)", result_.artifact_uri.c_str(),
             model_bytes.size());
    card.metrics = m;  // as in the manifest
    card.version = mv.version;
    card.artifact_uri = result_.artifact_uri;
    card.trained_at = manifest["trained_at"].get<std::string>();
    CTML_ASSIGN_OR_RETURN(auto card_files, RenderModelCardFiles(card));
    for (const auto& [file, bytes] : card_files) {
      CTML_RETURN_NOT_OK(lake_.PutBytes(result_.artifact_uri + "/" + file, bytes));
    }
    Progress("wrote %s/{%s,%s,%s} (model card)", result_.artifact_uri.c_str(), kCardFile,
             kRocPlotFile, kCalibrationPlotFile);

    // 8. Run record.
    run.status = "FINISHED";
    run.end_us = NowMicros();
    for (const auto& [k, v] : m) {
      if (std::isfinite(v)) run.metrics[k] = v;
    }
    run.metrics["threshold"] = threshold;
    run.tags["model_version"] = std::to_string(mv.version);
    run.tags["artifact_uri"] = result_.artifact_uri;  // model.ubj, manifest, card, plots
    CTML_RETURN_NOT_OK(meta_.UpdateRun(run).WithContext("update run"));

    // 9. Alias (when the gate passed) and audit.
    std::string object = name + "/" + std::to_string(mv.version);
    Json reg_detail = {{"run_id", result_.run_id},
                       {"artifact_uri", result_.artifact_uri},
                       {"dataset_id", ts.dataset_id},
                       {"spec_hash", ts.spec_hash},
                       {"roc_auc", Num(m["roc_auc"])}};
    CTML_RETURN_NOT_OK(
        meta_.AppendAudit(o_.actor, "model.register", object, reg_detail.dump()).status());
    result_.gate_passed = gate.passed;
    result_.gate_reason = gate.reason;
    if (gate.passed) {
      CTML_RETURN_NOT_OK(meta_.SetAlias(name, "production", mv.version));
      result_.alias = "production";
      Json promo_detail = {{"alias", "production"},
                           {"roc_auc", Num(m["roc_auc"])},
                           {"previous_version", gate.production_version},
                           {"previous_roc_auc_same_test", Num(gate.production_auc)},
                           {"reason", "promotion gate passed: " + gate.reason}};
      CTML_RETURN_NOT_OK(
          meta_.AppendAudit(o_.actor, "model.promote", object, promo_detail.dump()).status());
      Progress("registered %s and promoted it to production (%s)", object.c_str(),
               gate.reason.c_str());
    } else {
      Json gate_detail = {{"passed", false},
                          {"roc_auc", Num(m["roc_auc"])},
                          {"production_version", gate.production_version},
                          {"production_roc_auc_same_test", Num(gate.production_auc)},
                          {"reason", gate.reason}};
      CTML_RETURN_NOT_OK(
          meta_.AppendAudit(o_.actor, "model.gate", object, gate_detail.dump()).status());
      Progress("registered %s but NOT promoted: %s", object.c_str(), gate.reason.c_str());
    }
    return Status::OK();
  }

  struct GateDecision {
    bool passed = false;
    std::string reason;
    int64_t production_version = 0;
    double production_auc = std::nan("");  // production re-scored on this test split
  };

  // The promotion gate (see trainer.h). Errors while re-scoring production fail the gate (with
  // the reason) rather than the training: the new version is still registered.
  GateDecision DecideGate(const Matrix& test, const std::vector<std::string>& names,
                          const std::vector<float>& p_new, double new_auc) {
    GateDecision d;
    const PromotionGate& g = o_.gate;
    // The current production version is named in every decision, also when the minimum fails.
    auto prod = meta_.GetAlias(o_.model_name, "production");
    if (!prod.ok() && prod.status().code() != StatusCode::kNotFound) {
      d.reason = "could not read the production alias: " + prod.status().message();
      return d;
    }
    if (prod.ok()) d.production_version = prod->version;
    if (std::isnan(new_auc)) {
      d.reason = "test ROC-AUC is undefined (the test split has a single class)";
      return d;
    }
    if (new_auc < g.min_test_roc_auc) {
      d.reason = "test ROC-AUC " + Fmt(new_auc) + " < gate minimum " + Fmt(g.min_test_roc_auc);
      return d;
    }
    if (!prod.ok()) {
      d.passed = true;
      d.reason = "test ROC-AUC " + Fmt(new_auc) + " >= minimum " + Fmt(g.min_test_roc_auc) +
                 "; no production version yet";
      return d;
    }
    const std::string pv = "production v" + std::to_string(prod->version);
    if (!g.must_beat_production) {
      d.passed = true;
      d.reason = "test ROC-AUC " + Fmt(new_auc) + " >= minimum " + Fmt(g.min_test_roc_auc) +
                 " (comparison with " + pv + " disabled)";
      return d;
    }
    auto scored = ScoreOnTest(*prod, test, names);
    if (!scored.ok()) {
      d.reason = pv + " could not be re-scored on this test split (" + scored.status().message() +
                 "); promote by hand after review";
      return d;
    }
    // Only test subjects production did not train or validate on: on the others its score is
    // optimistic. Versions from before split_subjects.json are compared on the whole split.
    std::set<std::string> seen;
    const bool split_known = ProductionSubjects(*prod, &seen);
    std::vector<float> y, p_old, p_cur;
    std::set<std::string> subjects;
    for (size_t r = 0; r < test.rows; ++r) {
      if (seen.count(test.subjects[r])) continue;
      y.push_back(test.y[r]);
      p_old.push_back((*scored)[r]);
      p_cur.push_back(p_new[r]);
      subjects.insert(test.subjects[r]);
    }
    const std::string on =
        " on the " + std::to_string(subjects.size()) + " test subjects" +
        (split_known ? " neither version trained on"
                     : " (" + pv + "'s split is not recorded: some may have been in its training)");
    d.production_auc = RocAuc(y, p_old);
    const double cur_auc = RocAuc(y, p_cur);
    if (std::isnan(d.production_auc) || std::isnan(cur_auc)) {
      d.reason = "cannot compare with " + pv + on +
                 ": ROC-AUC is undefined there (one class or "
                 "none); promote by hand after review";
      return d;
    }
    const std::string margin =
        g.min_improvement > 0 ? " + " + Fmt(g.min_improvement) : std::string();
    if (cur_auc >= d.production_auc + g.min_improvement) {
      d.passed = true;
      d.reason = "ROC-AUC " + Fmt(cur_auc) + " >= " + pv + "'s " + Fmt(d.production_auc) + margin +
                 on + " (whole test split " + Fmt(new_auc) + ")";
    } else {
      d.reason = "ROC-AUC " + Fmt(cur_auc) + " does not beat " + pv + "'s " +
                 Fmt(d.production_auc) + margin + on + " (whole test split " + Fmt(new_auc) + ")";
    }
    return d;
  }

  // The subjects a registered version trained or validated on, from its split_subjects.json;
  // false when it has none (older versions).
  bool ProductionSubjects(const store::ModelVersion& mv, std::set<std::string>* out) {
    auto bytes = lake_.GetBytes(mv.artifact_uri + "/" + kSplitFile);
    if (!bytes.ok()) return false;
    auto doc = ParseJson(*bytes, 8);
    if (!doc.ok() || !doc->is_object()) return false;
    for (const char* split : {"train", "valid"}) {
      auto it = doc->find(split);
      if (it == doc->end() || !it->is_array()) return false;
      for (const auto& k : *it) {
        if (k.is_string()) out->insert(k.get<std::string>());
      }
    }
    return true;
  }

  // Predictions of a registered version on `test` (columns mapped by feature name; a feature the
  // old version needs and this training set lacks is missing = NaN for it).
  Result<std::vector<float>> ScoreOnTest(const store::ModelVersion& mv, const Matrix& test,
                                         const std::vector<std::string>& names) {
    auto doc = ParseJson(mv.manifest_json, 64);
    if (!doc.ok() || !doc->is_object() || !doc->contains("feature_names") ||
        !(*doc)["feature_names"].is_array()) {
      return Status::Invalid("its manifest has no feature_names");
    }
    std::vector<std::string> old_names;
    for (const auto& n : (*doc)["feature_names"]) {
      if (!n.is_string()) return Status::Invalid("its manifest has a non-string feature name");
      old_names.push_back(n.get<std::string>());
    }
    CTML_ASSIGN_OR_RETURN(std::string bytes, lake_.GetBytes(mv.artifact_uri + "/model.ubj"));
    CTML_ASSIGN_OR_RETURN(auto booster, Booster::Load(bytes));
    std::map<std::string, size_t> index;
    for (size_t j = 0; j < names.size(); ++j) index[names[j]] = j;
    const size_t oc = old_names.size();
    std::vector<float> x(test.rows * oc, std::numeric_limits<float>::quiet_NaN());
    for (size_t j = 0; j < oc; ++j) {
      auto it = index.find(old_names[j]);
      if (it == index.end()) continue;
      for (size_t r = 0; r < test.rows; ++r) x[r * oc + j] = test.x[r * test.cols + it->second];
    }
    return booster->Predict(x.data(), test.rows, oc);
  }

  const TrainOptions& o_;
  store::Lake& lake_;
  store::MetaStore& meta_;
  TrainResult result_;
  std::string chosen_booster_ = "gbtree";
};

}  // namespace

std::map<std::string, double> ManifestMetrics(const std::string& manifest_json) {
  std::map<std::string, double> out;
  auto doc = ParseJson(manifest_json, 64);
  if (!doc.ok() || !doc->is_object()) return out;
  auto it = doc->find("metrics");
  if (it == doc->end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_number())
      out[k] = v.get<double>();
    else if (v.is_null())
      out[k] = std::nan("");
  }
  return out;
}

Result<TrainResult> TrainModel(const TrainOptions& options, store::Lake& lake,
                               store::MetaStore& meta) {
  if (options.spec == nullptr) return Status::Invalid("feature spec is required", "spec");
  if (options.model_name.empty()) return Status::Invalid("model name is required", "model");
  for (char c : options.model_name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
      return Status::Invalid("model name may contain only letters, digits, '_' and '-'", "model");
    }
  }
  if (options.label.empty()) return Status::Invalid("label is required", "label");
  if (!(options.target_sensitivity > 0 && options.target_sensitivity <= 1)) {
    return Status::Invalid("target_sensitivity must be in (0, 1]", "target_sensitivity");
  }
  if (options.booster != "gbtree" && options.booster != "gblinear" && options.booster != "auto") {
    return Status::Invalid(
        "booster must be gbtree, gblinear or auto (got '" + options.booster + "')", "booster");
  }
  if (!(options.gate.min_test_roc_auc >= 0 && options.gate.min_test_roc_auc <= 1) ||
      !(options.gate.min_improvement >= 0 && options.gate.min_improvement < 1)) {
    return Status::Invalid("gate.min_test_roc_auc must be in [0, 1], min_improvement in [0, 1)",
                           "gate");
  }
  Trainer t(options, lake, meta);
  return t.Run();
}

}  // namespace ctml::ml
