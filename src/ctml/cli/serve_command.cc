// `ctml serve`: the Level 4 prediction service.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ctml/cli/commands.h"
#include "ctml/core/log.h"
#include "ctml/net/http.h"
#include "ctml/privacy/pseudonymizer.h"
#include "ctml/serve/model_holder.h"
#include "ctml/serve/prediction_service.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

int RunServe(const GlobalOptions& g) {
  auto cfg = LoadConfig(g, "serve");
  if (!cfg.ok()) {
    Fail("serve", cfg.status());
    return kExitConfig;
  }
  auto pseudo = privacy::Pseudonymizer::FromConfig(*cfg);
  if (!pseudo.ok()) return Fail("serve", pseudo.status());
  auto lake = store::OpenLake(cfg->GetString("lake.uri"));
  if (!lake.ok()) return Fail("serve", lake.status());
  auto meta = store::OpenMetaStore(cfg->GetString("meta.uri"));
  if (!meta.ok()) return Fail("serve", meta.status());
  auto online = store::OpenOnlineStore(cfg->GetString("online.uri"));
  if (!online.ok()) return Fail("serve", online.status());
  auto cache = store::OpenCache(cfg->GetString("cache.uri", "memory://"));
  if (!cache.ok()) return Fail("serve", cache.status());

  auto keys = net::ApiKeys::FromConfig(*cfg);
  if (!keys.ok()) return Fail("serve", keys.status());

  // serve.model is the default; serve.models (a list) adds the other served models.
  const std::string default_model = cfg->GetString("serve.model", "vitals_risk");
  std::vector<std::string> names = {default_model};
  for (const auto& n : cfg->GetList("serve.models")) {
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  const std::string alias = cfg->GetString("serve.alias", "production");
  const auto interval = std::chrono::milliseconds(cfg->GetInt("serve.watch_interval_ms", 2000));
  std::vector<std::unique_ptr<serve::ModelHolder>> holders;
  std::vector<serve::ModelHolder*> models;
  for (const auto& name : names) {
    holders.push_back(std::make_unique<serve::ModelHolder>(**meta, **lake, name, alias));
    Status first = holders.back()->Reload();
    if (!first.ok()) {
      log::Info("serve", "model not loaded yet; it is picked up once its alias is set",
                {{"model", name}, {"reason", first.message()}});
    }
    holders.back()->StartWatching(interval);
    models.push_back(holders.back().get());
  }

  net::ServerOptions opts;
  opts.host = cfg->GetString("serve.host", "127.0.0.1");
  opts.port = static_cast<uint16_t>(cfg->GetInt("serve.port", 8000));
  opts.service = "serve";
  opts.threads = static_cast<int>(cfg->GetInt("serve.threads", 2));
  net::HttpServer server(opts);
  serve::PredictionOptions popts;
  popts.view = cfg->GetString("serve.view", "clinical");
  popts.cache_ttl = std::chrono::seconds(cfg->GetInt("serve.cache_ttl_seconds", 3600));
  popts.default_model = default_model;
  popts.audit = cfg->GetBool("serve.audit", true);
  serve::PredictionService service(popts, models, **online, **cache, **meta, std::move(*pseudo),
                                   std::move(*keys));
  service.Register(server);
  Status st = server.Run();
  return st.ok() ? kExitOk : Fail("serve", st);
}

}  // namespace

void RegisterServeCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand(
      "serve",
      "Level 4: prediction service on serve.port (POST /v1/predict, GET /ready, POST "
      "/model/reload, GET /metrics); serves serve.model (the default) and serve.models");
  sub->callback([&g, exit_code] { *exit_code = RunServe(g); });
}

}  // namespace ctml::cli
