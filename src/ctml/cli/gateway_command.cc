// `ctml gateway`: the Level 1 ingestion gateway (REST).
#include <CLI/CLI.hpp>

#include "ctml/cli/commands.h"
#include "ctml/core/log.h"
#include "ctml/ingest/gateway.h"
#include "ctml/net/http.h"
#include "ctml/privacy/pseudonymizer.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

int RunGateway(const GlobalOptions& g) {
  auto cfg = LoadConfig(g, "gateway");
  if (!cfg.ok()) {
    Fail("gateway", cfg.status());
    return kExitConfig;
  }
  auto pseudo = privacy::Pseudonymizer::FromConfig(*cfg);
  if (!pseudo.ok()) return Fail("gateway", pseudo.status());
  auto log = store::OpenEventLog(cfg->GetString("log.uri"));
  if (!log.ok()) return Fail("gateway", log.status());

  net::ServerOptions opts;
  opts.host = cfg->GetString("gateway.host", "127.0.0.1");
  opts.port = static_cast<uint16_t>(cfg->GetInt("gateway.port", 8082));
  opts.service = "gateway";
  opts.max_body_bytes = static_cast<size_t>(cfg->GetInt("gateway.max_body_bytes", 1 << 20));
  opts.threads = static_cast<int>(cfg->GetInt("gateway.threads", 2));
  net::HttpServer server(opts);
  ingest::GatewayOptions gopts;
  gopts.max_json_depth = static_cast<int>(cfg->GetInt("gateway.max_json_depth", 32));
  ingest::Gateway gateway(gopts, **log, std::move(*pseudo));
  gateway.Register(server);
  Status st = server.Run();
  if (!st.ok()) return Fail("gateway", st);
  log::Info("gateway", "stopped");
  return kExitOk;
}

}  // namespace

void RegisterGatewayCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* sub = app.add_subcommand(
      "gateway", "Level 1: REST ingestion gateway (POST /api/clinical/data) on gateway.port");
  sub->callback([&g, exit_code] { *exit_code = RunGateway(g); });
}

}  // namespace ctml::cli
