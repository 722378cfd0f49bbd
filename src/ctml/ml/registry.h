// Model registry operations over the MetaStore, shared by `ctml registry` and the registry HTTP
// API (serve/registry_api.h). They return data, never print.
//
//   CTML_ASSIGN_OR_RETURN(auto models, ctml::ml::registry::ListModels(*meta));
//   CTML_ASSIGN_OR_RETURN(auto mv, ctml::ml::registry::GetVersion(*meta, "vitals_risk",
//   "staging")); CTML_ASSIGN_OR_RETURN(auto p, ctml::ml::registry::Promote(*meta, "vitals_risk", 3,
//                                                            "production", "alice", "reviewed"));
//   CTML_ASSIGN_OR_RETURN(auto c, ctml::ml::registry::Compare(*meta, "vitals_risk", "1",
//   "production")); std::string body = ctml::ml::registry::ToJson(c).dump();   // (json.h in .cc
//   files only)
//
// A version reference is a version number ("3"), an alias name ("production"), or "" for the
// default: the production version when set, else the latest.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/store/meta_store.h"

namespace ctml::ml::registry {

// The promotion gate's decision recorded in the manifest ("promotion" object); `recorded` is
// false for versions registered before the gate wrote it.
struct PromotionDecision {
  bool recorded = false;
  std::string alias;  // "production", "staging" or "" (registered, not promoted)
  bool passed = false;
  std::string reason;
};

struct VersionSummary {
  std::string name;
  int64_t version = 0;
  std::vector<std::string> aliases;  // the aliases pointing at this version now, sorted
  std::string run_id;
  std::string artifact_uri;
  std::string dataset_id;
  std::string spec_hash;
  std::string label;
  int64_t created_us = 0;
  double threshold = 0;  // NaN when the manifest has none
  // roc_auc, roc_auc_ci_low, roc_auc_ci_high, pr_auc, brier, ... (NaN = not computed).
  std::map<std::string, double> metrics;
  PromotionDecision promotion;
};

struct ModelSummary {
  std::string name;
  std::map<std::string, int64_t> aliases;  // alias -> version
  std::vector<VersionSummary> versions;    // ascending version
};

// Every registered model with its versions.
Result<std::vector<ModelSummary>> ListModels(store::MetaStore& meta);
// One model; NotFound when it has no version.
Result<ModelSummary> GetModel(store::MetaStore& meta, const std::string& name);
// Resolves a version reference (see the file comment). NotFound for an unknown model, version
// or unset alias; Invalid for a reference that is neither a number nor a valid alias name.
Result<store::ModelVersion> GetVersion(store::MetaStore& meta, const std::string& name,
                                       const std::string& ref = "");
VersionSummary Summarize(const store::ModelVersion& mv,
                         const std::map<std::string, int64_t>& aliases);

// Alias names: [a-z0-9_-]{1,32}.
bool ValidAliasName(const std::string& alias);

struct PromoteResult {
  std::string name;
  int64_t version = 0;
  std::string alias;
  int64_t previous_version = 0;  // 0 = the alias was unset
  int64_t audit_seq = 0;
};

// Points `alias` at `version` and appends the audit record "model.promote" (object
// "<name>/<version>", detail {alias, previous_version, reason, actor}). NotFound for an unknown
// version, Invalid for a bad alias name or an empty actor.
Result<PromoteResult> Promote(store::MetaStore& meta, const std::string& name, int64_t version,
                              const std::string& alias, const std::string& actor,
                              const std::string& reason);

struct MetricDiff {
  std::string metric;
  double a = 0, b = 0;  // NaN when a version lacks the metric
  double diff = 0;      // b - a (NaN when either is NaN)
};

struct CompareResult {
  std::string name;
  std::string ref_a, ref_b;  // as given
  VersionSummary a, b;
  std::vector<MetricDiff> metrics;  // roc_auc, its CI, pr_auc, brier, ..., threshold
  bool roc_auc_ci_known = false;    // both versions have a ROC-AUC interval
  bool roc_auc_ci_overlap = false;  // meaningful only when roc_auc_ci_known
  bool same_dataset = false;
  bool same_spec_hash = false;
  std::vector<std::string> features_only_a, features_only_b;
  std::vector<std::pair<std::string, double>> top_gain_a, top_gain_b;  // top 10 by gain
  std::vector<std::string> notes;  // caveats, e.g. metrics from different test sets
};

// Compares two versions of `name`, each a version number or an alias.
Result<CompareResult> Compare(store::MetaStore& meta, const std::string& name, const std::string& a,
                              const std::string& b);

// Runs of one experiment (the model name), oldest first; "" = every registered model's runs.
Result<std::vector<store::RunRecord>> ListRuns(store::MetaStore& meta,
                                               const std::string& experiment);
Result<store::RunRecord> GetRun(store::MetaStore& meta, const std::string& run_id);

// JSON texts (the HTTP bodies and `--json` output). NaN metrics become null.
std::string ModelsJson(const std::vector<ModelSummary>& models, int indent = -1);
std::string ModelJson(const ModelSummary& model, int indent = -1);
// The stored manifest, pretty-printed when indent >= 0 (as stored when it is not JSON).
std::string ManifestJson(const store::ModelVersion& mv, int indent = -1);
std::string PromoteJson(const PromoteResult& result, int indent = -1);
std::string CompareJson(const CompareResult& result, int indent = -1);
std::string RunJson(const store::RunRecord& run, int indent = -1);
std::string RunsJson(const std::vector<store::RunRecord>& runs, int indent = -1);

}  // namespace ctml::ml::registry
