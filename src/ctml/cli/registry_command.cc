// `ctml registry`: the model registry in the MetaStore (operations in ml/registry.h).
//   ctml registry list [--json]                              models, versions, aliases, metrics
//   ctml registry show NAME [--version V | --alias A] [--json]   one version (default production,
//                                                            else the latest); --json: manifest
//   ctml registry promote NAME VERSION [--alias production] [--actor NAME] [--reason TEXT]
//   ctml registry compare NAME A B [--json]                  A and B: version numbers or aliases
//   ctml registry runs [--model NAME] [--json]               training runs
//   ctml registry serve                                      the HTTP API on registry.port (5000)
// Exit codes (commands.h): 0 ok, 1 failure or not found, 2 bad usage or invalid input,
// 3 configuration error, 4 a store is unavailable.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>

#include "ctml/cli/commands.h"
#include "ctml/core/time.h"
#include "ctml/ml/mlflow.h"
#include "ctml/ml/registry.h"
#include "ctml/net/auth.h"
#include "ctml/net/http.h"
#include "ctml/serve/registry_api.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

namespace registry = ml::registry;

struct RegistryArgs {
  std::string name;
  int64_t version = 0;
  std::string alias;
  std::string promote_alias = "production";
  std::string actor = "cli";
  std::string reason;
  std::string a, b;
  std::string model;
  bool json = false;
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* promote = nullptr;
  CLI::App* compare = nullptr;
  CLI::App* runs = nullptr;
  CLI::App* serve = nullptr;
};

