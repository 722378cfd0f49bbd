// `ctml registry`: the model registry in the MetaStore.
//   ctml registry list                                   models, versions, aliases, key metrics
//   ctml registry show NAME [--version V | --alias A]    a version's manifest (JSON)
//   ctml registry promote NAME VERSION [--alias production] [--actor NAME]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>

#include "ctml/cli/commands.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ml/trainer.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

struct RegistryArgs {
  std::string name;
  int64_t version = 0;
  std::string alias;
  std::string promote_alias = "production";
  std::string actor = "cli";
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* promote = nullptr;
};

std::string F(const std::map<std::string, double>& m, const char* k) {
  auto it = m.find(k);
  if (it == m.end() || std::isnan(it->second)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", it->second);
  return buf;
}

Status List(store::MetaStore& meta) {
  CTML_ASSIGN_OR_RETURN(auto models, meta.ListModels());
  if (models.empty()) {
    std::printf("no registered models (run `ctml train`)\n");
    return Status::OK();
  }
  std::printf("%-20s %7s %-20s %8s %17s %8s %8s %8s  %s\n", "MODEL", "VERSION", "ALIASES",
              "ROC_AUC", "95% CI", "PR_AUC", "BRIER", "THRESH", "CREATED");
  for (const auto& name : models) {
    CTML_ASSIGN_OR_RETURN(auto versions, meta.ListModelVersions(name));
    CTML_ASSIGN_OR_RETURN(auto aliases, meta.ListAliases(name));
    for (const auto& v : versions) {
      std::string al;
      for (const auto& [alias, version] : aliases) {
        if (version == v.version) al += (al.empty() ? "" : ",") + alias;
      }
      auto m = ml::ManifestMetrics(v.manifest_json);
      std::string threshold = "-";
      auto doc = ParseJson(v.manifest_json, 64);
      if (doc.ok() && doc->contains("threshold") && (*doc)["threshold"].is_number()) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.4f", (*doc)["threshold"].get<double>());
        threshold = buf;
      }
      std::string ci = "[" + F(m, "roc_auc_ci_low") + "," + F(m, "roc_auc_ci_high") + "]";
      std::printf("%-20s %7lld %-20s %8s %17s %8s %8s %8s  %s\n", name.c_str(),
                  static_cast<long long>(v.version), al.empty() ? "-" : al.c_str(),
                  F(m, "roc_auc").c_str(), ci.c_str(), F(m, "pr_auc").c_str(),
                  F(m, "brier").c_str(), threshold.c_str(),
                  FormatIso8601(v.created_us).substr(0, 19).c_str());
    }
  }
  return Status::OK();
}

Status Show(store::MetaStore& meta, const RegistryArgs& a) {
  if (a.version > 0 && !a.alias.empty()) {
    return Status::Invalid("give --version or --alias, not both", "version");
  }
  store::ModelVersion mv;
  if (a.version > 0) {
    CTML_ASSIGN_OR_RETURN(mv, meta.GetModelVersion(a.name, a.version));
  } else if (!a.alias.empty()) {
    CTML_ASSIGN_OR_RETURN(mv, meta.GetAlias(a.name, a.alias));
  } else {
    // Default: production when set, else the latest version.
    auto prod = meta.GetAlias(a.name, "production");
    if (prod.ok()) {
      mv = *prod;
    } else {
      CTML_ASSIGN_OR_RETURN(auto versions, meta.ListModelVersions(a.name));
      if (versions.empty()) return Status::NotFound("no model named '" + a.name + "'");
      mv = versions.front();
      for (const auto& v : versions) {
        if (v.version > mv.version) mv = v;
      }
    }
  }
  auto doc = ParseJson(mv.manifest_json, 64);
  if (doc.ok()) {
    std::printf("%s\n", doc->dump(2).c_str());
  } else {
    std::printf("%s\n", mv.manifest_json.c_str());
  }
  return Status::OK();
}

Status Promote(store::MetaStore& meta, const RegistryArgs& a) {
  if (a.promote_alias.empty()) return Status::Invalid("alias must not be empty", "alias");
  CTML_ASSIGN_OR_RETURN(auto mv, meta.GetModelVersion(a.name, a.version));
  int64_t previous = 0;
  auto prev = meta.GetAlias(a.name, a.promote_alias);
  if (prev.ok()) previous = prev->version;
  CTML_RETURN_NOT_OK(meta.SetAlias(a.name, a.promote_alias, mv.version));
  Json detail = {
      {"alias", a.promote_alias}, {"previous_version", previous}, {"reason", "manual promotion"}};
  CTML_RETURN_NOT_OK(meta.AppendAudit(a.actor, "model.promote",
                                      a.name + "/" + std::to_string(mv.version), detail.dump())
                         .status());
  std::printf("%s/%lld -> %s (was %s)\n", a.name.c_str(), static_cast<long long>(mv.version),
              a.promote_alias.c_str(),
              previous == 0 ? "unset" : ("version " + std::to_string(previous)).c_str());
  return Status::OK();
}

}  // namespace

void RegisterRegistryCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto args = std::make_shared<RegistryArgs>();
  CLI::App* cmd = app.add_subcommand("registry", "Model registry: list, show, promote");
  cmd->require_subcommand(1);
  args->list = cmd->add_subcommand("list", "Models, versions, aliases and key metrics");
  args->show = cmd->add_subcommand("show", "Print a version's manifest (default: production)");
  args->show->add_option("name", args->name, "Model name")->required();
  args->show->add_option("--version", args->version, "Version number");
  args->show->add_option("--alias", args->alias, "Alias, e.g. production or staging");
  args->promote = cmd->add_subcommand("promote", "Point an alias at a version");
  args->promote->add_option("name", args->name, "Model name")->required();
  args->promote->add_option("version", args->version, "Version number")->required();
  args->promote->add_option("--alias", args->promote_alias, "Alias to set (default production)");
  args->promote->add_option("--actor", args->actor, "Who promotes, for the audit trail");

  cmd->callback([&g, exit_code, args] {
    std::string name = "registry";
    if (args->list->parsed()) name += " list";
    if (args->show->parsed()) name += " show";
    if (args->promote->parsed()) name += " promote";
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
    Status st;
    if (args->list->parsed()) {
      st = List(**meta);
    } else if (args->show->parsed()) {
      st = Show(**meta, *args);
    } else {
      st = Promote(**meta, *args);
    }
    *exit_code = st.ok() ? kExitOk : Fail(name, st);
  });
}

}  // namespace ctml::cli
