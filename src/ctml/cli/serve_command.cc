// `ctml serve`: the Level 4 prediction service.
#include <CLI/CLI.hpp>

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

  serve::ModelHolder models(**meta, **lake, cfg->GetString("serve.model", "vitals_risk"),
                            cfg->GetString("serve.alias", "production"));
  Status first = models.Reload();
  if (!first.ok()) {
    log::Info("serve", "no model yet; /ready stays false until one is promoted",
              {{"reason", first.message()}});
  }
  models.StartWatching(std::chrono::milliseconds(cfg->GetInt("serve.watch_interval_ms", 2000)));

  net::ServerOptions opts;
  opts.host = cfg->GetString("serve.host", "127.0.0.1");
  opts.port = static_cast<uint16_t>(cfg->GetInt("serve.port", 8000));
  opts.service = "serve";
  opts.threads = static_cast<int>(cfg->GetInt("serve.threads", 2));
  net::HttpServer server(opts);
  serve::PredictionOptions popts;
  popts.view = cfg->GetString("serve.view", "clinical");
  popts.cache_ttl = std::chrono::seconds(cfg->GetInt("serve.cache_ttl_seconds", 3600));
  serve::PredictionService service(popts, models, **online, **cache, **meta, std::move(*pseudo));
  service.Register(server);
  Status st = server.Run();
  return st.ok() ? kExitOk : Fail("serve", st);
}

}  // namespace

void RegisterServeCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand(
      "serve", "Level 4: prediction service (POST /v1/predict, GET /ready) on serve.port");
  sub->callback([&g, exit_code] { *exit_code = RunServe(g); });
}

}  // namespace ctml::cli