std::string Num(double v, const char* fmt = "%.4f") {
  if (std::isnan(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

std::string Signed(double v) { return Num(v, "%+.4f"); }

std::string M(const std::map<std::string, double>& m, const char* k) {
  auto it = m.find(k);
  return it == m.end() ? "-" : Num(it->second);
}

std::string Created(int64_t us) { return us > 0 ? FormatIso8601(us).substr(0, 19) : "-"; }

std::string Join(const std::vector<std::string>& v, const char* sep = ",") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string Decision(const registry::PromotionDecision& p) {
  if (!p.recorded) return "-";
  std::string out = p.passed ? "passed" : "failed";
  out += p.alias.empty() ? " (not promoted)" : " -> " + p.alias;
  if (!p.reason.empty()) out += ": " + p.reason;
  return out;
}

Status List(store::MetaStore& meta, const RegistryArgs& a) {
  CTML_ASSIGN_OR_RETURN(auto models, registry::ListModels(meta));
  if (a.json) {
    std::printf("%s\n", registry::ModelsJson(models, 2).c_str());
    return Status::OK();
  }
  if (models.empty()) {
    std::printf("no registered models (run `ctml train`)\n");
    return Status::OK();
  }
  std::printf("%-24s %7s %-20s %8s %17s %8s %8s %8s  %-19s  %s\n", "MODEL", "VERSION", "ALIASES",
              "ROC_AUC", "95% CI", "PR_AUC", "BRIER", "THRESH", "CREATED", "GATE");
  for (const auto& m : models) {
    for (const auto& v : m.versions) {
      std::string ci =
          "[" + M(v.metrics, "roc_auc_ci_low") + "," + M(v.metrics, "roc_auc_ci_high") + "]";
      std::printf("%-24s %7lld %-20s %8s %17s %8s %8s %8s  %-19s  %s\n", m.name.c_str(),
                  static_cast<long long>(v.version),
                  v.aliases.empty() ? "-" : Join(v.aliases).c_str(),
                  M(v.metrics, "roc_auc").c_str(), ci.c_str(), M(v.metrics, "pr_auc").c_str(),
                  M(v.metrics, "brier").c_str(), Num(v.threshold).c_str(),
                  Created(v.created_us).c_str(), Decision(v.promotion).c_str());
    }
  }
  return Status::OK();
}

Status Show(store::MetaStore& meta, const RegistryArgs& a) {
  if (a.version > 0 && !a.alias.empty()) {
    return Status::Invalid("give --version or --alias, not both", "version");
  }
  std::string ref = a.version > 0 ? std::to_string(a.version) : a.alias;
  CTML_ASSIGN_OR_RETURN(auto mv, registry::GetVersion(meta, a.name, ref));
  if (a.json) {
    std::printf("%s\n", registry::ManifestJson(mv, 2).c_str());
    return Status::OK();
  }
  CTML_ASSIGN_OR_RETURN(auto aliases, meta.ListAliases(a.name));
  auto v = registry::Summarize(mv, aliases);
  std::printf("model       %s version %lld\n", v.name.c_str(), static_cast<long long>(v.version));
  std::printf("aliases     %s\n", v.aliases.empty() ? "-" : Join(v.aliases).c_str());
  std::printf("created     %s\n", Created(v.created_us).c_str());
  std::printf("run         %s\n", v.run_id.c_str());
  std::printf("label       %s\n", v.label.empty() ? "-" : v.label.c_str());
  std::printf("dataset     %s\n", v.dataset_id.empty() ? "-" : v.dataset_id.c_str());
  std::printf("spec hash   %s\n", v.spec_hash.empty() ? "-" : v.spec_hash.c_str());
  std::printf("artifacts   %s\n", v.artifact_uri.c_str());
  std::printf("threshold   %s\n", Num(v.threshold).c_str());
  std::printf("gate        %s\n", Decision(v.promotion).c_str());
  std::printf("test ROC-AUC %s [%s, %s]  PR-AUC %s  Brier %s  baseline ROC-AUC %s\n",
              M(v.metrics, "roc_auc").c_str(), M(v.metrics, "roc_auc_ci_low").c_str(),
              M(v.metrics, "roc_auc_ci_high").c_str(), M(v.metrics, "pr_auc").c_str(),
              M(v.metrics, "brier").c_str(), M(v.metrics, "baseline_roc_auc").c_str());
  std::printf("at threshold: sensitivity %s  specificity %s  PPV %s  NPV %s\n",
              M(v.metrics, "sensitivity").c_str(), M(v.metrics, "specificity").c_str(),
              M(v.metrics, "ppv").c_str(), M(v.metrics, "npv").c_str());
  std::printf("(full manifest: --json)\n");
  return Status::OK();
}

Status Promote(store::MetaStore& meta, const RegistryArgs& a, const std::string& mlflow_uri) {
  CTML_ASSIGN_OR_RETURN(
      auto p, registry::Promote(meta, a.name, a.version, a.promote_alias, a.actor, a.reason));
  std::printf("%s/%lld -> %s (was %s)\n", p.name.c_str(), static_cast<long long>(p.version),
              p.alias.c_str(),
              p.previous_version == 0 ? "unset"
                                      : ("version " + std::to_string(p.previous_version)).c_str());
  if (!mlflow_uri.empty()) {  // MLflow mirror: move its alias too; our registry already moved
    auto tracker = ml::MlflowTracker::Create(mlflow_uri);
    Status st =
        tracker.ok() ? (*tracker)->SetAlias(a.name, p.version, a.promote_alias) : tracker.status();
    if (!st.ok())
      std::fprintf(stderr, "registry promote: warning: MLflow alias not moved: %s\n",
                   st.ToString().c_str());
  }
  return Status::OK();
}

void PrintGain(const char* label, const std::vector<std::pair<std::string, double>>& gain) {
  std::printf("top gain %s:", label);
  if (gain.empty()) std::printf(" -");
  for (const auto& [f, g] : gain) std::printf(" %s (%.3g)", f.c_str(), g);
  std::printf("\n");
}

Status Compare(store::MetaStore& meta, const RegistryArgs& a) {
  CTML_ASSIGN_OR_RETURN(auto c, registry::Compare(meta, a.name, a.a, a.b));
  if (a.json) {
    std::printf("%s\n", registry::CompareJson(c, 2).c_str());
    return Status::OK();
  }
  const std::string ha = "A=v" + std::to_string(c.a.version);
  const std::string hb = "B=v" + std::to_string(c.b.version);
  std::printf("%s: A = %s (version %lld), B = %s (version %lld)\n\n", c.name.c_str(),
              c.ref_a.c_str(), static_cast<long long>(c.a.version), c.ref_b.c_str(),
              static_cast<long long>(c.b.version));
  std::printf("%-18s %10s %10s %10s\n", "METRIC", ha.c_str(), hb.c_str(), "B-A");
  for (const auto& d : c.metrics) {
    const bool count = d.metric == "n_test";
    std::printf("%-18s %10s %10s %10s\n", d.metric.c_str(),
                Num(d.a, count ? "%.0f" : "%.4f").c_str(),
                Num(d.b, count ? "%.0f" : "%.4f").c_str(),
                count ? Num(d.diff, "%+.0f").c_str() : Signed(d.diff).c_str());
  }
  std::printf("\nROC-AUC 95%% intervals overlap: %s\n", !c.roc_auc_ci_known    ? "unknown"
                                                        : c.roc_auc_ci_overlap ? "yes"
                                                                               : "no");
  std::printf("same dataset:   %s (A %s, B %s)\n", c.same_dataset ? "yes" : "no",
              c.a.dataset_id.empty() ? "-" : c.a.dataset_id.c_str(),
              c.b.dataset_id.empty() ? "-" : c.b.dataset_id.c_str());
  std::printf("same spec hash: %s\n", c.same_spec_hash ? "yes" : "no");
  std::printf("features only in A: %s\n",
              c.features_only_a.empty() ? "-" : Join(c.features_only_a, ", ").c_str());
  std::printf("features only in B: %s\n",
              c.features_only_b.empty() ? "-" : Join(c.features_only_b, ", ").c_str());
  PrintGain("A", c.top_gain_a);
  PrintGain("B", c.top_gain_b);
  std::printf("gate A: %s\n", Decision(c.a.promotion).c_str());
  std::printf("gate B: %s\n", Decision(c.b.promotion).c_str());
  for (const auto& n : c.notes) std::printf("note: %s\n", n.c_str());
  return Status::OK();
}

Status Runs(store::MetaStore& meta, const RegistryArgs& a) {
  CTML_ASSIGN_OR_RETURN(auto runs, registry::ListRuns(meta, a.model));
  if (a.json) {
    std::printf("%s\n", registry::RunsJson(runs, 2).c_str());
    return Status::OK();
  }
  if (runs.empty()) {
    std::printf("no runs%s\n", a.model.empty() ? "" : (" for " + a.model).c_str());
    return Status::OK();
  }
  std::printf("%-36s %-20s %-9s %-19s %8s  %s\n", "RUN", "EXPERIMENT", "STATUS", "STARTED",
              "ROC_AUC", "DATASET");
  for (const auto& r : runs) {
    auto ds = r.tags.find("dataset_id");
    std::printf("%-36s %-20s %-9s %-19s %8s  %s\n", r.run_id.c_str(), r.experiment.c_str(),
                r.status.c_str(), Created(r.start_us).c_str(), M(r.metrics, "roc_auc").c_str(),
                ds == r.tags.end() ? "-" : ds->second.c_str());
  }
  return Status::OK();
}

int Serve(const Config& cfg, store::MetaStore& meta) {
  auto lake = store::OpenLake(cfg.GetString("lake.uri"));
  if (!lake.ok()) return Fail("registry serve", lake.status());
  auto keys = net::ApiKeys::FromConfig(cfg);
  if (!keys.ok()) return Fail("registry serve", keys.status());
  net::ServerOptions opts;
  opts.host = cfg.GetString("registry.host", "127.0.0.1");
  opts.port = static_cast<uint16_t>(cfg.GetInt("registry.port", 5000));
  opts.service = "registry";
  opts.threads = static_cast<int>(cfg.GetInt("registry.threads", 2));
  net::HttpServer server(opts);
  serve::RegistryApi api(meta, lake->get(), *keys);
  api.SetMlflowUri(cfg.GetString("tracking.mlflow_uri", ""));
  api.Register(server);
  Status st = server.Run();
  return st.ok() ? kExitOk : Fail("registry serve", st);
}

}  // namespace

void RegisterRegistryCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto args = std::make_shared<RegistryArgs>();
  CLI::App* cmd =
      app.add_subcommand("registry", "Model registry: list, show, promote, compare, runs, serve");
  cmd->require_subcommand(1);
  args->list = cmd->add_subcommand("list", "Models, versions, aliases, key metrics, gate");
  args->list->add_flag("--json", args->json, "Print JSON");
  args->show = cmd->add_subcommand("show", "One version (default: production, else the latest)");
  args->show->add_option("name", args->name, "Model name")->required();
  args->show->add_option("--version", args->version, "Version number");
  args->show->add_option("--alias", args->alias, "Alias, e.g. production or staging");
  args->show->add_flag("--json", args->json, "Print the full manifest (JSON)");
  args->promote = cmd->add_subcommand("promote", "Point an alias at a version (audited)");
  args->promote->add_option("name", args->name, "Model name")->required();
  args->promote->add_option("version", args->version, "Version number")->required();
  args->promote->add_option("--alias", args->promote_alias, "Alias to set (default production)");
  args->promote->add_option("--actor", args->actor, "Who promotes, for the audit trail");
  args->promote->add_option("--reason", args->reason, "Why, for the audit trail");
  args->compare = cmd->add_subcommand("compare", "Compare two versions (numbers or aliases)");
  args->compare->add_option("name", args->name, "Model name")->required();
  args->compare->add_option("a", args->a, "Version A: number or alias")->required();
  args->compare->add_option("b", args->b, "Version B: number or alias")->required();
  args->compare->add_flag("--json", args->json, "Print JSON");
  args->runs = cmd->add_subcommand("runs", "Training runs (id, status, started, ROC-AUC, dataset)");
  args->runs->add_option("--model", args->model, "Only this model's runs");
  args->runs->add_flag("--json", args->json, "Print JSON");
  args->serve = cmd->add_subcommand(
      "serve", "Level 4: registry HTTP API (GET /api/v1/models ...) on registry.port");

  cmd->callback([&g, exit_code, args] {
    std::string name = "registry";
    for (CLI::App* sub :
         {args->list, args->show, args->promote, args->compare, args->runs, args->serve}) {
      if (sub->parsed()) name += " " + sub->get_name();
    }
    auto cfg = LoadConfig(g, "registry");
    if (!cfg.ok()) {
      Fail(name, cfg.status());
      *exit_code = kExitConfig;
      return;
    }
    auto meta = store::OpenMetaStore(cfg->GetString("meta.uri"));
    if (!meta.ok()) {
      *exit_code = Fail(name, meta.status());
      return;
    }
    if (args->serve->parsed()) {
      *exit_code = Serve(*cfg, **meta);
      return;
    }
    Status st;
    if (args->list->parsed()) {
      st = List(**meta, *args);
    } else if (args->show->parsed()) {
      st = Show(**meta, *args);
    } else if (args->compare->parsed()) {
      st = Compare(**meta, *args);
    } else if (args->runs->parsed()) {
      st = Runs(**meta, *args);
    } else {
      st = Promote(**meta, *args, cfg->GetString("tracking.mlflow_uri", ""));
    }
    *exit_code = st.ok() ? kExitOk : Fail(name, st);
  });
}

}  // namespace ctml::cli
