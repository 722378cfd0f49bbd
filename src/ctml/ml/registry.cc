#include "ctml/ml/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ml/trainer.h"

namespace ctml::ml::registry {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kManifestDepth = 64;

// The metrics Compare lists, in this order ("threshold" comes from the manifest's top level).
constexpr const char* kCompareMetrics[] = {
    "roc_auc", "roc_auc_ci_low",   "roc_auc_ci_high", "pr_auc",
    "brier",   "sensitivity",      "specificity",     "ppv",
    "npv",     "baseline_roc_auc", "n_test",          "threshold"};

Json Num(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

std::string Dump(const Json& j, int indent) {
  // Manifests are our own JSON, but a hand-edited one may hold invalid UTF-8: replace it rather
  // than throw.
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

Json ParseManifest(const std::string& text) {
  auto doc = ParseJson(text, kManifestDepth);
  return doc.ok() && doc->is_object() ? *doc : Json::object();
}

std::string StringField(const Json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<int64_t> ParseVersionNumber(const std::string& text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v <= 0) return std::nullopt;
  return v;
}

std::vector<std::string> FeatureNames(const Json& doc) {
  std::vector<std::string> out;
  auto it = doc.find("feature_names");
  if (it == doc.end() || !it->is_array()) return out;
  for (const auto& f : *it) {
    if (f.is_string()) out.push_back(f.get<std::string>());
  }
  return out;
}

std::vector<std::pair<std::string, double>> TopGain(const Json& doc, size_t n) {
  std::vector<std::pair<std::string, double>> out;
  auto it = doc.find("feature_importance_gain");
  if (it == doc.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    if (v.is_number()) out.emplace_back(k, v.get<double>());
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    return x.second != y.second ? x.second > y.second : x.first < y.first;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

double Metric(const VersionSummary& v, const std::string& key) {
  if (key == "threshold") return v.threshold;
  auto it = v.metrics.find(key);
  return it == v.metrics.end() ? kNaN : it->second;
}

Json VersionJson(const VersionSummary& v) {
  Json metrics = Json::object();
  for (const auto& [k, x] : v.metrics) metrics[k] = Num(x);
  Json promotion = nullptr;
  if (v.promotion.recorded) {
    promotion = {{"alias", v.promotion.alias},
                 {"passed", v.promotion.passed},
                 {"reason", v.promotion.reason}};
  }
  return {{"name", v.name},
          {"version", v.version},
          {"aliases", v.aliases},
          {"run_id", v.run_id},
          {"artifact_uri", v.artifact_uri},
          {"dataset_id", v.dataset_id},
          {"spec_hash", v.spec_hash},
          {"label", v.label},
          {"created", v.created_us > 0 ? Json(FormatIso8601(v.created_us)) : Json(nullptr)},
          {"threshold", Num(v.threshold)},
          {"metrics", metrics},
          {"promotion", promotion}};
}

Json ModelToJson(const ModelSummary& m) {
  Json versions = Json::array();
  for (const auto& v : m.versions) versions.push_back(VersionJson(v));
  return {{"name", m.name}, {"aliases", m.aliases}, {"versions", versions}};
}

Json RunToJson(const store::RunRecord& r) {
  Json metrics = Json::object();
  for (const auto& [k, x] : r.metrics) metrics[k] = Num(x);
  return {{"run_id", r.run_id},
          {"experiment", r.experiment},
          {"status", r.status},
          {"started", r.start_us > 0 ? Json(FormatIso8601(r.start_us)) : Json(nullptr)},
          {"ended", r.end_us > 0 ? Json(FormatIso8601(r.end_us)) : Json(nullptr)},
          {"params", r.params},
          {"metrics", metrics},
          {"tags", r.tags}};
}

}  // namespace

bool ValidAliasName(const std::string& alias) {
  if (alias.empty() || alias.size() > 32) return false;
  return std::all_of(alias.begin(), alias.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

VersionSummary Summarize(const store::ModelVersion& mv,
                         const std::map<std::string, int64_t>& aliases) {
  VersionSummary s;
  s.name = mv.name;
  s.version = mv.version;
  s.run_id = mv.run_id;
  s.artifact_uri = mv.artifact_uri;
  s.created_us = mv.created_us;
  for (const auto& [alias, version] : aliases) {
    if (version == mv.version) s.aliases.push_back(alias);
  }
  const Json doc = ParseManifest(mv.manifest_json);
  s.dataset_id = StringField(doc, "dataset_id");
  s.spec_hash = StringField(doc, "spec_hash");
  s.label = StringField(doc, "label");
  auto th = doc.find("threshold");
  s.threshold = th != doc.end() && th->is_number() ? th->get<double>() : kNaN;
  s.metrics = ManifestMetrics(mv.manifest_json);
  auto p = doc.find("promotion");
  if (p != doc.end() && p->is_object()) {
    s.promotion.recorded = true;
    s.promotion.alias = StringField(*p, "alias");
    auto passed = p->find("passed");
    s.promotion.passed = passed != p->end() && passed->is_boolean() && passed->get<bool>();
    s.promotion.reason = StringField(*p, "reason");
  }
  return s;
}

Result<ModelSummary> GetModel(store::MetaStore& meta, const std::string& name) {
  CTML_ASSIGN_OR_RETURN(auto versions, meta.ListModelVersions(name));
  if (versions.empty()) return Status::NotFound("no model named '" + name + "'");
  ModelSummary m;
  m.name = name;
  CTML_ASSIGN_OR_RETURN(m.aliases, meta.ListAliases(name));
  std::sort(versions.begin(), versions.end(),
            [](const auto& x, const auto& y) { return x.version < y.version; });
  for (const auto& v : versions) m.versions.push_back(Summarize(v, m.aliases));
  return m;
}

Result<std::vector<ModelSummary>> ListModels(store::MetaStore& meta) {
  CTML_ASSIGN_OR_RETURN(auto names, meta.ListModels());
  std::vector<ModelSummary> out;
  for (const auto& name : names) {
    auto m = GetModel(meta, name);
    if (!m.ok() && m.status().code() == StatusCode::kNotFound) continue;  // registered, no version
    CTML_RETURN_NOT_OK(m.status());
    out.push_back(std::move(*m));
  }
  return out;
}

Result<store::ModelVersion> GetVersion(store::MetaStore& meta, const std::string& name,
                                       const std::string& ref) {
  if (!ref.empty()) {
    if (auto number = ParseVersionNumber(ref)) return meta.GetModelVersion(name, *number);
    if (!ValidAliasName(ref)) {
      return Status::Invalid("version '" + ref + "' is neither a version number nor an alias",
                             "version");
    }
    return meta.GetAlias(name, ref);
  }
  auto prod = meta.GetAlias(name, "production");
  if (prod.ok() || prod.status().code() != StatusCode::kNotFound) return prod;
  CTML_ASSIGN_OR_RETURN(auto versions, meta.ListModelVersions(name));
  if (versions.empty()) return Status::NotFound("no model named '" + name + "'");
  return *std::max_element(versions.begin(), versions.end(),
                           [](const auto& x, const auto& y) { return x.version < y.version; });
}

Result<PromoteResult> Promote(store::MetaStore& meta, const std::string& name, int64_t version,
                              const std::string& alias, const std::string& actor,
                              const std::string& reason) {
  if (!ValidAliasName(alias)) {
    return Status::Invalid("alias '" + alias + "' must match [a-z0-9_-]{1,32}", "alias");
  }
  if (actor.empty()) return Status::Invalid("actor must not be empty", "actor");
  if (version <= 0) return Status::Invalid("version must be a positive number", "version");
  CTML_ASSIGN_OR_RETURN(auto mv, meta.GetModelVersion(name, version));
  PromoteResult r;
  r.name = name;
  r.version = mv.version;
  r.alias = alias;
  auto prev = meta.GetAlias(name, alias);
  if (prev.ok()) {
    r.previous_version = prev->version;
  } else if (prev.status().code() != StatusCode::kNotFound) {
    return prev.status().WithContext("get alias");
  }
  CTML_RETURN_NOT_OK(meta.SetAlias(name, alias, mv.version));
  Json detail = {{"alias", alias},
                 {"previous_version", r.previous_version},
                 {"reason", reason.empty() ? "manual promotion" : reason},
                 {"actor", actor}};
  CTML_ASSIGN_OR_RETURN(
      auto rec, meta.AppendAudit(actor, "model.promote", name + "/" + std::to_string(mv.version),
                                 Dump(detail, -1)));
  r.audit_seq = rec.seq;
  return r;
}

Result<CompareResult> Compare(store::MetaStore& meta, const std::string& name, const std::string& a,
                              const std::string& b) {
  if (a.empty()) return Status::Invalid("version a is required", "a");
  if (b.empty()) return Status::Invalid("version b is required", "b");
  CTML_ASSIGN_OR_RETURN(auto aliases, meta.ListAliases(name));
  auto va = GetVersion(meta, name, a);
  if (!va.ok()) return va.status().WithContext("a");
  auto vb = GetVersion(meta, name, b);
  if (!vb.ok()) return vb.status().WithContext("b");
  CompareResult c;
  c.name = name;
  c.ref_a = a;
  c.ref_b = b;
  c.a = Summarize(*va, aliases);
  c.b = Summarize(*vb, aliases);
  for (const char* key : kCompareMetrics) {
    MetricDiff d;
    d.metric = key;
    d.a = Metric(c.a, key);
    d.b = Metric(c.b, key);
    d.diff = std::isfinite(d.a) && std::isfinite(d.b) ? d.b - d.a : kNaN;
    c.metrics.push_back(d);
  }
  const double alo = Metric(c.a, "roc_auc_ci_low"), ahi = Metric(c.a, "roc_auc_ci_high");
  const double blo = Metric(c.b, "roc_auc_ci_low"), bhi = Metric(c.b, "roc_auc_ci_high");
  c.roc_auc_ci_known =
      std::isfinite(alo) && std::isfinite(ahi) && std::isfinite(blo) && std::isfinite(bhi);
  c.roc_auc_ci_overlap = c.roc_auc_ci_known && alo <= bhi && blo <= ahi;
  c.same_dataset = !c.a.dataset_id.empty() && c.a.dataset_id == c.b.dataset_id;
  c.same_spec_hash = !c.a.spec_hash.empty() && c.a.spec_hash == c.b.spec_hash;

  const Json da = ParseManifest(va->manifest_json), db = ParseManifest(vb->manifest_json);
  const auto fa = FeatureNames(da), fb = FeatureNames(db);
  const std::set<std::string> sa(fa.begin(), fa.end()), sb(fb.begin(), fb.end());
  for (const auto& f : fa) {
    if (!sb.count(f)) c.features_only_a.push_back(f);
  }
  for (const auto& f : fb) {
    if (!sa.count(f)) c.features_only_b.push_back(f);
  }
  c.top_gain_a = TopGain(da, 10);
  c.top_gain_b = TopGain(db, 10);

  if (!c.same_dataset) {
    c.notes.push_back(
        "dataset ids differ: the metrics come from different test sets and are not strictly "
        "comparable");
  }
  if (!c.same_spec_hash) {
    c.notes.push_back("feature spec hashes differ: the versions were trained on different specs");
  }
  if (c.roc_auc_ci_known) {
    c.notes.push_back(c.roc_auc_ci_overlap
                          ? "the ROC-AUC 95% intervals overlap: the difference may be noise"
                          : "the ROC-AUC 95% intervals do not overlap");
  }
  return c;
}

Result<std::vector<store::RunRecord>> ListRuns(store::MetaStore& meta,
                                               const std::string& experiment) {
  if (!experiment.empty()) return meta.ListRuns(experiment);
  CTML_ASSIGN_OR_RETURN(auto names, meta.ListModels());
  std::vector<store::RunRecord> out;
  for (const auto& name : names) {
    CTML_ASSIGN_OR_RETURN(auto runs, meta.ListRuns(name));
    for (auto& r : runs) out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& x, const auto& y) { return x.start_us < y.start_us; });
  return out;
}

Result<store::RunRecord> GetRun(store::MetaStore& meta, const std::string& run_id) {
  if (run_id.empty()) return Status::Invalid("run id must not be empty", "run_id");
  return meta.GetRun(run_id);
}

std::string ModelsJson(const std::vector<ModelSummary>& models, int indent) {
  Json arr = Json::array();
  for (const auto& m : models) arr.push_back(ModelToJson(m));
  return Dump(Json{{"models", arr}}, indent);
}

std::string ModelJson(const ModelSummary& model, int indent) {
  return Dump(ModelToJson(model), indent);
}

std::string ManifestJson(const store::ModelVersion& mv, int indent) {
  auto doc = ParseJson(mv.manifest_json, kManifestDepth);
  return doc.ok() ? Dump(*doc, indent) : mv.manifest_json;
}

std::string PromoteJson(const PromoteResult& r, int indent) {
  return Dump(
      Json{{"name", r.name},
           {"version", r.version},
           {"alias", r.alias},
           {"previous_version", r.previous_version > 0 ? Json(r.previous_version) : Json(nullptr)},
           {"audit_seq", r.audit_seq}},
      indent);
}

std::string CompareJson(const CompareResult& c, int indent) {
  Json metrics = Json::array();
  for (const auto& d : c.metrics) {
    metrics.push_back(
        {{"metric", d.metric}, {"a", Num(d.a)}, {"b", Num(d.b)}, {"diff", Num(d.diff)}});
  }
  auto gain = [](const std::vector<std::pair<std::string, double>>& g) {
    Json arr = Json::array();
    for (const auto& [f, v] : g) arr.push_back({{"feature", f}, {"gain", Num(v)}});
    return arr;
  };
  Json out = {
      {"name", c.name},
      {"a", {{"ref", c.ref_a}, {"version", VersionJson(c.a)}, {"top_gain", gain(c.top_gain_a)}}},
      {"b", {{"ref", c.ref_b}, {"version", VersionJson(c.b)}, {"top_gain", gain(c.top_gain_b)}}},
      {"metrics", metrics},
      {"roc_auc_ci_overlap", c.roc_auc_ci_known ? Json(c.roc_auc_ci_overlap) : Json(nullptr)},
      {"same_dataset", c.same_dataset},
      {"same_spec_hash", c.same_spec_hash},
      {"features_only_a", c.features_only_a},
      {"features_only_b", c.features_only_b},
      {"notes", c.notes}};
  return Dump(out, indent);
}

std::string RunJson(const store::RunRecord& run, int indent) {
  return Dump(RunToJson(run), indent);
}

std::string RunsJson(const std::vector<store::RunRecord>& runs, int indent) {
  Json arr = Json::array();
  for (const auto& r : runs) arr.push_back(RunToJson(r));
  return Dump(Json{{"runs", arr}}, indent);
}

}  // namespace ctml::ml::registry
